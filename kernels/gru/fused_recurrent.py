"""Persistent GRU recurrence: the sequential part of torch.nn.GRU in one launch.

The caller computes xw = x @ W_ih^T + b_ih for all steps with one GEMM. b_hh stays in the
kernel because PyTorch's n gate scales it by r: n = tanh(x_n + r * (W_hn h + b_hn)).
Gate order is r, z, n. Math, paths and shape limits: kernels/README.md.
"""

import torch
import triton
import triton.language as tl

from kernels.common.barrier import grid_barrier
from kernels.common.launch import check_recurrence_args, dot_precision, plan_launch, state_dtype
from kernels.common.math import tanh
from kernels.common.tiles import exchange_h, load_gate_tile, sequence_lengths, tile_offsets

GATES = 3  # r, z, n: W_hh is [GATES * H, H]


@triton.jit
def _load_weights(w_hh, o_k, o_u, m_k, m_u, H, BACKWARD: tl.constexpr):
    # Three [BH, HB] tiles, gate order r, z, n, loaded once per launch.
    return (load_gate_tile(w_hh, 0, o_k, o_u, m_k, m_u, H, BACKWARD),
            load_gate_tile(w_hh, 1, o_k, o_u, m_k, m_u, H, BACKWARD),
            load_gate_tile(w_hh, 2, o_k, o_u, m_k, m_u, H, BACKWARD))


@triton.jit
def _gru_fwd_step(t, b_hk, b_h, b_wr, b_wz, b_wn, b_br, b_bz, b_bn, xw, y, gates, hs, B, H,
                  o_b, o_u, m_bu, b_valid, STORE_CACHE: tl.constexpr, PRECISION: tl.constexpr):
    # b_hk [BB, BH]: all of h_{t-1}; b_h [BB, HB]: this program's units of h_{t-1}.
    row = (t * B + o_b)[:, None]
    p_x = xw + row * (3 * H) + o_u[None, :]
    b_hk = b_hk.to(b_wr.dtype)
    b_r = tl.sigmoid(tl.load(p_x, mask=m_bu, other=0.0) + tl.dot(b_hk, b_wr, input_precision=PRECISION) + b_br)
    b_z = tl.sigmoid(tl.load(p_x + H, mask=m_bu, other=0.0) + tl.dot(b_hk, b_wz, input_precision=PRECISION) + b_bz)
    b_hn = tl.dot(b_hk, b_wn, input_precision=PRECISION) + b_bn
    b_n = tanh(tl.load(p_x + 2 * H, mask=m_bu, other=0.0) + b_r * b_hn)
    b_h_new = (1.0 - b_z) * b_n + b_z * b_h
    valid = b_valid[:, None]
    b_h_new = tl.where(valid, b_h_new, b_h)
    tl.store(y + row * H + o_u[None, :], tl.where(valid, b_h_new, 0.0).to(y.dtype.element_ty), mask=m_bu)
    if STORE_CACHE:
        p_g = gates + row * (4 * H) + o_u[None, :]
        tl.store(p_g, b_r, mask=m_bu)
        tl.store(p_g + H, b_z, mask=m_bu)
        tl.store(p_g + 2 * H, b_n, mask=m_bu)
        tl.store(p_g + 3 * H, b_hn, mask=m_bu)
        tl.store(hs + row * H + o_u[None, :], b_h_new, mask=m_bu)
    return b_h_new


