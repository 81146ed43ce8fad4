"""Drop-in torch.nn.LSTM / torch.nn.GRU whose time loop runs on the Triton kernels."""

from functools import partial

import torch
import torch.nn.functional as F
from torch.func import functional_call
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from kernels.common.launch import check_lengths, kernels_fit, require_kernel_device
from kernels.common.sequence import reverse_padded
from kernels.gru import fused_recurrent as gru
from kernels.lstm import fused_recurrent as lstm

IMPLS = ("auto", "triton", "torch")


class _TritonRNNMixin:
    """Shared forward for LSTM and GRU. Subclasses set `_cell_states` (2 for LSTM, 1 for GRU),
    `_gates` (rows of W_hh per unit) and `_torch_cell` (their torch base class)."""

    _cell_states: int
    _gates: int
    _torch_cell: type

    def _init_impl(self, impl: str) -> None:
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        if getattr(self, "proj_size", 0):
            raise ValueError("proj_size is not supported by the Triton kernels")
        self.impl = impl

    @classmethod
    def fits_on_chip(cls, hidden_size: int, device: torch.device, dtype: torch.dtype) -> bool:
        """Whether the kernels can hold this cell's W_hh in shared memory on `device` in `dtype`
        (kernels/README.md, Shape limits); where not, impl="auto" runs cuDNN."""
        return kernels_fit(cls._gates, hidden_size, device, dtype)

    def _use_triton(self, x: torch.Tensor) -> bool:
        if self.impl == "auto":
            return x.is_cuda and self.fits_on_chip(self.hidden_size, x.device, _autocast_dtype(x) or x.dtype)
        if self.impl == "triton":
            require_kernel_device(x.device)  # before any work, not deep inside the first layer
        return self.impl == "triton"

    def forward(self, input, hx=None, lengths=None):
        """input: [T, B, I] ([B, T, I] if batch_first), [T, I] unbatched, or a PackedSequence.

        hx: h0 [L*D, B, H] (LSTM: the tuple (h0, c0)). lengths: optional [B] for padded input;
        padded positions of the output are zero and h_n comes from each sequence's last step.
        Returns (output, h_n) or (output, (h_n, c_n)), exactly as torch.
        """
        packed = input if isinstance(input, PackedSequence) else None
        if packed is not None:
            if lengths is not None:
                raise ValueError("pass lengths only with a padded tensor, not a PackedSequence")
            input, lengths = pad_packed_sequence(packed, batch_first=self.batch_first)
        unbatched = input.dim() == 2
        if unbatched:
            input = input.unsqueeze(0 if self.batch_first else 1)
            hx = None if hx is None else self._map_states(hx, lambda h: h.unsqueeze(1))
        if input.dim() != 3 or input.shape[-1] != self.input_size:
            raise ValueError(f"input must be [T, B, {self.input_size}] "
                             f"({'batch_first' if self.batch_first else 'time-major'}), "
                             f"got {tuple(input.shape)}")
        x = input.transpose(0, 1) if self.batch_first else input
        if self._use_triton(x):
            amp_dtype = _autocast_dtype(x)
            if amp_dtype is not None:  # as torch's RNNs under autocast: input, states and weights in its dtype
                x = x.to(amp_dtype)
                hx = None if hx is None else self._map_states(hx, lambda h: h.to(amp_dtype))
            recurrence = partial(self._recurrence, amp_dtype=amp_dtype)
            y, states = self._forward_by_layer(x, hx, lengths, recurrence)
        elif lengths is not None and not x.is_cuda:
            y, states = self._forward_by_layer(x, hx, torch.as_tensor(lengths).cpu(), self._torch_segments)
        else:
            y, states = self._forward_torch(x, hx, lengths)
        if self.batch_first:
            y = y.transpose(0, 1)
        if unbatched:
            y = y.squeeze(1)
            states = self._map_states(states, lambda h: h.squeeze(1))
        if packed is not None:
            y = _repack(y, packed, self.batch_first)
        return y, states

    def _map_states(self, states, fn):
        return tuple(fn(s) for s in states) if self._cell_states == 2 else fn(states)

    def _forward_torch(self, x, hx, lengths):
        if lengths is None:
            return _time_major_call(self, x, hx)
        packed = pack_padded_sequence(x, torch.as_tensor(lengths).cpu(), enforce_sorted=False)
        y, states = _time_major_call(self, packed, hx)
        y, _ = pad_packed_sequence(y, total_length=x.shape[0])
        return y, states

    def _forward_by_layer(self, x, hx, lengths, recurrence):
        steps, batch, _ = x.shape
        dirs = 2 if self.bidirectional else 1
        if lengths is not None:
            lengths = torch.as_tensor(lengths)
        if hx is None:
            zeros = x.new_zeros(self.num_layers * dirs, batch, self.hidden_size)
            hx = (zeros, zeros) if self._cell_states == 2 else zeros
        self._check_states(hx, batch, dirs, x)
        finals = [[] for _ in range(self._cell_states)]
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(dirs):
                index = layer * dirs + direction
                inp = layer_input if direction == 0 else reverse_padded(layer_input, lengths)
                states0 = [hx[k][index] for k in range(2)] if self._cell_states == 2 else [hx[index]]
                y, *states_n = recurrence(inp, self._weights(layer, direction), states0, lengths)
                outputs.append(y if direction == 0 else reverse_padded(y, lengths))
                for k, s in enumerate(states_n):
                    finals[k].append(s)
            layer_input = torch.cat(outputs, dim=-1) if dirs == 2 else outputs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        stacked = [torch.stack(f) for f in finals]
        return layer_input, (tuple(stacked) if self._cell_states == 2 else stacked[0])

    def _torch_segments(self, x, weights, states0, lengths):
        """One layer and direction through torch's fused kernel, for padded x [T, B, I] on CPU.

        torch's own variable-length path (a PackedSequence) trains about 10x slower on CPU than a
        padded batch: its backward goes step by step. Here the batch is sorted by length and cut
        in time at each distinct length; each piece is one fused call over the rows still
        running, started from the state the piece before left. The result is exact: no step
        past a sequence's end is computed, and h_n/c_n are its last step's.
        """
        steps, batch, _ = x.shape
        check_lengths(lengths, steps, batch)
        cell = self._torch_cell(weights[0].shape[1], self.hidden_size, bias=self.bias, device="meta")
        names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
        params = {name: w for name, w in zip(names, weights) if w is not None}
        order = torch.argsort(lengths, descending=True, stable=True)
        sorted_lengths = lengths[order].tolist()
        x, states = x[:, order], [s[order] for s in states0]
        pieces, start = [], 0
        for end in sorted(set(sorted_lengths)):  # every length is at least 1, so each piece has a step
            running = sum(n >= end for n in sorted_lengths)  # a prefix: lengths are sorted
            hx_piece = tuple(s[None, :running] for s in states)
            hx_piece = hx_piece if self._cell_states == 2 else hx_piece[0]
            y, states_n = functional_call(cell, params, (x[start:end, :running], hx_piece))
            states_n = states_n if self._cell_states == 2 else (states_n,)
            states = [torch.cat([s_n[0], s[running:]]) for s_n, s in zip(states_n, states)]
            pieces.append(F.pad(y, (0, 0, 0, batch - running)))
            start = end
        pieces.append(x.new_zeros(steps - start, batch, self.hidden_size))
        unsort = torch.argsort(order)
        return torch.cat(pieces)[:, unsort], *(s[unsort] for s in states)

    def _weights(self, layer, direction):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        w_ih, w_hh = getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix)
        b_ih = getattr(self, "bias_ih" + suffix) if self.bias else None
        b_hh = getattr(self, "bias_hh" + suffix) if self.bias else None
        return w_ih, w_hh, b_ih, b_hh

    def _check_states(self, hx, batch, dirs, x):
        expected = (self.num_layers * dirs, batch, self.hidden_size)
        for h in (hx if self._cell_states == 2 else (hx,)):
            if tuple(h.shape) != expected:
                raise ValueError(f"initial state must be {list(expected)}, got {list(h.shape)}")
            if h.dtype != x.dtype or h.device != x.device:
                raise ValueError(f"initial state is {h.dtype} on {h.device}, input is {x.dtype} "
                                 f"on {x.device}")


