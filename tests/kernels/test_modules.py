"""kernels.LSTM / kernels.GRU against torch.nn.LSTM / torch.nn.GRU carrying the same weights."""

import copy

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import kernels
from tests.helpers import assert_close

PAIRS = {"lstm": (kernels.LSTM, torch.nn.LSTM), "gru": (kernels.GRU, torch.nn.GRU)}


def make_pair(cell, device, dtype=torch.float32, impl="triton", **kwargs):
    ours_cls, torch_cls = PAIRS[cell]
    torch.manual_seed(0)
    ours = ours_cls(impl=impl, **kwargs).to(device=device, dtype=dtype)
    reference = torch_cls(**kwargs).to(device=device, dtype=dtype)
    reference.load_state_dict(ours.state_dict())
    return ours, reference


def as_tuple(states):
    return states if isinstance(states, tuple) else (states,)


def reference_forward(reference, x, hx, lengths, batch_first):
    """torch.nn.* on padded input with lengths, through a PackedSequence as users do it."""
    if lengths is None:
        return reference(x, hx)
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    y, states = reference(packed, hx)
    y, _ = pad_packed_sequence(y, batch_first=batch_first, total_length=x.shape[1 if batch_first else 0])
    return y, states


CONFIGS = [
    pytest.param(dict(input_size=5, hidden_size=7), None, id="1layer"),
    pytest.param(dict(input_size=5, hidden_size=7, num_layers=2, bidirectional=True), [6, 2, 5],
                 id="2layer-bidir-lengths"),
    pytest.param(dict(input_size=4, hidden_size=9, batch_first=True, bidirectional=True), [3, 6, 6],
                 id="batch_first-bidir-lengths"),
    pytest.param(dict(input_size=3, hidden_size=6, bias=False, num_layers=2), None, id="no-bias-2layer"),
    pytest.param(dict(input_size=3, hidden_size=6, bias=False, num_layers=2, bidirectional=True), [6, 6, 1],
                 id="no-bias-2layer-bidir-lengths"),
]
# "torch" with lengths on CPU is our own: the batch cut at each distinct length, see rnn.py.
IMPLS = pytest.mark.parametrize("impl", ["triton", "torch"])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("config,lengths", CONFIGS)
@pytest.mark.parametrize("with_hx", [False, True], ids=["no-hx", "hx"])
@IMPLS
def test_module_matches_torch(cell, config, lengths, with_hx, impl, device):
    ours, reference = make_pair(cell, device, impl=impl, **config)
    steps, batch = 6, 3
    batch_first = config.get("batch_first", False)
    shape = (batch, steps, config["input_size"]) if batch_first else (steps, batch, config["input_size"])
    x = torch.randn(shape, device=device, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    dirs = 2 if config.get("bidirectional") else 1
    hx = hx_ref = None
    if with_hx:
        states = [torch.randn(config.get("num_layers", 1) * dirs, batch, config["hidden_size"], device=device,
                              requires_grad=True) for _ in range(2 if cell == "lstm" else 1)]
        states_ref = [s.detach().clone().requires_grad_() for s in states]
        hx, hx_ref = (tuple(states), tuple(states_ref)) if cell == "lstm" else (states[0], states_ref[0])
    lengths_t = None if lengths is None else torch.tensor(lengths)
    y, states_n = ours(x, hx, lengths=lengths_t)
    y_ref, states_n_ref = reference_forward(reference, x_ref, hx_ref, lengths_t, batch_first)
    assert_close("output", y, y_ref, 2e-5, 1e-4)
    for s, s_ref in zip(as_tuple(states_n), as_tuple(states_n_ref)):
        assert_close("final state", s, s_ref, 2e-5, 1e-4)
    g = torch.Generator().manual_seed(3)
    dy = torch.randn(y.shape, generator=g).to(device)
    ds = [torch.randn(s.shape, generator=g).to(device) for s in as_tuple(states_n)]
    loss = (y * dy).sum() + sum((s * d).sum() for s, d in zip(as_tuple(states_n), ds))
    loss_ref = (y_ref * dy).sum() + sum((s * d).sum() for s, d in zip(as_tuple(states_n_ref), ds))
    loss.backward()
    loss_ref.backward()
    assert_close("dx", x.grad, x_ref.grad, 5e-5, 1e-4)
    for (name, p), p_ref in zip(ours.named_parameters(), reference.parameters()):
        assert_close(f"d{name}", p.grad, p_ref.grad, 1e-4, 1e-4)
    if with_hx:
        for s, s_ref in zip(as_tuple(hx), as_tuple(hx_ref)):
            assert_close("dhx", s.grad, s_ref.grad, 5e-5, 1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@IMPLS
def test_each_item_alone_equals_item_in_batch(cell, impl, device):
    ours, _ = make_pair(cell, device, impl=impl, input_size=4, hidden_size=10, bidirectional=True)
    lengths = torch.tensor([5, 2, 4])
    x = torch.randn(5, 3, 4, device=device)
    y, states = ours(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        y_alone, states_alone = ours(x[:n, b:b + 1])
        assert_close(f"item {b} output", y[:n, b:b + 1], y_alone, 1e-5, 1e-5)
        for s, s_alone in zip(as_tuple(states), as_tuple(states_alone)):
            assert_close(f"item {b} state", s[:, b:b + 1], s_alone, 1e-5, 1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@IMPLS
def test_packed_sequence_in_packed_out(cell, impl, device):
    ours, reference = make_pair(cell, device, impl=impl, input_size=3, hidden_size=5, bidirectional=True)
    x = torch.randn(4, 3, 3, device=device)
    packed = pack_padded_sequence(x, torch.tensor([2, 4, 3]), enforce_sorted=False)
    y, states = ours(packed)
    y_ref, states_ref = reference(packed)
    assert torch.equal(y.batch_sizes, y_ref.batch_sizes)
    assert torch.equal(y.unsorted_indices, y_ref.unsorted_indices)
    assert_close("packed data", y.data, y_ref.data, 1e-5, 1e-5)
    for s, s_ref in zip(as_tuple(states), as_tuple(states_ref)):
        assert_close("packed final state", s, s_ref, 1e-5, 1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_autocast_runs_the_recurrence_in_its_dtype(cell, device):
    """As torch's own RNNs under autocast: input, states and weights in autocast's dtype, the
    result that dtype's rounding of the fp32 one, and fp32 gradients for the fp32 parameters."""
    amp = torch.bfloat16 if device.type == "cuda" else torch.float16  # the interpreter has no bf16
    ours, reference = make_pair(cell, device, input_size=5, hidden_size=7, num_layers=2, bidirectional=True)
    spelled_out = copy.deepcopy(ours).to(amp)
    x, lengths = torch.randn(6, 3, 5, device=device), torch.tensor([6, 2, 5])
    with torch.autocast(device.type, dtype=amp):
        y, states = ours(x, lengths=lengths)
    y_amp, states_amp = spelled_out(x.to(amp), lengths=lengths)
    assert y.dtype == amp and torch.equal(y, y_amp)
    for s, s_amp in zip(as_tuple(states), as_tuple(states_amp)):
        assert torch.equal(s, s_amp)
    y_ref, _ = reference_forward(reference, x, None, lengths, False)
    assert_close("output against fp32", y, y_ref, 3e-2, 3e-2)
    y.float().square().sum().backward()
    y_amp.float().square().sum().backward()
    for (name, p), p_amp in zip(ours.named_parameters(), spelled_out.parameters()):
        assert p.grad.dtype == torch.float32
        assert_close(f"d{name}", p.grad, p_amp.grad, 1e-3, 1e-2)


@pytest.mark.gpu
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_default_model_layers_on_gpu(cell):
    """640 units in fp32, as the bundled model runs: too big for the kernels' shared memory, so
    impl='auto' runs cuDNN and impl='triton' refuses in one line; under bf16 autocast they fit an
    H100's kernels."""
    ours, reference = make_pair(cell, "cuda", impl="auto", input_size=16, hidden_size=640, bidirectional=True)
    x = torch.randn(50, 4, 16, device="cuda")
    y, _ = ours(x)
    assert_close("auto, fp32", y, reference(x)[0], 2e-5, 1e-4)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y_amp, _ = ours(x)
    assert_close("auto, bf16 autocast", y_amp, y, 8e-2, 8e-2)
    ours.impl = "triton"
    with pytest.raises(ValueError, match="needs .* KiB of shared memory per program"):
        ours(x)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_unbatched_input(cell, device):
    ours, reference = make_pair(cell, device, input_size=3, hidden_size=5)
    x = torch.randn(4, 3, device=device)
    y, _ = ours(x)
    y_ref, _ = reference(x)
    assert_close("unbatched", y, y_ref, 1e-5, 1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_state_dict_loads_both_ways(cell):
    ours_cls, torch_cls = PAIRS[cell]
    ours, theirs = ours_cls(4, 6, num_layers=2, bidirectional=True), torch_cls(4, 6, num_layers=2, bidirectional=True)
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


def test_impl_switch():
    with pytest.raises(ValueError, match="impl must be one of"):
        kernels.LSTM(3, 4, impl="cudnn")
    auto = kernels.GRU(3, 4)
    assert auto.impl == "auto" and not auto._use_triton(torch.zeros(1))
    with pytest.raises(ValueError, match="proj_size"):
        kernels.LSTM(3, 4, proj_size=2)


def test_triton_impl_on_cpu_without_interpreter_is_refused(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match="needs a CUDA tensor"):
        kernels.LSTM(3, 4, impl="triton")(torch.zeros(2, 1, 3))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_module_bad_input(cell, device):
    ours, _ = make_pair(cell, device, input_size=3, hidden_size=4)
    with pytest.raises(ValueError, match="input must be"):
        ours(torch.zeros(2, 1, 5, device=device))
    with pytest.raises(ValueError, match="initial state"):
        bad = torch.zeros(1, 2, 4, device=device)
        ours(torch.zeros(3, 1, 3, device=device), (bad, bad) if cell == "lstm" else bad)
    with pytest.raises(ValueError, match="lengths must lie"):
        ours(torch.zeros(3, 2, 3, device=device), lengths=torch.tensor([3, 4]))
    on_cpu, _ = make_pair(cell, "cpu", impl="torch", input_size=3, hidden_size=4)
    with pytest.raises(ValueError, match="lengths must lie"):
        on_cpu(torch.zeros(3, 2, 3), lengths=torch.tensor([0, 3]))
