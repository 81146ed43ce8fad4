"""`asr compare`: the paired bootstrap of a WER difference, against hand-computed cases."""

import json

import pytest

from asr.cli import main
from asr.scoring import paired_bootstrap


def rows(words, errors, reference="a b"):
    return [{"where": f"dev.jsonl:{i + 1}", "reference": reference, "words": w, "word_errors": e}
            for i, (w, e) in enumerate(zip(words, errors))]


def test_an_improvement_on_every_utterance_has_a_point_interval():
    result = paired_bootstrap(rows([10] * 4, [2] * 4), rows([10] * 4, [1] * 4), resamples=500)
    assert result["difference"] == pytest.approx(-10.0)  # 4 fewer errors in 40 words
    assert result["low"] == pytest.approx(-10.0) and result["high"] == pytest.approx(-10.0)
    assert (result["base_wer"], result["new_wer"], result["better"], result["worse"]) == (20.0, 10.0, 4, 0)


def test_one_better_and_one_worse_utterance_span_both_signs():
    # Resampling two utterances: both the first (-50 points, p=1/4), both the second (+50, p=1/4)
    # or one of each (0, p=1/2); the 2.5th and 97.5th percentiles are -50 and +50.
    result = paired_bootstrap(rows([10, 10], [5, 0]), rows([10, 10], [0, 5]), resamples=4000)
    assert result["difference"] == 0.0 and (result["better"], result["worse"]) == (1, 1)
    assert result["low"] == pytest.approx(-50.0) and result["high"] == pytest.approx(50.0)


def write(path, table):
    path.write_text("".join(json.dumps(row) + "\n" for row in table))
    return str(path)


def test_cli_compares_the_shared_utterances_and_refuses_other_texts(tmp_path, capsys):
    base = write(tmp_path / "base.jsonl", rows([10] * 3, [3, 2, 4]))
    new = write(tmp_path / "new.jsonl", rows([10] * 2, [1, 2]))
    assert main(["compare", base, new]) == 0
    out, err = capsys.readouterr()
    assert "comparing the 2 utterances both files scored" in err
    assert out.startswith("2 utterances: WER 25.00% -> 15.00%, -10.00 points (95% interval")
    assert out.rstrip().endswith("utterances better 1, worse 0")

    other = write(tmp_path / "other.jsonl", rows([10] * 3, [3, 2, 4], reference="c d"))
    assert main(["compare", base, other]) == 2
    assert capsys.readouterr().err.strip() == "asr: error: dev.jsonl:1: the two files give different reference texts"


def test_pair_by_id_pairs_the_same_utterances_of_two_manifests(tmp_path, capsys):
    """The same clips re-encoded (another manifest, lines in another order) pair by id, not by line."""
    base = rows([10] * 3, [3, 2, 4])
    for i, row in enumerate(base):
        row["id"] = f"utt{i}"
    reencoded = [dict(row, where=f"mp3.jsonl:{3 - i}", word_errors=row["word_errors"] + 1)
                 for i, row in enumerate(base)][::-1]
    base, new = write(tmp_path / "base.jsonl", base), write(tmp_path / "new.jsonl", reencoded)
    assert main(["compare", base, new]) == 2
    assert "--pair-by id" in capsys.readouterr().err
    assert main(["compare", base, new, "--pair-by", "id"]) == 0
    assert capsys.readouterr().out.startswith(
        "3 utterances: WER 30.00% -> 40.00%, +10.00 points (95% interval +10.00..+10.00)")

    twice = write(tmp_path / "twice.jsonl", [dict(r, id="same") for r in rows([10] * 2, [1, 2])])
    assert main(["compare", twice, new, "--pair-by", "id"]) == 2
    assert capsys.readouterr().err.strip() == f"asr: error: {twice}: id 'same' names two rows; pair by where instead"
