"""Grow a trained model's recurrent stack wider and keep training it (Net2WiderNet, Chen et al. 2016).

A model that underfits its data needs more units, but training a wider one from scratch throws the
trained one away. Here every old unit keeps its weights; the new units start from the fresh model's
random initialisation (so they are active and learn), and every weight through which a new unit
reaches an old unit, the next layer or the output head starts at zero. The recurrence therefore
computes what it did before; only the LayerNorm before the head sees the new units in its mean and
variance, which moves the output a little until training adapts.
"""

import re

import torch

from asr.checkpoint import read_checkpoint, save_checkpoint
from asr.config import config_from_dict
from asr.model import AcousticModel, count_parameters
from asr.text import CharTokenizer


def _unit_index(old: int, new: int, blocks: int) -> torch.Tensor:
    """Where the old model's `blocks` x `old` units sit among the new model's `blocks` x `new`."""
    return torch.cat([torch.arange(old) + b * new for b in range(blocks)])


def widen_state(old_state: dict, new_state: dict, old_hidden: int, new_hidden: int, gates: int) -> dict:
    """The old weights placed into the new model's (randomly initialised) `new_state`."""
    rows = _unit_index(old_hidden, new_hidden, gates)  # the gate blocks of an RNN weight
    features = _unit_index(old_hidden, new_hidden, 2)  # forward and backward halves of a layer's output
    widened = {}
    for name, new in new_state.items():
        old, new = old_state[name], new.clone()
        weight = re.fullmatch(r"rnn\.weight_(ih|hh)_l(\d+)(_reverse)?", name)
        if weight and weight[1] == "ih" and weight[2] == "0":  # reads the front end, which keeps its size
            new[rows] = old
        elif weight:
            cols = torch.arange(old_hidden) if weight[1] == "hh" else features
            new[rows] = 0.0  # old units ignore the new ones ...
            new[rows[:, None], cols[None, :]] = old  # ... and read the old ones as before
        elif name.startswith("rnn.bias_"):
            new[rows] = old
        elif name in ("norm.weight", "norm.bias"):
            new[features] = old
        elif name == "head.weight":
            new.zero_()
            new[:, features] = old
        else:
            new = old.clone()
        widened[name] = new
    return widened


def widen_checkpoint(path, hidden_size: int, out, seed: int = 0) -> int:
    """Write a checkpoint of `path`'s model with `hidden_size` units per direction and layer; it
    loads with `train.init_from` and a recipe whose `model.hidden_size` is `hidden_size`.
    Returns the new model's parameter count."""
    ckpt = read_checkpoint(path)
    cfg = config_from_dict(ckpt["config"], str(path))
    old_hidden = cfg.model.hidden_size
    if hidden_size <= old_hidden:
        raise ValueError(f"--hidden-size {hidden_size}: must be larger than the model's {old_hidden}")
    cfg.model.hidden_size = hidden_size
    torch.manual_seed(seed)
    model = AcousticModel(cfg.model)
    gates = ckpt["model"]["rnn.weight_hh_l0"].shape[0] // old_hidden  # 4 for LSTM, 3 for GRU
    model.load_state_dict(widen_state(ckpt["model"], model.state_dict(), old_hidden, hidden_size, gates))
    save_checkpoint(out, model, cfg, CharTokenizer.from_dict(ckpt["tokenizer"]), widened_from=str(path))
    return count_parameters(model)
