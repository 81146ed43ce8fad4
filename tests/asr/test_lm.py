import gzip
import math
import random
from pathlib import Path

import pytest
import torch

from asr.cli import main as asr_main
from asr.decoding import BeamSearchDecoder, greedy_decode
from asr.lm import BOS, EOS, _lower_prob, arpa_vocabulary, build_arpa, kneser_ney, write_arpa
from asr.scoring import error_rates
from asr.text import CharTokenizer

SENTENCES = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the cat ran home",
             "please enter your password", "press the pound key", "thank you for calling", "please hold"]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_context_sums_to_one(order):
    probs, backoffs = kneser_ney([s.split() for s in SENTENCES], order)
    vocab = [g[0] for g in probs[0] if g[0] != BOS]
    for context in [(), ("the",), (BOS,), ("the", "cat"), (BOS, "please"), ("sat", "on", "the"), ("zebra",)]:
        context = context[len(context) - (order - 1):] if order > 1 else ()
        total = sum(_lower_prob(probs, backoffs, (*context, w)) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-9), context


def test_bigram_values_by_hand():
    # Corpus "a b", "a c". Bigrams: <s> a:2, a b:1, a c:1, b </s>:1, c </s>:1 -> D2 = 4/(4+2*1).
    # Unigram continuation counts: a:1 (after <s>), b:1, c:1, </s>:2 -> total 5, D1 = 3/(3+2*1).
    # Unigram floor: D1 * 4 types / 5 / 5 predicted words (a, b, c, </s>, <unk>) = 0.096.
    probs, backoffs = kneser_ney([["a", "b"], ["a", "c"]], 2)
    assert probs[0][("<unk>",)] == pytest.approx(0.096)
    assert probs[0][("b",)] == pytest.approx((1 - 0.6) / 5 + 0.096)  # 0.176
    assert probs[0][("</s>",)] == pytest.approx((2 - 0.6) / 5 + 0.096)  # 0.376
    assert backoffs[0][("a",)] == pytest.approx(2 / 3)  # D2 * 2 types / 2
    assert probs[1][("a", "b")] == pytest.approx((1 - 2 / 3) / 2 + 2 / 3 * 0.176)  # 0.284


def test_cli_builds_arpa_that_names_the_vocabulary(tmp_path, capsys):
    text = tmp_path / "text.txt"
    text.write_text("\n".join(SENTENCES) + "\nPress 2!\n")
    assert asr_main(["lm", "build", str(text), "--order", "3", "--out", str(tmp_path / "lm.arpa")]) == 0
    assert "order 3" in capsys.readouterr().out
    arpa = (tmp_path / "lm.arpa").read_text()
    assert arpa.startswith("\n\\data\\\nngram 1=") and arpa.rstrip().endswith("\\end\\")
    assert f"-99.000000\t{BOS}" in arpa and f"\t{EOS}" in arpa
    assert "two" in arpa_vocabulary(tmp_path / "lm.arpa")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"audio_filepath": "a.wav", "duration": 1, "text": "Hello there"}\n')
    summary = build_arpa([text, manifest], 2, tmp_path / "lm2.arpa")
    assert summary["sentences"] == len(SENTENCES) + 2 and len(summary["ngrams"]) == 2
    assert "hello" in arpa_vocabulary(tmp_path / "lm2.arpa")


def test_orders_kenlm_cannot_load_are_refused_when_built_and_named_when_given(tmp_path, capsys):
    """KenLM, which the beam search loads ARPA files with, reads no unigram-only model and nothing
    above order 6: building either used to succeed, and decoding with it ended in a C++ traceback
    or "KenLM cannot load it (Otherwise, edit lm/max_order.hh. Byte: 99)"."""
    text = tmp_path / "text.txt"
    text.write_text("\n".join(SENTENCES))
    for order in (1, 7):
        with pytest.raises(ValueError, match=f"order must be 2 to 6 for the beam search's KenLM, got {order}"):
            build_arpa(text, order, tmp_path / "lm.arpa")
        with pytest.raises(SystemExit):
            asr_main(["lm", "build", str(text), "--order", str(order), "--out", str(tmp_path / "lm.arpa")])
        assert f"argument --order: invalid choice: {order} (choose from 2, 3, 4, 5, 6)" in capsys.readouterr().err
    assert not (tmp_path / "lm.arpa").exists()
    unigrams, sevengrams = tmp_path / "unigrams.arpa", tmp_path / "sevengrams.arpa"
    write_arpa(*kneser_ney([s.split() for s in SENTENCES], 1), unigrams)
    write_arpa(*kneser_ney([s.split() for s in SENTENCES], 7), sevengrams)
    with pytest.raises(ValueError, match=f"{unigrams}: KenLM cannot load it .*bigram"):
        BeamSearchDecoder(CharTokenizer(), unigrams)
    with pytest.raises(ValueError, match=f"{sevengrams}: an order-7 LM; the beam search's KenLM reads at most order 6"):
        BeamSearchDecoder(CharTokenizer(), sevengrams)
    write_arpa(*kneser_ney([s.split() for s in SENTENCES], 6), tmp_path / "sixgrams.arpa")
    assert BeamSearchDecoder(CharTokenizer(), tmp_path / "sixgrams.arpa").settings["method"] == "beam"


