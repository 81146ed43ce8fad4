import os
import subprocess
import sys

import pytest
import torch

from asr.model import RNN_TYPES, AcousticModel, ModelConfig, ctc_loss

TINY = dict(n_mels=16, conv_channels=4, hidden_size=8, num_layers=2, dropout=0.0, vocab_size=6)


@pytest.mark.parametrize("subsample", [2, 4])
def test_output_lengths_match_the_convolutions(subsample):
    model = AcousticModel(ModelConfig(subsample=subsample, impl="torch", **TINY)).eval()
    for frames in (1, 7, 8, 33, 100):
        out = model.front(torch.zeros(1, frames, 16), torch.tensor([frames]))
        assert int(model.output_lengths(torch.tensor(frames))) == out.shape[1]
        assert out.shape[1] == -(-frames // subsample)


def test_padding_does_not_change_an_utterance():
    torch.manual_seed(0)
    model = AcousticModel(ModelConfig(impl="torch", **TINY)).eval()
    short, long = torch.randn(1, 37, 16), torch.randn(1, 64, 16)
    batch = torch.zeros(2, 64, 16)
    batch[0, :37], batch[1] = short[0], long[0]
    log_probs, lengths = model(batch, torch.tensor([37, 64]))
    alone, alone_len = model(short, torch.tensor([37]))
    assert lengths[0] == alone_len[0]
    torch.testing.assert_close(log_probs[0, : lengths[0]], alone[0], atol=1e-5, rtol=1e-5)


def test_log_probs_normalised_and_rnn_cell_switch():
    for cell in ("lstm", "gru"):
        model = AcousticModel(ModelConfig(rnn_type=cell, impl="torch", **TINY)).eval()
        log_probs, _ = model(torch.randn(2, 20, 16), torch.tensor([20, 12]))
        torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(2, 5))
        assert type(model.rnn).__module__ == "kernels.rnn"
    with pytest.raises(ValueError, match="rnn_type"):
        AcousticModel(ModelConfig(rnn_type="rnn", **TINY))


def train_losses(impl, feats, lengths, targets, target_lengths, steps, amp_dtype=None, lr=1e-2, **config):
    """The loss of each of `steps` AdamW steps on one batch, from the same initial weights."""
    torch.manual_seed(0)
    model = AcousticModel(ModelConfig(impl=impl, **config)).to(feats.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        with torch.autocast(feats.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            log_probs, out_lengths = model(feats, lengths)
        loss = ctc_loss(log_probs, out_lengths, targets, target_lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_triton_and_torch_impls_train_alike(cell):
    """The same tiny model trained a few steps with impl=triton and impl=torch: same losses."""
    feats = torch.randn(3, 24, 16, generator=torch.Generator().manual_seed(1))
    batch = (feats, torch.tensor([24, 20, 13]), torch.tensor([1, 2, 3, 2, 4, 5, 1]), torch.tensor([3, 2, 2]))
    losses = {impl: train_losses(impl, *batch, steps=5, rnn_type=cell, **TINY) for impl in ("triton", "torch")}
    assert losses["triton"] == pytest.approx(losses["torch"], rel=1e-4)
    assert losses["torch"][-1] < losses["torch"][0]


@pytest.mark.gpu
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("hidden,amp_dtype,rel", [
    pytest.param(512, None, 1e-2, id="H512-fp32"),
    pytest.param(1024, torch.bfloat16, 5e-2, id="H1024-bf16"),
])
def test_triton_and_torch_loss_curves_match_on_gpu(cell, hidden, amp_dtype, rel):
    """Issue 8's check: a recipe-sized model, 100 steps with our kernels and with cuDNN. Adam
    amplifies rounding differences over the steps, hence a curve within 1% (fp32) or 5% (bf16)."""
    if not RNN_TYPES[cell].fits_on_chip(hidden, torch.device("cuda"), amp_dtype or torch.float32):
        pytest.skip(f"{hidden} units of {cell} do not fit this GPU's shared memory (kernels/README.md)")
    g = torch.Generator().manual_seed(1)
    batch_size, frames, labels = 16, 400, 40
    feats = torch.randn(batch_size, frames, 80, generator=g).cuda()
    lengths = torch.randint(frames // 2, frames + 1, (batch_size,), generator=g).cuda()
    targets = torch.randint(1, 29, (batch_size * labels,), generator=g).cuda()
    target_lengths = torch.full((batch_size,), labels).cuda()
    config = dict(rnn_type=cell, hidden_size=hidden, num_layers=3, n_mels=80, dropout=0.0, subsample=2)
    losses = {impl: train_losses(impl, feats, lengths, targets, target_lengths, 100, amp_dtype, 3e-4, **config)
              for impl in ("triton", "torch")}
    assert losses["triton"] == pytest.approx(losses["torch"], rel=rel)
    assert losses["torch"][-1] < losses["torch"][0]


@pytest.mark.parametrize("installed_as_distribution", [True, False])
def test_a_foreign_kernels_package_is_named_in_the_import_error(tmp_path, installed_as_distribution):
    # Hugging Face's `kernels` wheel writes kernels/__init__.py over ours (the same import name)
    (tmp_path / "kernels").mkdir()
    (tmp_path / "kernels" / "__init__.py").write_text("def get_kernel(repo_id):\n    pass\n")
    if installed_as_distribution:
        info = tmp_path / "kernels-0.19.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kernels\nVersion: 0.19.1\n")
        (info / "top_level.txt").write_text("kernels\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", "import asr.model"], env=env, cwd=tmp_path,  # not the checkout
                         capture_output=True, text=True)
    assert run.returncode != 0
    last_line = run.stderr.strip().splitlines()[-1]
    assert "cannot import name" in last_line
    if installed_as_distribution:
        assert "another installed distribution (kernels) also provides a package named `kernels`" in last_line
        assert "virtual environment of its own" in last_line
    else:  # nothing else claims the name: the error is left as it was
        assert "distribution" not in last_line
