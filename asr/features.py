"""Log-mel filterbank features and SpecAugment, through torchaudio."""

from dataclasses import dataclass

import torch
import torchaudio
from torchaudio.compliance.kaldi import vtln_warp_freq


@dataclass
class FeatureConfig:
    sample_rate: int = 16000
    n_mels: int = 80
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    f_min: float = 20.0
    f_max: float | None = None
    normalize: bool = True  # per-utterance mean/variance
    # Which frames the mean and variance are taken over: "speech", the frames within SPEECH_TOP_DB of
    # the utterance's loudest, or "all". Over all frames, the silence around the words moves the
    # statistics and so every frame of the speech: the held-out Asterisk prompts with 2 s of silence
    # before and after went from 49.6% to 68.2% WER (recipes/default/RESULTS.md, Limits). Checkpoints
    # saved before this setting existed read as "all", as they were trained.
    normalize_over: str = "speech"
    # Every wave scaled to REFERENCE_DBFS first, in training and in transcription alike. The log's
    # floor is absolute, so without it a quiet recording looks different from a loud one even after
    # the per-utterance normalisation: the default model, trained on audio at about -20 dBFS, went
    # from 23.67% to 30.00% WER on its dev set played 30 dB quieter (recipes/default/RESULTS.md, Limits).
    normalize_level: bool = True
    # SpecAugment (Park et al. 2019, LibriSpeech "LD" policy); applied only in training.
    freq_masks: int = 2
    freq_mask_width: int = 27
    time_masks: int = 2
    time_mask_width: int = 40
    time_mask_max_ratio: float = 0.2  # a time mask never covers more than this share


# About the level of every corpus the default model was trained on (median RMS of its TTS voices
# and of the Asterisk prompts: -19.5 to -20.2 dBFS), so its features barely move under the scaling.
REFERENCE_DBFS = -20.0
NORMALIZE_OVER = ("speech", "all")
# Digital silence and pink noise 40 dB below the speech fall outside it: stage 41, trained with it,
# scores the held-out Asterisk prompts with 2 s of either before and after at 50.9% and 51.6% WER
# (49.9% plain). In the training corpora 12% of the frames fall outside it, mostly pauses within utterances.
SPEECH_TOP_DB = 50.0


class LogMel(torch.nn.Module):
    """wave [samples] or [B, samples] -> log-mel [frames, n_mels] or [B, frames, n_mels].

    Slaney mel scale and area normalisation, as librosa's defaults, so features match the
    reference implementation that tests check against.
    """

    def __init__(self, cfg: FeatureConfig):
        super().__init__()
        self.cfg = cfg
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, win_length=round(cfg.sample_rate * cfg.win_ms / 1000),
            hop_length=round(cfg.sample_rate * cfg.hop_ms / 1000), f_min=cfg.f_min, f_max=cfg.f_max,
            n_mels=cfg.n_mels, power=2.0, norm="slaney", mel_scale="slaney", center=True)

    def forward(self, wave: torch.Tensor, vtlp_factor: float = 1.0) -> torch.Tensor:
        if self.cfg.normalize_level:
            wave = at_reference_level(wave)
        # torch.stft's reflect padding needs more than n_fft / 2 samples. A clip shorter than that
        # (16 ms at 16 kHz) holds no word: silence after it lets it be decoded like any clip instead
        # of crashing the batch it is in, and gives it the two frames that normalisation needs.
        shortfall = min_samples(self.cfg) - wave.shape[-1]
        if shortfall > 0:
            wave = torch.nn.functional.pad(wave, (0, shortfall))
        power = self.mel.spectrogram(wave)
        if vtlp_factor != 1.0:
            power = warp_frequencies(power, vtlp_factor, self.cfg.sample_rate)
        mel = self.mel.mel_scale(power)
        feats = torch.log(mel + 1e-6).transpose(-1, -2)
        if not self.cfg.normalize:
            return feats
        if self.cfg.normalize_over == "all":  # torch's own mean and std: older files score bit for bit as recorded
            return (feats - feats.mean(dim=-2, keepdim=True)) / (feats.std(dim=-2, keepdim=True) + 1e-5)
        return normalized_over(feats, speech_frames(mel))


