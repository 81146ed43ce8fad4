"""Launch planning and argument checks shared by the LSTM and GRU recurrences.

Two paths (limits in kernels/README.md):
- small hidden: one program owns the whole hidden size for a batch tile; h stays in registers.
- split hidden: `num_splits` programs share one batch tile, each owning `hidden_split` units.
  They swap h (forward) or the gate gradients (backward) through global memory every step,
  either inside one persistent launch with a grid barrier, or with one launch per step.
"""

import math
import os
from dataclasses import dataclass

import torch
import triton

# Largest padded hidden size whose recurrent weight tiles fit in one program without spills on
# sm_80 and sm_90 in every dtype; tests/kernels/test_compile.py holds these to account.
# fp32 backward at H=64 spills 24 B on sm_80, so fp32 moves to the split path above 32.
SMALL_HIDDEN_MAX = {torch.float16: 64, torch.bfloat16: 64, torch.float32: 32, torch.float64: 32}
# Split path (persistent kernels), by arch then dtype, with hidden_split=16.
SPLIT_NO_SPILL_MAX = {
    80: {torch.float16: 256, torch.bfloat16: 256, torch.float32: 256},
    90: {torch.float16: 512, torch.bfloat16: 512, torch.float32: 256},
}
# Units per program on the split path. tl.dot needs N >= 16 on sm_80/sm_90.
DEFAULT_HIDDEN_SPLIT = 16
MIN_DOT = 16


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


@dataclass(frozen=True)
class LaunchPlan:
    block_batch: int
    block_hidden: int
    hidden_split: int
    num_splits: int
    num_batch_tiles: int
    persistent: bool
    num_warps: int

    @property
    def split(self) -> bool:
        return self.num_splits > 1

    @property
    def grid(self) -> tuple[int, int]:
        return (self.num_batch_tiles, self.num_splits)


def _sm_count(device: torch.device) -> int:
    return torch.cuda.get_device_properties(device).multi_processor_count


def plan_launch(batch: int, hidden: int, device: torch.device, dtype: torch.dtype,
                hidden_split: int | None = None, persistent: bool | None = None) -> LaunchPlan:
    """Choose tiles and path. `hidden_split`/`persistent` force a path (tests, benchmarks)."""
    block_hidden = max(MIN_DOT, triton.next_power_of_2(hidden))
    block_batch = max(MIN_DOT, min(64, triton.next_power_of_2(batch)))
    if hidden_split is None:
        hidden_split = block_hidden if block_hidden <= SMALL_HIDDEN_MAX[dtype] else DEFAULT_HIDDEN_SPLIT
    hidden_split = min(triton.next_power_of_2(hidden_split), block_hidden)
    if device.type == "cuda":
        hidden_split = max(MIN_DOT, hidden_split)
    num_splits = math.ceil(hidden / hidden_split)
    if num_splits == 1:
        hidden_split = block_hidden
    num_batch_tiles = math.ceil(batch / block_batch)
    if num_splits == 1:
        persistent_ok = True
    elif interpreting() or device.type != "cuda":
        # The interpreter runs programs one after another, so a grid barrier would never open.
        persistent_ok = False
    else:
        # Co-residency by construction: at most one program per SM, launched cooperatively.
        persistent_ok = num_batch_tiles * num_splits <= _sm_count(device)
    if persistent and not persistent_ok:
        raise ValueError(f"persistent launch impossible for batch={batch} hidden={hidden} "
                         f"hidden_split={hidden_split} on {device}")
    return LaunchPlan(block_batch, block_hidden, hidden_split, num_splits, num_batch_tiles,
                      persistent_ok if persistent is None else persistent,
                      pick_num_warps(block_hidden, hidden_split, dtype))


def pick_num_warps(block_hidden: int, hidden_split: int, dtype: torch.dtype) -> int:
    """From the sm_80/sm_90 spill sweep (scripts/compile_report.py): 8 warps keep the fp16/bf16
    weight tiles spill-free up to H=512; fp32 split tiles spill with 8 warps at H=256 but not 4."""
    if block_hidden * hidden_split <= 32 * 32:
        return 4
    if dtype in (torch.float32, torch.float64) and hidden_split < block_hidden:
        return 4
    return 8


def dot_precision(dtype: torch.dtype) -> str:
    # fp32 must match cuDNN's fp32 reference, not round to TF32.
    return "ieee" if dtype in (torch.float32, torch.float64) else "tf32"


def state_dtype(dtype: torch.dtype) -> torch.dtype:
    """State and accumulators stay fp32 (fp64 only for gradcheck)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def require_kernel_device(device: torch.device) -> None:
    """The kernels run on CUDA, or on CPU under the Triton interpreter, nowhere else."""
    if device.type != "cuda" and not interpreting():
        raise ValueError(f"impl='triton' needs a CUDA tensor (got {device}); set "
                         "TRITON_INTERPRET=1 to run the kernels on CPU, or use impl='torch'")


def check_recurrence_args(xw: torch.Tensor, w_hh: torch.Tensor, states: list, gates: int,
                          lengths: torch.Tensor | None) -> None:
    """One-line ValueErrors for what would otherwise be a wrong result or a hung GPU."""
    if xw.dim() != 3:
        raise ValueError(f"xw must be [T, B, {gates}*H], got shape {tuple(xw.shape)}")
    steps, batch, width = xw.shape
    hidden = w_hh.shape[1] if w_hh.dim() == 2 else -1
    if w_hh.dim() != 2 or w_hh.shape[0] != gates * hidden or width != gates * hidden:
        raise ValueError(f"w_hh must be [{gates}*H, H] matching xw's last dim {width}, "
                         f"got {tuple(w_hh.shape)}")
    if xw.dtype != w_hh.dtype:
        raise ValueError(f"dtype mismatch: input {xw.dtype} vs weights {w_hh.dtype}")
    if xw.device != w_hh.device:
        raise ValueError(f"device mismatch: input on {xw.device}, weights on {w_hh.device}")
    require_kernel_device(xw.device)
    for state in states:
        if state is not None and tuple(state.shape) != (batch, hidden):
            raise ValueError(f"initial state must be [B, H] = [{batch}, {hidden}], "
                             f"got {tuple(state.shape)}")
    if lengths is not None:
        check_lengths(lengths, steps, batch)


def check_lengths(lengths, steps: int, batch: int) -> None:
    if lengths.dim() != 1 or lengths.numel() != batch:
        raise ValueError(f"lengths must be [B] = [{batch}], got {tuple(lengths.shape)}")
    if lengths.is_floating_point():
        raise ValueError(f"lengths must be integers, got {lengths.dtype}")
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo < 1 or hi > steps:
        raise ValueError(f"lengths must lie in [1, T={steps}], got min {lo} max {hi}")
