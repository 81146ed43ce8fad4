"""Plain-torch step loop: the reference the LSTM kernels are tested against."""

import torch


def lstm_recurrence_ref(xw, w_hh, h0=None, c0=None, lengths=None):
    """Same contract as kernels.lstm.fused_recurrent.lstm_recurrence, one step at a time."""
    steps, batch, _ = xw.shape
    hidden = w_hh.shape[1]
    h = xw.new_zeros(batch, hidden) if h0 is None else h0
    c = xw.new_zeros(batch, hidden) if c0 is None else c0
    ys = []
    for t in range(steps):
        i, f, g, o = (xw[t] + h @ w_hh.T).chunk(4, dim=-1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        valid = torch.ones(batch, 1, dtype=torch.bool, device=xw.device) if lengths is None \
            else (t < lengths.to(xw.device))[:, None]
        h, c = torch.where(valid, h_new, h), torch.where(valid, c_new, c)
        ys.append(torch.where(valid, h_new, torch.zeros_like(h_new)))
    return torch.stack(ys), h, c