def _autocast_dtype(x: torch.Tensor) -> torch.dtype | None:
    """The dtype autocast runs x's RNN in where it is on for x's device (fp64 it leaves alone)."""
    device = x.device.type
    if x.dtype != torch.float64 and torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return None


def _cast(weights, dtype):
    return weights if dtype is None else tuple(None if w is None else w.to(dtype) for w in weights)


def _time_major_call(module, x, hx):
    """torch's own forward on time-major data, whatever module.batch_first says."""
    batch_first = module.batch_first
    module.batch_first = False
    try:
        return super(_TritonRNNMixin, module).forward(x, hx)
    finally:
        module.batch_first = batch_first


def _repack(y, packed, batch_first):
    """Pack the padded output with the input's own sort order, as torch returns it."""
    y = y if not batch_first else y.transpose(0, 1)
    lengths = (packed.batch_sizes[None, :] > torch.arange(y.shape[1])[:, None]).sum(1)
    order = packed.sorted_indices
    y_sorted = y[:, order] if order is not None else y
    data = pack_padded_sequence(y_sorted, lengths, enforce_sorted=True).data
    return PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)


class LSTM(_TritonRNNMixin, torch.nn.LSTM):
    """torch.nn.LSTM with the time loop on the persistent Triton kernel.

    Same constructor arguments, parameter names and outputs as torch.nn.LSTM, plus `impl`:
    "auto" (Triton on CUDA, torch elsewhere), "triton" (also on CPU under TRITON_INTERPRET=1),
    or "torch". forward also takes `lengths=` for padded batches.

    Example:
        >>> rnn = LSTM(80, 256, num_layers=3, bidirectional=True, batch_first=True)
        >>> y, (h_n, c_n) = rnn(x, lengths=lengths)  # x [B, T, 80] -> y [B, T, 512]
    """

    _cell_states = 2
    _gates = lstm.GATES
    _torch_cell = torch.nn.LSTM

    def __init__(self, *args, impl: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self._init_impl(impl)

    def _recurrence(self, x, weights, states0, lengths, amp_dtype=None):
        w_ih, w_hh, b_ih, b_hh = _cast(weights, amp_dtype)
        xw = F.linear(x, w_ih, None if b_ih is None else b_ih + b_hh)
        return lstm.lstm_recurrence(xw, w_hh, states0[0], states0[1], lengths)


class GRU(_TritonRNNMixin, torch.nn.GRU):
    """torch.nn.GRU with the time loop on the persistent Triton kernel (see LSTM).

    Example:
        >>> rnn = GRU(80, 256, num_layers=2, bidirectional=True)
        >>> y, h_n = rnn(x)  # x [T, B, 80] -> y [T, B, 512]
    """

    _cell_states = 1
    _gates = gru.GATES
    _torch_cell = torch.nn.GRU

    def __init__(self, *args, impl: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self._init_impl(impl)

    def _recurrence(self, x, weights, states0, lengths, amp_dtype=None):
        w_ih, w_hh, b_ih, b_hh = _cast(weights, amp_dtype)
        return gru.gru_recurrence(F.linear(x, w_ih, b_ih), w_hh, b_hh, states0[0], lengths)