@triton.jit
def _gru_bwd_step(t, b_dh, dy, gates, hs, h0, dgates, B, H, o_b, o_u, m_bu, b_valid):
    # b_dh [BB, HB]: dL/dh_t arriving from step t+1 (or from h_n). Returns the gate gradients
    # that multiply W_hh (r, z, hn) and dL/dh_{t-1} without its W_hh term.
    row = (t * B + o_b)[:, None]
    valid = b_valid[:, None]
    b_dh = b_dh + tl.where(valid, tl.load(dy + row * H + o_u[None, :], mask=m_bu, other=0.0), 0.0)
    p_g = gates + row * (4 * H) + o_u[None, :]
    b_r = tl.load(p_g, mask=m_bu, other=0.0)
    b_z = tl.load(p_g + H, mask=m_bu, other=0.0)
    b_n = tl.load(p_g + 2 * H, mask=m_bu, other=0.0)
    b_hn = tl.load(p_g + 3 * H, mask=m_bu, other=0.0)
    if t > 0:
        b_hp = tl.load(hs + (row - B) * H + o_u[None, :], mask=m_bu, other=0.0)
    else:
        b_hp = tl.load(h0 + o_b[:, None] * H + o_u[None, :], mask=m_bu, other=0.0)
    b_dn = tl.where(valid, b_dh * (1.0 - b_z) * (1.0 - b_n * b_n), 0.0)
    b_dz = tl.where(valid, b_dh * (b_hp - b_n) * b_z * (1.0 - b_z), 0.0)
    b_dr = b_dn * b_hn * b_r * (1.0 - b_r)
    b_dhn = b_dn * b_r
    p_d = dgates + row * (4 * H) + o_u[None, :]
    tl.store(p_d, b_dr, mask=m_bu)
    tl.store(p_d + H, b_dz, mask=m_bu)
    tl.store(p_d + 2 * H, b_dn, mask=m_bu)
    tl.store(p_d + 3 * H, b_dhn, mask=m_bu)
    return b_dr, b_dz, b_dhn, tl.where(valid, b_dh * b_z, b_dh)


@triton.jit
def _dh_from_global(dgates, t, B, H, o_b, o_k, m_b, m_k, b_wr, b_wz, b_wn, PRECISION: tl.constexpr):
    p_d = dgates + ((t * B + o_b)[:, None]) * (4 * H) + o_k[None, :]
    m_bk = m_b[:, None] & m_k[None, :]
    dt = b_wr.dtype
    b_dh = tl.dot(tl.load(p_d, mask=m_bk, other=0.0, cache_modifier=".cg").to(dt),
                    b_wr, input_precision=PRECISION)
    b_dh += tl.dot(tl.load(p_d + H, mask=m_bk, other=0.0, cache_modifier=".cg").to(dt),
                    b_wz, input_precision=PRECISION)
    b_dh += tl.dot(tl.load(p_d + 3 * H, mask=m_bk, other=0.0, cache_modifier=".cg").to(dt),
                    b_wn, input_precision=PRECISION)
    return b_dh


@triton.jit
def _load_bias(b_hh, o_u, m_u, H):
    return (tl.load(b_hh + o_u, mask=m_u, other=0.0)[None, :],
            tl.load(b_hh + H + o_u, mask=m_u, other=0.0)[None, :],
            tl.load(b_hh + 2 * H + o_u, mask=m_u, other=0.0)[None, :])


@triton.heuristics({
    "HAS_LENGTHS": lambda args: args["lengths"] is not None,
    "STORE_CACHE": lambda args: args["gates"] is not None,
})
@triton.jit(do_not_specialize=["T"])
def gru_fwd_kernel(xw, w_hh, b_hh, h0, lengths, y, h_n, gates, hs, h_buf, arrivals, T, B,
                   H: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr, HB: tl.constexpr,
                   SPLIT: tl.constexpr, HAS_LENGTHS: tl.constexpr, STORE_CACHE: tl.constexpr,
                   PRECISION: tl.constexpr):
    o_b, o_k, o_u, m_b, m_k, m_u = tile_offsets(B, H, BB, BH, HB)
    m_bu = m_b[:, None] & m_u[None, :]
    m_bk = m_b[:, None] & m_k[None, :]
    b_wr, b_wz, b_wn = _load_weights(w_hh, o_k, o_u, m_k, m_u, H, BACKWARD=False)
    b_br, b_bz, b_bn = _load_bias(b_hh, o_u, m_u, H)
    b_len = sequence_lengths(lengths, o_b, m_b, T, HAS_LENGTHS)
    b_hk = tl.load(h0 + o_b[:, None] * H + o_k[None, :], mask=m_bk, other=0.0)
    b_h = tl.load(h0 + o_b[:, None] * H + o_u[None, :], mask=m_bu, other=0.0)
    for t in range(0, T):
        b_h = _gru_fwd_step(t, b_hk, b_h, b_wr, b_wz, b_wn, b_br, b_bz, b_bn, xw, y, gates, hs,
                            B, H, o_b, o_u, m_bu, (t < b_len) & m_b, STORE_CACHE, PRECISION)
        if SPLIT:
            b_hk = exchange_h(h_buf, arrivals, b_h, t, B, H, o_b, o_k, o_u, m_bu, m_bk)
        else:
            b_hk = b_h
    tl.store(h_n + o_b[:, None] * H + o_u[None, :], b_h, mask=m_bu)


