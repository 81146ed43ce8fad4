"""Benchmark the Triton recurrences against cuDNN (torch.nn.LSTM/GRU) and the per-step torch loop.

One unidirectional layer, input size = hidden size, in one process so every figure is side by side.
Sweeps vary one axis at a time around a base point (--base), or the whole grid (--grid).

    python scripts/bench_kernels.py --out benchmarks/kernels            # the default sweeps
    python scripts/bench_kernels.py --cells lstm --dtypes bf16 --batch 16 --hidden 1024 --steps 500

Writes OUT.csv, OUT.json and OUT.png; every row carries GPU, versions, git SHA and date.
FLOPs per layer and step: 2·B·(I+H)·G·H for the forward (G = 4 LSTM, 3 GRU), 3× that forward plus
backward; TFLOP/s = FLOPs / median time.
"""

import argparse
import csv
import datetime
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import kernels  # noqa: E402
from kernels import gru_recurrence_ref, lstm_recurrence_ref  # noqa: E402

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
SWEEPS = {"batch": [1, 4, 16, 32, 64, 128, 256], "hidden": [256, 512, 1024, 2048], "steps": [50, 100, 500, 1000]}


def environment():
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=Path(__file__).parent).stdout.strip() or "unknown"
    import triton
    return dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__, triton=triton.__version__,
                cuda=torch.version.cuda, git_sha=sha, date=datetime.date.today().isoformat())


def naive_layer(cell, module):
    def run(x):
        w_ih, w_hh, b_ih, b_hh = module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0
        if cell == "lstm":
            return lstm_recurrence_ref(F.linear(x, w_ih, b_ih + b_hh), w_hh)[0]
        return gru_recurrence_ref(F.linear(x, w_ih, b_ih), w_hh, b_hh)[0]
    return run


def measure(fn, mode, x):
    import triton.testing
    if mode == "fwd":
        def step():
            with torch.no_grad():
                fn(x)
    else:
        def step():
            fn(x).float().sum().backward()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    median, p20, p80 = triton.testing.do_bench(step, quantiles=[0.5, 0.2, 0.8], warmup=5, rep=50)
    return median, p20, p80, torch.cuda.max_memory_allocated() / 2**20


def bench_point(cell, dtype_name, mode, batch, hidden, steps, with_naive):
    dtype = DTYPES[dtype_name]
    cls = kernels.LSTM if cell == "lstm" else kernels.GRU
    ours = cls(hidden, hidden, impl="triton").cuda().to(dtype)
    cudnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(hidden, hidden).cuda().to(dtype)
    cudnn.load_state_dict(ours.state_dict())
    x = torch.randn(steps, batch, hidden, device="cuda", dtype=dtype, requires_grad=mode != "fwd")
    gates = 4 if cell == "lstm" else 3
    flops = 2 * steps * batch * 2 * hidden * gates * hidden * (1 if mode == "fwd" else 3)
    impls = {"triton": lambda x: ours(x)[0], "cudnn": lambda x: cudnn(x)[0]}
    if not cls.fits_on_chip(hidden, x.device, dtype):
        print(f"{cell} {dtype_name} H={hidden}: W_hh does not fit the kernels' shared memory here; cuDNN only",
              flush=True)
        del impls["triton"]
    if with_naive:
        impls["torch_loop"] = naive_layer(cell, ours)
    rows = []
    for name, fn in impls.items():
        try:
            median, p20, p80, peak = measure(fn, mode, x)
        except torch.OutOfMemoryError:
            continue
        rows.append(dict(cell=cell, dtype=dtype_name, mode=mode, batch=batch, hidden=hidden, steps=steps, impl=name,
                         ms=median, ms_p20=p20, ms_p80=p80, us_per_step=1000 * median / steps,
                         tflops=flops / median / 1e9, peak_mib=peak))
    cudnn_ms = next((r["ms"] for r in rows if r["impl"] == "cudnn"), None)
    for r in rows:
        r["speedup_vs_cudnn"] = cudnn_ms / r["ms"] if cudnn_ms else None
    return rows


def points(args):
    if args.grid:
        return list(itertools.product(args.batch or SWEEPS["batch"], args.hidden or SWEEPS["hidden"],
                                      args.steps or SWEEPS["steps"]))
    if args.batch or args.hidden or args.steps:
        return list(itertools.product(args.batch or [args.base[0]], args.hidden or [args.base[1]],
                                      args.steps or [args.base[2]]))
    b, h, t = args.base
    sweep = [(x, h, t) for x in SWEEPS["batch"]] + [(b, x, t) for x in SWEEPS["hidden"]]
    sweep += [(b, h, x) for x in SWEEPS["steps"]]
    return list(dict.fromkeys(sweep))


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    axes_names = ["batch", "hidden", "steps"]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for row_i, mode in enumerate(["fwd", "fwd+bwd"]):
        for col, axis in enumerate(axes_names):
            ax = axes[row_i][col]
            for key in sorted({(r["cell"], r["dtype"], r["impl"]) for r in rows if r["mode"] == mode}):
                pts = sorted((r[axis], r["ms"]) for r in rows if (r["cell"], r["dtype"], r["impl"]) == key
                             and r["mode"] == mode)
                if len({p[0] for p in pts}) > 1:
                    ax.plot(*zip(*pts), marker="o", label="/".join(key))
            ax.set(xscale="log", yscale="log", xlabel=axis, ylabel="ms (median)", title=f"{mode}: time vs {axis}")
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{rows[0]['gpu']} · torch {rows[0]['torch']} · triton {rows[0]['triton']} · {rows[0]['git_sha']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default="benchmarks/kernels", help="output path prefix (.csv/.json/.png)")
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru"], choices=["lstm", "gru"])
    parser.add_argument("--dtypes", nargs="+", default=["bf16", "fp16", "fp32"], choices=list(DTYPES))
    parser.add_argument("--modes", nargs="+", default=["fwd", "fwd+bwd"], choices=["fwd", "fwd+bwd"])
    parser.add_argument("--base", nargs=3, type=int, default=[16, 1024, 500], metavar=("B", "H", "T"))
    parser.add_argument("--batch", nargs="+", type=int)
    parser.add_argument("--hidden", nargs="+", type=int)
    parser.add_argument("--steps", nargs="+", type=int)
    parser.add_argument("--grid", action="store_true", help="full cross product of the sweeps")
    parser.add_argument("--naive-max-steps", type=int, default=100, help="run the per-step torch loop up to this T")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench_kernels.py: needs a CUDA GPU (cuDNN is the baseline); none is visible")
    env = environment()
    rows = []
    for cell, dtype, mode, (b, h, t) in itertools.product(args.cells, args.dtypes, args.modes, points(args)):
        for r in bench_point(cell, dtype, mode, b, h, t, t <= args.naive_max_steps):
            r.update(env)
            rows.append(r)
            print(f"{cell} {dtype} {mode:7} B={b:<4} H={h:<5} T={t:<5} {r['impl']:10} {r['ms']:9.3f} ms "
                  f"{r['tflops']:7.2f} TFLOP/s  x{r['speedup_vs_cudnn'] or 0:5.2f} vs cuDNN  {r['peak_mib']:8.1f} MiB",
                  flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for suffix, write in ((".json", lambda f: json.dump(rows, f, indent=1)),
                          (".csv", lambda f: _write_csv(f, rows))):
        tmp = out.with_suffix(suffix + ".tmp")
        with open(tmp, "w", newline="") as f:
            write(f)
        os.replace(tmp, out.with_suffix(suffix))
    plot(rows, out.with_suffix(".png"))


def _write_csv(f, rows):
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


if __name__ == "__main__":
    main()
