"""Training augmentation: silence around the speech, speed perturbation, additive noise, room
reverberation, the telephone band and MP3 compression on the waveform, utterances of noise alone,
and the vocal tract length factor that the features apply (features.warp_frequencies).

Every draw comes from a torch.Generator the caller seeds (from seed, epoch and utterance), so a
run is reproducible whatever the number of loader workers.
"""

import io
import math
from dataclasses import dataclass

import soundfile
import torch
import torchaudio.functional as AF

from asr.audio import libsndfile_words

# Vocal tracts differ by about a fifth either way (Kaldi's VTLN searches 0.8-1.2); past these limits a
# factor is a typo (11 for 1.1), not a speaker.
VTLP_LIMITS = (0.5, 1.5)
# Past these a speed factor is a typo (10 for 1.0), and 0 cannot be resampled; Kaldi uses 0.9-1.1.
SPEED_LIMITS = (0.5, 2.0)
# [low, high] settings drawn from uniformly. A reverberation time of 0 leaves an empty impulse response.
# libsndfile refuses an MP3 compression level of 1.0.
RANGE_LIMITS = {"vtlp_range": VTLP_LIMITS, "snr_db": (-math.inf, math.inf), "rt60_s": (0.01, 5.0),
                "mp3_compression": (0.0, 0.99), "pad_seconds": (0.0, 10.0), "floor_snr_db": (0.0, math.inf)}
PROBABILITIES = ("noise_prob", "reverb_prob", "narrowband_prob", "mp3_prob", "pad_prob", "speech_free_prob")
# Telephone speech (G.711, the Asterisk prompts) is sampled at 8 kHz: nothing above 4 kHz survives.
NARROWBAND_RATE = 8000


@dataclass
class AugmentConfig:
    speed_factors: tuple = (0.9, 1.0, 1.1)  # Ko et al. 2015; () turns it off
    noise_prob: float = 0.0
    snr_db: tuple = (5.0, 30.0)
    reverb_prob: float = 0.0
    rt60_s: tuple = (0.15, 0.7)
    # VTLP (Jaitly & Hinton 2013): formants scaled by a factor drawn uniformly from [low, high],
    # independently of the pitch and tempo that speed perturbation moves with them; () turns it off.
    vtlp_range: tuple = ()
    # The share of utterances passed through the telephone band, so that what the model learns from
    # wideband speech carries over to narrowband recordings (and back).
    narrowband_prob: float = 0.0
    # The share of utterances encoded as MP3 and decoded again (libsndfile's LAME at a constant bit
    # rate), as users' recordings often come: the held-out real prompts lost 6 WER points as 32 kb/s
    # MP3 (recipes/default/RESULTS.md). The level is drawn from mp3_compression; at 16 kHz 0.6 is
    # about 66 kb/s, 0.8 41, 0.85 33, 0.9 25 and 0.95 16.
    mp3_prob: float = 0.0
    mp3_compression: tuple = (0.6, 0.95)
    # The share of utterances given silence before and after, each side's length drawn from
    # pad_seconds, over a noise floor floor_snr_db below the speech that runs under the speech too, as
    # a recording that starts before the speaker and stops after. TTS and prompt corpora are trimmed:
    # stage 41 lost 8 WER points on its dev set with 2 s of silence each side (recipes/default/RESULTS.md).
    pad_prob: float = 0.0
    pad_seconds: tuple = (0.0, 2.0)
    floor_snr_db: tuple = (40.0, 90.0)  # 90 dB below is digital silence to 16-bit audio
    # The share of utterances replaced by colored noise of the same length, with empty text: a model that
    # has only heard speech writes letters for a recording of a fan or a hiss.
    speech_free_prob: float = 0.0

    @property
    def enabled(self) -> bool:
        return (len(self.speed_factors) > 1 or bool(self.vtlp_range)
                or any(getattr(self, name) > 0 for name in PROBABILITIES))

    def longest_seconds(self, seconds: float) -> float:
        """The longest an utterance of `seconds` can come out: slowed down, then padded both sides."""
        slowest = min(self.speed_factors) if self.speed_factors else 1.0
        return seconds / slowest + (2 * self.pad_seconds[1] if self.pad_prob > 0 else 0.0)

    def check(self) -> None:
        """Refuse by name what would fail (speed 0, RT60 0) or mislead only when an utterance draws it."""
        for name, (lowest, highest) in RANGE_LIMITS.items():
            pair = getattr(self, name)
            if name == "vtlp_range" and not pair:
                continue
            if not (len(pair) == 2 and all(map(_is_number, pair)) and lowest <= pair[0] <= pair[1] <= highest):
                bounds = f"{lowest} <= low <= high <= {highest}" if math.isfinite(lowest) else "low <= high"
                raise ValueError(f"augment.{name} must be [low, high] with {bounds}, got {list(pair)}")
        if not all(_is_number(f) and SPEED_LIMITS[0] <= f <= SPEED_LIMITS[1] for f in self.speed_factors):
            raise ValueError(f"augment.speed_factors must each lie in [{SPEED_LIMITS[0]}, {SPEED_LIMITS[1]}], "
                             f"got {list(self.speed_factors)}")
        for name in PROBABILITIES:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"augment.{name} must be a probability in [0, 1], got {getattr(self, name)}")


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _uniform(generator, low, high) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def speed_perturb(wave, sample_rate: int, factor: float):
    """Tempo and pitch change together, as Kaldi's speed perturbation (torchaudio.functional.speed)."""
    if factor == 1.0:
        return wave
    return AF.speed(wave[None], sample_rate, factor)[0][0]


