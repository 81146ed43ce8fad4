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
