"""Persistent LSTM recurrence: the sequential part of torch.nn.LSTM in one launch.

The input projection xw = x @ W_ih^T + b_ih + b_hh for all steps is one cuBLAS GEMM done by the
caller; these kernels run only h_{t-1} @ W_hh^T and the cell. Gate order is PyTorch's i, f, g, o.
Math, paths and shape limits: kernels/README.md.
"""

import torch
import triton
import triton.language as tl

from kernels.common.barrier import grid_barrier
from kernels.common.launch import check_recurrence_args, dot_precision, plan_launch, state_dtype
from kernels.common.math import tanh
from kernels.common.tiles import exchange_h, load_gate_tile, sequence_lengths, tile_offsets

GATES = 4  # i, f, g, o: W_hh is [GATES * H, H]


@triton.jit
def _load_weights(w_hh, o_k, o_u, m_k, m_u, H, BACKWARD: tl.constexpr):
    # Four [BH, HB] tiles, gate order i, f, g, o. Loaded once: the point of the persistent kernel.
    return (load_gate_tile(w_hh, 0, o_k, o_u, m_k, m_u, H, BACKWARD),
            load_gate_tile(w_hh, 1, o_k, o_u, m_k, m_u, H, BACKWARD),
            load_gate_tile(w_hh, 2, o_k, o_u, m_k, m_u, H, BACKWARD),
            load_gate_tile(w_hh, 3, o_k, o_u, m_k, m_u, H, BACKWARD))


@triton.jit
def _lstm_fwd_step(t, b_hk, b_h, b_c, b_wi, b_wf, b_wg, b_wo, xw, y, gates, cs, B, H,
                   o_b, o_u, m_bu, b_valid, STORE_CACHE: tl.constexpr, PRECISION: tl.constexpr):
    # b_hk [BB, BH]: all of h_{t-1}; b_h, b_c [BB, HB]: this program's units of h_{t-1}, c_{t-1}.
    row = (t * B + o_b)[:, None]
    p_x = xw + row * (4 * H) + o_u[None, :]
    b_hk = b_hk.to(b_wi.dtype)
    b_i = tl.sigmoid(tl.load(p_x, mask=m_bu, other=0.0) + tl.dot(b_hk, b_wi, input_precision=PRECISION))
    b_f = tl.sigmoid(tl.load(p_x + H, mask=m_bu, other=0.0) + tl.dot(b_hk, b_wf, input_precision=PRECISION))
    b_g = tanh(tl.load(p_x + 2 * H, mask=m_bu, other=0.0) + tl.dot(b_hk, b_wg, input_precision=PRECISION))
    b_o = tl.sigmoid(tl.load(p_x + 3 * H, mask=m_bu, other=0.0) + tl.dot(b_hk, b_wo, input_precision=PRECISION))
    b_c_new = b_f * b_c + b_i * b_g
    b_h_new = b_o * tanh(b_c_new)
    valid = b_valid[:, None]
    tl.store(y + row * H + o_u[None, :], tl.where(valid, b_h_new, 0.0).to(y.dtype.element_ty), mask=m_bu)
    if STORE_CACHE:
        p_g = gates + row * (4 * H) + o_u[None, :]
        tl.store(p_g, b_i, mask=m_bu)
        tl.store(p_g + H, b_f, mask=m_bu)
        tl.store(p_g + 2 * H, b_g, mask=m_bu)
        tl.store(p_g + 3 * H, b_o, mask=m_bu)
        tl.store(cs + row * H + o_u[None, :], b_c_new, mask=m_bu)
    return tl.where(valid, b_h_new, b_h), tl.where(valid, b_c_new, b_c)