def test_a_file_that_is_not_an_arpa_lm_is_named(tmp_path):
    """A sentence file or an audio file given as --lm used to fail on "no word can be spelled" or a
    UnicodeDecodeError that named no file."""
    text, audio = tmp_path / "text.txt", tmp_path / "a.wav"
    text.write_text("\n".join(SENTENCES))
    audio.write_bytes(b"RIFF\x86\xff\x00WAVE")
    with pytest.raises(ValueError, match=r"text.txt: not an ARPA file \(no \\1-grams: section\)"):
        arpa_vocabulary(text)
    with pytest.raises(ValueError, match=r"a.wav: not an ARPA file \(not UTF-8 text\)"):
        arpa_vocabulary(audio)
    spaced = tmp_path / "spaced.arpa"  # some tools separate the columns with spaces, not tabs
    spaced.write_text("\\data\\\nngram 1=3\n\n\\1-grams: \n-1.0 <s> -0.5\n-0.5 cat -0.2\n-0.5 </s>\n\n\\end\\\n")
    assert arpa_vocabulary(spaced) == ["cat"]


def confusable_emissions(text, tokenizer, rng, swap_prob=0.35):
    """Two frames per character, blank between characters; some characters put most of their
    mass on a wrong letter, so greedy decoding misspells them while the truth stays likely."""
    frames = []
    letters = [c for c in tokenizer.vocab if c.isalpha()]
    for ch in text:
        probs = torch.full((len(tokenizer),), 0.01)
        wrong = rng.choice(letters) if ch != " " and rng.random() < swap_prob else None
        probs[tokenizer.index[ch]] = 0.35 if wrong else 0.9
        if wrong:
            probs[tokenizer.index[wrong]] += 0.5
        frames += [probs, probs, torch.full((len(tokenizer),), 0.01).index_fill(0, torch.tensor([0]), 0.9)]
    return torch.stack(frames).div(torch.stack(frames).sum(-1, keepdim=True)).log()


def test_beam_search_with_in_domain_lm_beats_greedy(tmp_path):
    tokenizer = CharTokenizer()
    text = tmp_path / "text.txt"
    text.write_text("\n".join(SENTENCES) + "\n")
    build_arpa(text, 3, tmp_path / "lm.arpa")
    rng = random.Random(0)
    emissions = [confusable_emissions(s, tokenizer, rng) for s in SENTENCES]
    lengths = torch.tensor([e.shape[0] for e in emissions])
    batch = torch.nn.utils.rnn.pad_sequence(emissions, batch_first=True, padding_value=math.log(0.01))
    greedy = error_rates(SENTENCES, greedy_decode(batch, lengths, tokenizer))
    decoder = BeamSearchDecoder(tokenizer, tmp_path / "lm.arpa", beam_size=20, lm_weight=2.0, word_score=0.0)
    beam = error_rates(SENTENCES, decoder(batch, lengths))
    assert greedy["wer"] > 0.3, "the emissions must actually confuse greedy decoding"
    assert beam["wer"] < greedy["wer"] / 2
    assert decoder.settings["method"] == "beam" and decoder.settings["lm_weight"] == 2.0


def in_capitals_gzipped(arpa: Path, out: Path) -> Path:
    """The ARPA file as OpenSLR ships LibriSpeech's: words in capitals, gzipped."""
    def capitals(line):
        fields = line.split("\t")
        if len(fields) > 1:
            fields[1] = " ".join(w if w in (BOS, EOS, "<unk>") else w.upper() for w in fields[1].split())
        return "\t".join(fields)
    out.write_bytes(gzip.compress("\n".join(map(capitals, arpa.read_text().splitlines())).encode()))
    return out


def test_an_lm_in_capitals_and_gzipped_decodes_as_its_lowercase_plain_twin(tmp_path):
    tokenizer = CharTokenizer()
    text = tmp_path / "text.txt"
    text.write_text("\n".join(SENTENCES) + "\n")
    build_arpa(text, 3, tmp_path / "lm.arpa")
    shipped = in_capitals_gzipped(tmp_path / "lm.arpa", tmp_path / "LM.arpa.gz")
    assert arpa_vocabulary(shipped) == [w.upper() for w in arpa_vocabulary(tmp_path / "lm.arpa")]
    rng = random.Random(1)
    emissions = [confusable_emissions(s, tokenizer, rng) for s in SENTENCES]
    lengths = torch.tensor([e.shape[0] for e in emissions])
    batch = torch.nn.utils.rnn.pad_sequence(emissions, batch_first=True, padding_value=math.log(0.01))
    plain, capitals = (BeamSearchDecoder(tokenizer, lm, beam_size=20, lm_weight=2.0)(batch, lengths)
                       for lm in (tmp_path / "lm.arpa", shipped))
    assert capitals == plain and error_rates(SENTENCES, plain)["wer"] < 0.2
    truncated = tmp_path / "cut.arpa.gz"
    truncated.write_bytes(shipped.read_bytes()[:60])
    with pytest.raises(ValueError, match=f"{truncated}: a truncated or damaged gzip file"):
        arpa_vocabulary(truncated)


def test_a_missing_lm_or_text_is_named_without_an_errno(tmp_path, capsys):
    """The OSError's own str() was "[Errno 2] No such file or directory: 'lm.arpa'"."""
    missing = tmp_path / "lm.arpa"
    sample = Path(__file__).resolve().parents[2] / "asr" / "assets" / "samples" / "demo-echodone.wav"
    assert asr_main(["transcribe", str(sample), "--lm", str(missing)]) == 2
    assert asr_main(["lm", "build", str(tmp_path / "text.txt"), "--out", str(missing)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"asr: error: {missing}: no such file or directory",
                                                    f"asr: error: {tmp_path / 'text.txt'}: no such file or directory"]
