"""Drawn espeak-ng accents: they speak, they differ, and nothing of a held-out accent is drawn."""

import random
import shutil
import subprocess

import pytest

from asr.corpora import espeak_accents
from asr.corpora.synthetic import ESPEAK_ACCENTS, HELD_OUT_VOICES

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt install espeak-ng)")
PROBE = ("the thin man sang a song about the bath while they were talking of his strut and the foot of the price "
         "of a mouth and a goat in the face of the pen three zoo very lazy boy heeding the palm for more in the "
         "valley, better")


def voice_files() -> dict[str, dict[str, list[list[str]]]]:
    """Each espeak accent's voice file as espeak-ng lists it: attribute -> its lines' fields."""
    listing = subprocess.run(["espeak-ng", "--voices=en"], capture_output=True, text=True, check=True).stdout
    files = {}
    for row in listing.splitlines()[1:]:
        language, path = row.split()[1], row.split()[4]
        if path.startswith("gmw/") and language not in files:
            attributes: dict[str, list[list[str]]] = {"phonemes": [["en"]]}
            for line in (espeak_accents.installed_data() / "lang" / path).read_text().splitlines():
                if line.split():
                    attributes.setdefault(line.split()[0], []).append(line.split()[1:])
            files[language] = attributes
    return files


def test_no_part_of_a_held_out_accent_is_drawn():
    files = voice_files()
    held_out = [a for a in ESPEAK_ACCENTS if f"espeak:{a}" in HELD_OUT_VOICES]
    trained = [a for a in ESPEAK_ACCENTS if a not in held_out]
    assert len(held_out) == 2 and set(ESPEAK_ACCENTS) <= set(files)

    def parts(accents, attribute, fields):
        return {fields(line) for accent in accents for line in files[accent].get(attribute, [])}

    assert set(espeak_accents.TABLES) == parts(trained, "phonemes", lambda line: line[0])
    rules = lambda line: tuple(int(r) for r in line)  # noqa: E731
    assert set(espeak_accents.DICTRULES) == {r for rs in parts(trained, "dictrules", rules) for r in rs}
    assert not set(espeak_accents.DICTRULES) & ({r for rs in parts(held_out, "dictrules", rules) for r in rs}
                                               - {r for rs in parts(trained, "dictrules", rules) for r in rs})
    replaces = lambda line: tuple(line[1:])  # noqa: E731
    held_out_only = parts(held_out, "replace", replaces) - parts(trained, "replace", replaces)
    assert held_out_only, "the held-out accents do make replacements of their own"
    assert not {(old, new) for _, old, new in espeak_accents.REPLACEMENTS} & held_out_only


def test_every_replacement_changes_what_espeak_says():
    """espeak-ng ignores a replacement of a phoneme that its table lacks: a misspelt one would draw nothing."""
    plain = espeak_phonemes("en.d.s0.i1.r")
    for index, rule in enumerate(espeak_accents.REPLACEMENTS):
        assert espeak_phonemes(f"en.d.s0.i1.r{index}") != plain, f"replacement {rule} changed nothing"


def test_accents_are_drawn_alike_from_a_seed_and_each_speaks_as_its_file_says():
    drawn = [espeak_accents.draw(random.Random(7)) for _ in range(2)]
    assert drawn[0] == drawn[1]
    accents = {espeak_accents.draw(random.Random(seed)) for seed in range(40)}
    assert len(accents) == 40
    assert len({espeak_phonemes(a) for a in accents}) > 30, "most drawn accents say the probe differently"
    voice = espeak_accents.voice_file("en-us.d36.s1.i4.r2-8")
    assert "phonemes en-us\n" in voice and "dictrules 3 6\n" in voice and "replace 00 h NULL\n" in voice
    with pytest.raises(ValueError, match="not a drawn accent: 'en-sc.d.s0.i1.r'"):
        espeak_accents.voice_file("en-sc.d.s0.i1.r")


def espeak_phonemes(accent: str) -> str:
    return subprocess.run(["espeak-ng", *espeak_accents.espeak_args(accent), "-x", "-q", PROBE],
                          capture_output=True, text=True, check=True).stdout
