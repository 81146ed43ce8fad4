import numpy as np
import pytest
import soundfile
import torch

from asr.audio import AudioError, load_audio, samples_as_float


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


@pytest.mark.parametrize("ffmpeg", [False, True])
def test_a_file_no_decoder_knows_says_whether_ffmpeg_was_there_to_try(tmp_path, monkeypatch, ffmpeg):
    """It said "(EOFError)": the type of the raw reader's error, even for a valid m4a without ffmpeg."""
    import asr.audio
    monkeypatch.setattr(asr.audio, "_other_decoders", lambda: ffmpeg)
    (tmp_path / "notes.m4a").write_text("this is not audio at all " * 20)
    reason = "neither libsndfile nor ffmpeg could read it" if ffmpeg else "for m4a and others, install ffmpeg"
    with pytest.raises(AudioError, match=f"notes.m4a: not a readable audio file \\(.*{reason}\\)"):
        load_audio(tmp_path / "notes.m4a")


def test_fallback_reader_for_what_soundfile_cannot_read(tmp_path, monkeypatch):
    import asr.audio
    path = write(tmp_path / "a.wav", np.sin(np.arange(8000) / 5).astype(np.float32), 8000, subtype="FLOAT")

    def refuse(*args, **kwargs):
        raise soundfile.LibsndfileError(0, "pretend unsupported")

    monkeypatch.setattr(asr.audio, "_read_soundfile", refuse)
    assert load_audio(path).numel() == 16000
