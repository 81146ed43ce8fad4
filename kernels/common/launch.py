"""Launch planning and argument checks shared by the LSTM and GRU recurrences.

Two paths (limits in kernels/README.md):
- small hidden: one program owns the whole hidden size for a batch tile; h stays in registers.
- split hidden: `num_splits` programs share one batch tile, each owning `hidden_split` units.
  They swap h (forward) or the gate gradients (backward) through global memory every step,
  either inside one persistent launch with a grid barrier, or with one launch per step.

Either way every program holds its W_hh tiles on chip, so a shape whose tiles do not fit the
device's shared memory cannot run at all: plan_launch refuses it with a one-line error, and
`kernels_fit` says so beforehand (impl="auto" then runs cuDNN).
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
# Batch rows per program: tl.dot's smallest M. Larger tiles need far more shared memory in some
# variants (the small-hidden backward at 64 rows: 208 KiB, `compile_report.py --block-batch 64`),
# and a large batch is served by more programs instead.
BLOCK_BATCH = MIN_DOT


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


def shared_memory_limit(device: torch.device) -> int | None:
    """Bytes of shared memory one program may use on `device` (what Triton checks at launch);
    None off CUDA, where the interpreter has no such limit."""
    if device.type != "cuda":
        return None
    return torch.cuda.get_device_properties(device).shared_memory_per_block_optin


def shared_memory_bound(gates: int, block_hidden: int, hidden_split: int, dtype: torch.dtype) -> int:
    """Bytes of shared memory a program of BLOCK_BATCH rows needs: at least what Triton allocates
    for each of our kernels, measured on their sm_80/sm_90 cubins (tests/kernels/test_compile.py
    holds it to them). The W_hh gate tiles stay there as `tl.dot` operands for the whole time loop,
    with one [BB, BH] operand, at most fp32, beside them. Where one program owns every unit (the
    small path, H <= 64), the backward kernels take about twice the tiles' size again (measured:
    at most 76 KiB in all): counted here as three times."""
    weight_tiles = gates * block_hidden * hidden_split * dtype.itemsize
    small_path_staging = 3 * weight_tiles if hidden_split == block_hidden else 0
    return weight_tiles + small_path_staging + BLOCK_BATCH * block_hidden * 4 + 1024


def _hidden_tiles(hidden: int, device: torch.device, dtype: torch.dtype,
                  hidden_split: int | None = None) -> tuple[int, int]:
    """(block_hidden, hidden_split): H padded to a power of two, and the units per program."""
    block_hidden = max(MIN_DOT, triton.next_power_of_2(hidden))
    if hidden_split is None:
        hidden_split = block_hidden if block_hidden <= SMALL_HIDDEN_MAX[dtype] else DEFAULT_HIDDEN_SPLIT
    hidden_split = min(triton.next_power_of_2(hidden_split), block_hidden)
    if device.type == "cuda":
        hidden_split = max(MIN_DOT, hidden_split)
    if math.ceil(hidden / hidden_split) == 1:
        hidden_split = block_hidden
    return block_hidden, hidden_split


def kernels_fit(gates: int, hidden: int, device: torch.device, dtype: torch.dtype) -> bool:
    """Whether the kernels can run a cell of `gates` gates and `hidden` units on `device` at all:
    whether a program's W_hh tiles and operands fit its shared memory."""
    limit = shared_memory_limit(device)
    return limit is None or shared_memory_bound(gates, *_hidden_tiles(hidden, device, dtype), dtype) <= limit


def plan_launch(batch: int, hidden: int, device: torch.device, dtype: torch.dtype, gates: int,
                hidden_split: int | None = None, persistent: bool | None = None) -> LaunchPlan:
    """Choose tiles and path. `hidden_split`/`persistent` force a path (tests, benchmarks)."""
    block_hidden, hidden_split = _hidden_tiles(hidden, device, dtype, hidden_split)
    num_splits = math.ceil(hidden / hidden_split)
    limit = shared_memory_limit(device)
    need = shared_memory_bound(gates, block_hidden, hidden_split, dtype)
    if limit is not None and need > limit:
        raise ValueError(f"hidden size {hidden} in {str(dtype).removeprefix('torch.')} needs {need / 1024:.0f} KiB "
                         f"of shared memory per program, over the {limit / 1024:.0f} KiB of "
                         f"{torch.cuda.get_device_name(device)}: run it in float16/bfloat16, or with impl='torch' "
                         "(impl='auto' falls back to it by itself)")
    num_batch_tiles = math.ceil(batch / BLOCK_BATCH)
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
    return LaunchPlan(BLOCK_BATCH, block_hidden, hidden_split, num_splits, num_batch_tiles,
                      persistent_ok if persistent is None else persistent,
                      pick_num_warps(block_hidden, hidden_split, dtype))


def pick_num_warps(block_hidden: int, hidden_split: int, dtype: torch.dtype) -> int:
    """From the sm_80/sm_90 spill sweep (scripts/compile_report.py): 8 warps keep the fp16/bf16
    weight tiles spill-free up to H=512. fp32 split tiles spill with 8 warps at H=256 but not 4;
    at H=512, the most fp32 that fits on chip, 4 warps spill 10-19 KB per thread in all kernels
    but one, 8 warps none on sm_80 but the GRU's stepped forward (2.5 KB), and on sm_90 none in
    the backward kernels and 2-4.5 KB in the forward ones."""
    if block_hidden * hidden_split <= 32 * 32:
        return 4
    if dtype in (torch.float32, torch.float64) and hidden_split < block_hidden <= 256:
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
