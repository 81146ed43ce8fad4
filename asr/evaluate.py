"""WER and CER of a checkpoint on a manifest."""

from asr.audio import AudioError
from asr.data import ManifestError, read_manifests
from asr.scoring import corpus_rates, utterance_errors
from asr.text import normalize_text
from asr.transcribe import Transcriber


def evaluate(checkpoint, manifest, device: str = "auto", batch_size: int = 8, **decoding) -> dict:
    """Decode every utterance of `manifest` (several joined with "," are scored as one set), greedy
    or by beam search with `lm=` and its settings; unreadable audio is reported and counted, not
    scored. `details` holds each scored utterance's texts and edit counts, in manifest order."""
    utterances = read_manifests(manifest)
    if not any(normalize_text(u.text) for u in utterances):  # checked before the decoding it would waste
        raise ManifestError(f"{manifest}: no reference words to score against (every text is empty once "
                            "normalised), so WER is undefined; `asr transcribe` decodes audio without references")
    transcriber = Transcriber(checkpoint, device, batch_size, **decoding)
    # Decoded shortest first, so a batch pads little (1.06x the audio on the default recipe's
    # dev set, 1.77x in manifest order); padding does not change a result
    # (tests/asr/test_model.py).
    order = sorted(range(len(utterances)), key=lambda i: utterances[i].duration)
    results = [None] * len(utterances)
    for i, (_, result) in zip(order, transcriber.transcribe(utterances[i] for i in order)):
        results[i] = result
    details, failed = [], []
    for utt, result in zip(utterances, results):
        if isinstance(result, AudioError):
            failed.append(f"{utt.where}: {result}")
            continue
        details.append({"id": utt.id, "speaker": utt.speaker, "where": utt.where,
                        **utterance_errors(utt.text, result.text)})
    return {**corpus_rates(details), "details": details, "failed": failed}
