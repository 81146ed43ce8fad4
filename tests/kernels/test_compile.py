"""Every kernel variant compiles to a real sm_80 and sm_90 cubin on this CPU machine, and the
persistent kernels spill nothing within the documented shape limits (kernels/README.md)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import triton

from kernels.common.launch import BLOCK_BATCH, shared_memory_bound

ROOT = Path(__file__).resolve().parents[2]


def compile_report(*args: str) -> list[dict]:
    env = {**os.environ, "TRITON_INTERPRET": "0"}
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "compile_report.py"), *args, "--json"],
                         capture_output=True, text=True, env=env, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def report():
    return compile_report()


@pytest.fixture(scope="module")
def largest_admitted():
    """Every kernel at the largest hidden sizes kernels_fit admits on an H100 (test_launch.py):
    1024 units in 16-bit, 512 in fp32."""
    return (compile_report("--hidden", "1024", "--dtypes", "fp16", "--archs", "90")
            + compile_report("--hidden", "512", "--dtypes", "fp32", "--archs", "90"))


@pytest.mark.slow
def test_every_variant_compiles_for_sm80_and_sm90(report):
    seen = {(r["cell"], r["kind"], r["persistent"], r["dtype"], r["arch"]) for r in report}
    expected = {(c, k, p, d, a) for c in ("lstm", "gru") for k in ("fwd", "bwd") for p in (True, False)
                for d in ("fp16", "bf16", "fp32") for a in ("sm_80", "sm_90")}
    assert seen == expected
    assert all(r["regs"] > 0 for r in report)


@pytest.mark.slow
def test_persistent_kernels_do_not_spill_within_limits(report):
    spilling = [r for r in report if r["persistent"] and r["spill_bytes"] > 0]
    assert not spilling, f"register spills: {spilling}"


@pytest.mark.slow
def test_persistent_kernels_fit_shared_memory(report):
    limit = {"sm_80": 163 * 1024, "sm_90": 227 * 1024}
    too_big = [r for r in report if r["shared_bytes"] > limit[r["arch"]]]
    assert not too_big, f"shared memory over the per-block limit: {too_big}"


@pytest.mark.slow
def test_shared_memory_bound_covers_every_compiled_kernel(report, largest_admitted):
    """The bound plan_launch and kernels_fit refuse shapes by is never below what Triton allocates,
    so a shape they admit never fails Triton's own check at launch."""
    gates = {"lstm": 4, "gru": 3}
    dtypes = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
    over = [r for r in report + largest_admitted
            if r["block_batch"] != BLOCK_BATCH or r["shared_bytes"] > shared_memory_bound(
                gates[r["cell"]], max(16, triton.next_power_of_2(r["hidden"])), r["hidden_split"], dtypes[r["dtype"]])]
    assert not over, f"compiled with more shared memory than the bound: {over}"
