"""TED-LIUM 3: <split>/stm/<talk>.stm and <split>/sph/<talk>.sph (legacy/ or data/ layout). Every
STM segment becomes an offset/duration entry into its talk's audio."""

import re
from pathlib import Path

from tqdm import tqdm

from asr.corpora.report import Report, audio_duration
from asr.fileio import read_utf8

# TED-LIUM splits contractions into tokens: "it 's", "don 't".
_CONTRACTION = re.compile(r"(\w) '(\w)")


def prepare(root: Path, report: Report, **_) -> None:
    stm_dirs = sorted({p.parent for depth in ("*/stm", "*/*/stm", "stm") for p in root.glob(f"{depth}/*.stm")})
    if not stm_dirs:
        raise FileNotFoundError(f"{root}: no <split>/stm/*.stm found (TED-LIUM layout)")
    for stm_dir in stm_dirs:
        split = stm_dir.parent.name if stm_dir.parent != root else "all"
        for stm in tqdm(sorted(stm_dir.glob("*.stm")), desc=split, unit="talk"):
            audio = stm_dir.parent / "sph" / f"{stm.stem}.sph"
            _, problem = audio_duration(audio)
            for number, line in enumerate(read_utf8(stm).splitlines(), start=1):
                where = f"{stm}:{number}"
                fields = line.split(maxsplit=6)
                if len(fields) < 6:
                    report.skip("malformed STM line", where)
                    continue
                text = fields[6] if len(fields) == 7 else ""
                if "ignore_time_segment_in_scoring" in text:
                    report.skip("segment marked ignore_time_segment_in_scoring", where)
                    continue
                if "<unk>" in text:
                    report.skip("transcript has an <unk> word", where)
                    continue
                if problem:
                    report.skip(problem, where)
                    continue
                try:
                    start, end = float(fields[3]), float(fields[4])
                except ValueError:
                    report.skip("malformed STM line", where)
                    continue
                report.add(split, where, audio, _CONTRACTION.sub(r"\1'\2", text), end - start, offset=start,
                           id=f"{stm.stem}-{number}", speaker=fields[2])
