"""One file holds the resolved config, the tokenizer and the weights; loads with weights_only=True."""

from pathlib import Path

import torch

from asr.config import Config, config_from_dict, config_to_dict
from asr.fileio import atomic_write
from asr.model import AcousticModel
from asr.text import CharTokenizer

FORMAT = "triton-asr-checkpoint/1"


class CheckpointError(ValueError):
    pass


def atomic_save(obj, path) -> None:
    """torch.save to a temporary file beside `path`, then rename: never a half-written file."""
    atomic_write(path, lambda f: torch.save(obj, f), binary=True)


def save_checkpoint(path, model: AcousticModel, cfg: Config, tokenizer: CharTokenizer, **state) -> None:
    atomic_save({"format": FORMAT, "config": config_to_dict(cfg), "tokenizer": tokenizer.to_dict(),
                 "model": model.state_dict(), **state}, path)


def read_checkpoint(path) -> dict:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and torch errors all mean "not a usable checkpoint"
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(error).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a checkpoint of this toolkit (expected format {FORMAT})")
    # Checkpoints saved before features.normalize_over existed were trained with statistics over every frame.
    features = ckpt.get("config", {}).get("features")
    if isinstance(features, dict):
        features.setdefault("normalize_over", "all")
    if "int8_scales" in ckpt:
        scales = ckpt.pop("int8_scales")
        ckpt["model"] = {name: _dequantized(value, scales.get(name)) for name, value in ckpt["model"].items()}
    return ckpt


def load_model(path, device="cpu") -> tuple[AcousticModel, Config, CharTokenizer, dict]:
    """Rebuild the model from the checkpoint alone, in eval mode on `device`."""
    ckpt = read_checkpoint(path)
    cfg = config_from_dict(ckpt["config"], str(path))
    tokenizer = CharTokenizer.from_dict(ckpt["tokenizer"])
    model = AcousticModel(cfg.model)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not fit the stored config ({str(error).splitlines()[0]})") from None
    return model.to(device).eval(), cfg, tokenizer, ckpt


def export_model(path, out, dtype: torch.dtype = torch.float32) -> dict:
    """Keep what inference needs (config, tokenizer, weights and the run's scores); drop the
    optimizer, scheduler and RNG state, which triple a checkpoint's size.

    `dtype=torch.float16` stores the floating-point weights at half the size; `load_model` and
    `train.init_from` copy them back into the fp32 model, so only the rounding of each weight
    (about 3 significant digits) changes what the model computes.

    `dtype=torch.int8` stores each weight matrix (and convolution kernel) as int8 with one fp32
    scale per output row, max |w| / 127 (symmetric and per output channel, the usual weight-only
    scheme), and the vectors (biases, norms) as they are: about a quarter of the fp32
    file, so twice the parameters of a float16 file fit the same size. `read_checkpoint`
    multiplies them back into float32, so again only the rounding changes what the model computes."""
    ckpt = read_checkpoint(path)
    kept = {k: ckpt[k] for k in ("format", "config", "tokenizer", "model", "epoch", "step", "dev") if k in ckpt}
    if dtype == torch.int8:
        quantized = {name: _quantized(value, f"{path}: {name}") for name, value in ckpt["model"].items()}
        kept["model"] = {name: value for name, (value, _) in quantized.items()}
        kept["int8_scales"] = {name: scale for name, (_, scale) in quantized.items() if scale is not None}
    else:
        kept["model"] = {name: _stored_as(value, dtype, f"{path}: {name}") for name, value in ckpt["model"].items()}
    atomic_save({**kept, "exported_from": str(path)}, out)
    return kept


def _quantized(value: torch.Tensor, where: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(int8 values, fp32 scale per output row) of a weight matrix or kernel; other tensors as they are."""
    if not value.is_floating_point() or value.dim() < 2:
        return value, None
    if not torch.isfinite(value).all():
        raise CheckpointError(f"{where}: non-finite values cannot be stored as int8")
    rows = value.float().reshape(value.shape[0], -1)
    scale = rows.abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny) / 127
    return torch.round(rows / scale[:, None]).to(torch.int8).reshape(value.shape), scale


def _dequantized(value: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
    if scale is None:
        return value
    return (value.float().reshape(value.shape[0], -1) * scale[:, None]).reshape(value.shape)


def _stored_as(value: torch.Tensor, dtype: torch.dtype, where: str) -> torch.Tensor:
    if not value.is_floating_point():
        return value  # BatchNorm's batch counter
    stored = value.to(dtype)
    if not torch.isfinite(stored).all() and torch.isfinite(value).all():
        raise CheckpointError(f"{where}: values beyond {dtype}'s range; export it as float32")
    return stored
