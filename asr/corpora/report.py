"""What every corpus preparer shares: the skip policy, the report, and writing the manifests."""

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import soundfile

from asr.data import write_manifest
from asr.text import CharTokenizer, normalize_text

EXAMPLES = 3


@dataclass
class Report:
    """Counts kept and skipped utterances. Policy, the same for every corpus:

    - transcripts are normalised (asr.text.normalize_text: numbers spelled out, punctuation dropped);
    - skipped, counted and shown with examples (file:line): empty or non-speech transcripts,
      characters outside the vocabulary after normalisation, missing or unreadable audio;
    - a malformed index file (a line that cannot be parsed) is skipped the same way, never guessed at.
    Nothing is dropped silently.
    """

    corpus: str
    tokenizer: CharTokenizer = field(default_factory=CharTokenizer)
    splits: dict = field(default_factory=lambda: defaultdict(list))
    skipped: dict = field(default_factory=lambda: defaultdict(list))

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason].append(where)

    def text_problem(self, text: str) -> str | None:
        normalised = normalize_text(text)
        if not normalised:
            return "empty transcript after normalisation"
        unknown = self.tokenizer.unknown_chars(normalised)
        if unknown:
            return f"characters outside the vocabulary: {''.join(sorted(unknown))!r}"
        return None

    def add(self, split: str, where: str, audio: Path, text: str, duration: float | None = None, **extra) -> bool:
        """Check one utterance and keep it, or record why not. Returns whether it was kept."""
        problem = self.text_problem(text)
        if problem is None and duration is None:
            duration, problem = audio_duration(audio)
        if problem is None and duration <= 0:
            problem = "zero-length audio"
        if problem:
            self.skip(problem, where)
            return False
        entry = {"audio_filepath": str(audio), "duration": round(float(duration), 3), "text": text.strip()}
        entry.update({k: v for k, v in extra.items() if v not in (None, "")})
        self.splits[split].append(entry)
        return True

    def write(self, out_dir: Path) -> list[Path]:
        """One manifest per split. Audio inside out_dir is written relative to it, so a generated
        corpus can move as one folder; audio elsewhere (the user's corpus) stays absolute."""
        out_dir = Path(out_dir).resolve()
        paths = []
        for split, entries in sorted(self.splits.items()):
            for entry in entries:
                audio = Path(entry["audio_filepath"]).resolve()
                if audio.is_relative_to(out_dir):
                    entry["audio_filepath"] = str(audio.relative_to(out_dir))
            path = out_dir / f"{split}.jsonl"
            write_manifest(path, entries)
            paths.append(path)
        return paths

    def summary(self) -> str:
        lines = [f"{self.corpus}:"]
        for split, entries in sorted(self.splits.items()):
            hours = sum(e["duration"] for e in entries) / 3600
            lines.append(f"  {split:<24} {len(entries):>8} utterances {hours:9.2f} h")
        total = sum(len(v) for v in self.skipped.values())
        lines.append(f"  skipped {total} item(s)" + (":" if total else ""))
        for reason, where in sorted(self.skipped.items(), key=lambda kv: -len(kv[1])):
            lines.append(f"    {len(where):>6}  {reason}  (e.g. {', '.join(where[:EXAMPLES])})")
        return "\n".join(lines)


def audio_duration(path: Path) -> tuple[float | None, str | None]:
    """Duration from the file header; (None, reason) when the file is missing or unreadable."""
    if not Path(path).exists():
        return None, "audio file missing"
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        return None, "audio unreadable"
    return info.frames / info.samplerate, None


def stable_split(key: str, fractions: dict[str, float], salt: str = "") -> str:
    """Deterministic split from a hash of `key`: the same key always lands in the same split."""
    value = int(hashlib.sha1(f"{salt}{key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    cumulative = 0.0
    for split, fraction in fractions.items():
        cumulative += fraction
        if value < cumulative:
            return split
    return next(reversed(fractions))