@triton.jit
def _lstm_bwd_step(t, b_dh, b_dc, dy, gates, cs, c0, dgates, B, H, o_b, o_u, m_bu, b_valid):
    # b_dh, b_dc [BB, HB]: dL/dh_t and dL/dc_t arriving from step t+1 (or from h_n, c_n).
    row = (t * B + o_b)[:, None]
    valid = b_valid[:, None]
    b_dh = b_dh + tl.where(valid, tl.load(dy + row * H + o_u[None, :], mask=m_bu, other=0.0), 0.0)
    p_g = gates + row * (4 * H) + o_u[None, :]
    b_i = tl.load(p_g, mask=m_bu, other=0.0)
    b_f = tl.load(p_g + H, mask=m_bu, other=0.0)
    b_g = tl.load(p_g + 2 * H, mask=m_bu, other=0.0)
    b_o = tl.load(p_g + 3 * H, mask=m_bu, other=0.0)
    b_tc = tanh(tl.load(cs + row * H + o_u[None, :], mask=m_bu, other=0.0))
    if t > 0:
        b_cp = tl.load(cs + (row - B) * H + o_u[None, :], mask=m_bu, other=0.0)
    else:
        b_cp = tl.load(c0 + o_b[:, None] * H + o_u[None, :], mask=m_bu, other=0.0)
    b_dct = b_dc + b_dh * b_o * (1.0 - b_tc * b_tc)
    b_di = tl.where(valid, b_dct * b_g * b_i * (1.0 - b_i), 0.0)
    b_df = tl.where(valid, b_dct * b_cp * b_f * (1.0 - b_f), 0.0)
    b_dg = tl.where(valid, b_dct * b_i * (1.0 - b_g * b_g), 0.0)
    b_do = tl.where(valid, b_dh * b_tc * b_o * (1.0 - b_o), 0.0)
    p_d = dgates + row * (4 * H) + o_u[None, :]
    tl.store(p_d, b_di, mask=m_bu)
    tl.store(p_d + H, b_df, mask=m_bu)
    tl.store(p_d + 2 * H, b_dg, mask=m_bu)
    tl.store(p_d + 3 * H, b_do, mask=m_bu)
    return b_di, b_df, b_dg, b_do, tl.where(valid, b_dct * b_f, b_dc)


@triton.jit
def _dh_from_global(dgates, t, B, H, o_b, o_k, m_b, m_k, b_wi, b_wf, b_wg, b_wo,
                    PRECISION: tl.constexpr):
    # Recurrent gradient from step t's gate gradients of every program (after the barrier).
    p_d = dgates + ((t * B + o_b)[:, None]) * (4 * H) + o_k[None, :]
    m_bk = m_b[:, None] & m_k[None, :]
    dt = b_wi.dtype
    b_dh = tl.dot(tl.load(p_d, mask=m_bk, other=0.0, cache_modifier=".cg").to(dt),
                    b_wi, input_precision=PRECISION)
    b_dh += tl.dot(tl.load(p_d + H, mask=m_bk, other=0.0, cache_modifier=".cg").to(dt),
                    b_wf, input_precision=PRECISION)
    b_dh += tl.dot(tl.load(p_d + 2 * H, mask=m_bk, other=0.0, cache_modifier=".cg").to(dt),
                    b_wg, input_precision=PRECISION)
    b_dh += tl.dot(tl.load(p_d + 3 * H, mask=m_bk, other=0.0, cache_modifier=".cg").to(dt),
                    b_wo, input_precision=PRECISION)
    return b_dh


@triton.heuristics({
    "HAS_LENGTHS": lambda args: args["lengths"] is not None,
    "STORE_CACHE": lambda args: args["gates"] is not None,
})
@triton.jit(do_not_specialize=["T"])
def lstm_fwd_kernel(xw, w_hh, h0, c0, lengths, y, h_n, c_n, gates, cs, h_buf, arrivals, T, B,
                    H: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr, HB: tl.constexpr,
                    SPLIT: tl.constexpr, HAS_LENGTHS: tl.constexpr, STORE_CACHE: tl.constexpr,
                    PRECISION: tl.constexpr):
    o_b, o_k, o_u, m_b, m_k, m_u = tile_offsets(B, H, BB, BH, HB)
    m_bu = m_b[:, None] & m_u[None, :]
    m_bk = m_b[:, None] & m_k[None, :]
    b_wi, b_wf, b_wg, b_wo = _load_weights(w_hh, o_k, o_u, m_k, m_u, H, BACKWARD=False)
    b_len = sequence_lengths(lengths, o_b, m_b, T, HAS_LENGTHS)
    b_hk = tl.load(h0 + o_b[:, None] * H + o_k[None, :], mask=m_bk, other=0.0)
    b_h = tl.load(h0 + o_b[:, None] * H + o_u[None, :], mask=m_bu, other=0.0)
    b_c = tl.load(c0 + o_b[:, None] * H + o_u[None, :], mask=m_bu, other=0.0)
    for t in range(0, T):
        b_h, b_c = _lstm_fwd_step(t, b_hk, b_h, b_c, b_wi, b_wf, b_wg, b_wo, xw, y, gates, cs,
                                  B, H, o_b, o_u, m_bu, (t < b_len) & m_b, STORE_CACHE, PRECISION)
        if SPLIT:
            b_hk = exchange_h(h_buf, arrivals, b_h, t, B, H, o_b, o_k, o_u, m_bu, m_bk)
        else:
            b_hk = b_h
    tl.store(h_n + o_b[:, None] * H + o_u[None, :], b_h, mask=m_bu)
    tl.store(c_n + o_b[:, None] * H + o_u[None, :], b_c, mask=m_bu)


