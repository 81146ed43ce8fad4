"""Real recorded prompts: Debian's asterisk-core-sounds-LANG-wav, with the texts of
core-sounds-LANG.txt ("name: text" lines). One speaker per language, so the held-out split is by
prompt text: every recording of one normalised text lands in the same split (80/10/10 by a stable
hash). English (Allison Smith) is the real speech the default model trains and is measured on; the
other languages' packs (es: Allison again, fr: June, it: Carlo) are real speakers for training only,
their text in its own spelling with the accents folded, as the model's 26 letters can hold it."""

import gzip
import re
from pathlib import Path

from asr.corpora.report import Report, stable_split
from asr.text import normalize_text

DEFAULT_ROOT = Path("/usr/share/asterisk/sounds/en")
DEBIAN_TRANSCRIPTS = "/usr/share/doc/asterisk-core-sounds-{0}/core-sounds-{0}.txt.gz"
# The language is in the transcripts' name, the speaker in the name of Debian's sounds folder.
_LANGUAGE = re.compile(r"core-sounds-([a-z]{2})\b")
_SPEAKER_FOLDER = re.compile(r"^([a-z]{2})_[A-Z]{2}_[fm]_(\w+)$")
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
# The rewrites above are English. In another language's prompts, numbers would be spelled out in
# English, keys named in English, and acronyms and web addresses written otherwise than said:
# such prompts are left out rather than taught with wrong letters.
_NOT_AS_WRITTEN = re.compile(r"[0-9*#@]|\b[A-Z]{2,}\b|\w\.\w")


def _read_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace") as f:  # the Italian file opens with a BOM
        return f.read().splitlines()


def prepare(root: Path, report: Report, transcripts: Path | None = None, **_) -> None:
    folder_language, speaker = _read_folder_name(root)
    transcripts = Path(transcripts) if transcripts else _find_transcripts(root, folder_language)
    language = _language_of(transcripts.name)
    # The English prompts have always been Allison's, wherever they lie.
    speaker = speaker or ("allison" if language == "en" else f"asterisk-{language}")
    for number, line in enumerate(_read_lines(transcripts), start=1):
        if not line.strip() or line.startswith(";"):
            continue
        where = f"{transcripts}:{number}"
        name, sep, text = line.partition(":")
        if not sep or not name.strip():
            report.skip("malformed transcript line", where)
            continue
        spoken = _DESCRIPTION.sub(" ", text).strip()
        normalized = normalize_text(spoken)
        if not normalized:
            report.skip("non-speech prompt (a bracketed or parenthesised description only)", where)
            continue
        if language != "en" and _NOT_AS_WRITTEN.search(spoken):
            report.skip("digits, keys, acronyms or web addresses, written otherwise than said", where)
            continue
        # Split by the text as written, so that spelling out the keys or writing a word as it is said
        # moved no prompt between splits.
        split = stable_split(normalized, FRACTIONS, salt="asterisk")
        said = _KEYS.sub(lambda key: _KEY_NAMES[key.group()], spoken)
        said = _WRITTEN_OTHERWISE.sub(lambda word: _SAID_AS[word.group()], said)
        report.add(split, where, root / f"{name.strip()}.wav", said, id=name.strip(), speaker=speaker)


def _language_of(transcripts_name: str) -> str:
    found = _LANGUAGE.search(transcripts_name)
    return found.group(1) if found else "en"


def _read_folder_name(root: Path) -> tuple[str, str | None]:
    """(language, speaker) from Debian's sounds folder, LANG_COUNTRY_SEX_Speaker (en_US_f_Allison,
    which /usr/share/asterisk/sounds/en links to); another folder may be named by its language alone."""
    found = _SPEAKER_FOLDER.match(root.resolve().name)
    if found:
        return found.group(1), found.group(2).lower()
    return (root.name if re.fullmatch(r"[a-z]{2}", root.name) else "en"), None


def _find_transcripts(root: Path, language: str) -> Path:
    name = f"core-sounds-{language}.txt"
    debian = Path(DEBIAN_TRANSCRIPTS.format(language))
    for candidate in (root / name, root / f"{name}.gz", debian, debian.with_suffix("")):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{root}: {name} not found; pass --transcripts "
                            f"(Debian: apt install asterisk-core-sounds-{language})")
