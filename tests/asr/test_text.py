import pytest

from asr.decoding import greedy_decode
from asr.scoring import error_rates, utterance_errors
from asr.text import CharTokenizer, normalize_text


@pytest.mark.parametrize("raw,expected", [
    ("Hello, World!", "hello world"),
    ("Don’t  STOP—now", "don't stop now"),
    ("Café au-lait", "cafe au lait"),
    ("'quoted' rock'n'roll", "quoted rock'n'roll"),
    ("\tline\nbreaks  ", "line breaks"),
    ("", ""),
    ("Press 1, or 162 for the 2nd menu", "press one or one hundred and sixty two for the second menu"),
    ("1,000 at 3.5%", "one thousand at three point five"),
])
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_tokenizer_round_trip_and_blank():
    tok = CharTokenizer()
    assert len(tok) == 29 and tok.blank == 0
    ids = tok.encode("it's a test")
    assert 0 not in ids and tok.decode(ids) == "it's a test"
    assert CharTokenizer.from_dict(tok.to_dict()).vocab == tok.vocab


def test_tokenizer_names_unknown_characters():
    with pytest.raises(ValueError, match="'7'"):
        CharTokenizer().encode("route 7")
    with pytest.raises(ValueError, match="repeated"):
        CharTokenizer("aa")


def test_greedy_decode_collapses_repeats_and_blanks():
    import torch
    tok = CharTokenizer("ab ")
    # frames: a a <b> a b b <b> ' ' a  -> "aab a" (blank separates the repeated a)
    path = [1, 1, 0, 1, 2, 2, 0, 3, 1, 0]
    log_probs = torch.full((1, len(path), 4), -10.0)
    log_probs[0, torch.arange(len(path)), torch.tensor(path)] = 0.0
    assert greedy_decode(log_probs, torch.tensor([len(path)]), tok) == ["aab a"]
    assert greedy_decode(log_probs, torch.tensor([3]), tok) == ["a"]


def test_greedy_decode_ends_a_word_at_a_long_pause():
    import torch
    tok = CharTokenizer("ab ")
    path = [1, 0, 2, 0, 0, 0, 0, 0, 2, 1, 0, 0]  # "ab", six blanks, "ba": no space emitted
    log_probs = torch.full((1, len(path), 4), -10.0)
    log_probs[0, torch.arange(len(path)), torch.tensor(path)] = 0.0
    lengths = torch.tensor([len(path)])
    assert greedy_decode(log_probs, lengths, tok) == ["abba"]
    assert greedy_decode(log_probs, lengths, tok, pause_frames=5) == ["ab ba"]
    assert greedy_decode(log_probs, lengths, tok, pause_frames=7) == ["abba"]


def test_training_dev_wer_splits_words_at_pauses_as_evaluate_does():
    """The dev WER that picks best.pt must be the one `asr evaluate` reports for the same output."""
    import torch

    from asr.decoding import pause_frames
    from asr.train import validate
    tok = CharTokenizer("ab ")
    frame_seconds = 0.04
    gap = pause_frames(frame_seconds) + 1
    path = [1, 0, 2] + [0] * gap + [2, 0, 1]  # "ab", a pause, "ba": no space emitted
    log_probs = torch.full((1, len(path), 4), -10.0)
    log_probs[0, torch.arange(len(path)), torch.tensor(path)] = 0.0
    log_probs = log_probs.log_softmax(-1)

    class FixedOutput(torch.nn.Module):
        def forward(self, feats, lengths):
            return log_probs, torch.tensor([len(path)])

    batch = {"feats": torch.zeros(1, len(path), 2), "lengths": torch.tensor([len(path)]),
             "targets": torch.tensor(tok.encode("ab ba")), "target_lengths": torch.tensor([5]), "texts": ["ab ba"],
             "ids": ["u"], "unreadable": []}  # as collate makes them
    scores = validate(FixedOutput(), [batch], tok, "cpu", frame_seconds)
    assert scores["wer"] == 0.0 and scores["cer"] == 0.0


def test_error_rates_match_hand_counts():
    scores = error_rates(["the cat sat", "hello"], ["the bat sat down", "Hello!"])
    assert scores["wer"] == pytest.approx(2 / 4)  # one substitution, one insertion over 4 words
    assert scores["cer"] == pytest.approx(6 / 16)  # c->b, then " down" inserted, over 11 + 5 chars


def test_utterance_errors_match_hand_counts_and_sum_to_the_corpus_rates():
    first = utterance_errors("the cat sat on the mat", "The bat sat the mat now")
    assert first == {"reference": "the cat sat on the mat", "hypothesis": "the bat sat the mat now", "words": 6,
                     "word_errors": 3, "substitutions": 1, "deletions": 1, "insertions": 1,
                     "chars": 22, "char_errors": 8}  # c->b, "on " deleted, " now" inserted
    second = utterance_errors("hello", "Hello!")
    assert (second["word_errors"], second["char_errors"]) == (0, 0)
    corpus = error_rates(["the cat sat on the mat", "hello"], ["The bat sat the mat now", "Hello!"])
    assert corpus["wer"] == pytest.approx(3 / 7) and corpus["cer"] == pytest.approx(8 / 27)
    assert utterance_errors("", "uh huh")["insertions"] == 2


def test_words_said_over_silence_count_as_insertions_as_jiwer_counts_them():
    import jiwer
    references, hypotheses = ["the cat sat", "", ""], ["the cat", "uh huh", ""]
    scores = error_rates(references, hypotheses)
    assert scores["wer"] == pytest.approx(jiwer.wer(references, hypotheses)) == pytest.approx(3 / 3)
    assert scores["cer"] == pytest.approx(jiwer.cer(references, hypotheses))
    assert scores["utterances"] == 3
    assert error_rates([""], ["um"])["wer"] == pytest.approx(jiwer.wer([""], ["um"]))


def test_word_timestamps_from_hand_made_emissions():
    import torch

    from asr.decoding import word_timestamps
    tok = CharTokenizer("ab ")
    # 40 ms frames: blank a a b blank blank space blank b b blank blank  -> "ab b"
    path = [0, 1, 1, 2, 0, 0, 3, 0, 2, 2, 0, 0]
    log_probs = torch.full((len(path), 4), -8.0)
    log_probs[torch.arange(len(path)), torch.tensor(path)] = -0.05
    words = word_timestamps(log_probs, "ab b", tok, frame_seconds=0.04)
    assert [(w.word, w.start, w.end) for w in words] == [("ab", 0.04, 0.16), ("b", 0.32, 0.40)]
    assert all(abs(w.confidence - torch.tensor(-0.05).exp().item()) < 1e-3 for w in words)
    assert word_timestamps(log_probs, "", tok, 0.04) == []
