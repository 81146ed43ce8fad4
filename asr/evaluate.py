"""WER and CER of a checkpoint on a manifest."""

from asr.audio import AudioError
from asr.data import read_manifest
from asr.scoring import error_rates
from asr.transcribe import Transcriber


def evaluate(checkpoint, manifest, device: str = "cpu", batch_size: int = 8, **decoding) -> dict:
    """Decode every utterance (greedy, or beam search with `lm=` and its settings); unreadable
    audio is reported and counted, not scored."""
    transcriber = Transcriber(checkpoint, device, batch_size, **decoding)
    refs, hyps, failed = [], [], []
    for utt, result in transcriber.transcribe(read_manifest(manifest)):
        if isinstance(result, AudioError):
            failed.append(f"{utt.where}: {result}")
        else:
            refs.append(utt.text)
            hyps.append(result.text)
    return {**error_rates(refs, hyps), "failed": failed}