@triton.heuristics({
    "HAS_LENGTHS": lambda args: args["lengths"] is not None,
    "STORE_CACHE": lambda args: args["gates"] is not None,
})
@triton.jit(do_not_specialize=["t", "T"])
def lstm_fwd_step_kernel(xw, w_hh, lengths, y, gates, cs, h_buf, c_buf, t, T, B,
                         H: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr, HB: tl.constexpr,
                         HAS_LENGTHS: tl.constexpr, STORE_CACHE: tl.constexpr,
                         PRECISION: tl.constexpr):
    """One step of the split-hidden path: the launch boundary is the grid barrier."""
    o_b, o_k, o_u, m_b, m_k, m_u = tile_offsets(B, H, BB, BH, HB)
    m_bu = m_b[:, None] & m_u[None, :]
    b_wi, b_wf, b_wg, b_wo = _load_weights(w_hh, o_k, o_u, m_k, m_u, H, BACKWARD=False)
    b_len = sequence_lengths(lengths, o_b, m_b, T, HAS_LENGTHS)
    p_h = h_buf + (t % 2) * B * H + o_b[:, None] * H
    b_hk = tl.load(p_h + o_k[None, :], mask=m_b[:, None] & m_k[None, :], other=0.0)
    b_h = tl.load(p_h + o_u[None, :], mask=m_bu, other=0.0)
    p_c = c_buf + o_b[:, None] * H + o_u[None, :]
    b_c = tl.load(p_c, mask=m_bu, other=0.0)
    b_h, b_c = _lstm_fwd_step(t, b_hk, b_h, b_c, b_wi, b_wf, b_wg, b_wo, xw, y, gates, cs,
                              B, H, o_b, o_u, m_bu, (t < b_len) & m_b, STORE_CACHE, PRECISION)
    tl.store(h_buf + ((t + 1) % 2) * B * H + o_b[:, None] * H + o_u[None, :], b_h, mask=m_bu)
    tl.store(p_c, b_c, mask=m_bu)


@triton.heuristics({"HAS_LENGTHS": lambda args: args["lengths"] is not None})
@triton.jit(do_not_specialize=["T"])
def lstm_bwd_kernel(dy, dh_n, dc_n, gates, cs, c0, w_hh, lengths, dgates, dh0, dc0, arrivals,
                    T, B, H: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr, HB: tl.constexpr,
                    SPLIT: tl.constexpr, HAS_LENGTHS: tl.constexpr, PRECISION: tl.constexpr):
    o_b, o_k, o_u, m_b, m_k, m_u = tile_offsets(B, H, BB, BH, HB)
    m_bu = m_b[:, None] & m_u[None, :]
    b_wi, b_wf, b_wg, b_wo = _load_weights(w_hh, o_k, o_u, m_k, m_u, H, BACKWARD=True)
    b_len = sequence_lengths(lengths, o_b, m_b, T, HAS_LENGTHS)
    b_dh = tl.load(dh_n + o_b[:, None] * H + o_u[None, :], mask=m_bu, other=0.0)
    b_dc = tl.load(dc_n + o_b[:, None] * H + o_u[None, :], mask=m_bu, other=0.0)
    for s in range(0, T):
        t = T - 1 - s
        b_valid = (t < b_len) & m_b
        b_di, b_df, b_dg, b_do, b_dc = _lstm_bwd_step(t, b_dh, b_dc, dy, gates, cs, c0, dgates,
                                                      B, H, o_b, o_u, m_bu, b_valid)
        if SPLIT:
            grid_barrier(arrivals + tl.program_id(0), (s + 1) * tl.num_programs(1))
            b_rec = _dh_from_global(dgates, t, B, H, o_b, o_k, m_b, m_k, b_wi, b_wf, b_wg, b_wo,
                                    PRECISION)
        else:
            dt = b_wi.dtype
            b_rec = tl.dot(b_di.to(dt),
                    b_wi, input_precision=PRECISION)
            b_rec += tl.dot(b_df.to(dt),
                    b_wf, input_precision=PRECISION)
            b_rec += tl.dot(b_dg.to(dt),
                    b_wg, input_precision=PRECISION)
            b_rec += tl.dot(b_do.to(dt),
                    b_wo, input_precision=PRECISION)
        b_dh = tl.where(b_valid[:, None], b_rec, b_dh)
    tl.store(dh0 + o_b[:, None] * H + o_u[None, :], b_dh, mask=m_bu)
    tl.store(dc0 + o_b[:, None] * H + o_u[None, :], b_dc, mask=m_bu)


