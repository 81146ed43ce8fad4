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
# Words written otherwise than the recordings say them: as targets they teach the wrong letters, and as
# references a correct hypothesis would count as errors. Misspellings in core-sounds-en.txt; acronyms
# spoken letter by letter (the normaliser would make "PBX" one word, "www.asterisk.org" one long one);
# telephone numbers read digit by digit ("dial 500" is "five zero zero", not "five hundred"). IAX, SIP
# and DAHDI are said as words; H.323 and 28.8 are left as written, not being sure what is said.
_SAID_AS = {"represenatives": "representatives", "umute": "unmute", "witheld": "withheld",
            "Un-indentified": "Unidentified", "fourtieth": "fortieth", "exclaimation": "exclamation",
            "PBX": "P B X", "IVR": "I V R", "IP": "I P", "USB": "U S B", "MGCP": "M G C P",
            "www.asterisk.org": "w w w dot asterisk dot org",
            "500": "5 0 0", "600": "6 0 0", "1234": "1 2 3 4", "4242": "4 2 4 2", "8500": "8 5 0 0"}
_WRITTEN_OTHERWISE = re.compile(r"\b(" + "|".join(map(re.escape, _SAID_AS)) + r")\b")
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
        # Split by the text as written, so that spelling out the keys or writing a word as it is said
        # moved no prompt between splits.
        split = stable_split(normalize_text(spoken), FRACTIONS, salt="asterisk")
        said = _KEYS.sub(lambda key: _KEY_NAMES[key.group()], spoken)
        said = _WRITTEN_OTHERWISE.sub(lambda word: _SAID_AS[word.group()], said)
        report.add(split, where, root / f"{name.strip()}.wav", said, id=name.strip(), speaker="allison")


def _find_transcripts(root: Path) -> Path:
    for candidate in (root / "core-sounds-en.txt", root / "core-sounds-en.txt.gz", DEFAULT_TRANSCRIPTS,
                      DEFAULT_TRANSCRIPTS.with_suffix("")):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{root}: core-sounds-en.txt not found; pass --transcripts "
                            "(Debian: apt install asterisk-core-sounds-en)")