@triton.heuristics({
    "HAS_LENGTHS": lambda args: args["lengths"] is not None,
    "STORE_CACHE": lambda args: args["gates"] is not None,
})
@triton.jit(do_not_specialize=["t", "T"])
def gru_fwd_step_kernel(xw, w_hh, b_hh, lengths, y, gates, hs, h_buf, t, T, B,
                        H: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr, HB: tl.constexpr,
                        HAS_LENGTHS: tl.constexpr, STORE_CACHE: tl.constexpr,
                        PRECISION: tl.constexpr):
    """One step of the split-hidden path: the launch boundary is the grid barrier."""
    o_b, o_k, o_u, m_b, m_k, m_u = tile_offsets(B, H, BB, BH, HB)
    m_bu = m_b[:, None] & m_u[None, :]
    b_wr, b_wz, b_wn = _load_weights(w_hh, o_k, o_u, m_k, m_u, H, BACKWARD=False)
    b_br, b_bz, b_bn = _load_bias(b_hh, o_u, m_u, H)
    b_len = sequence_lengths(lengths, o_b, m_b, T, HAS_LENGTHS)
    p_h = h_buf + (t % 2) * B * H + o_b[:, None] * H
    b_hk = tl.load(p_h + o_k[None, :], mask=m_b[:, None] & m_k[None, :], other=0.0)
    b_h = tl.load(p_h + o_u[None, :], mask=m_bu, other=0.0)
    b_h = _gru_fwd_step(t, b_hk, b_h, b_wr, b_wz, b_wn, b_br, b_bz, b_bn, xw, y, gates, hs,
                        B, H, o_b, o_u, m_bu, (t < b_len) & m_b, STORE_CACHE, PRECISION)
    tl.store(h_buf + ((t + 1) % 2) * B * H + o_b[:, None] * H + o_u[None, :], b_h, mask=m_bu)


@triton.heuristics({"HAS_LENGTHS": lambda args: args["lengths"] is not None})
@triton.jit(do_not_specialize=["T"])
def gru_bwd_kernel(dy, dh_n, gates, hs, h0, w_hh, lengths, dgates, dh0, arrivals, T, B,
                   H: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr, HB: tl.constexpr,
                   SPLIT: tl.constexpr, HAS_LENGTHS: tl.constexpr, PRECISION: tl.constexpr):
    o_b, o_k, o_u, m_b, m_k, m_u = tile_offsets(B, H, BB, BH, HB)
    m_bu = m_b[:, None] & m_u[None, :]
    b_wr, b_wz, b_wn = _load_weights(w_hh, o_k, o_u, m_k, m_u, H, BACKWARD=True)
    b_len = sequence_lengths(lengths, o_b, m_b, T, HAS_LENGTHS)
    b_dh = tl.load(dh_n + o_b[:, None] * H + o_u[None, :], mask=m_bu, other=0.0)
    for s in range(0, T):
        t = T - 1 - s
        b_dr, b_dz, b_dhn, b_dh = _gru_bwd_step(t, b_dh, dy, gates, hs, h0, dgates, B, H,
                                                o_b, o_u, m_bu, (t < b_len) & m_b)
        if SPLIT:
            grid_barrier(arrivals + tl.program_id(0), (s + 1) * tl.num_programs(1))
            b_dh += _dh_from_global(dgates, t, B, H, o_b, o_k, m_b, m_k, b_wr, b_wz, b_wn,
                                    PRECISION)
        else:
            dt = b_wr.dtype
            b_dh += tl.dot(b_dr.to(dt),
                    b_wr, input_precision=PRECISION)
            b_dh += tl.dot(b_dz.to(dt),
                    b_wz, input_precision=PRECISION)
            b_dh += tl.dot(b_dhn.to(dt),
                    b_wn, input_precision=PRECISION)
    tl.store(dh0 + o_b[:, None] * H + o_u[None, :], b_dh, mask=m_bu)


