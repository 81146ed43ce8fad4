"""Silence around the speech and utterances of noise alone: the augmentation, the batches it is
budgeted in, and the CTC loss of an empty transcript."""

import math

import torch
from torch.utils.data import DataLoader

from asr.augment import AugmentConfig, WaveAugment
from asr.data import SpeechDataset, collate, read_manifest
from asr.features import FeatureConfig, num_frames
from asr.model import ctc_loss
from asr.sampler import BucketBatchSampler
from asr.text import CharTokenizer
from tests.asr.synth import write_tone_corpus

RATE = 16000


def test_silence_goes_around_the_speech_over_a_floor_at_the_drawn_level():
    wave = 0.3 * torch.sin(torch.arange(RATE) / 7.0)
    aug = WaveAugment(AugmentConfig(speed_factors=(), pad_prob=1.0, pad_seconds=(0.2, 1.5),
                                    floor_snr_db=(40.0, 40.0)), RATE)
    for seed in range(5):
        before_s, after_s = aug.silence_around(torch.Generator().manual_seed(seed))
        out = aug(wave, torch.Generator().manual_seed(seed))
        before, after = round(before_s * RATE), round(after_s * RATE)
        assert 0.2 <= before_s <= 1.5 and 0.2 <= after_s <= 1.5
        assert out.numel() == before + RATE + after
        floor = out - torch.nn.functional.pad(wave, (before, after))
        speech_to_floor_db = 10 * math.log10(wave.pow(2).mean() / floor.pow(2).mean())
        assert abs(speech_to_floor_db - 40.0) < 0.1
        assert floor[before:before + RATE].abs().max() > 0  # the floor runs under the speech too


def test_silence_off_draws_nothing_so_earlier_runs_augment_as_they_did():
    aug = WaveAugment(AugmentConfig(speed_factors=(0.9, 1.0, 1.1), noise_prob=0.5), RATE)
    generator = torch.Generator().manual_seed(3)
    state = generator.get_state()
    assert aug.silence_around(generator) == (0.0, 0.0)
    assert torch.equal(generator.get_state(), state)
    assert aug.speech_free(torch.zeros(RATE), generator) is None
    assert torch.equal(generator.get_state(), state)


def test_batches_are_budgeted_by_the_length_the_silence_gives_each_utterance(tmp_path):
    utts = read_manifest(write_tone_corpus(tmp_path, ["abc", "bad", "cab", "ace", "bee", "dad", "a", "ebb"]))
    cfg = FeatureConfig()
    aug = AugmentConfig(speed_factors=(), pad_prob=0.5, pad_seconds=(0.0, 1.0))
    dataset = SpeechDataset(utts, CharTokenizer(), cfg, aug, seed=4)
    sampler = BucketBatchSampler([u.duration for u in utts], 3.0, seed=4, added_seconds=dataset.added_seconds)
    padded_some = False
    for epoch in range(3):
        sampler.set_epoch(epoch)
        for batch in DataLoader(dataset, batch_sampler=sampler, collate_fn=collate):
            indices = [int(i[3:]) for i in batch["ids"]]
            seconds = [utts[i].duration + dataset.added_seconds(i, epoch) for i in indices]
            expected = [num_frames(round(s * RATE), cfg) for s in seconds]
            assert all(abs(n - e) <= 1 for n, e in zip(batch["lengths"].tolist(), expected))
            assert max(seconds) * len(indices) <= 3.0 or len(indices) == 1
            padded_some |= any(s > utts[i].duration for s, i in zip(seconds, indices))
    assert padded_some


def test_speech_free_utterances_are_noise_with_empty_text_and_leave_the_rest_alone(tmp_path):
    utts = read_manifest(write_tone_corpus(tmp_path, ["abc", "bad", "cab", "ace", "bee", "dad"]))
    base = AugmentConfig(speed_factors=(0.9, 1.0, 1.1), noise_prob=0.5, vtlp_range=(0.9, 1.1))
    plain = SpeechDataset(utts, CharTokenizer(), FeatureConfig(), base, seed=1)
    some = SpeechDataset(utts, CharTokenizer(), FeatureConfig(),
                         AugmentConfig(**{**vars(base), "speech_free_prob": 0.5}), seed=1)
    emptied = 0
    for index in range(len(utts)):
        (feats, target, text, _), (feats_some, target_some, text_some, _) = plain[index, 0], some[index, 0]
        assert feats_some.shape == feats.shape
        if text_some:
            assert text_some == text and torch.equal(target_some, target) and torch.equal(feats_some, feats)
        else:
            emptied += 1
            assert target_some.numel() == 0 and not torch.equal(feats_some, feats)
    assert 0 < emptied < len(utts)


def test_an_empty_transcript_costs_the_log_probability_of_blank_at_every_frame():
    log_probs = torch.randn(2, 7, 5).log_softmax(-1)  # [B, T, vocab]; blank is 0
    lengths = torch.tensor([7, 5])
    loss = ctc_loss(log_probs, lengths, torch.tensor([3, 1, 4], dtype=torch.long), torch.tensor([0, 3]))
    only_blank = -log_probs[0, :, 0].sum()  # the one path: blank at every frame, not divided by 0 labels
    second = torch.nn.functional.ctc_loss(log_probs[1:, :5].transpose(0, 1), torch.tensor([[3, 1, 4]]),
                                          torch.tensor([5]), torch.tensor([3]), reduction="sum") / 3
    torch.testing.assert_close(loss, (only_blank + second) / 2)
