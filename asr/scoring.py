"""Word and character error rates, through jiwer, on normalised text."""

import jiwer

from asr.text import normalize_text


def error_rates(references: list[str], hypotheses: list[str]) -> dict:
    """WER and CER over a corpus (errors summed over utterances, divided by reference length)."""
    refs = [normalize_text(r) for r in references]
    hyps = [normalize_text(h) for h in hypotheses]
    scored = [(r, h) for r, h in zip(refs, hyps) if r]  # jiwer rejects empty references
    if not scored:
        return {"wer": 0.0, "cer": 0.0, "utterances": 0}
    refs, hyps = map(list, zip(*scored))
    return {"wer": jiwer.wer(refs, hyps), "cer": jiwer.cer(refs, hyps), "utterances": len(refs)}


def utterance_errors(reference: str, hypothesis: str) -> dict:
    """One utterance's normalised texts and edit counts, for finding where a model goes wrong.
    An empty reference makes every hypothesis word an insertion (error_rates leaves it out)."""
    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        return {"reference": ref, "hypothesis": hyp, "words": 0, "word_errors": len(hyp.split()),
                "substitutions": 0, "deletions": 0, "insertions": len(hyp.split()), "chars": 0,
                "char_errors": len(hyp)}
    words, chars = jiwer.process_words(ref, hyp), jiwer.process_characters(ref, hyp)
    return {"reference": ref, "hypothesis": hyp, "words": len(ref.split()),
            "word_errors": words.substitutions + words.deletions + words.insertions,
            "substitutions": words.substitutions, "deletions": words.deletions, "insertions": words.insertions,
            "chars": len(ref), "char_errors": chars.substitutions + chars.deletions + chars.insertions}
