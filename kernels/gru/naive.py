"""Plain-torch step loop: the reference the GRU kernels are tested against."""

import torch


def gru_recurrence_ref(xw, w_hh, b_hh=None, h0=None, lengths=None):
    """Same contract as kernels.gru.fused_recurrent.gru_recurrence, one step at a time."""
    steps, batch, _ = xw.shape
    hidden = w_hh.shape[1]
    h = xw.new_zeros(batch, hidden) if h0 is None else h0
    ys = []
    for t in range(steps):
        hw = h @ w_hh.T if b_hh is None else h @ w_hh.T + b_hh
        x_r, x_z, x_n = xw[t].chunk(3, dim=-1)
        h_r, h_z, h_n = hw.chunk(3, dim=-1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h_new = (1 - z) * n + z * h
        valid = torch.ones(batch, 1, dtype=torch.bool, device=xw.device) if lengths is None \
            else (t < lengths.to(xw.device))[:, None]
        h = torch.where(valid, h_new, h)
        ys.append(torch.where(valid, h_new, torch.zeros_like(h_new)))
    return torch.stack(ys), h