@triton.heuristics({"HAS_LENGTHS": lambda args: args["lengths"] is not None})
@triton.jit(do_not_specialize=["t", "T"])
def lstm_bwd_step_kernel(dy, gates, cs, c0, w_hh, lengths, dgates, dh_buf, dc_buf, t, T, B,
                         H: tl.constexpr, BB: tl.constexpr, BH: tl.constexpr, HB: tl.constexpr,
                         HAS_LENGTHS: tl.constexpr, PRECISION: tl.constexpr):
    """Launched for t = T-1 .. -1: finishes step t+1 (its recurrent gradient), then runs step t."""
    o_b, o_k, o_u, m_b, m_k, m_u = tile_offsets(B, H, BB, BH, HB)
    m_bu = m_b[:, None] & m_u[None, :]
    b_wi, b_wf, b_wg, b_wo = _load_weights(w_hh, o_k, o_u, m_k, m_u, H, BACKWARD=True)
    b_len = sequence_lengths(lengths, o_b, m_b, T, HAS_LENGTHS)
    p_dh = dh_buf + o_b[:, None] * H + o_u[None, :]
    p_dc = dc_buf + o_b[:, None] * H + o_u[None, :]
    b_dh = tl.load(p_dh, mask=m_bu, other=0.0)
    b_dc = tl.load(p_dc, mask=m_bu, other=0.0)
    if t + 1 < T:
        b_rec = _dh_from_global(dgates, t + 1, B, H, o_b, o_k, m_b, m_k, b_wi, b_wf, b_wg, b_wo,
                                PRECISION)
        b_dh = tl.where(((t + 1 < b_len) & m_b)[:, None], b_rec, b_dh)
    if t >= 0:
        _, _, _, _, b_dc = _lstm_bwd_step(t, b_dh, b_dc, dy, gates, cs, c0, dgates, B, H,
                                          o_b, o_u, m_bu, (t < b_len) & m_b)
    tl.store(p_dh, b_dh, mask=m_bu)
    tl.store(p_dc, b_dc, mask=m_bu)


def lstm_fwd(xw, w_hh, h0, c0, lengths=None, store_cache=True, hidden_split=None, persistent=None):
    """xw [T, B, 4H] time-major, w_hh [4H, H], h0/c0 [B, H] -> y [T, B, H], h_n, c_n, cache."""
    steps, batch, _ = xw.shape
    hidden = w_hh.shape[1]
    plan = plan_launch(batch, hidden, xw.device, xw.dtype, GATES, hidden_split, persistent)
    sdt = state_dtype(xw.dtype)
    h0, c0 = h0.to(sdt).contiguous(), c0.to(sdt).contiguous()
    y = torch.empty(steps, batch, hidden, device=xw.device, dtype=xw.dtype)
    gates = torch.empty(steps, batch, 4 * hidden, device=xw.device, dtype=sdt) if store_cache else None
    cs = torch.empty(steps, batch, hidden, device=xw.device, dtype=sdt) if store_cache else None
    h_buf = torch.empty(2, batch, hidden, device=xw.device, dtype=sdt)
    meta = dict(H=hidden, BB=plan.block_batch, BH=plan.block_hidden, HB=plan.hidden_split,
                PRECISION=dot_precision(xw.dtype), num_warps=plan.num_warps)
    if plan.persistent:
        h_n, c_n = torch.empty_like(h0), torch.empty_like(c0)
        arrivals = torch.zeros(plan.num_batch_tiles, device=xw.device, dtype=torch.int32)
        lstm_fwd_kernel[plan.grid](
            xw=xw, w_hh=w_hh, h0=h0, c0=c0, lengths=lengths, y=y, h_n=h_n, c_n=c_n, gates=gates,
            cs=cs, h_buf=h_buf, arrivals=arrivals, T=steps, B=batch, SPLIT=plan.split,
            launch_cooperative_grid=plan.split, **meta)
    else:
        h_buf[0] = h0
        c_n = c0.clone()
        for t in range(steps):
            lstm_fwd_step_kernel[plan.grid](
                xw=xw, w_hh=w_hh, lengths=lengths, y=y, gates=gates, cs=cs, h_buf=h_buf,
                c_buf=c_n, t=t, T=steps, B=batch, **meta)
        h_n = h_buf[steps % 2]
    return y, h_n, c_n, (gates, cs)


