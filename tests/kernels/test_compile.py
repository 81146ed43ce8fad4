"""Every kernel variant compiles to a real sm_80 and sm_90 cubin on this CPU machine, and the
persistent kernels spill nothing within the documented shape limits (kernels/README.md)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report():
    env = {**os.environ, "TRITON_INTERPRET": "0"}
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "compile_report.py"), "--json"],
                         capture_output=True, text=True, env=env, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


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
