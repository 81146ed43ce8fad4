"""Common Voice: <split>.tsv (validated, train, dev, test) and clips/*.mp3."""

import csv
import io
from pathlib import Path

from tqdm import tqdm

from asr.corpora.report import Report
from asr.fileio import read_utf8

SPLITS = ("train", "dev", "test", "validated")


def _durations(root: Path) -> dict[str, float]:
    """clip_durations.tsv (milliseconds) ships with newer releases and saves decoding every mp3."""
    table = root / "clip_durations.tsv"
    if not table.exists():
        return {}
    fallback = "delete it to read each clip's duration from its audio"
    reader = csv.DictReader(io.StringIO(read_utf8(table), newline=""), delimiter="\t")
    if not {"clip", "duration[ms]"} <= set(reader.fieldnames or ()):
        raise ValueError(f"{table}:1: header needs 'clip' and 'duration[ms]' columns ({fallback})")
    durations = {}
    for number, row in enumerate(reader, start=2):
        try:
            durations[row["clip"]] = float(row["duration[ms]"]) / 1000
        except (TypeError, ValueError):
            raise ValueError(f"{table}:{number}: duration[ms] {row['duration[ms]']!r} is not a number "
                             f"({fallback})") from None
    return durations


def prepare(root: Path, report: Report, **_) -> None:
    tables = [root / f"{split}.tsv" for split in SPLITS if (root / f"{split}.tsv").exists()]
    if not tables:
        raise FileNotFoundError(f"{root}: no Common Voice split table ({', '.join(s + '.tsv' for s in SPLITS)})")
    durations = _durations(root)
    for table in tables:
        rows = list(csv.reader(io.StringIO(read_utf8(table), newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
        header = rows[0] if rows else []
        if "path" not in header or "sentence" not in header:
            raise ValueError(f"{table}:1: header needs 'path' and 'sentence' columns")
        col = {name: i for i, name in enumerate(header)}
        for number, row in enumerate(tqdm(rows[1:], desc=table.stem, unit="clip"), start=2):
            where = f"{table}:{number}"
            if len(row) != len(header):
                report.skip("malformed table row", where)
                continue
            clip = row[col["path"]]
            report.add(table.stem, where, root / "clips" / clip, row[col["sentence"]], durations.get(clip),
                       id=Path(clip).stem, speaker=row[col["client_id"]] if "client_id" in col else "")
