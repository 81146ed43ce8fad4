"""Reading audio: any common format, rate and channel count becomes 16 kHz mono float32."""

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio.functional as AF

SAMPLE_RATE = 16000
# What a folder search picks up. The last five only ffmpeg decodes; video files are in because a
# folder of recorded talks or meetings is as likely to hold .mp4 as .m4a.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".sph", ".aiff", ".aif",
                    ".m4a", ".aac", ".wma", ".mp4", ".webm")


class AudioError(ValueError):
    """An audio file that cannot be used; the message names the file and the reason."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


def _read_soundfile(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    # Opening raises for formats libsndfile lacks; load_audio hands those to ffmpeg.
    with soundfile.SoundFile(str(path)) as f:
        rate = f.samplerate
        frames = -1 if duration is None else int(round(duration * rate))
        try:
            f.seek(int(round(offset * rate)))
            return f.read(frames, dtype="float32", always_2d=True), rate
        except (soundfile.LibsndfileError, RuntimeError) as error:
            # libsndfile knows this format and found the data damaged. No fallback: ffmpeg, where
            # installed, would decode around the damage and hide it.
            raise AudioError(path, f"not a readable audio file ({libsndfile_words(error) or error})") from None


def libsndfile_words(error: Exception) -> str:
    """What libsndfile said ("unknown error in flac decoder"), or "" where it did not know the format."""
    said = (getattr(error, "error_string", "") or "").removeprefix("Error : ").rstrip(".")
    return "" if "not recognised" in said else said


# What libsndfile cannot open (m4a, aac, wma, video) goes through the ffmpeg program, asked for
# mono at the model's rate: a stream of float32 read block by block, so a long recording need not
# be held whole, let alone at its own rate and channel count (with librosa's whole-file decode,
# which this replaced, transcribing 36 minutes of 44.1 kHz stereo m4a peaked at 3.1 GB, its WAV at
# 1.2 GB; now 1.35 GB). Its stereo downmix is 3 dB louder than the mean of the channels that
# mono_at_rate takes: the features normalise the level.
FFMPEG_MISSING = "not a format libsndfile reads; for m4a and others, install ffmpeg"


def audio_blocks(path, sample_rate: int = SAMPLE_RATE, offset: float = 0.0, duration: float | None = None,
                 block_samples: int = 1 << 20) -> Iterator[torch.Tensor]:
    """`path` (optionally a segment) decoded by ffmpeg as mono float32 at `sample_rate`, in 1-D
    blocks of `block_samples` (the last one shorter). AudioError as load_audio's, and where
    ffmpeg is missing, finds no audio stream or fails."""
    path = _existing_file(path)
    try:
        yield from _ffmpeg_blocks(path, sample_rate, offset, duration, block_samples)
    except AudioError:
        said = _libsndfile_says(path)  # a file of a format it knows, broken: its words say more
        if not said:
            raise
        raise AudioError(path, f"not a readable audio file ({said})") from None


def _ffmpeg_blocks(path: Path, sample_rate: int, offset: float, duration: float | None,
                   block_samples: int) -> Iterator[torch.Tensor]:
    program = shutil.which("ffmpeg")
    if program is None:
        raise AudioError(path, f"not a readable audio file ({FFMPEG_MISSING})")
    segment = (["-ss", f"{offset:.6f}"] if offset else []) + ([] if duration is None else ["-t", f"{duration:.6f}"])
    command = [program, "-nostdin", "-v", "error", *segment, "-i", str(path), "-map", "0:a:0", "-ac", "1",
               "-ar", str(sample_rate), "-f", "f32le", "-"]
    # stderr to a file: a pipe left unread would stall ffmpeg once a damaged file filled it
    with tempfile.TemporaryFile() as errors, subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                                              stdout=subprocess.PIPE, stderr=errors) as ffmpeg:
        while block := ffmpeg.stdout.read(4 * block_samples):
            samples = torch.frombuffer(bytearray(block), dtype=torch.float32)
            if not torch.isfinite(samples).all():
                raise AudioError(path, "contains NaN or infinite samples")
            yield samples
        if ffmpeg.wait() != 0:
            errors.seek(0)
            said = errors.read().decode(errors="replace").strip() or f"exit status {ffmpeg.returncode}"
            if "matches no streams" in said:  # what -map 0:a:0 says of a video without sound
                raise AudioError(path, "has no audio stream")
            raise AudioError(path, f"not a readable audio file (ffmpeg: {said.splitlines()[-1].rstrip('.')})")


def _libsndfile_says(path: Path) -> str:
    try:
        soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        return libsndfile_words(error)
    return ""


def _existing_file(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "no such file")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    return path


def load_audio(path, sample_rate: int = SAMPLE_RATE, offset: float = 0.0,
               duration: float | None = None) -> torch.Tensor:
    """Read `path` (optionally a segment) as mono float32 at `sample_rate`: a 1-D tensor.

    Raises AudioError for a missing, empty, unreadable or non-audio file, for one with no samples,
    and for one containing NaN or infinity.
    """
    path = _existing_file(path)
    try:
        audio, rate = _read_soundfile(path, offset, duration)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        wave = torch.cat([torch.empty(0), *audio_blocks(path, sample_rate, offset, duration)])
        return mono_at_rate(wave[:, None], sample_rate, sample_rate, path)
    return mono_at_rate(torch.from_numpy(audio), rate, sample_rate, path)


def mono_at_rate(audio: torch.Tensor, rate: int, sample_rate: int, source) -> torch.Tensor:
    """[samples, channels] float32 audio at `rate` -> a 1-D wave at `sample_rate`, channels mixed;
    AudioError (naming `source`) for no samples, NaN or infinity."""
    if audio.numel() == 0:
        raise AudioError(source, "contains no audio samples")
    if not torch.isfinite(audio).all():
        raise AudioError(source, "contains NaN or infinite samples")
    wave = audio.mean(dim=1)
    if rate != sample_rate:
        wave = AF.resample(wave, rate, sample_rate)
    return wave.contiguous()


# (zero, full scale) of integer PCM, the scaling soundfile applies when it reads such a file as float:
# samples handed over in memory (scipy.io.wavfile, a microphone's int16 buffer) must reach the model
# at the level a file's would, not 32768 times louder, which changes what it hears.
PCM_SCALES = {torch.uint8: (128, 2**7), torch.int8: (0, 2**7), torch.int16: (0, 2**15), torch.int32: (0, 2**31)}


def samples_as_float(samples, source) -> torch.Tensor:
    """Float or integer PCM samples (numpy or torch) as float32 in [-1, 1) where they were PCM."""
    samples = torch.as_tensor(samples).cpu()
    if samples.is_floating_point():
        return samples.float()
    if samples.dtype not in PCM_SCALES:
        raise AudioError(source, f"samples of type {samples.dtype} are neither float nor 8-, 16- or 32-bit PCM")
    zero, full_scale = PCM_SCALES[samples.dtype]
    return (samples.double() - zero).div(full_scale).float()


def header_duration(path) -> float | None:
    """Length in seconds from the file's header, without decoding; None where libsndfile cannot
    read one (m4a, a missing or broken file): there only decoding tells."""
    try:
        return soundfile.info(str(path)).duration
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        return None


def is_audio_path(path) -> bool:
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS

