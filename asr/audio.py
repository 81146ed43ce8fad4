"""Reading audio: any common format, rate and channel count becomes 16 kHz mono float32."""

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
    # Opening raises for formats libsndfile lacks; load_audio hands those to the fallback reader.
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


def _read_fallback(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    # What libsndfile cannot decode (m4a, some mp3 variants) goes through librosa/audioread.
    import warnings

    import librosa
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        audio, rate = librosa.load(str(path), sr=None, mono=False, offset=offset, duration=duration)
    audio = audio[None, :] if audio.ndim == 1 else audio
    return np.ascontiguousarray(audio.T, dtype=np.float32), rate


def libsndfile_words(error: Exception) -> str:
    """What libsndfile said ("unknown error in flac decoder"), or "" where it did not know the format."""
    said = (getattr(error, "error_string", "") or "").removeprefix("Error : ").rstrip(".")
    return "" if "not recognised" in said else said


def _reason(soundfile_error: Exception) -> str:
    """libsndfile's words where it knew the format and found the file broken. Where it did not, the
    fallback's errors say little ("EOFError" for a valid m4a on a machine without ffmpeg): say
    whether a decoder of the other formats was there to try."""
    said = libsndfile_words(soundfile_error)
    if said:
        return said
    if not _other_decoders():
        return "not a format libsndfile reads; for m4a and others, install ffmpeg"
    return "neither libsndfile nor ffmpeg could read it"


def _other_decoders() -> bool:
    """Whether audioread has a backend beyond its raw reader, which reads only what libsndfile does."""
    import audioread
    return any(backend.__name__ != "RawAudioFile" for backend in audioread.available_backends())


def load_audio(path, sample_rate: int = SAMPLE_RATE, offset: float = 0.0,
               duration: float | None = None) -> torch.Tensor:
    """Read `path` (optionally a segment) as mono float32 at `sample_rate`: a 1-D tensor.

    Raises AudioError for a missing, empty, unreadable or non-audio file, for one with no samples,
    and for one containing NaN or infinity.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "no such file")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        audio, rate = _read_soundfile(path, offset, duration)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as unread:
        try:
            audio, rate = _read_fallback(path, offset, duration)
        except Exception:  # audioread and its backends raise many unrelated types
            raise AudioError(path, f"not a readable audio file ({_reason(unread)})") from None
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

