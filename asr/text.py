"""One text normaliser (training targets and WER scoring alike) and the character tokenizer."""

import re
import unicodedata

from num2words import num2words

DEFAULT_VOCAB = " abcdefghijklmnopqrstuvwxyz'"
BLANK = "<blank>"

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
_SEPARATORS = re.compile(r"[\s\-_/\u2013\u2014]+")
_DROPPED = re.compile(r"[^\w\s']")
_STRAY_APOSTROPHES = re.compile(r"(?<!\w)'|'(?!\w)")
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}\b)")
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)(?:(st|nd|rd|th)(?![a-z]))?", re.IGNORECASE)


def _spell_number(match: re.Match) -> str:
    number, ordinal = match.group(1), match.group(2)
    if ordinal and "." not in number:
        return f" {num2words(int(number), to='ordinal')} "
    return f" {num2words(float(number) if '.' in number else int(number))} "


def normalize_text(text: str) -> str:
    """Spell out numbers ("press 2" -> "press two", "1st" -> "first"); lowercase; fold accents
    ("café" -> "cafe"); hyphens, slashes and dashes become spaces; other punctuation is dropped;
    apostrophes survive only inside words ("don't"); whitespace collapses to single spaces."""
    text = _NUMBER.sub(_spell_number, _THOUSANDS_COMMA.sub("", text))
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = _SEPARATORS.sub(" ", text)
    text = _DROPPED.sub("", text).replace("_", " ")
    text = _STRAY_APOSTROPHES.sub("", text)
    return " ".join(text.split())


class CharTokenizer:
    """Characters to ids: 0 is the CTC blank, then the vocabulary in order."""

    def __init__(self, vocab: str = DEFAULT_VOCAB):
        if len(set(vocab)) != len(vocab):
            raise ValueError(f"vocabulary has repeated characters: {vocab!r}")
        self.vocab = vocab
        self.index = {ch: i + 1 for i, ch in enumerate(vocab)}

    def __len__(self) -> int:
        return len(self.vocab) + 1

    @property
    def blank(self) -> int:
        return 0

    def unknown_chars(self, text: str) -> set[str]:
        return {ch for ch in text if ch not in self.index}

    def encode(self, text: str) -> list[int]:
        """Ids of an already normalised text; ValueError names any character outside the vocabulary."""
        unknown = self.unknown_chars(text)
        if unknown:
            raise ValueError(f"characters outside the vocabulary: {''.join(sorted(unknown))!r} in {text!r}")
        return [self.index[ch] for ch in text]

    def decode(self, ids) -> str:
        return "".join(self.vocab[i - 1] for i in ids if 0 < i <= len(self.vocab))

    def to_dict(self) -> dict:
        return {"vocab": self.vocab}

    @classmethod
    def from_dict(cls, state: dict) -> "CharTokenizer":
        return cls(state["vocab"])
