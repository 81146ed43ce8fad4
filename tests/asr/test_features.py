import librosa
import numpy as np
import pytest
import torch

from asr.features import REFERENCE_DBFS, SPEECH_TOP_DB, FeatureConfig, LogMel, SpecAugment, num_frames, warp_frequencies


def test_mel_filterbank_matches_librosa():
    cfg = FeatureConfig()
    ours = LogMel(cfg).mel.mel_scale.fb.T.numpy()  # [n_mels, n_freqs]
    ref = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.f_min, fmax=cfg.f_max)
    assert ours.shape == ref.shape == (80, 257)
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_log_mel_matches_librosa_pipeline():
    cfg = FeatureConfig(normalize=False, normalize_level=False)
    wave = torch.randn(8000, generator=torch.Generator().manual_seed(0)) * 0.1
    ours = LogMel(cfg)(wave).numpy()
    power = np.abs(librosa.stft(wave.numpy(), n_fft=512, hop_length=160, win_length=400, center=True,
                                pad_mode="reflect")) ** 2
    ref = np.log(librosa.filters.mel(sr=16000, n_fft=512, n_mels=80, fmin=cfg.f_min) @ power + 1e-6).T
    np.testing.assert_allclose(ours, ref, atol=5e-4)


def test_shapes_hop_and_configurable_bins():
    cfg = FeatureConfig(n_mels=40, hop_ms=20, win_ms=30)
    feats = LogMel(cfg)(torch.randn(16000))
    assert feats.shape == (num_frames(16000, cfg), 40) == (51, 40)
    batch = LogMel(FeatureConfig())(torch.randn(3, 16000))
    assert batch.shape == (3, 101, 80)


