"""Files in, text out: batching, features and greedy decoding around a loaded checkpoint."""

from collections.abc import Iterable, Iterator
from pathlib import Path

import torch

from asr.audio import AudioError, load_audio
from asr.checkpoint import load_model
from asr.data import Utterance
from asr.decoding import greedy_decode
from asr.features import LogMel

DEFAULT_MODEL = Path(__file__).parent / "assets" / "default_model.pt"


class Transcriber:
    """Example:
        >>> for path, text in Transcriber("model.pt").transcribe(["a.wav", "b.flac"]):
        ...     print(path, text)
    """

    def __init__(self, checkpoint, device: str = "cpu", batch_size: int = 8):
        self.model, self.cfg, self.tokenizer, _ = load_model(checkpoint, device)
        self.device = torch.device(device)
        self.logmel = LogMel(self.cfg.features)
        self.batch_size = batch_size

    @torch.no_grad()
    def transcribe_features(self, feats: list[torch.Tensor]) -> list[str]:
        lengths = torch.tensor([f.shape[0] for f in feats])
        padded = torch.zeros(len(feats), int(lengths.max()), feats[0].shape[1])
        for i, f in enumerate(feats):
            padded[i, : f.shape[0]] = f
        log_probs, out_lengths = self.model(padded.to(self.device), lengths.to(self.device))
        return greedy_decode(log_probs, out_lengths, self.tokenizer)

    def _features(self, item) -> torch.Tensor:
        if isinstance(item, Utterance):
            duration = item.duration if item.offset else None
            wave = load_audio(item.audio_filepath, self.cfg.features.sample_rate, item.offset, duration)
        else:
            wave = load_audio(item, self.cfg.features.sample_rate)
        with torch.no_grad():
            return self.logmel(wave)

    def transcribe(self, items: Iterable) -> Iterator[tuple[object, str | AudioError]]:
        """items: paths, or manifest Utterances (which may be segments of a longer file).
        Yields (item, text) in input order; an item whose audio cannot be read yields its
        AudioError instead, and the others are still transcribed."""
        pending: list[tuple[object, torch.Tensor | AudioError]] = []
        for item in items:
            try:
                pending.append((item, self._features(item)))
            except AudioError as error:
                pending.append((item, error))
            if sum(not isinstance(item, AudioError) for _, item in pending) >= self.batch_size:
                yield from self._flush(pending)
                pending = []
        yield from self._flush(pending)

    def _flush(self, pending):
        good = [item for _, item in pending if not isinstance(item, AudioError)]
        texts = iter(self.transcribe_features(good)) if good else iter(())
        for source, item in pending:
            yield source, item if isinstance(item, AudioError) else next(texts)
