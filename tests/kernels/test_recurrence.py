"""The recurrence kernels against the plain-torch step loop: outputs and every gradient."""

import pytest
import torch

from kernels import gru_recurrence, gru_recurrence_ref, lstm_recurrence, lstm_recurrence_ref
from tests.helpers import assert_close

TOLERANCE = {  # dtype -> (atol, rtol)
    torch.float64: (1e-10, 1e-8),
    torch.float32: (2e-5, 1e-4),
    torch.float16: (3e-2, 3e-2),
    torch.bfloat16: (8e-2, 8e-2),
}


def _lstm(xw, w_hh, b_hh, states, lengths, **launch):
    return lstm_recurrence(xw, w_hh, states[0], states[1], lengths, **launch)


def _lstm_ref(xw, w_hh, b_hh, states, lengths):
    return lstm_recurrence_ref(xw, w_hh, states[0], states[1], lengths)


def _gru(xw, w_hh, b_hh, states, lengths, **launch):
    return gru_recurrence(xw, w_hh, b_hh, states[0], lengths, **launch)


def _gru_ref(xw, w_hh, b_hh, states, lengths):
    return gru_recurrence_ref(xw, w_hh, b_hh, states[0], lengths)


CELLS = {"lstm": (4, 2, _lstm, _lstm_ref), "gru": (3, 1, _gru, _gru_ref)}


def make_inputs(cell, steps, batch, hidden, dtype, device, lengths=None, seed=0):
    gates, n_states, _, _ = CELLS[cell]
    g = torch.Generator().manual_seed(seed)
    scale = hidden ** -0.5

    def rand(*shape, s=1.0):
        return (torch.randn(*shape, generator=g) * s).to(device=device, dtype=dtype).requires_grad_()

    xw = rand(steps, batch, gates * hidden)
    w_hh = rand(gates * hidden, hidden, s=scale)
    b_hh = rand(gates * hidden, s=0.5) if cell == "gru" else None
    states = [rand(batch, hidden, s=0.5) for _ in range(n_states)]
    lengths = None if lengths is None else torch.tensor(lengths)
    return xw, w_hh, b_hh, states, lengths


def leaves(xw, w_hh, b_hh, states):
    return [t for t in (xw, w_hh, b_hh, *states) if t is not None]


def run_and_grads(fn, inputs, upstream):
    xw, w_hh, b_hh, states, lengths = inputs
    outputs = fn(xw, w_hh, b_hh, states, lengths)
    # Gradients flow through y and through the final states.
    loss = sum((o.to(u.dtype) * u).sum() for o, u in zip(outputs, upstream))
    return outputs, torch.autograd.grad(loss, leaves(xw, w_hh, b_hh, states))


def as_float64(inputs):
    xw, w_hh, b_hh, states, lengths = inputs

    def f64(t):
        return None if t is None else t.detach().double().requires_grad_()

    return f64(xw), f64(w_hh), f64(b_hh), [f64(s) for s in states], lengths


def check_against_reference(cell, steps, batch, hidden, dtype, device, lengths=None, **launch):
    _, _, run, ref = CELLS[cell]
    inputs = make_inputs(cell, steps, batch, hidden, dtype, device, lengths)
    ref_inputs = as_float64(inputs)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        upstream = [torch.randn(o.shape, generator=g, dtype=torch.float64).to(device) for o in ref(*ref_inputs)]
    outputs, grads = run_and_grads(lambda *a: run(*a, **launch), inputs, [u.float() for u in upstream])
    expected, expected_grads = run_and_grads(ref, ref_inputs, upstream)
    atol, rtol = TOLERANCE[dtype]
    for name, out, exp in zip(["y", "h_n", "c_n"], outputs, expected):
        assert out.dtype == dtype
        assert_close(name, out, exp, atol, rtol)
    grad_names = ["dxw", "dw_hh"] + (["db_hh"] if cell == "gru" else []) + ["dh0", "dc0"]
    for name, grad, exp in zip(grad_names, grads, expected_grads):
        assert_close(name, grad, exp, atol * 4, rtol * 4)
    if lengths is not None:
        for b, n in enumerate(lengths):
            assert bool((outputs[0][n:, b] == 0).all()), "padded steps must output zeros"


