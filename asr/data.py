"""Manifests (JSON Lines) and the dataset that turns them into features and CTC targets."""

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from asr.audio import AudioError, load_audio
from asr.augment import AugmentConfig, WaveAugment
from asr.features import FeatureConfig, LogMel
from asr.fileio import atomic_write_text, read_utf8
from asr.text import CharTokenizer, normalize_text


class ManifestError(ValueError):
    pass


@dataclass
class Utterance:
    audio_filepath: str
    duration: float
    text: str
    offset: float = 0.0
    id: str = ""
    speaker: str = ""
    where: str = ""  # manifest file:line, for reports


REQUIRED = ("audio_filepath", "duration", "text")


@dataclass
class Unreadable:
    """An item whose audio could not be read (a corrupt or truncated file found mid-run):
    `collate` leaves it out of the batch and lists it under "unreadable", so training goes on."""
    where: str
    error: str  # AudioError's message: the exception itself does not survive pickling to a loader worker

    def __str__(self) -> str:
        return f"{self.where}: {self.error}" if self.where else self.error


def manifest_paths(paths) -> list[str]:
    """One manifest path, or several joined with "," (data.train_manifest, `asr evaluate --manifest`)."""
    return [path for path in str(paths).split(",") if path]


def read_manifests(paths) -> list[Utterance]:
    """The manifests of manifest_paths(paths), read as one in that order."""
    return [utt for path in manifest_paths(paths) for utt in read_manifest(path)]


def read_manifest(path, need_text: bool = True) -> list[Utterance]:
    """Read a JSON Lines manifest. Relative audio paths resolve against the manifest's folder.
    With need_text=False (audio to transcribe, not to train or score on) "text" may be left out.

    A malformed line fails the whole read, naming file:line: a manifest is data we wrote or the
    user gave us, and a silently shorter dataset is worse than an error.
    """
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path}: no such manifest")
    required = REQUIRED if need_text else REQUIRED[:2]
    utterances = []
    for number, line in enumerate(read_utf8(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise ManifestError(f"{where}: not valid JSON ({error.msg})") from None
        if not isinstance(entry, dict) or any(k not in entry for k in required):
            raise ManifestError(f"{where}: needs the keys {', '.join(required)}")
        audio = Path(entry["audio_filepath"])
        if not audio.is_absolute():
            audio = path.parent / audio
        try:
            duration, offset = float(entry["duration"]), float(entry.get("offset", 0.0))
        except (TypeError, ValueError):
            raise ManifestError(f"{where}: duration and offset must be numbers") from None
        utterances.append(Utterance(str(audio), duration, str(entry.get("text", "")), offset,
                                    str(entry.get("id", audio.stem)), str(entry.get("speaker", "")), where))
    return utterances


def write_manifest(path, entries: list[dict]) -> None:
    """Write JSON Lines atomically (temp file, then rename)."""
    atomic_write_text(path, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries))


class SpeechDataset(Dataset):
    """Items are (features [frames, n_mels], target ids, normalised text, utterance id), or
    Unreadable.

    Keys are indices, or (index, epoch) pairs from BucketBatchSampler: with `augment`, each
    utterance's augmentation is drawn from a generator seeded by (seed, epoch, index), so results
    do not depend on how many loader workers there are.
    """

    def __init__(self, utterances: list[Utterance], tokenizer: CharTokenizer, features: FeatureConfig,
                 augment: AugmentConfig | None = None, seed: int = 0):
        self.utterances = utterances
        self.tokenizer = tokenizer
        self.features = features
        self.augment = WaveAugment(augment, features.sample_rate) if augment and augment.enabled else None
        self.seed = seed
        self._logmel = None  # built lazily in each worker process

    def __len__(self) -> int:
        return len(self.utterances)

    def _generator(self, index: int, epoch: int) -> torch.Generator:
        return torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 10_000_019 + index)

    def added_seconds(self, index: int, epoch: int) -> float:
        """The silence the augmentation puts around utterance `index` in `epoch` (BucketBatchSampler's
        added_seconds)."""
        return sum(self.augment.silence_around(self._generator(index, epoch))) if self.augment is not None else 0.0

    def __getitem__(self, key):
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        utt = self.utterances[index]
        if self._logmel is None:
            self._logmel = LogMel(self.features)
        duration = utt.duration if utt.offset else None
        try:
            wave = load_audio(utt.audio_filepath, self.features.sample_rate, utt.offset, duration)
        except AudioError as error:
            return Unreadable(utt.where, str(error))
        vtlp_factor, text = 1.0, normalize_text(utt.text)
        if self.augment is not None:
            generator = self._generator(index, epoch)
            wave = self.augment(wave, generator)
            vtlp_factor = self.augment.vtlp_factor(generator)
            noise = self.augment.speech_free(wave, generator)
            if noise is not None:
                wave, text = noise, ""
        with torch.no_grad():
            feats = self._logmel(wave, vtlp_factor)
        return feats, torch.tensor(self.tokenizer.encode(text), dtype=torch.long), text, utt.id


def pad_features(feats) -> tuple[torch.Tensor, torch.Tensor]:
    """[frames, n_mels] tensors -> zero-padded [B, max_frames, n_mels] and their lengths [B]."""
    lengths = torch.tensor([f.shape[0] for f in feats])
    padded = torch.zeros(len(feats), int(lengths.max()), feats[0].shape[1])
    for i, f in enumerate(feats):
        padded[i, : f.shape[0]] = f
    return padded, lengths


def collate(items):
    """Pad features to the longest item; CTC targets are concatenated, as ctc_loss accepts.
    Unreadable items are listed, not batched: a batch of nothing else has no "feats"."""
    unreadable = [str(item) for item in items if isinstance(item, Unreadable)]
    items = [item for item in items if not isinstance(item, Unreadable)]
    if not items:
        return {"ids": [], "unreadable": unreadable}
    feats, targets, texts, ids = zip(*items)
    padded, lengths = pad_features(feats)
    return {"feats": padded, "lengths": lengths, "targets": torch.cat(targets),
            "target_lengths": torch.tensor([len(t) for t in targets]), "texts": list(texts), "ids": list(ids),
            "unreadable": unreadable}