def lstm_bwd(dy, dh_n, dc_n, gates, cs, c0, w_hh, lengths=None, hidden_split=None, persistent=None):
    """-> dgates [T, B, 4H] (gradient of xw, fp32), dh0, dc0 (state dtype)."""
    steps, batch, hidden = dy.shape
    plan = plan_launch(batch, hidden, dy.device, w_hh.dtype, GATES, hidden_split, persistent)
    sdt = gates.dtype
    dgates = torch.empty_like(gates)
    meta = dict(H=hidden, BB=plan.block_batch, BH=plan.block_hidden, HB=plan.hidden_split,
                PRECISION=dot_precision(w_hh.dtype), num_warps=plan.num_warps)
    dh_buf = dh_n.to(sdt).contiguous().clone()
    dc_buf = dc_n.to(sdt).contiguous().clone()
    if plan.persistent:
        dh0, dc0 = torch.empty_like(dh_buf), torch.empty_like(dc_buf)
        arrivals = torch.zeros(plan.num_batch_tiles, device=dy.device, dtype=torch.int32)
        lstm_bwd_kernel[plan.grid](
            dy=dy, dh_n=dh_buf, dc_n=dc_buf, gates=gates, cs=cs, c0=c0, w_hh=w_hh, lengths=lengths,
            dgates=dgates, dh0=dh0, dc0=dc0, arrivals=arrivals, T=steps, B=batch,
            SPLIT=plan.split, launch_cooperative_grid=plan.split, **meta)
        return dgates, dh0, dc0
    for t in range(steps - 1, -2, -1):
        lstm_bwd_step_kernel[plan.grid](
            dy=dy, gates=gates, cs=cs, c0=c0, w_hh=w_hh, lengths=lengths, dgates=dgates,
            dh_buf=dh_buf, dc_buf=dc_buf, t=t, T=steps, B=batch, **meta)
    return dgates, dh_buf, dc_buf


class LSTMFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xw, w_hh, h0, c0, lengths, hidden_split, persistent):
        y, h_n, c_n, (gates, cs) = lstm_fwd(xw, w_hh, h0, c0, lengths,
                                            store_cache=any(ctx.needs_input_grad[:4]),
                                            hidden_split=hidden_split, persistent=persistent)
        ctx.save_for_backward(y, h0, c0, w_hh, gates, cs, lengths)
        ctx.launch = (hidden_split, persistent)
        return y, h_n.to(xw.dtype), c_n.to(xw.dtype)

    @staticmethod
    def backward(ctx, dy, dh_n, dc_n):
        y, h0, c0, w_hh, gates, cs, lengths = ctx.saved_tensors
        dgates, dh0, dc0 = lstm_bwd(dy.contiguous(), dh_n, dc_n, gates, cs,
                                    c0.to(gates.dtype).contiguous(), w_hh, lengths, *ctx.launch)
        # dW_hh = sum_t dgates_t^T h_{t-1}: one GEMM after the loop instead of per-step atomics.
        h_prev = torch.cat([h0[None].to(y.dtype), y[:-1]]).to(gates.dtype)
        dw_hh = torch.einsum("tbg,tbh->gh", dgates, h_prev).to(w_hh.dtype)
        return (dgates.to(dy.dtype), dw_hh, dh0.to(h0.dtype), dc0.to(c0.dtype), None, None, None)


def lstm_recurrence(xw, w_hh, h0=None, c0=None, lengths=None, hidden_split=None, persistent=None):
    """The LSTM time loop on Triton, one direction, forward in time.

    Args:
        xw: [T, B, 4H] input projections x @ W_ih^T + b_ih + b_hh (gate order i, f, g, o).
        w_hh: [4H, H] recurrent weights, same dtype as xw.
        h0, c0: optional [B, H] initial states (zeros when None).
        lengths: optional [B] integer lengths in [1, T]. Steps t >= length leave the state alone
            and output zeros; h_n, c_n come from each sequence's last valid step.
    Returns:
        y [T, B, H], h_n [B, H], c_n [B, H], differentiable w.r.t. xw, w_hh, h0 and c0.

    Example:
        >>> y, h_n, c_n = lstm_recurrence(x @ w_ih.T + b, w_hh)
    """
    check_recurrence_args(xw, w_hh, [h0, c0], GATES, lengths)
    batch, hidden = xw.shape[1], w_hh.shape[1]
    zeros = xw.new_zeros(batch, hidden)
    if lengths is not None:
        lengths = lengths.to(device=xw.device, dtype=torch.int32)
    return LSTMFunction.apply(xw.contiguous(), w_hh.contiguous(),
                              zeros if h0 is None else h0, zeros if c0 is None else c0,
                              lengths, hidden_split, persistent)