@triton.heuristics({"HAS_LENGTHS": lambda args: args["lengths"] is not None})
@triton.jit(do_not_specialize=["t", "T"])
def gru_bwd_step_kernel(dy, gates, hs, h0, w_hh, lengths, dgates, dh_buf, t, T, B,
                        H: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr, HB: tl.constexpr,
                        HAS_LENGTHS: tl.constexpr, PRECISION: tl.constexpr):
    """Launched for t = T-1 .. -1: adds step t+1's W_hh gradient term, then runs step t."""
    o_b, o_k, o_u, m_b, m_k, m_u = tile_offsets(B, H, BB, BH, HB)
    m_bu = m_b[:, None] & m_u[None, :]
    b_wr, b_wz, b_wn = _load_weights(w_hh, o_k, o_u, m_k, m_u, H, BACKWARD=True)
    b_len = sequence_lengths(lengths, o_b, m_b, T, HAS_LENGTHS)
    p_dh = dh_buf + o_b[:, None] * H + o_u[None, :]
    b_dh = tl.load(p_dh, mask=m_bu, other=0.0)
    if t + 1 < T:
        b_dh += _dh_from_global(dgates, t + 1, B, H, o_b, o_k, m_b, m_k, b_wr, b_wz, b_wn,
                                PRECISION)
    if t >= 0:
        _, _, _, b_dh = _gru_bwd_step(t, b_dh, dy, gates, hs, h0, dgates, B, H, o_b, o_u, m_bu,
                                      (t < b_len) & m_b)
    tl.store(p_dh, b_dh, mask=m_bu)


def gru_fwd(xw, w_hh, b_hh, h0, lengths=None, store_cache=True, hidden_split=None, persistent=None):
    """xw [T, B, 3H] time-major, w_hh [3H, H], b_hh [3H], h0 [B, H] -> y, h_n, cache."""
    steps, batch, _ = xw.shape
    hidden = w_hh.shape[1]
    plan = plan_launch(batch, hidden, xw.device, xw.dtype, GATES, hidden_split, persistent)
    sdt = state_dtype(xw.dtype)
    h0, b_hh = h0.to(sdt).contiguous(), b_hh.to(sdt).contiguous()
    y = torch.empty(steps, batch, hidden, device=xw.device, dtype=xw.dtype)
    gates = torch.empty(steps, batch, 4 * hidden, device=xw.device, dtype=sdt) if store_cache else None
    hs = torch.empty(steps, batch, hidden, device=xw.device, dtype=sdt) if store_cache else None
    h_buf = torch.empty(2, batch, hidden, device=xw.device, dtype=sdt)
    meta = dict(H=hidden, BB=plan.block_batch, BH=plan.block_hidden, HB=plan.hidden_split,
                PRECISION=dot_precision(xw.dtype), num_warps=plan.num_warps)
    if plan.persistent:
        h_n = torch.empty_like(h0)
        arrivals = torch.zeros(plan.num_batch_tiles, device=xw.device, dtype=torch.int32)
        gru_fwd_kernel[plan.grid](
            xw=xw, w_hh=w_hh, b_hh=b_hh, h0=h0, lengths=lengths, y=y, h_n=h_n, gates=gates, hs=hs,
            h_buf=h_buf, arrivals=arrivals, T=steps, B=batch, SPLIT=plan.split,
            launch_cooperative_grid=plan.split, **meta)
        return y, h_n, (gates, hs)
    h_buf[0] = h0
    for t in range(steps):
        gru_fwd_step_kernel[plan.grid](
            xw=xw, w_hh=w_hh, b_hh=b_hh, lengths=lengths, y=y, gates=gates, hs=hs, h_buf=h_buf,
            t=t, T=steps, B=batch, **meta)
    return y, h_buf[steps % 2], (gates, hs)


