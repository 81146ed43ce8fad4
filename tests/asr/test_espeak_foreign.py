import shutil
import subprocess

import pytest

from asr.corpora.espeak_foreign import LANGUAGES, MISSING, REPLACEMENTS, english_phonemes, read_as

# words whose en-us phonemes hold every mnemonic REPLACEMENTS names, and most others
SENTENCES = ["not hot bird her father car", "the book is on tour for the poor", "cup of love in the city",
             "happy into water button", "menu new their air near here", "boy toy oil fire hour",
             "they wanted the houses before", "the multitude spoke earnestly",
             "seven thousand and twelve days and nights"]

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt install espeak-ng)")


def spoken_ipa(language: str, phonemes: str) -> str:
    return subprocess.run(["espeak-ng", "-v", language, "-q", "--ipa", f"[[{phonemes}]]"], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_a_language_reads_its_own_phoneme_for_each_it_lacks_and_keeps_stress():
    words = [["D", "'V", "n"], [",I", "z"], ["t", "'0", "p"]]  # "then is top", by hand
    assert read_as(words, "es") == "[[D'an ,iz t'op]]"
    assert read_as(words, "de") == "[[D'an ,Iz t'op]]", "German has I: only V and 0 are replaced"


@needs_espeak
def test_english_phonemes_are_espeaks_en_us_mnemonics_split_unambiguously():
    assert english_phonemes("understanding the children") == [
        [",V", "n", "d", "3", "s", "t", "'a", "n", "d", "I", "N"], ["D", "@2"], ["tS", "'I", "l", "d", "r", "@", "n"]]


@needs_espeak
@pytest.mark.parametrize("language", LANGUAGES)
def test_missing_lists_exactly_the_english_phonemes_the_language_lacks(language):
    """espeak ends a word at a mnemonic its language's table lacks (drops the rest), so every one
    must be replaced, and each replacement must be one the language has."""
    mnemonics = {m.lstrip("',") for text in SENTENCES for word in english_phonemes(text) for m in word}
    phonemes = {m for m in mnemonics if spoken_ipa("en-us", m)}  # pauses and modifiers say nothing alone
    assert set(REPLACEMENTS) <= phonemes, "the sentences exercise every replacement"
    lacked = {p for p in phonemes if not spoken_ipa(language, p)}
    assert lacked == set(MISSING[language]) & phonemes
    for phoneme in MISSING[language]:
        assert not spoken_ipa(language, phoneme), f"{language} has {phoneme}: it need not be replaced"
        assert spoken_ipa(language, REPLACEMENTS[phoneme]), f"{language} lacks {REPLACEMENTS[phoneme]} too"


@needs_espeak
@pytest.mark.parametrize("language", ["es", "pl"])
def test_no_word_is_cut_short(language):
    """Words of three phonemes, each with one Spanish and Polish lack, are said whole (read as
    they are, each would stop before that phoneme: "t" for "not"). Their consonants may change
    (Polish devoices and assimilates them): that is the accent."""
    english = english_phonemes("not bird cup book tour")
    assert spoken_ipa(language, " ".join("".join(w) for w in english)).split()[0] == "n"
    ipa = spoken_ipa(language, read_as(english, language)[2:-2]).replace("ˈ", "").replace("ˌ", "").split()
    assert len(ipa) == 5 and all(len(word) >= 3 for word in ipa), ipa
