import torch


def assert_close(name: str, actual: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float):
    """allclose that says how far off and where the worst element is."""
    assert actual.shape == expected.shape, f"{name}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    actual, expected = actual.double(), expected.double()
    err = (actual - expected).abs()
    bound = atol + rtol * expected.abs()
    if bool((err <= bound).all()):
        return
    worst = int((err - bound).argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), err.shape))
    rel = (err / expected.abs().clamp_min(1e-12)).flatten()[worst].item()
    raise AssertionError(f"{name}: max abs err {err.max().item():.3e}, at {index}: "
                         f"{actual[index].item():.6g} vs {expected[index].item():.6g} "
                         f"(rel {rel:.3e}; atol {atol}, rtol {rtol})")
