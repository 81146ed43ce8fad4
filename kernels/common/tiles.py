"""@triton.jit helpers shared by the LSTM and GRU kernels: a program's tile, W_hh gate tiles,
length masks, and the h exchange of the split-hidden path."""

import triton
import triton.language as tl

from kernels.common.barrier import grid_barrier


@triton.jit
def tile_offsets(B, H, BB: tl.constexpr, BH: tl.constexpr, HB: tl.constexpr):
    i_b = tl.program_id(0).to(tl.int64)
    i_s = tl.program_id(1).to(tl.int64)
    o_b = i_b * BB + tl.arange(0, BB)  # batch rows of this tile
    o_k = tl.arange(0, BH)  # every hidden unit (the dot's K)
    o_u = i_s * HB + tl.arange(0, HB)  # units owned by this program
    return o_b, o_k, o_u, o_b < B, o_k < H, o_u < H


@triton.jit
def load_gate_tile(w_hh, gate, o_k, o_u, m_k, m_u, H, BACKWARD: tl.constexpr):
    """[BH, HB] tile of one gate's rows of W_hh [G*H, H].

    Forward, element (k, u) = W_hh[gate*H + u, k]: this program's columns of W_hh^T, so
    h_{t-1} @ tile gives its units' gate pre-activations.
    Backward, element (k, j) = W_hh[gate*H + k, j]: dgates_gate @ tile gives dh_{t-1} for the
    units j this program owns.
    """
    if BACKWARD:
        p_w = w_hh + (gate * H + o_k[:, None]) * H + o_u[None, :]
    else:
        p_w = w_hh + (gate * H + o_u[None, :]) * H + o_k[:, None]
    return tl.load(p_w, mask=m_k[:, None] & m_u[None, :], other=0.0)


@triton.jit
def sequence_lengths(lengths, o_b, m_b, T, HAS_LENGTHS: tl.constexpr):
    if HAS_LENGTHS:
        b_len = tl.load(lengths + o_b, mask=m_b, other=0)
    else:
        b_len = tl.zeros_like(o_b).to(tl.int32) + T
    return b_len


@triton.jit
def exchange_h(h_buf, arrivals, b_h, t, B, H, o_b, o_k, o_u, m_bu, m_bk):
    """Publish this program's units of h_t, wait for every program of the batch tile, and read
    all of h_t back. h_buf is double-buffered by step parity, so one barrier per step suffices:
    nobody writes a buffer again before every reader of it has passed the next barrier."""
    p_hb = h_buf + ((t + 1) % 2) * B * H + o_b[:, None] * H
    tl.store(p_hb + o_u[None, :], b_h, mask=m_bu)
    grid_barrier(arrivals + tl.program_id(0), (t + 1) * tl.num_programs(1))
    return tl.load(p_hb + o_k[None, :], mask=m_bk, other=0.0, cache_modifier=".cg")
