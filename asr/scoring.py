"""Word and character error rates, through jiwer's alignment, on normalised text."""

import jiwer

from asr.text import normalize_text


def utterance_errors(reference: str, hypothesis: str) -> dict:
    """One utterance's normalised texts and edit counts, for finding where a model goes wrong.
    An empty reference makes every hypothesis word an insertion."""
    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    words, chars = jiwer.process_words(ref, hyp), jiwer.process_characters(ref, hyp)
    return {"reference": ref, "hypothesis": hyp, "words": len(ref.split()),
            "word_errors": words.substitutions + words.deletions + words.insertions,
            "substitutions": words.substitutions, "deletions": words.deletions, "insertions": words.insertions,
            "chars": len(ref), "char_errors": chars.substitutions + chars.deletions + chars.insertions}


def corpus_rates(details: list[dict]) -> dict:
    """WER and CER over a corpus from utterance_errors rows: errors summed over utterances, divided
    by the summed reference length, as jiwer computes them. Words hypothesised where the reference
    is empty (silence, noise) count as insertions, as in jiwer, sclite and Kaldi's compute-wer: a
    model that talks over silence is worse for it."""
    words, chars = sum(d["words"] for d in details), sum(d["chars"] for d in details)
    return {"wer": sum(d["word_errors"] for d in details) / max(words, 1),
            "cer": sum(d["char_errors"] for d in details) / max(chars, 1), "utterances": len(details)}


def error_rates(references: list[str], hypotheses: list[str]) -> dict:
    """WER and CER over a corpus (errors summed over utterances, divided by reference length)."""
    return corpus_rates([utterance_errors(r, h) for r, h in zip(references, hypotheses)])


def paired_bootstrap(base: list[dict], new: list[dict], resamples: int = 10000, seed: int = 0) -> dict:
    """WER of `new` minus `base` in points over the same utterances (utterance_errors rows, paired
    by position), with a 95% percentile interval from resampling utterances (Bisani & Ney 2004):
    an interval below zero says `new` is better beyond what the choice of test utterances explains."""
    import numpy as np
    from scipy.stats import bootstrap

    words = np.array([b["words"] for b in base], dtype=float)
    base_errors = np.array([b["word_errors"] for b in base], dtype=float)
    new_errors = np.array([n["word_errors"] for n in new], dtype=float)

    def points(words, base_errors, new_errors, axis=-1):
        return 100 * (new_errors.sum(axis) - base_errors.sum(axis)) / words.sum(axis)

    interval = bootstrap((words, base_errors, new_errors), points, paired=True, vectorized=True, n_resamples=resamples,
                         method="percentile", rng=np.random.default_rng(seed)).confidence_interval
    return {"utterances": len(base), "base_wer": float(100 * base_errors.sum() / words.sum()),
            "new_wer": float(100 * new_errors.sum() / words.sum()),
            "difference": float(points(words, base_errors, new_errors)),
            "low": float(interval.low), "high": float(interval.high),
            "better": int((new_errors < base_errors).sum()), "worse": int((new_errors > base_errors).sum())}
