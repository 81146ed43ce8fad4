"""English accents for espeak-ng that none of its voice files has, drawn at random.

espeak-ng defines an English accent by a voice file (espeak-ng-data/lang/gmw/en-*) that names a
phoneme table, a set of conditional spelling rules, vowel timings and phoneme replacements. A drawn
accent combines the training accents' tables, rules and timings with a random set of replacements:
the mergers and shifts that tell English accents apart. The stage-43 default model scored 31-46% WER
on the two held-out espeak accents against 9-13% on the trained ones: six accents teach it six
pronunciations, and random ones were to teach it that pronunciation varies, as speed perturbation
teaches it that tempo varies. Measured (recipes/default/HISTORY.md, stage 45): it learned the drawn
accents (25% -> 22% WER on their dev utterances) and the held-out ones did not move.

Nothing of the held-out accents (synthetic.HELD_OUT_VOICES) is drawn: not their phoneme tables, not
their spelling rules, not a replacement that only they make. tests/asr/test_espeak_accents.py holds
this against the voice files installed.

An accent is a string, `table.d<rules>.s<timing>.i<intonation>.r<replacements>` such as
`en-rp.d3.s1.i2.r0-7-12`, so that a build's specs (and the names of its audio files) say which.
"""

import atexit
import functools
import hashlib
import random
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

# The phoneme tables, spelling rules and vowel timings of the training accents (synthetic.ESPEAK_ACCENTS
# without the held-out ones): en-gb, en-us, en-gb-x-rp, en-gb-x-gbclan, en-gb-x-gbcwmd, en-us-nyc.
TABLES = ("en", "en-us", "en-rp", "en-n", "en-wm", "en-us-nyc")
DICTRULES = (3, 6)
STRESS_LENGTHS = ("", "140 120 190 170 0 0 255 300", "160 150 180 180 220 220 290 290")  # own, en-us, gbclan
INTONATIONS = (1, 2, 3, 4)
# (flags, phoneme, replacement) in espeak's phoneme names. Flags: 1 only word-final, 2 never in a
# stressed syllable.
REPLACEMENTS = (
    # those of the training accents, but en-us's `03 I2 i`: one word of 2,449 in Genesis ends in I2
    (3, "N", "n"), (3, "i", "I2"), (0, "h", "NULL"), (0, "o@", "O@"), (3, "I", "i"), (3, "@", "a#"), (3, "3", "a#"),
    # those of accents no espeak voice has
    (0, "V", "U"),  # foot-strut merger: northern England
    (0, "T", "f"), (0, "D", "v"),  # th-fronting: London, Estuary
    (0, "oU", "O:"), (0, "eI", "E"),  # monophthongs for goat and face: northern England, Wales, Ireland
    (0, "aI", "A:"),  # price as one vowel: the southern US
    (0, "aU", "a"),  # mouth as one vowel: Pittsburgh
    (0, "E", "I"),  # pin-pen merger: the southern US
    (0, "i:", "I"),  # fleece-kit merger: many second-language accents
    (0, "A:", "a"),  # palm fronted
    (0, "z", "s"),  # devoiced z: German, Dutch, Scandinavian speakers
    (0, "v", "w"),  # v-w merger: Indian English
)
REPLACE_PROB = 0.25
_ACCENT = re.compile(r"(?P<table>[a-z-]+)\.d(?P<rules>\d*)\.s(?P<stress>\d)\.i(?P<intonation>\d)\.r(?P<replace>[\d-]*)")
_WRITE_LOCK = threading.Lock()


def draw(rng: random.Random) -> str:
    """One accent, drawn from `rng`."""
    table = rng.choice(TABLES)
    rules = "".join(str(r) for r in DICTRULES if rng.random() < 0.5)
    stress, intonation = rng.randrange(len(STRESS_LENGTHS)), rng.choice(INTONATIONS)
    replace = "-".join(str(i) for i in range(len(REPLACEMENTS)) if rng.random() < REPLACE_PROB)
    return f"{table}.d{rules}.s{stress}.i{intonation}.r{replace}"


def voice_file(accent: str) -> str:
    """The espeak-ng voice file that speaks `accent`."""
    found = _ACCENT.fullmatch(accent)
    if found is None or found["table"] not in TABLES:
        raise ValueError(f"not a drawn accent: {accent!r}")
    lines = ["name drawn accent", "language en", f"phonemes {found['table']}", f"intonation {found['intonation']}"]
    if found["rules"]:
        lines.append("dictrules " + " ".join(found["rules"]))
    if STRESS_LENGTHS[int(found["stress"])]:
        lines.append("stressLength " + STRESS_LENGTHS[int(found["stress"])])
    for index in found["replace"].split("-") if found["replace"] else ():
        lines.append("replace {:02d} {} {}".format(*REPLACEMENTS[int(index)]))
    return "\n".join(lines) + "\n"


def installed_data() -> Path:
    """The espeak-ng-data folder of the installed espeak-ng, as `espeak-ng --version` names it."""
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"Data at: (.+)", version)
    if found is None:
        raise FileNotFoundError(f"espeak-ng --version names no data folder: {version.strip()!r}")
    return Path(found[1].strip())


@functools.cache
def _data_root() -> Path:
    """A folder for espeak-ng's --path whose espeak-ng-data links every entry of the installed one and
    adds voices/drawn/: espeak-ng reads voice files only from its data folder, never from a path."""
    root = Path(tempfile.mkdtemp(prefix="asr-espeak-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    data, installed = root / "espeak-ng-data", installed_data()
    (data / "voices" / "drawn").mkdir(parents=True)
    for entry in installed.iterdir():
        if entry.name != "voices":
            (data / entry.name).symlink_to(entry)
    for entry in (installed / "voices").iterdir():
        (data / "voices" / entry.name).symlink_to(entry)
    return root


def espeak_args(voice: str) -> list[str]:
    """espeak-ng's arguments that select `voice`, a drawn accent with one of espeak's variants after a
    "+" (`en-rp.d3.s1.i2.r0-7+f2`) or none."""
    accent, _, variant = voice.partition("+")
    root = _data_root()
    name = hashlib.sha1(accent.encode()).hexdigest()[:12]  # espeak-ng finds no voice of a name over 40 characters
    path = root / "espeak-ng-data" / "voices" / "drawn" / name
    with _WRITE_LOCK:
        if not path.exists():
            path.write_text(voice_file(accent))
    return ["--path", str(root), "-v", f"drawn/{name}" + (f"+{variant}" if variant else "")]
