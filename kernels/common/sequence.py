import torch


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Flip each sequence of time-major x [T, B, ...] within its own length; padding stays put.

    The reverse direction then runs the same forward-in-time kernel and starts at each sequence's
    own last step. Applied to the layer input (I wide) and output (H wide), never to the 4H-wide
    projections, so it costs less than a gather inside the recurrence would.
    """
    if lengths is None:
        return x.flip(0)
    steps = x.shape[0]
    t = torch.arange(steps, device=x.device)[:, None]
    lengths = lengths.to(x.device)[None, :]
    index = torch.where(t < lengths, lengths - 1 - t, t)
    return x.gather(0, index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x))
