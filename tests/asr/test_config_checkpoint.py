import pytest
import torch

from asr.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint
from asr.config import Config, ConfigError, load_config
from asr.model import AcousticModel, ModelConfig
from asr.text import CharTokenizer


def test_yaml_and_overrides(tmp_path):
    (tmp_path / "train.jsonl").write_text("")
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  hidden_size: 64\n  rnn_type: gru\ndata:\n  train_manifest: train.jsonl\n"
                    "train:\n  lr: 1\n  weight_decay: 1e-3\n")
    cfg = load_config(path, ["train.epochs=3", "model.dropout=0.2", "features.normalize=false", "train.lr=3e-4"])
    assert (cfg.model.hidden_size, cfg.model.rnn_type, cfg.train.epochs) == (64, "gru", 3)
    assert cfg.model.dropout == 0.2 and cfg.features.normalize is False
    assert cfg.train.lr == 3e-4 and cfg.train.weight_decay == 1e-3, "exponent floats without a dot (YAML 1.1)"
    assert cfg.data.train_manifest == str(tmp_path / "train.jsonl")
    cfg = load_config(path, ["train.init_from=", "features.f_max="])  # clear a path; f_max back to Nyquist
    assert cfg.train.init_from == "" and cfg.features.f_max is None


@pytest.mark.parametrize("override,message", [
    ("model.nope=1", "unknown setting 'model.nope'$"),
    ("train.epocs=3", r"unknown setting 'train.epocs' \(did you mean 'train.epochs'\?\)"),
    ("augment.narowband_prob=0.1", "did you mean 'augment.narrowband_prob'"),
    ("train.epochs=many", "must be int"), ("train.lr=fast", "must be float"),
    ("epochs", "section.key=value"),
    ("features.normalize=1", "true or false"), ("nosection.x=1", "unknown setting"),
    # An empty value is YAML's null: it passed every check and failed later with a TypeError traceback.
    ("train.lr=", "train.lr must be float, got nothing"), ("train.epochs=null", "train.epochs must be int"),
    ("train.out_dir=", "train.out_dir must name a folder")])
