"""Tiny generated 'speech' for tests: each character is a short tone of its own pitch."""

import json
from pathlib import Path

import numpy as np
import soundfile
import yaml

RATE = 16000


def tone_utterance(text: str, rate: int = RATE, char_s: float = 0.09, gap_s: float = 0.03) -> np.ndarray:
    pieces = [np.zeros(int(0.1 * rate), np.float32)]
    for ch in text:
        if ch == " ":
            pieces.append(np.zeros(int(0.12 * rate), np.float32))
            continue
        freq = 300.0 + 90.0 * (ord(ch) - ord("a"))
        t = np.arange(int(char_s * rate)) / rate
        pieces += [(0.3 * np.sin(2 * np.pi * freq * t) * np.hanning(t.size)).astype(np.float32),
                   np.zeros(int(gap_s * rate), np.float32)]
    pieces.append(np.zeros(int(0.1 * rate), np.float32))
    return np.concatenate(pieces)


def write_tone_corpus(folder: Path, texts: list[str], name: str = "manifest.jsonl") -> Path:
    """WAVs plus a manifest with relative paths, as the toolkit's manifests are written."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, text in enumerate(texts):
        audio = tone_utterance(text)
        soundfile.write(folder / f"utt{i}.wav", audio, RATE)
        lines.append(json.dumps({"audio_filepath": f"utt{i}.wav", "duration": audio.size / RATE, "text": text}))
    manifest = folder / name
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def write_tiny_recipe(folder: Path, manifest: Path, model: dict, data: dict, train: dict,
                      augment: dict | None = None) -> Path:
    """A recipe YAML for a tiny torch-impl model on `manifest`, without augmentation; `model`,
    `data`, `train` and `augment` add to or override the shared settings."""
    path = Path(folder) / "recipe.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"num_layers": 1, "dropout": 0.0, "subsample": 2, "impl": "torch", **model},
        "data": {"train_manifest": str(manifest), "num_workers": 0, **data},
        "augment": {"speed_factors": [], **(augment or {})},
        "train": {"spec_augment": False, "warmup_steps": 1, "out_dir": str(Path(folder) / "run"), **train}}))
    return path