SHAPES = [  # steps, batch, hidden, lengths, hidden_split
    pytest.param(1, 1, 8, None, None, id="T1-B1-H8"),
    pytest.param(5, 3, 37, None, None, id="T5-B3-H37"),
    pytest.param(4, 17, 20, None, None, id="T4-B17-H20-two-batch-tiles"),
    pytest.param(6, 5, 24, [6, 1, 3, 6, 2], None, id="T6-B5-H24-lengths"),
    pytest.param(5, 3, 37, None, 16, id="T5-B3-H37-split16"),
    pytest.param(6, 5, 40, [2, 6, 1, 5, 6], 16, id="T6-B5-H40-split16-lengths"),
]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("steps,batch,hidden,lengths,hidden_split", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_matches_step_loop(cell, steps, batch, hidden, lengths, hidden_split, dtype, device):
    check_against_reference(cell, steps, batch, hidden, dtype, device, lengths, hidden_split=hidden_split)


DTYPE_IDS = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
# (hidden, hidden_split, persistent, dtypes); fp32 W_hh tiles of [1024, 16] or [512, 32] do not fit on chip
# (test_launch.py).
GPU_SPLIT_SHAPES = [
    (256, 16, True, tuple(DTYPE_IDS)),
    (512, 16, True, tuple(DTYPE_IDS)),
    (1024, 16, True, (torch.float16, torch.bfloat16)),
    (333, 32, False, (torch.float16, torch.bfloat16)),
    (333, 16, False, (torch.float32,)),
]


@pytest.mark.gpu
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("hidden,hidden_split,persistent,dtype", [
    pytest.param(h, hs, p, dt, id=f"H{h}-split{hs}-{'persistent' if p else 'stepped'}-{DTYPE_IDS[dt]}")
    for h, hs, p, dtypes in GPU_SPLIT_SHAPES for dt in dtypes])
def test_split_paths_on_gpu(cell, hidden, hidden_split, persistent, dtype):
    check_against_reference(cell, 40, 7, hidden, dtype, torch.device("cuda"), [40, 13, 1, 39, 27, 40, 8],
                            hidden_split=hidden_split, persistent=persistent)


@pytest.mark.gpu
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_batch_of_64_at_1024_units_on_gpu(cell):
    """The batch tile shrinks to fit shared memory (tests/kernels/test_launch.py); run it."""
    check_against_reference(cell, 20, 64, 1024, torch.bfloat16, torch.device("cuda"), None)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("hidden_split", [None, 4], ids=["small", "split4"])
def test_gradcheck_float64(cell, hidden_split, device):
    _, _, run, _ = CELLS[cell]
    xw, w_hh, b_hh, states, _ = make_inputs(cell, 3, 2, 7, torch.float64, device)
    lengths = torch.tensor([3, 2])

    def fn(*tensors):
        xw, w_hh, *rest = tensors
        b = rest.pop(0) if cell == "gru" else None
        return run(xw, w_hh, b, rest, lengths, hidden_split=hidden_split)

    assert torch.autograd.gradcheck(fn, tuple(leaves(xw, w_hh, b_hh, states)), atol=1e-7, rtol=1e-5, fast_mode=True)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_forward_under_no_grad(cell, device):
    _, _, run, ref = CELLS[cell]
    inputs = make_inputs(cell, 4, 2, 8, torch.float32, device)
    with torch.no_grad():
        outputs = run(*inputs)
        expected = ref(*inputs)
    for out, exp in zip(outputs, expected):
        assert_close("no-grad", out, exp, *TOLERANCE[torch.float32])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bad_input_raises_value_error(cell, device):
    _, _, run, _ = CELLS[cell]
    xw, w_hh, b_hh, states, _ = make_inputs(cell, 4, 3, 8, torch.float32, device)
    with pytest.raises(ValueError, match="must be"):
        run(xw[0], w_hh, b_hh, states, None)
    with pytest.raises(ValueError, match="w_hh"):
        run(xw, w_hh[:, :5], b_hh, states, None)
    with pytest.raises(ValueError, match="dtype mismatch"):
        run(xw.double(), w_hh, b_hh, states, None)
    with pytest.raises(ValueError, match="initial state"):
        run(xw, w_hh, b_hh, [s[:2] for s in states], None)
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T=4\]"):
        run(xw, w_hh, b_hh, states, torch.tensor([4, 5, 1]))
    with pytest.raises(ValueError, match=r"lengths must lie"):
        run(xw, w_hh, b_hh, states, torch.tensor([4, 0, 1]))
    with pytest.raises(ValueError, match=r"lengths must be \[B\]"):
        run(xw, w_hh, b_hh, states, torch.tensor([4, 2]))


def test_cpu_tensor_without_interpreter_is_refused(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    xw, w_hh, b_hh, states, _ = make_inputs("lstm", 2, 2, 8, torch.float32, torch.device("cpu"))
    with pytest.raises(ValueError, match="needs a CUDA tensor"):
        _lstm(xw, w_hh, b_hh, states, None)