def colored_noise(num_samples: int, exponent: float, generator) -> torch.Tensor:
    """Noise with a 1/f^exponent power spectrum: 0 white, 1 pink, 2 brown; without DC, which the
    features cannot hear: kept, it held 23% of a brown draw's power on average (pink 5%), so the SNR
    asked of add_noise was not the SNR heard."""
    spectrum = torch.fft.rfft(torch.randn(num_samples, generator=generator))
    freqs = torch.arange(spectrum.numel(), dtype=torch.float32).clamp_min(1.0)
    spectrum[0] = 0
    noise = torch.fft.irfft(spectrum / freqs ** (exponent / 2), n=num_samples)
    return noise / noise.std().clamp_min(1e-8)


def any_colored_noise(num_samples: int, generator) -> torch.Tensor:
    """colored_noise with an exponent drawn from white to brown."""
    return colored_noise(num_samples, _uniform(generator, 0.0, 2.0), generator)


def synthetic_rir(sample_rate: int, rt60: float, generator) -> torch.Tensor:
    """Exponentially decaying noise tail after a direct-path impulse: the statistical room model
    (energy falls 60 dB in rt60 seconds). Cheap, and enough to teach robustness to reverberation."""
    length = int(rt60 * sample_rate)
    t = torch.arange(length, dtype=torch.float32) / sample_rate
    tail = torch.randn(length, generator=generator) * torch.exp(-3 * math.log(10) * t / rt60)
    tail[0] = 0.0
    rir = torch.cat([torch.ones(1), 0.3 * tail / tail.abs().max().clamp_min(1e-8)])
    return rir / rir.norm()


def narrowband(wave, sample_rate: int):
    """Down to 8 kHz and back up with the resampler that load_audio applies to 8 kHz recordings, so a
    wideband utterance loses exactly the band that a telephone recording never had."""
    if sample_rate <= NARROWBAND_RATE:
        return wave
    down = AF.resample(wave, sample_rate, NARROWBAND_RATE)
    return AF.resample(down, NARROWBAND_RATE, sample_rate)[: wave.numel()]


def pad_with_floor(wave, sample_rate: int, before_s: float, after_s: float, floor_snr_db: float,
                   generator) -> torch.Tensor:
    """Silence before and after the speech, and colored noise `floor_snr_db` below the speech's RMS
    under all of it: a microphone's floor does not stop while someone speaks."""
    padded = torch.nn.functional.pad(wave, (round(before_s * sample_rate), round(after_s * sample_rate)))
    floor = any_colored_noise(padded.numel(), generator)
    scale = (wave.pow(2).mean() / floor.pow(2).mean()).sqrt() * 10 ** (-floor_snr_db / 20)
    return padded + floor * scale


