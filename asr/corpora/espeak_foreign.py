"""English read by espeak-ng's voices of other languages, for `asr prepare synthetic --engines
...,espeak-foreign`: English phonemes said under another language's rules.

espeak-ng's English (en-us) writes each utterance's phoneme mnemonics; the voice of another language
reads them (`[[...]]` input) with its own phoneme realisations, rules and intonation: final
consonants devoiced in German and Dutch, diphthongs split in French and Swedish, Russian's a, Hindi's
retroflex stops. A mnemonic the language's table lacks ends the word there (espeak drops the rest),
so each such phoneme first becomes the nearest one the language has (REPLACEMENTS: the learner's
vowel for ʌ, ɪ, ʊ, ɒ and the r-coloured ones). Every language here has th and w in its table, so,
unlike festival_foreign's voices, these keep them: the accent is in the vowels, rules and melody.

The voice is espeak's own synthesiser, which the model knows from the espeak engine; what it has
not heard is English under these rules: the stage-58 default model scores 37-68% WER (CER 14-28%)
on such speech where it scores 14% (CER 3%) on espeak's en-us voice reading the same sentences (12
dev sentences per language, default variant, 2026-12-06). The held-out espeak accents
(synthetic.HELD_OUT_VOICES) are English voice files, none of which is used here.
"""

import subprocess

# espeak-ng languages that read English phonemes (each probed: the mnemonics below are all it lacks)
LANGUAGES = ("de", "fr", "es", "it", "pl", "pt", "hi", "ru", "nl", "sv", "tr")
# en-us mnemonic -> what a language without it reads instead (every language here has these)
REPLACEMENTS = {"V": "a", "3": "@", "3:": "@:", "I": "i", "I#": "i", "I2": "i", "U": "u", "U@": "u@",
                "0": "o", "A:": "a:", "A@": "a:r", "t2": "t"}
# language -> the en-us mnemonics its table lacks (espeak-ng 1.51; tests/asr/test_espeak_foreign.py
# checks each against espeak itself)
MISSING = {
    "de": ("V", "0"),
    "fr": ("U", "3", "3:", "0", "A@", "t2", "U@", "A:"),
    "es": ("V", "3", "I2", "I", "I#", "3:", "0", "A@", "A:"),
    "it": ("V", "3", "3:", "0", "A@", "A:"),
    "pl": ("U", "V", "3", "I2", "I", "I#", "3:", "0", "A@", "U@", "A:"),
    "pt": ("V", "3", "3:", "0"),
    "hi": ("3", "3:", "0", "A@", "A:"),
    "ru": ("U", "3", "3:", "0", "U@"),
    "nl": ("U", "V", "3", "3:", "0", "U@"),
    "sv": ("V", "3", "3:", "0", "A@"),
    "tr": ("V", "3", "3:", "0", "A@", "A:"),
}
_SEPARATOR = "|"  # between the mnemonics of a word in espeak's -x output; "," would be its secondary stress
_STRESS = "',"


def english_phonemes(text: str) -> list[list[str]]:
    """espeak-ng's en-us mnemonics of `text`, one list per word (stress marks and pauses kept)."""
    out = subprocess.run(["espeak-ng", "-v", "en-us", "-q", "-x", f"--sep={_SEPARATOR}", text],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [word.split(_SEPARATOR) for word in out.split()]


def read_as(words: list[list[str]], language: str) -> str:
    """The words' mnemonics with those `language` lacks replaced, as espeak's phoneme input."""
    missing = MISSING[language]
    spoken = []
    for word in words:
        out = []
        for mnemonic in word:
            phoneme = mnemonic.lstrip(_STRESS)
            stress = mnemonic[: len(mnemonic) - len(phoneme)]
            out.append(stress + (REPLACEMENTS[phoneme] if phoneme in missing else phoneme))
        spoken.append("".join(out))
    return "[[" + " ".join(spoken) + "]]"
