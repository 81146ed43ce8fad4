"""Compile every kernel variant for sm_80 and sm_90 on this machine (no GPU needed) and report
registers, spilled bytes and shared memory per program.

    python scripts/compile_report.py                 # the documented no-spill variants, as a table
    python scripts/compile_report.py --hidden 1024   # one hidden size, every path
    python scripts/compile_report.py --hidden 1024 --block-batch 64   # batch tiles of 64 rows
    python scripts/compile_report.py --hidden 512 --dtypes fp32 --archs 90
    python scripts/compile_report.py --json          # rows as JSON (used by tests/kernels/test_compile.py)
"""

import argparse
import itertools
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ["TRITON_INTERPRET"] = "0"  # real compilation, never the interpreter
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from kernels.common.cubin import compile_cubin  # noqa: E402
from kernels.common.launch import SMALL_HIDDEN_MAX, SPLIT_NO_SPILL_MAX, pick_num_warps  # noqa: E402
from kernels.gru import fused_recurrent as gru  # noqa: E402
from kernels.lstm import fused_recurrent as lstm  # noqa: E402

KERNELS = {
    ("lstm", "fwd", True): lstm.lstm_fwd_kernel, ("lstm", "fwd", False): lstm.lstm_fwd_step_kernel,
    ("lstm", "bwd", True): lstm.lstm_bwd_kernel, ("lstm", "bwd", False): lstm.lstm_bwd_step_kernel,
    ("gru", "fwd", True): gru.gru_fwd_kernel, ("gru", "fwd", False): gru.gru_fwd_step_kernel,
    ("gru", "bwd", True): gru.gru_bwd_kernel, ("gru", "bwd", False): gru.gru_bwd_step_kernel,
}
TRITON_DTYPE = {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32"}
TORCH_DTYPE = {name: dtype for dtype, name in TRITON_DTYPE.items()}
INPUT_DTYPE_ARGS = {"xw", "w_hh", "y", "dy"}
INT_POINTER_ARGS = {"lengths", "arrivals"}
INT_ARGS = {"t", "T", "B"}


def compile_variant(cell, kind, persistent, dtype_name, hidden, hidden_split, arch, block_batch=16):
    dtype = TORCH_DTYPE[dtype_name]
    kernel = KERNELS[(cell, kind, persistent)]
    fn = kernel.fn
    block_hidden = max(16, 1 << (hidden - 1).bit_length())
    constexprs = dict(H=hidden, BB=block_batch, BH=block_hidden, HB=hidden_split, SPLIT=hidden_split < block_hidden,
                      HAS_LENGTHS=True, STORE_CACHE=True, PRECISION="ieee" if dtype == torch.float32 else "tf32")
    signature = {}
    for index, name in enumerate(fn.arg_names):
        if index in fn.constexprs:
            continue
        signature[name] = ("*" + dtype_name if name in INPUT_DTYPE_ARGS else "*i32" if name in INT_POINTER_ARGS
                           else "i32" if name in INT_ARGS else "*fp32")
    constexprs = {k: v for k, v in constexprs.items() if k in fn.arg_names}
    num_warps = pick_num_warps(block_hidden, hidden_split, dtype)
    stats = compile_cubin(kernel, signature, constexprs, arch, num_warps)
    return dict(cell=cell, kind=kind, persistent=persistent, dtype=dtype_name, hidden=hidden,
                hidden_split=hidden_split, block_batch=block_batch, arch=f"sm_{arch}", num_warps=num_warps,
                regs=stats.n_regs, spill_bytes=stats.n_spills, shared_bytes=stats.shared_bytes)


def documented_variants():
    """The shapes kernels/README.md promises to run without spills (persistent kernels), plus
    the stepped fallback at the same sizes, which must compile but reloads W_hh every step anyway."""
    for cell, kind, dtype, arch in itertools.product(("lstm", "gru"), ("fwd", "bwd"), TRITON_DTYPE.values(), (80, 90)):
        small_max = SMALL_HIDDEN_MAX[TORCH_DTYPE[dtype]]
        yield cell, kind, True, dtype, small_max, small_max, arch
        split_max = SPLIT_NO_SPILL_MAX[arch][TORCH_DTYPE[dtype]]
        yield cell, kind, True, dtype, split_max, 16, arch
        yield cell, kind, False, dtype, split_max, 16, arch


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, help="report this hidden size for every path instead")
    parser.add_argument("--hidden-split", type=int, default=16, help="units per program on the split path")
    parser.add_argument("--block-batch", type=int, default=16, help="batch rows per program (the launcher's: 16)")
    parser.add_argument("--dtypes", nargs="+", choices=list(TORCH_DTYPE), default=list(TORCH_DTYPE),
                        help="with --hidden: these dtypes only")
    parser.add_argument("--archs", nargs="+", type=int, choices=(80, 90), default=(80, 90),
                        help="with --hidden: these sm_XX only")
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="parallel compiles")
    args = parser.parse_args()
    if args.hidden:
        variants = [(c, k, p, d, args.hidden, args.hidden_split, a, args.block_batch)
                    for c, k, p, d, a in itertools.product(("lstm", "gru"), ("fwd", "bwd"), (True, False),
                                                           args.dtypes, args.archs)]
    else:
        variants = list(documented_variants())
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(compile_variant, *zip(*variants)))
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'cell':5} {'kind':4} {'path':10} {'dtype':5} {'H':>5} {'HB':>4} {'BB':>3} {'arch':6} {'warps':>5} "
          f"{'regs':>4} {'spill B':>7} {'smem KB':>7}")
    for r in rows:
        path = "persistent" if r["persistent"] else "stepped"
        print(f"{r['cell']:5} {r['kind']:4} {path:10} {r['dtype']:5} {r['hidden']:5} {r['hidden_split']:4} "
              f"{r['block_batch']:3} {r['arch']:6} {r['num_warps']:5} {r['regs']:4} {r['spill_bytes']:7} "
              f"{r['shared_bytes'] / 1024:7.1f}")


if __name__ == "__main__":
    main()
