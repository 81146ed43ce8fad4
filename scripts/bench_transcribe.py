"""Real-time factor and peak memory of `asr transcribe` on this machine.

    python scripts/bench_transcribe.py                           # default model, greedy
    python scripts/bench_transcribe.py --lm data/lm/default.arpa # also beam search with the LM
    python scripts/bench_transcribe.py --minutes 60              # the long file's length

Each case runs `asr transcribe` in its own process, so the peak resident memory (ru_maxrss of the
child) belongs to that case alone. Audio: the bundled sample clips, as many short files, and
concatenated with 0.5 s gaps into one long file. RTF = wall time / audio duration.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asr.audio import load_audio  # noqa: E402

SAMPLES = sorted((ROOT / "asr" / "assets" / "samples").glob("*.wav"))


def make_audio(folder: Path, short_files: int, minutes: float) -> tuple[list[Path], Path, float, float]:
    clips = [load_audio(p).numpy() for p in SAMPLES]
    gap = np.zeros(8000, np.float32)
    shorts = []
    for i in range(short_files):
        path = folder / f"short{i:03d}.wav"
        soundfile.write(path, clips[i % len(clips)], 16000)
        shorts.append(path)
    short_seconds = sum(clips[i % len(clips)].size for i in range(short_files)) / 16000
    pieces, samples = [], 0
    while samples < minutes * 60 * 16000:
        clip = clips[len(pieces) % len(clips)]
        pieces += [clip, gap]
        samples += clip.size + gap.size
    long_path = folder / "long.wav"
    soundfile.write(long_path, np.concatenate(pieces), 16000)
    return shorts, long_path, short_seconds, samples / 16000


# The child reports its own peak RSS on exit (RUSAGE_CHILDREN would mix the cases together).
CHILD = ("import resource, runpy, sys\nsys.argv = ['asr'] + sys.argv[1:]\ntry:\n"
         "    runpy.run_module('asr.cli', run_name='__main__')\nfinally:\n"
         "    print('PEAK_RSS_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)")


def run_case(name: str, args: list[str], audio_seconds: float) -> dict:
    start = time.time()
    result = subprocess.run([sys.executable, "-c", CHILD, "transcribe", *args], capture_output=True, text=True)
    elapsed = time.time() - start
    if result.returncode != 0:
        sys.exit(f"{name}: asr transcribe failed: {result.stderr.strip()[-500:]}")
    peak_kib = int(result.stderr.rsplit("PEAK_RSS_KIB", 1)[1].split()[0])
    return {"case": name, "audio_s": round(audio_seconds, 1), "wall_s": round(elapsed, 2),
            "rtf": round(elapsed / audio_seconds, 4), "peak_rss_mib": round(peak_kib / 1024, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "asr" / "assets" / "default_model.pt"))
    parser.add_argument("--lm", help="ARPA LM: adds beam-search cases")
    parser.add_argument("--short-files", type=int, default=60)
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the long file")
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args()
    import os
    import platform
    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    with tempfile.TemporaryDirectory() as tmp:
        shorts, long_path, short_s, long_s = make_audio(Path(tmp), args.short_files, args.minutes)
        common = ["--model", args.model, "--batch-size", "8"]
        cases = [("greedy, short files", [*map(str, shorts), *common], short_s),
                 (f"greedy, one {args.minutes:g}-minute file", [str(long_path), *common], long_s)]
        if args.lm:
            cases.append(("beam + LM, short files", [*map(str, shorts), *common, "--lm", args.lm], short_s))
        rows = [run_case(*case) for case in cases]
    for row in rows:
        row["machine"] = cpu
        print(f"{row['case']:32} audio {row['audio_s']:8.1f} s  wall {row['wall_s']:8.2f} s  RTF {row['rtf']:.4f}  "
              f"peak RSS {row['peak_rss_mib']:7.1f} MiB")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