def mp3_roundtrip(wave, sample_rate: int, compression_level: float):
    """Encoded as MP3 and decoded in memory by libsndfile, the library load_audio reads a user's MP3
    with; cut to the input's length, which low bit rates exceed by the encoder's delay (69 ms at 16
    kHz), so the heaviest batches training scans stay the heaviest."""
    buffer = io.BytesIO()
    soundfile.write(buffer, wave.numpy(), sample_rate, format="MP3", subtype="MPEG_LAYER_III",
                    compression_level=compression_level, bitrate_mode="CONSTANT")
    buffer.seek(0)
    decoded, _ = soundfile.read(buffer, dtype="float32")
    return torch.from_numpy(decoded[: wave.numel()])


class WaveAugment:
    def __init__(self, cfg: AugmentConfig, sample_rate: int):
        cfg.check()
        if cfg.mp3_prob > 0:  # now, not in a loader worker at the first utterance that draws it
            try:
                mp3_roundtrip(torch.zeros(sample_rate // 100), sample_rate, cfg.mp3_compression[0])
            except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
                raise ValueError(f"augment.mp3_prob: libsndfile {soundfile.__libsndfile_version__} cannot encode "
                                 f"MP3 at features.sample_rate={sample_rate} "
                                 f"({libsndfile_words(error) or error})") from None
        self.cfg, self.sample_rate = cfg, sample_rate

    def vtlp_factor(self, generator: torch.Generator) -> float:
        """The formant scale for this utterance's features; draw it after __call__, so that turning
        VTLP on leaves the waveform augmentation of every utterance as it was."""
        return _uniform(generator, *self.cfg.vtlp_range) if self.cfg.vtlp_range else 1.0

    def silence_around(self, generator: torch.Generator) -> tuple[float, float]:
        """Seconds of silence this utterance gets before and after its speech. The first draws of
        __call__, so the batch sampler, drawing them from a generator seeded alike, budgets each
        batch by the audio it will really hold."""
        cfg = self.cfg
        if cfg.pad_prob > 0 and torch.rand((), generator=generator).item() < cfg.pad_prob:
            return _uniform(generator, *cfg.pad_seconds), _uniform(generator, *cfg.pad_seconds)
        return 0.0, 0.0

    def speech_free(self, wave: torch.Tensor, generator: torch.Generator) -> torch.Tensor | None:
        """Colored noise as long as `wave` in its place, or None; drawn after vtlp_factor, so that
        turning it on leaves every other utterance as it was."""
        if self.cfg.speech_free_prob > 0 and torch.rand((), generator=generator).item() < self.cfg.speech_free_prob:
            return 0.1 * any_colored_noise(wave.numel(), generator)
        return None

    def __call__(self, wave: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        cfg = self.cfg
        before_s, after_s = self.silence_around(generator)
        if len(cfg.speed_factors) > 1:
            factor = cfg.speed_factors[int(torch.randint(len(cfg.speed_factors), (), generator=generator))]
            wave = speed_perturb(wave, self.sample_rate, factor)
        if before_s or after_s:  # before the room and the noise, which fill the silence as they would
            wave = pad_with_floor(wave, self.sample_rate, before_s, after_s, _uniform(generator, *cfg.floor_snr_db),
                                  generator)
        if torch.rand((), generator=generator).item() < cfg.reverb_prob:
            peak = wave.abs().max()
            rir = synthetic_rir(self.sample_rate, _uniform(generator, *cfg.rt60_s), generator)
            wave = AF.fftconvolve(wave, rir)[: wave.numel()]
            wave = wave * (peak / wave.abs().max().clamp_min(1e-8))
        if torch.rand((), generator=generator).item() < cfg.noise_prob:
            noise = any_colored_noise(wave.numel(), generator)
            snr = torch.tensor([_uniform(generator, *cfg.snr_db)])
            wave = AF.add_noise(wave[None], noise[None], snr)[0]
        # Last, as the channel and then the file's codec come after the room and the noise; each drawn
        # only when on, so that runs without it draw what they drew before it existed.
        if cfg.narrowband_prob > 0 and torch.rand((), generator=generator).item() < cfg.narrowband_prob:
            wave = narrowband(wave, self.sample_rate)
        if cfg.mp3_prob > 0 and torch.rand((), generator=generator).item() < cfg.mp3_prob:
            wave = mp3_roundtrip(wave, self.sample_rate, _uniform(generator, *cfg.mp3_compression))
        return wave
