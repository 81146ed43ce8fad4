"""Launch planning against the shared memory of real GPUs, their properties faked on this machine:
a shape whose W_hh tiles cannot fit on chip is refused in one line by plan_launch and left to cuDNN
by impl="auto" (kernels_fit). That the bound covers what Triton allocates: test_compile.py."""

from types import SimpleNamespace

import pytest
import torch

import kernels
from kernels.common import launch

# cudaDevAttrMaxSharedMemoryPerBlockOptin, what Triton checks a kernel against before launching it.
H100 = ("NVIDIA H100 80GB HBM3", 232448)
A100 = ("NVIDIA A100-SXM4-80GB", 166912)
CUDA = torch.device("cuda")


@pytest.fixture
def on_gpu(monkeypatch):
    def use(gpu):
        name, shared = gpu
        monkeypatch.setattr(launch, "shared_memory_limit", lambda device: shared if device.type == "cuda" else None)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    return use


def test_shared_memory_bound_by_hand():
    # LSTM, H=640 padded to 1024, 16 units per program, fp32: four [1024, 16] fp32 tiles (256 KiB)
    # and a [16, 1024] fp32 operand (64 KiB), plus 1 KiB.
    assert launch.shared_memory_bound(4, 1024, 16, torch.float32) == 4 * 1024 * 16 * 4 + 16 * 1024 * 4 + 1024
    # GRU, fp16, H=64 on the small path: three [64, 64] fp16 tiles, three times their size again for
    # the backward's staging, and a [16, 64] fp32 operand.
    assert launch.shared_memory_bound(3, 64, 64, torch.float16) == 4 * (3 * 64 * 64 * 2) + 16 * 64 * 4 + 1024


@pytest.mark.parametrize("gates", [4, 3], ids=["lstm", "gru"])
def test_fp32_at_640_units_is_refused_in_one_line_and_left_to_cudnn(on_gpu, gates):
    # The default model's layers (640 units, run in fp32): no kernel variant can hold them on chip.
    on_gpu(H100)
    with pytest.raises(ValueError, match=r"^hidden size 640 in float32 needs \d+ KiB of shared memory per program, "
                                         r"over the 227 KiB of NVIDIA H100 80GB HBM3: run it in float16/bfloat16"):
        launch.plan_launch(8, 640, CUDA, torch.float32, gates=gates)
    assert not launch.kernels_fit(gates, 640, CUDA, torch.float32)
    assert launch.kernels_fit(gates, 640, CUDA, torch.bfloat16)
    assert launch.kernels_fit(gates, 512, CUDA, torch.float32)


def test_a100_holds_fewer_units_than_h100(on_gpu):
    on_gpu(A100)
    assert not launch.kernels_fit(4, 1024, CUDA, torch.bfloat16)
    assert launch.kernels_fit(3, 1024, CUDA, torch.bfloat16)  # three gates of [1024, 16] do fit
    on_gpu(H100)
    assert launch.kernels_fit(4, 1024, CUDA, torch.bfloat16)


def test_a_large_batch_is_more_programs_of_16_rows(on_gpu):
    on_gpu(H100)
    plan = launch.plan_launch(64, 1024, CUDA, torch.bfloat16, gates=4)
    assert (plan.block_batch, plan.num_batch_tiles, plan.num_splits) == (16, 4, 64)


def test_no_limit_off_cuda(on_gpu):
    on_gpu(H100)
    assert launch.plan_launch(8, 4096, torch.device("cpu"), torch.float32, gates=4).num_splits == 256
    assert launch.kernels_fit(4, 4096, torch.device("cpu"), torch.float32)


def test_auto_gives_cudnn_the_cells_the_kernels_cannot_hold(on_gpu):
    on_gpu(H100)

    def on_cuda(dtype):  # what _use_triton reads of a CUDA tensor
        return SimpleNamespace(is_cuda=True, device=CUDA, dtype=dtype)

    assert not kernels.LSTM(16, 640, bidirectional=True)._use_triton(on_cuda(torch.float32))
    assert not kernels.GRU(16, 640)._use_triton(on_cuda(torch.float32))
    assert kernels.LSTM(16, 640)._use_triton(on_cuda(torch.bfloat16))
    assert kernels.LSTM(16, 512)._use_triton(on_cuda(torch.float32))
