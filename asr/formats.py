"""Transcript output formats: txt, json, jsonl, srt, vtt."""

import json
from dataclasses import asdict, dataclass, field

FORMATS = ("txt", "json", "jsonl", "srt", "vtt")


@dataclass
class Word:
    word: str
    start: float  # seconds
    end: float
    confidence: float  # mean posterior of the word's characters, 0..1


@dataclass
class Transcript:
    source: str
    text: str
    duration: float
    words: list[Word] = field(default_factory=list)
    model: str = ""
    decoding: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def cues(words: list[Word], max_chars: int = 42, max_seconds: float = 5.0, pause: float = 0.8) -> list[list[Word]]:
    """Readable subtitle cues: break at a pause, or before a cue grows past max_chars or max_seconds
    (42 characters is the common broadcast line length)."""
    groups, current = [], []
    for word in words:
        if current:
            text_len = sum(len(w.word) + 1 for w in current) + len(word.word)
            if (word.start - current[-1].end > pause or text_len > max_chars
                    or word.end - current[0].start > max_seconds):
                groups.append(current)
                current = []
        current.append(word)
    if current:
        groups.append(current)
    return groups


def _timestamp(seconds: float, separator: str) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def render(transcript: Transcript, fmt: str) -> str:
    if fmt == "txt":
        return f"{transcript.source}\t{transcript.text}\n"
    if fmt == "jsonl":
        return json.dumps(transcript.to_dict(), ensure_ascii=False) + "\n"
    if fmt == "json":
        return json.dumps(transcript.to_dict(), ensure_ascii=False, indent=2) + "\n"
    groups = cues(transcript.words)
    if fmt == "srt":
        return "".join(f"{i}\n{_timestamp(g[0].start, ',')} --> {_timestamp(g[-1].end, ',')}\n"
                       f"{' '.join(w.word for w in g)}\n\n" for i, g in enumerate(groups, start=1))
    if fmt == "vtt":
        return "WEBVTT\n\n" + "".join(f"{_timestamp(g[0].start, '.')} --> {_timestamp(g[-1].end, '.')}\n"
                                      f"{' '.join(w.word for w in g)}\n\n" for g in groups)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
