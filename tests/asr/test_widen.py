"""`asr widen`: the wider model's recurrence computes what the trained one did, and its new units learn."""

import pytest
import torch

from asr.checkpoint import load_model, save_checkpoint
from asr.cli import main
from asr.config import Config
from asr.model import AcousticModel, ModelConfig
from asr.text import CharTokenizer


def recurrence(model, feats, lengths):
    x = model.front(feats, lengths)
    return model.rnn(x, lengths=model.output_lengths(lengths))[0]


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_widened_recurrence_matches_the_trained_one_and_new_units_learn(tmp_path, rnn_type):
    torch.manual_seed(0)
    cfg = Config(model=ModelConfig(n_mels=80, conv_channels=4, subsample=2, hidden_size=8, num_layers=2,
                                   rnn_type=rnn_type, impl="torch"))
    model = AcousticModel(cfg.model).eval()
    save_checkpoint(tmp_path / "m.pt", model, cfg, CharTokenizer())
    assert main(["widen", str(tmp_path / "m.pt"), "--hidden-size", "12", "--out", str(tmp_path / "w.pt")]) == 0
    wide, wide_cfg, *_ = load_model(tmp_path / "w.pt")
    assert wide_cfg.model.hidden_size == 12 and wide.rnn.hidden_size == 12

    feats, lengths = torch.randn(2, 40, 80), torch.tensor([40, 27])
    old, new = recurrence(model, feats, lengths), recurrence(wide, feats, lengths)
    old_features = torch.cat([torch.arange(8), 12 + torch.arange(8)])  # forward, then backward units
    torch.testing.assert_close(new[..., old_features], old)
    new_features = torch.cat([torch.arange(8, 12), 12 + torch.arange(8, 12)])
    assert new[0, :, new_features].abs().mean() > 1e-2, "new units are active"

    # Only the LayerNorm before the head sees the new units: the outputs stay close.
    old_out, new_out = model(feats, lengths)[0], wide(feats, lengths)[0]
    assert (old_out.argmax(-1) == new_out.argmax(-1)).float().mean() > 0.9

    wide.train()
    wide(feats, lengths)[0].logsumexp(-1).sum().backward()
    hh = wide.rnn.weight_hh_l1.grad  # the rows of the new units' gates, and the old units' new columns
    assert hh[8:12].abs().sum() > 0 and hh[:8, 8:12].abs().sum() > 0
    assert wide.head.weight.grad[:, new_features].abs().sum() > 0


def test_widen_refuses_a_size_that_is_not_larger(tmp_path, capsys):
    cfg = Config(model=ModelConfig(n_mels=80, conv_channels=4, hidden_size=8, num_layers=1, impl="torch"))
    save_checkpoint(tmp_path / "m.pt", AcousticModel(cfg.model), cfg, CharTokenizer())
    assert main(["widen", str(tmp_path / "m.pt"), "--hidden-size", "8", "--out", str(tmp_path / "w.pt")]) == 2
    assert capsys.readouterr().err.strip() == "asr: error: --hidden-size 8: must be larger than the model's 8"
    assert not (tmp_path / "w.pt").exists()