def test_bad_overrides_name_the_setting(tmp_path, override, message):
    path = tmp_path / "c.yaml"
    path.write_text("{}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path, [override])


def test_a_misspelt_section_in_the_yaml_is_named_with_the_nearest_one(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("trian:\n  epochs: 3\n")
    with pytest.raises(ConfigError, match=r"c.yaml: unknown section 'trian' \(did you mean 'train'\?\)"):
        load_config(path, [])


@pytest.mark.parametrize("override,message", [
    ("train.accumulate=0", "train.accumulate must be above zero, got 0"),  # was a ZeroDivisionError
    ("train.log_every=0", "train.log_every must be above zero"),  # was a ZeroDivisionError
    ("train.grad_clip=0", "train.grad_clip must be above zero"),  # clip_grad_norm_ to 0 zeroes every gradient
    ("train.epochs=0", "train.epochs must be above zero"), ("train.lr=-1e-3", "train.lr must be above zero"),
    ("model.hidden_size=0", "model.hidden_size must be above zero"),
    ("train.warmup_steps=-1", "train.warmup_steps must be zero or more"),
    ("model.dropout=-0.5", r"model.dropout must lie in \[0, 1\)"), ("model.dropout=1", "model.dropout"),
    ("train.device=tpu", "train.device must be one of"),
    # These four failed when the model or trainer was built, naming neither the recipe nor the section.
    ("model.rnn_type=rnn", r"c.yaml with its overrides: model.rnn_type must be one of \['lstm', 'gru'\], got 'rnn'"),
    ("model.subsample=3", r"model.subsample must be one of \[2, 4\], got 3"),
    ("model.impl=cuda", r"model.impl must be one of \['auto', 'triton', 'torch'\]"),
    ("train.precision=fp8", r"train.precision must be one of \['fp32', 'bf16', 'fp16'\]"),
    # torch.stft refused it at the first batch; the next two left mel bands empty (log of 0) silently.
    ("features.win_ms=50", "features.win_ms=50.0 is 800 samples at 16000 Hz, more than features.n_fft=512"),
    ("features.f_max=12000", r"f_max=12000 must satisfy f_min < f_max <= 8000 \(half of features.sample_rate"),
    ("features.f_min=9000", "features.f_min=9000.0 and f_max=None must satisfy"),
    ("features.freq_mask_width=-3", "features.freq_mask_width must be zero or more"),
    ("features.time_mask_max_ratio=2", r"features.time_mask_max_ratio must lie in \[0, 1\]"),
    ("features.normalize_over=voiced", r"features.normalize_over must be one of \['speech', 'all'\]")])
def test_values_a_run_cannot_use_are_refused_by_name(tmp_path, override, message):
    path = tmp_path / "c.yaml"
    path.write_text("{}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path, [override])
    load_config(path, ["train.keep_last=0", "train.warmup_steps=0"])  # keep every checkpoint; no warmup


def test_missing_and_invalid_config(tmp_path):
    with pytest.raises(ConfigError, match="no such config"):
        load_config(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("model: [\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_checkpoint_rebuilds_model_alone(tmp_path):
    cfg = Config(model=ModelConfig(n_mels=80, conv_channels=4, hidden_size=8, num_layers=1, impl="torch"))
    model = AcousticModel(cfg.model).eval()
    save_checkpoint(tmp_path / "m.pt", model, cfg, CharTokenizer(), epoch=3)
    loaded, loaded_cfg, tokenizer, state = load_model(tmp_path / "m.pt")
    assert state["epoch"] == 3 and loaded_cfg.model == cfg.model and tokenizer.vocab == CharTokenizer().vocab
    x, lengths = torch.randn(1, 30, 80), torch.tensor([30])
    torch.testing.assert_close(loaded(x, lengths)[0], model(x, lengths)[0])
    assert not list(tmp_path.glob("*.tmp")), "no temporary file left behind"
    assert loaded_cfg.features.normalize_over == "speech"


def test_a_checkpoint_from_before_speech_statistics_keeps_its_own(tmp_path):
    """It was trained with the mean and variance over every frame, and is read that way."""
    cfg = Config(model=ModelConfig(n_mels=80, conv_channels=4, hidden_size=8, num_layers=1, impl="torch"))
    save_checkpoint(tmp_path / "m.pt", AcousticModel(cfg.model), cfg, CharTokenizer())
    ckpt = torch.load(tmp_path / "m.pt", weights_only=True)
    del ckpt["config"]["features"]["normalize_over"]
    torch.save(ckpt, tmp_path / "old.pt")
    assert load_model(tmp_path / "old.pt")[1].features.normalize_over == "all"


def test_export_keeps_inference_state_only(tmp_path):
    from asr.checkpoint import export_model
    cfg = Config(model=ModelConfig(n_mels=80, conv_channels=4, hidden_size=8, num_layers=1, impl="torch"))
    model = AcousticModel(cfg.model).eval()
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(1, 30, 80), torch.tensor([30]))[0].sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path / "full.pt", model, cfg, CharTokenizer(), optimizer=optimizer.state_dict(), epoch=2)
    export_model(tmp_path / "full.pt", tmp_path / "small.pt")
    small = read_checkpoint(tmp_path / "small.pt")
    assert "optimizer" not in small and small["epoch"] == 2
    assert (tmp_path / "small.pt").stat().st_size < (tmp_path / "full.pt").stat().st_size
    loaded, *_ = load_model(tmp_path / "small.pt")
    x = torch.randn(1, 20, 80)
    torch.testing.assert_close(loaded(x, torch.tensor([20]))[0], model(x, torch.tensor([20]))[0])


def test_export_as_float16_halves_the_file_and_loads_into_float32(tmp_path):
    from asr.cli import main
    cfg = Config(model=ModelConfig(n_mels=80, conv_channels=4, hidden_size=64, num_layers=2, impl="torch"))
    torch.manual_seed(0)
    model = AcousticModel(cfg.model).eval()
    save_checkpoint(tmp_path / "full.pt", model, cfg, CharTokenizer(), epoch=1)
    for dtype in ("float32", "float16"):
        out = str(tmp_path / f"{dtype}.pt")
        assert main(["export", str(tmp_path / "full.pt"), "--out", out, "--dtype", dtype]) == 0
    stored = read_checkpoint(tmp_path / "float16.pt")["model"]
    assert stored["rnn.weight_hh_l0"].dtype == torch.float16
    assert stored["front.blocks.0.1.num_batches_tracked"].dtype == torch.int64
    assert (tmp_path / "float16.pt").stat().st_size < 0.6 * (tmp_path / "float32.pt").stat().st_size
    loaded, *_ = load_model(tmp_path / "float16.pt")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x, lengths = torch.randn(2, 40, 80), torch.tensor([40, 31])
    reference = model(x, lengths)[0]
    assert not torch.equal(loaded(x, lengths)[0], reference), "the weights were rounded"
    torch.testing.assert_close(loaded(x, lengths)[0], reference, atol=5e-3, rtol=0)


def test_export_as_int8_quarters_the_file_and_loads_into_float32(tmp_path):
    from asr.cli import main
    cfg = Config(model=ModelConfig(n_mels=80, conv_channels=4, hidden_size=64, num_layers=2, impl="torch"))
    torch.manual_seed(0)
    model = AcousticModel(cfg.model).eval()
    with torch.no_grad():  # one row by hand: its largest |weight| 1.27 makes the scale 0.01
        model.rnn.weight_hh_l0[0] = 0
        model.rnn.weight_hh_l0[0, :4] = torch.tensor([0.5, -1.27, 0.127, 0.004])
    save_checkpoint(tmp_path / "full.pt", model, cfg, CharTokenizer(), epoch=1)
    for dtype in ("float32", "int8"):
        out = str(tmp_path / f"{dtype}.pt")
        assert main(["export", str(tmp_path / "full.pt"), "--out", out, "--dtype", dtype]) == 0
    stored = torch.load(tmp_path / "int8.pt", weights_only=True)
    assert stored["model"]["rnn.weight_hh_l0"].dtype == torch.int8
    assert stored["model"]["rnn.weight_hh_l0"][0, :4].tolist() == [50, -127, 13, 0]
    assert stored["int8_scales"]["rnn.weight_hh_l0"][0].item() == pytest.approx(0.01)
    assert stored["model"]["rnn.bias_hh_l0"].dtype == torch.float32, "vectors are kept as they are"
    assert (tmp_path / "int8.pt").stat().st_size < 0.35 * (tmp_path / "float32.pt").stat().st_size

    loaded, *_ = load_model(tmp_path / "int8.pt")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    weight = model.state_dict()["rnn.weight_hh_l0"]
    error = (loaded.state_dict()["rnn.weight_hh_l0"] - weight).abs()
    assert (error <= weight.abs().amax(dim=1, keepdim=True) / 254 + 1e-7).all(), "at most half a step per weight"
    x, lengths = torch.randn(2, 40, 80), torch.tensor([40, 31])
    reference = model(x, lengths)[0]
    assert not torch.equal(loaded(x, lengths)[0], reference), "the weights were rounded"
    torch.testing.assert_close(loaded(x, lengths)[0], reference, atol=2e-2, rtol=0)


def test_export_refuses_weights_its_dtype_cannot_hold(tmp_path):
    from asr.checkpoint import export_model
    cfg = Config(model=ModelConfig(n_mels=80, conv_channels=4, hidden_size=8, num_layers=1, impl="torch"))
    model = AcousticModel(cfg.model)
    with torch.no_grad():
        model.head.bias[3] = 1e6
    save_checkpoint(tmp_path / "big.pt", model, cfg, CharTokenizer())
    with pytest.raises(CheckpointError, match="big.pt: head.bias: values beyond torch.float16's range"):
        export_model(tmp_path / "big.pt", tmp_path / "small.pt", dtype=torch.float16)
    assert not (tmp_path / "small.pt").exists()
    with torch.no_grad():
        model.head.weight[0, 0] = float("inf")
    save_checkpoint(tmp_path / "inf.pt", model, cfg, CharTokenizer())
    with pytest.raises(CheckpointError, match="inf.pt: head.weight: non-finite values cannot be stored as int8"):
        export_model(tmp_path / "inf.pt", tmp_path / "small.pt", dtype=torch.int8)
    assert not (tmp_path / "small.pt").exists()


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="junk.pt: not a readable checkpoint"):
        read_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a checkpoint of this toolkit"):
        read_checkpoint(tmp_path / "other.pt")


def test_checkpoint_refuses_arbitrary_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pickle code ran",))

    torch.save({"format": "x", "payload": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        read_checkpoint(tmp_path / "evil.pt")
