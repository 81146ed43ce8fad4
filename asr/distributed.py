"""torch.distributed plumbing: one process per device under torchrun, NCCL on GPU, gloo on CPU.
Without torchrun (no WORLD_SIZE) everything here is a no-op and rank is 0."""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def launched_as_main() -> bool:
    """Rank 0 of torchrun's launch, or no torchrun; readable before the process group exists."""
    return int(os.environ.get("RANK", "0")) == 0


def init(device_name: str) -> tuple[DistInfo, torch.device]:
    """Join the process group torchrun describes in the environment; pick this rank's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    if device_name == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device=cuda but no CUDA GPU is visible")
    device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        # torchrun hands restarted workers (--max-restarts) the store of the failed attempt, whose
        # keys still name the dead processes' addresses: without a prefix per attempt the new
        # ranks may connect to those and fail or hang.
        store, rank, size = next(dist.rendezvous("env://"))
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        dist.init_process_group("nccl" if use_cuda else "gloo", store=dist.PrefixStore(f"attempt-{attempt}/", store),
                                rank=rank, world_size=size)
    info = DistInfo(dist.get_rank() if world_size > 1 else 0, world_size, local_rank)
    return info, device


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_true(flag: bool, info: DistInfo, device) -> bool:
    """Whether every rank says True (so all ranks take the same branch, e.g. skipping a step)."""
    if not info.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
