"""Real recorded English prompts: Debian's asterisk-core-sounds-en-wav, with the texts of
core-sounds-en.txt ("name: text" lines). One speaker, so the held-out split is by prompt text:
every recording of one normalised text lands in the same split (80/10/10 by a stable hash)."""

import gzip
import re
from pathlib import Path

from asr.corpora.report import Report, stable_split
from asr.text import normalize_text

DEFAULT_ROOT = Path("/usr/share/asterisk/sounds/en")
DEFAULT_TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
FRACTIONS = {"train": 0.8, "dev": 0.1, "test": 0.1}
# Descriptions, not speech: "[sound of monkeys screaming]", "(10 seconds of silence)",
# "IAX (note: does not say "2")", "... pound key. (simple tone sound plays)", "<beep ascending>".
_DESCRIPTION = re.compile(r"\[[^\]]*\]|\([^)]*\)|<[^>]*>")
# Misspellings in core-sounds-en.txt (the recordings say the real words): as targets they teach
# spellings that do not exist, and as references a correct hypothesis would count as an error.
_MISSPELLINGS = {"represenatives": "representatives", "umute": "unmute", "witheld": "withheld",
                 "Un-indentified": "Unidentified", "fourtieth": "fortieth", "exclaimation": "exclamation"}
_MISSPELLED = re.compile(r"\b(" + "|".join(map(re.escape, _MISSPELLINGS)) + r")\b")
# The prompts write the telephone keys as symbols ("followed by # or just # to exit") and the speaker
# says their names: dropped by the text normaliser, they would leave spoken words out of the targets.
_KEYS = re.compile(r"[*#]")
_KEY_NAMES = {"*": "star", "#": "pound"}


def _read_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        return f.read().splitlines()


def prepare(root: Path, report: Report, transcripts: Path | None = None, **_) -> None:
    transcripts = Path(transcripts) if transcripts else _find_transcripts(root)
    for number, line in enumerate(_read_lines(transcripts), start=1):
        if not line.strip() or line.startswith(";"):
            continue
        where = f"{transcripts}:{number}"
        name, sep, text = line.partition(":")
        if not sep or not name.strip():
            report.skip("malformed transcript line", where)
            continue
        spoken = _DESCRIPTION.sub(" ", text).strip()
        if not normalize_text(spoken):
            report.skip("non-speech prompt (a bracketed or parenthesised description only)", where)
            continue
        # Split by the text as written, so that spelling out the keys or mending a misspelling moved
        # no prompt between splits.
        split = stable_split(normalize_text(spoken), FRACTIONS, salt="asterisk")
        said = _KEYS.sub(lambda key: _KEY_NAMES[key.group()], spoken)
        said = _MISSPELLED.sub(lambda word: _MISSPELLINGS[word.group()], said)
        report.add(split, where, root / f"{name.strip()}.wav", said, id=name.strip(), speaker="allison")


def _find_transcripts(root: Path) -> Path:
    for candidate in (root / "core-sounds-en.txt", root / "core-sounds-en.txt.gz", DEFAULT_TRANSCRIPTS,
                      DEFAULT_TRANSCRIPTS.with_suffix("")):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{root}: core-sounds-en.txt not found; pass --transcripts "
                            "(Debian: apt install asterisk-core-sounds-en)")