@pytest.mark.parametrize("samples", [1, 80, 256])
def test_a_clip_shorter_than_the_fft_padding_gets_silence_after_it(samples):
    """torch.stft alone raises on these (reflect padding needs more than n_fft / 2 samples)."""
    cfg = FeatureConfig(normalize=False, normalize_level=False)  # silence after it would lower its level
    wave = torch.full((samples,), 0.5)
    feats = LogMel(cfg)(wave)
    padded = torch.cat([wave, torch.zeros(cfg.n_fft // 2 + 1 - samples)])
    assert feats.shape == (num_frames(samples, cfg), 80) == (2, 80)
    assert torch.equal(feats, LogMel(cfg)(padded))
    assert torch.isfinite(LogMel(FeatureConfig())(wave)).all(), "normalisation has two frames to work with"


def test_per_utterance_normalisation():
    feats = LogMel(FeatureConfig())(torch.randn(32000) * 3 + 0.5)
    assert torch.allclose(feats.mean(0), torch.zeros(80), atol=1e-4)
    assert torch.allclose(feats.std(0), torch.ones(80), atol=1e-3)


def test_features_do_not_hear_the_recording_level():
    """Hand-computed reference: the wave scaled to REFERENCE_DBFS by its RMS, then the plain features.
    Without the scaling a quiet copy differs, through the log's absolute floor."""
    voiced = torch.sin(2 * torch.pi * 150 * torch.arange(16000) / 16000) * torch.linspace(0, 1, 16000)
    wave = torch.cat([torch.zeros(4000), voiced, torch.zeros(4000)])  # digital silence, as TTS output has
    rms = wave.pow(2).mean().sqrt()
    plain, levelled = LogMel(FeatureConfig(normalize_level=False)), LogMel(FeatureConfig())
    reference = plain(wave * 10 ** (REFERENCE_DBFS / 20) / rms)
    for gain in (1.0, 0.03, 1e-3, 4.0):
        assert torch.allclose(levelled(wave * gain), reference, atol=1e-3)  # float32 rounding, then divided by std
    assert (plain(wave * 0.03) - plain(wave)).abs().max() > 1
    assert torch.equal(levelled(torch.zeros(8000)), plain(torch.zeros(8000)))


def test_statistics_are_those_of_the_speech_not_of_the_silence_around_it():
    """The mean and variance come from the frames within SPEECH_TOP_DB of the loudest (reference: that
    rule applied by hand to librosa's mel power), so the speech frames come out the same whether
    0.5 s or 2 s of silence, or faint noise, surround them; over "all" frames they do not."""
    voiced = torch.sin(2 * torch.pi * 150 * torch.arange(16000) / 16000) * torch.linspace(0.05, 1, 16000)
    hiss = torch.randn(48000, generator=torch.Generator().manual_seed(0)) * 1e-4  # about 67 dB below the tone
    plain = LogMel(FeatureConfig(normalize=False, normalize_level=False))
    speech = LogMel(FeatureConfig(normalize_level=False))

    def around(seconds, quiet):  # the wave and where its speech frames are (8000 samples = 50 frames)
        pad = int(16000 * seconds)
        return torch.cat([quiet[:pad], voiced, quiet[pad:2 * pad]]), slice(pad // 160 + 3, (pad + 16000) // 160 - 3)

    wave, inside = around(0.5, torch.zeros(48000))
    power = librosa.filters.mel(sr=16000, n_fft=512, n_mels=80, fmin=20.0) @ np.abs(
        librosa.stft(wave.numpy(), n_fft=512, hop_length=160, win_length=400)) ** 2
    kept = plain(wave).numpy()[power.sum(0) >= power.sum(0).max() * 10 ** (-SPEECH_TOP_DB / 10)]
    assert 0.5 < len(kept) / power.shape[1] < 0.75, "the silence, and the faintest onset, left out"
    reference = (plain(wave).numpy() - kept.mean(0)) / (kept.std(0, ddof=1) + 1e-5)
    np.testing.assert_allclose(speech(wave).numpy(), reference, atol=2e-3)

    # The hiss reaches into the windows of the first and last speech frames, which count: 0.01 allowed.
    for seconds, quiet, atol in ((2.0, torch.zeros(96000), 1e-4), (0.5, hiss, 1e-2), (2.0, hiss.repeat(2), 1e-2)):
        other, other_inside = around(seconds, quiet)
        torch.testing.assert_close(speech(other)[other_inside], speech(wave)[inside], atol=atol, rtol=0)
    over_all = LogMel(FeatureConfig(normalize_level=False, normalize_over="all"))
    longer, longer_inside = around(2.0, torch.zeros(96000))
    assert (over_all(longer)[longer_inside] - over_all(wave)[inside]).abs().max() > 0.5


def tone(hz: float, seconds: float = 0.5) -> torch.Tensor:
    return torch.sin(2 * torch.pi * hz * torch.arange(int(16000 * seconds)) / 16000)


@pytest.mark.parametrize("factor", [0.85, 1.1, 1.2])
def test_vtlp_moves_a_tone_by_the_factor(factor):
    """Between 100 Hz and Nyquist - 500 Hz the warp is f -> factor * f: a 1 kHz tone's peak moves to
    factor kHz in the spectrogram (31.25 Hz bins) and in the mel features (librosa's band centres)."""
    cfg = FeatureConfig(normalize=False)
    logmel = LogMel(cfg)
    power = logmel.mel.spectrogram(tone(1000.0))
    warped = warp_frequencies(power, factor, cfg.sample_rate)
    bin_hz = cfg.sample_rate / cfg.n_fft
    assert abs(warped.mean(-1).argmax().item() * bin_hz - 1000 * factor) <= bin_hz
    centres = librosa.mel_frequencies(n_mels=cfg.n_mels + 2, fmin=cfg.f_min, fmax=cfg.sample_rate / 2)[1:-1]
    peak = logmel(tone(1000.0), vtlp_factor=factor).mean(0).argmax().item()
    assert abs(centres[peak] - 1000 * factor) < 0.05 * 1000 * factor
    assert torch.equal(warped[[0, -1]], power[[0, -1]]), "0 Hz and Nyquist stay where they are"


def test_vtlp_factor_one_is_the_plain_features():
    wave = torch.randn(8000, generator=torch.Generator().manual_seed(1))
    logmel = LogMel(FeatureConfig())
    assert torch.equal(logmel(wave, vtlp_factor=1.0), logmel(wave))
    power = logmel.mel.spectrogram(wave)
    torch.testing.assert_close(warp_frequencies(power, 1.0, 16000), power)


def test_spec_augment_only_in_training():
    augment = SpecAugment(FeatureConfig())
    feats = torch.ones(4, 400, 80)
    assert torch.equal(augment.eval()(feats), feats)
    torch.manual_seed(0)
    masked = augment.train()(feats)
    assert masked.shape == feats.shape
    zero = masked == 0
    assert zero.any(), "training mode must mask something"
    assert zero.all(dim=2).any() and zero.all(dim=1).any(), "both time and frequency masks"
    assert not torch.equal(zero[0], zero[1]), "masks are drawn per utterance"
