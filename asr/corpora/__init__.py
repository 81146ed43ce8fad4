"""`asr prepare CORPUS --root DIR --out DIR`: one JSON Lines manifest per split, and a report."""

from pathlib import Path

from asr.corpora import asterisk, commonvoice, librispeech, ljspeech, synthetic, tedlium
from asr.corpora.report import Report
from asr.fileio import writable_folder

CORPORA = {
    "librispeech": librispeech.prepare,
    "mini_librispeech": librispeech.prepare,
    "commonvoice": commonvoice.prepare,
    "ljspeech": ljspeech.prepare,
    "tedlium": tedlium.prepare,
    "asterisk": asterisk.prepare,
    "synthetic": synthetic.prepare,
}


def prepare_corpus(corpus: str, root, out, **options) -> tuple[Report, list[Path]]:
    """Read the corpus at `root`, write `out/<split>.jsonl`; returns the report and the manifests."""
    if corpus not in CORPORA:
        raise ValueError(f"unknown corpus {corpus!r}; choose from {', '.join(CORPORA)}")
    root = Path(root)
    if not root.exists() and corpus != "synthetic":
        raise FileNotFoundError(f"{root}: no such directory")
    writable_folder(out)  # before reading (or synthesising) hours of audio, not after
    report = Report(corpus)
    CORPORA[corpus](root, report, **options)
    if not report.splits:
        raise ValueError(f"{root}: no usable utterances found for {corpus}\n{report.summary()}")
    return report, report.write(Path(out))
