"""LJSpeech: metadata.csv (id|raw text|normalised text) and wavs/<id>.wav. One speaker and no
official split, so utterances go to train/dev/test (90/5/5) by a stable hash of their id."""

from pathlib import Path

from asr.corpora.report import Report, stable_split
from asr.fileio import read_utf8

FRACTIONS = {"train": 0.9, "dev": 0.05, "test": 0.05}


def prepare(root: Path, report: Report, **_) -> None:
    metadata = root / "metadata.csv"
    if not metadata.exists():
        raise FileNotFoundError(f"{root}: no metadata.csv (LJSpeech layout: metadata.csv and wavs/)")
    for number, line in enumerate(read_utf8(metadata).splitlines(), start=1):
        where = f"{metadata}:{number}"
        fields = line.split("|")
        if len(fields) != 3 or not fields[0]:
            report.skip("malformed metadata line", where)
            continue
        utt_id, raw, normalised = fields
        report.add(stable_split(utt_id, FRACTIONS), where, root / "wavs" / f"{utt_id}.wav", normalised or raw,
                   id=utt_id, speaker="LJ")
