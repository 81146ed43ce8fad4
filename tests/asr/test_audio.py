import shutil
import subprocess

import numpy as np
import pytest
import soundfile
import torch

from asr.audio import AudioError, audio_blocks, load_audio, samples_as_float


def write(path, audio, rate, **kwargs):
    soundfile.write(path, audio, rate, **kwargs)
    return path


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"), ("FLAC", "PCM_16"),
                                         ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")])
def test_formats_become_float32_mono_16k(tmp_path, fmt, subtype):
    rate = 16000
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate).astype(np.float32)
    path = write(tmp_path / f"a.{fmt.lower()}", tone, rate, format=fmt, subtype=subtype)
    wave = load_audio(path)
    assert wave.dtype == torch.float32 and wave.dim() == 1
    assert abs(wave.numel() - rate) < 0.06 * rate  # lossy codecs pad a little
    spectrum = np.abs(np.fft.rfft(wave.numpy()[:rate // 2]))
    assert abs(spectrum.argmax() * 2 - 440) <= 4  # still a 440 Hz tone


def test_resample_and_downmix(tmp_path):
    rate = 44100
    t = np.arange(rate) / rate
    stereo = np.stack([np.sin(2 * np.pi * 300 * t), np.zeros_like(t)], axis=1).astype(np.float32)
    wave = load_audio(write(tmp_path / "s.wav", stereo, rate))
    assert wave.numel() == 16000
    assert abs(float(wave.abs().max()) - 0.5) < 0.02  # mean of the two channels


def test_integer_pcm_scaled_to_unit_range(tmp_path):
    pcm = (np.ones(1600) * 16384).astype(np.int16)
    wave = load_audio(write(tmp_path / "i.wav", pcm, 16000, subtype="PCM_16"))
    assert torch.allclose(wave, torch.full_like(wave, 0.5))


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_32"])
def test_integer_samples_in_memory_are_scaled_as_soundfile_scales_a_file(tmp_path, subtype):
    """scipy reads the integers as stored (uint8 for 8-bit WAV); soundfile's float read is the reference."""
    from scipy.io import wavfile
    ramp = np.linspace(-1, 1 - 2 ** -7, 4001)
    path = write(tmp_path / "pcm.wav", ramp, 16000, subtype=subtype)
    _, stored = wavfile.read(path)
    expected, _ = soundfile.read(path, dtype="float64")
    for samples in (stored, torch.from_numpy(stored)):
        assert torch.allclose(samples_as_float(samples, "mic").double(), torch.from_numpy(expected), atol=1e-7)
    with pytest.raises(AudioError, match="mic: samples of type torch.int64 are neither float nor"):
        samples_as_float(stored.astype(np.int64), "mic")


def test_segment_offset_and_duration(tmp_path):
    audio = np.repeat(np.arange(4, dtype=np.float32) / 10, 16000)
    wave = load_audio(write(tmp_path / "seg.wav", audio, 16000, subtype="FLOAT"), offset=2.0, duration=1.0)
    assert wave.numel() == 16000 and torch.allclose(wave, torch.full_like(wave, 0.2))


def test_bad_files_raise_audio_error_naming_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("this is not audio at all " * 20)
    write(tmp_path / "zero.wav", np.zeros(0, np.float32), 16000)
    write(tmp_path / "nan.wav", np.array([0.1, np.nan, 0.2] * 100, np.float32), 16000, subtype="FLOAT")
    cases = {"missing.wav": "no such file", "empty.wav": "empty file", "text.wav": "not a readable audio file",
             "zero.wav": "no audio samples", "nan.wav": "NaN"}
    for name, reason in cases.items():
        with pytest.raises(AudioError, match=reason) as info:
            load_audio(tmp_path / name)
        assert name in str(info.value)


def test_a_corrupt_file_of_a_known_format_says_what_its_decoder_found(tmp_path):
    """Not the type of the fallback reader's error (NoBackendError), which tells a user nothing."""
    write(tmp_path / "ok.flac", np.random.default_rng(0).normal(0, 0.1, 4 * 16000).astype(np.float32), 16000)
    data = bytearray((tmp_path / "ok.flac").read_bytes())
    data[len(data) // 2:] = b"\xff" * (len(data) - len(data) // 2)
    (tmp_path / "broken.flac").write_bytes(bytes(data))
    with pytest.raises(AudioError, match=r"broken.flac: not a readable audio file \(.*flac decoder.*\)"):
        load_audio(tmp_path / "broken.flac")


needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg program")


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def test_a_file_no_decoder_knows_says_to_install_ffmpeg_where_it_is_missing(tmp_path, monkeypatch):
    """It said "(EOFError)": the type of the raw reader's error, even for a valid m4a without ffmpeg."""
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "notes.m4a").write_text("this is not audio at all " * 20)
    with pytest.raises(AudioError, match=r"notes.m4a: not a readable audio file \(.*for m4a and others, install ff"):
        load_audio(tmp_path / "notes.m4a")


@needs_ffmpeg
def test_a_file_neither_decoder_reads_says_what_ffmpeg_found(tmp_path):
    (tmp_path / "notes.m4a").write_text("this is not audio at all " * 20)
    with pytest.raises(AudioError, match=r"notes.m4a: not a readable audio file \(ffmpeg: .*Invalid data"):
        load_audio(tmp_path / "notes.m4a")
    ffmpeg("-f", "lavfi", "-i", "color=size=32x32:duration=1", "-c:v", "mpeg4", tmp_path / "silent-film.mp4")
    with pytest.raises(AudioError, match="silent-film.mp4: has no audio stream"):
        load_audio(tmp_path / "silent-film.mp4")


@needs_ffmpeg
def test_m4a_becomes_float32_mono_16k_and_its_segments_are_the_right_seconds(tmp_path):
    """AAC in an MP4 container at 44.1 kHz stereo, a format libsndfile does not read: a different
    tone each second, in the left channel only, so each second says where it was cut from."""
    rate, tones = 44100, [300, 500, 700, 900]
    t = np.arange(rate) / rate
    left = np.concatenate([0.5 * np.sin(2 * np.pi * f * t) for f in tones]).astype(np.float32)
    write(tmp_path / "tones.wav", np.stack([left, np.zeros_like(left)], axis=1), rate)
    ffmpeg("-i", tmp_path / "tones.wav", "-c:a", "aac", "-b:a", "128k", tmp_path / "tones.m4a")
    with pytest.raises(soundfile.LibsndfileError):
        soundfile.info(tmp_path / "tones.m4a")
    whole = load_audio(tmp_path / "tones.m4a")
    assert whole.dtype == torch.float32 and whole.dim() == 1
    assert abs(whole.numel() - 4 * 16000) < 0.03 * 16000  # AAC pads its last frame
    # ffmpeg mixes stereo at -3 dB, not as the mean: 0.354, not 0.25. The features set the level anyway.
    assert abs(float(whole[16000:48000].abs().max()) - 0.5 / 2 ** 0.5) < 0.03
    for second, tone in enumerate(tones):
        segment = load_audio(tmp_path / "tones.m4a", offset=second + 0.1, duration=0.8)
        assert segment.numel() == 12800
        spectrum = np.abs(np.fft.rfft(segment.numpy()))
        assert abs(spectrum.argmax() / 0.8 - tone) <= 2


@needs_ffmpeg
def test_ffmpeg_blocks_are_the_files_samples(tmp_path):
    """At the file's own rate and channel count ffmpeg converts nothing: the blocks, whatever their
    size, put together are exactly what libsndfile reads."""
    samples = np.random.default_rng(0).normal(0, 0.1, 10_000).astype(np.float32)
    path = write(tmp_path / "noise.wav", samples, 16000, subtype="FLOAT")
    blocks = list(audio_blocks(path, 16000, block_samples=3000))
    assert [b.numel() for b in blocks] == [3000, 3000, 3000, 1000]
    assert torch.equal(torch.cat(blocks), torch.from_numpy(samples))
    assert torch.equal(torch.cat(list(audio_blocks(path, 16000, offset=0.25, duration=0.125))),
                       torch.from_numpy(samples[4000:6000]))