def gru_bwd(dy, dh_n, gates, hs, h0, w_hh, lengths=None, hidden_split=None, persistent=None):
    """-> dgates [T, B, 4H] = (dr, dz, dn, dhn) pre-activation gradients (fp32), dh0."""
    steps, batch, hidden = dy.shape
    plan = plan_launch(batch, hidden, dy.device, w_hh.dtype, GATES, hidden_split, persistent)
    dgates = torch.empty_like(gates)
    meta = dict(H=hidden, BB=plan.block_batch, BH=plan.block_hidden, HB=plan.hidden_split,
                PRECISION=dot_precision(w_hh.dtype), num_warps=plan.num_warps)
    dh_buf = dh_n.to(gates.dtype).contiguous().clone()
    if plan.persistent:
        dh0 = torch.empty_like(dh_buf)
        arrivals = torch.zeros(plan.num_batch_tiles, device=dy.device, dtype=torch.int32)
        gru_bwd_kernel[plan.grid](
            dy=dy, dh_n=dh_buf, gates=gates, hs=hs, h0=h0, w_hh=w_hh, lengths=lengths,
            dgates=dgates, dh0=dh0, arrivals=arrivals, T=steps, B=batch, SPLIT=plan.split,
            launch_cooperative_grid=plan.split, **meta)
        return dgates, dh0
    for t in range(steps - 1, -2, -1):
        gru_bwd_step_kernel[plan.grid](
            dy=dy, gates=gates, hs=hs, h0=h0, w_hh=w_hh, lengths=lengths, dgates=dgates,
            dh_buf=dh_buf, t=t, T=steps, B=batch, **meta)
    return dgates, dh_buf


class GRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xw, w_hh, b_hh, h0, lengths, hidden_split, persistent):
        y, h_n, (gates, hs) = gru_fwd(xw, w_hh, b_hh, h0, lengths,
                                      store_cache=any(ctx.needs_input_grad[:4]),
                                      hidden_split=hidden_split, persistent=persistent)
        ctx.save_for_backward(h0, w_hh, b_hh, gates, hs, lengths)
        ctx.launch = (hidden_split, persistent)
        return y, h_n.to(xw.dtype)

    @staticmethod
    def backward(ctx, dy, dh_n):
        h0, w_hh, b_hh, gates, hs, lengths = ctx.saved_tensors
        h0_state = h0.to(gates.dtype).contiguous()
        dgates, dh0 = gru_bwd(dy.contiguous(), dh_n, gates, hs, h0_state, w_hh, lengths, *ctx.launch)
        hidden = w_hh.shape[1]
        dgates_h = torch.cat([dgates[..., :2 * hidden], dgates[..., 3 * hidden:]], dim=-1)
        # dW_hh = sum_t dgates_t^T h_{t-1}: one GEMM after the loop instead of per-step atomics.
        h_prev = torch.cat([h0_state[None], hs[:-1]])
        dw_hh = torch.einsum("tbg,tbh->gh", dgates_h, h_prev).to(w_hh.dtype)
        db_hh = dgates_h.sum((0, 1)).to(b_hh.dtype)
        return (dgates[..., :3 * hidden].to(dy.dtype), dw_hh, db_hh, dh0.to(h0.dtype),
                None, None, None)


def gru_recurrence(xw, w_hh, b_hh=None, h0=None, lengths=None, hidden_split=None, persistent=None):
    """The GRU time loop on Triton, one direction, forward in time.

    Args:
        xw: [T, B, 3H] input projections x @ W_ih^T + b_ih (gate order r, z, n).
        w_hh: [3H, H] recurrent weights, same dtype as xw; b_hh: optional [3H] recurrent bias.
        h0: optional [B, H] initial state (zeros when None).
        lengths: optional [B] integer lengths in [1, T]; padded steps keep the state and output 0.
    Returns:
        y [T, B, H], h_n [B, H], differentiable w.r.t. xw, w_hh, b_hh and h0.

    Example:
        >>> y, h_n = gru_recurrence(x @ w_ih.T + b_ih, w_hh, b_hh)
    """
    check_recurrence_args(xw, w_hh, [h0], GATES, lengths)
    batch, hidden = xw.shape[1], w_hh.shape[1]
    if b_hh is None:
        b_hh = xw.new_zeros(3 * hidden)
    elif tuple(b_hh.shape) != (3 * hidden,):
        raise ValueError(f"b_hh must be [3H] = [{3 * hidden}], got {tuple(b_hh.shape)}")
    if lengths is not None:
        lengths = lengths.to(device=xw.device, dtype=torch.int32)
    return GRUFunction.apply(xw.contiguous(), w_hh.contiguous(), b_hh,
                             xw.new_zeros(batch, hidden) if h0 is None else h0,
                             lengths, hidden_split, persistent)