def speech_frames(mel: torch.Tensor) -> torch.Tensor:
    """[..., n_mels, frames] power -> [..., frames, 1] mask of the frames within SPEECH_TOP_DB of the
    loudest. A clip of digital silence keeps every frame, so it still has statistics."""
    energy = mel.sum(dim=-2)
    keep = energy >= energy.amax(dim=-1, keepdim=True) * 10 ** (-SPEECH_TOP_DB / 10)
    return keep.unsqueeze(-1).to(mel.dtype)


def normalized_over(feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Every frame of [..., frames, n_mels] shifted and scaled by the mean and (unbiased) standard
    deviation of the frames that `mask` [..., frames, 1] keeps."""
    count = mask.sum(dim=-2, keepdim=True)
    mean = (feats * mask).sum(dim=-2, keepdim=True) / count
    variance = ((feats - mean) ** 2 * mask).sum(dim=-2, keepdim=True) / (count - 1).clamp_min(1)
    return (feats - mean) / (variance.sqrt() + 1e-5)


def at_reference_level(wave: torch.Tensor) -> torch.Tensor:
    """Each wave (the last axis) scaled to an RMS of REFERENCE_DBFS; digital silence left as it is."""
    rms = wave.pow(2).mean(dim=-1, keepdim=True).sqrt()
    return torch.where(rms > 0, wave * (10 ** (REFERENCE_DBFS / 20) / rms.clamp_min(torch.finfo(wave.dtype).tiny)),
                       wave)


def warp_frequencies(power: torch.Tensor, factor: float, sample_rate: int) -> torch.Tensor:
    """Vocal tract length perturbation of a spectrogram [..., freqs, frames]: each bin reads the
    spectrum at Kaldi's piecewise-linear VTLN warp of its frequency (f / factor between 100 Hz and
    Nyquist - 500 Hz), so formants move up by `factor` (a shorter vocal tract) or down below 1, while
    0 Hz and Nyquist stay where they are. Linear interpolation between bins."""
    nyquist, num_bins = sample_rate / 2, power.shape[-2]
    freqs = torch.linspace(0.0, nyquist, num_bins)
    source = vtln_warp_freq(100.0, nyquist - 500.0, 0.0, nyquist, factor, freqs) * (num_bins - 1) / nyquist
    below = source.floor().long().clamp(0, num_bins - 2)
    weight = (source - below)[:, None].to(power.dtype)
    return power[..., below, :] * (1 - weight) + power[..., below + 1, :] * weight


class SpecAugment(torch.nn.Module):
    """Frequency and time masking on [B, frames, n_mels]; identity unless training."""

    def __init__(self, cfg: FeatureConfig):
        super().__init__()
        self.cfg = cfg
        self.augment = torchaudio.transforms.SpecAugment(
            n_time_masks=cfg.time_masks, time_mask_param=cfg.time_mask_width, n_freq_masks=cfg.freq_masks,
            freq_mask_param=cfg.freq_mask_width, iid_masks=True, p=cfg.time_mask_max_ratio,
            zero_masking=True)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if not self.training or (self.cfg.freq_masks == 0 and self.cfg.time_masks == 0):
            return feats
        return self.augment(feats.transpose(-1, -2)).transpose(-1, -2)


def num_frames(num_samples: int, cfg: FeatureConfig) -> int:
    """Frames LogMel produces for `num_samples` (center=True padding)."""
    return max(num_samples, min_samples(cfg)) // round(cfg.sample_rate * cfg.hop_ms / 1000) + 1


def min_samples(cfg: FeatureConfig) -> int:
    """The shortest wave LogMel reads as it is; it pads a shorter one with silence to this length."""
    return cfg.n_fft // 2 + 1
