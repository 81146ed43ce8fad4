"""Run configuration: dataclasses, one YAML file per recipe, `key=value` overrides."""

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from asr.augment import AugmentConfig
from asr.data import manifest_paths
from asr.features import NORMALIZE_OVER, FeatureConfig
from asr.model import RNN_TYPES, SUBSAMPLES, ModelConfig
from asr.text import DEFAULT_VOCAB
from kernels.rnn import IMPLS


@dataclass
class DataConfig:
    train_manifest: str = ""  # one path, or several joined with ","
    dev_manifest: str = ""
    max_batch_seconds: float = 200.0  # padded audio per batch (BucketBatchSampler)
    batch_size: int = 16  # evaluation and transcription batches
    sortagrad: bool = True
    num_workers: int = 2
    max_duration: float = 30.0  # seconds; longer utterances are skipped and counted


@dataclass
class TrainConfig:
    epochs: int = 20
    lr: float = 1e-3
    weight_decay: float = 1e-2
    grad_clip: float = 5.0
    warmup_steps: int = 500
    precision: str = "fp32"  # fp32 | bf16 (autocast) | fp16 (autocast + GradScaler)
    accumulate: int = 1  # batches per optimizer step
    save_every_steps: int = 0  # also checkpoint mid-epoch every N steps (0: epoch ends only)
    keep_last: int = 3  # epoch/step checkpoints kept, besides best.pt
    max_nonfinite_steps: int = 20  # consecutive skipped steps before the run stops
    scan_out_of_memory: bool = True  # train the heaviest batches once at the start: too large fails at once
    init_from: str = ""  # start from this checkpoint's weights (fresh optimizer), e.g. an exported model
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    out_dir: str = "runs/exp"
    log_every: int = 20
    spec_augment: bool = True


@dataclass
class Config:
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    vocab: str = DEFAULT_VOCAB

    @property
    def frame_seconds(self) -> float:
        """Seconds per model output frame (one CTC step)."""
        return self.features.hop_ms / 1000 * self.model.subsample


class ConfigError(ValueError):
    pass


# Settings a value outside these limits breaks: checked by name when a recipe is loaded, where they
# used to fail deep in the run (train.accumulate=0, train.log_every=0: ZeroDivisionError), or be
# taken silently (train.grad_clip=0 zeroes every gradient; model.dropout=-0.5, train.device=tpu).
ABOVE_ZERO = ("features.sample_rate", "features.n_mels", "features.n_fft", "features.win_ms", "features.hop_ms",
              "model.conv_channels", "model.hidden_size", "model.num_layers", "data.max_batch_seconds",
              "data.batch_size", "data.max_duration", "train.epochs", "train.lr", "train.grad_clip",
              "train.accumulate", "train.max_nonfinite_steps", "train.log_every")
AT_LEAST_ZERO = ("features.f_min", "features.freq_masks", "features.freq_mask_width", "features.time_masks",
                 "features.time_mask_width", "data.num_workers", "train.weight_decay", "train.warmup_steps",
                 "train.save_every_steps", "train.keep_last")  # keep_last 0: keep every checkpoint
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "fp16")
# Settings with a fixed set of values: the model's and the trainer's own checks name neither the
# recipe nor the section.
CHOICES = {"features.normalize_over": NORMALIZE_OVER, "model.rnn_type": tuple(RNN_TYPES), "model.subsample": SUBSAMPLES,
           "model.impl": IMPLS, "train.precision": PRECISIONS, "train.device": DEVICES}


def check_ranges(cfg: Config, source: str) -> None:
    def value(dotted):
        section, _, key = dotted.partition(".")
        return getattr(getattr(cfg, section), key)
    for dotted in ABOVE_ZERO:
        if not value(dotted) > 0:
            raise ConfigError(f"{source}: {dotted} must be above zero, got {value(dotted)!r}")
    for dotted in AT_LEAST_ZERO:
        if not value(dotted) >= 0:
            raise ConfigError(f"{source}: {dotted} must be zero or more, got {value(dotted)!r}")
    check_features(cfg.features, source)
    if not 0 <= cfg.model.dropout < 1:
        raise ConfigError(f"{source}: model.dropout must lie in [0, 1), got {cfg.model.dropout!r}")
    if not cfg.train.out_dir:
        raise ConfigError(f"{source}: train.out_dir must name a folder")
    for dotted, allowed in CHOICES.items():
        if value(dotted) not in allowed:
            raise ConfigError(f"{source}: {dotted} must be one of {list(allowed)}, got {value(dotted)!r}")


def check_features(features, source: str) -> None:
    """What torchaudio would refuse at the first batch (a window longer than the FFT), or take and
    degrade without a word (mel bands above Nyquist are empty: log of zero, every utterance)."""
    window = round(features.sample_rate * features.win_ms / 1000)
    if window > features.n_fft:
        raise ConfigError(f"{source}: features.win_ms={features.win_ms} is {window} samples at "
                          f"{features.sample_rate} Hz, more than features.n_fft={features.n_fft}")
    nyquist = features.sample_rate / 2
    f_max = nyquist if features.f_max is None else features.f_max
    if not features.f_min < f_max <= nyquist:
        raise ConfigError(f"{source}: features.f_min={features.f_min} and f_max={features.f_max} must satisfy "
                          f"f_min < f_max <= {nyquist:g} (half of features.sample_rate)")
    if not 0 <= features.time_mask_max_ratio <= 1:
        raise ConfigError(f"{source}: features.time_mask_max_ratio must lie in [0, 1], "
                          f"got {features.time_mask_max_ratio!r}")


def config_from_dict(raw: dict, source: str = "config") -> Config:
    cfg = Config()
    for section, values in (raw or {}).items():
        if not hasattr(cfg, section):
            raise ConfigError(f"{source}: unknown section {section!r}{_did_you_mean(cfg, section)}")
        if section == "vocab":
            cfg.vocab = str(values)
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section {section!r} must be a mapping")
        for key, value in values.items():
            _set(cfg, f"{section}.{key}", value, source)
    return cfg


def _did_you_mean(cfg: Config, name: str) -> str:
    """The nearest setting (or section) name, for a typo such as train.epocs; "" where none is close.
    Within a known section only its keys are compared: the shared "model." would make any key look close."""
    section, dot, key = name.partition(".")
    sections = [f.name for f in dataclasses.fields(cfg) if dataclasses.is_dataclass(getattr(cfg, f.name))]
    if not dot:
        close = difflib.get_close_matches(name, [f.name for f in dataclasses.fields(cfg)], n=1)
    elif section in sections:
        keys = difflib.get_close_matches(key, [f.name for f in dataclasses.fields(getattr(cfg, section))], n=1)
        close = [f"{section}.{k}" for k in keys]
    else:
        close = difflib.get_close_matches(name, [f"{s}.{f.name}" for s in sections
                                                 for f in dataclasses.fields(getattr(cfg, s))], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _set(cfg: Config, dotted: str, value, source: str) -> None:
    section, _, key = dotted.partition(".")
    target = getattr(cfg, section, None)
    known = {f.name for f in dataclasses.fields(target)} if dataclasses.is_dataclass(target) else set()
    if key not in known:
        raise ConfigError(f"{source}: unknown setting {dotted!r}{_did_you_mean(cfg, dotted)}")
    current = getattr(target, key)
    if isinstance(current, bool) and not isinstance(value, bool):
        raise ConfigError(f"{source}: {dotted} must be true or false, got {value!r}")
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(current, float) and isinstance(value, str):
        value = _float_or_text(value)
    if isinstance(current, tuple) and isinstance(value, list):
        value = tuple(value)
    if value is None and current is not None:  # `key=` or `key: null`: empty text, or refused where None is no value
        if not isinstance(current, str):
            raise ConfigError(f"{source}: {dotted} must be {type(current).__name__}, got nothing")
        value = ""
    if current is not None and value is not None and not isinstance(value, type(current)):
        raise ConfigError(f"{source}: {dotted} must be {type(current).__name__}, got {value!r}")
    setattr(target, key, value)


def _float_or_text(text: str):
    """PyYAML follows YAML 1.1, where a float needs a dot: `3e-4` and `1e-3` load as strings."""
    try:
        return float(text)
    except ValueError:
        return text


def load_config(path, overrides: list[str] = ()) -> Config:
    """Read a recipe YAML, then apply `section.key=value` overrides (values parsed as YAML)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    cfg = config_from_dict(raw, str(path))
    _resolve_paths(cfg, path.parent)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        if key == "vocab":
            cfg.vocab = value
            continue
        _set(cfg, key, yaml.safe_load(value), "override")
    check_ranges(cfg, f"{path} with its overrides" if overrides else str(path))
    return cfg


def _resolve_paths(cfg: Config, base: Path) -> None:
    """Manifests named relative to the recipe file resolve against its folder."""
    for name in ("train_manifest", "dev_manifest"):
        paths = manifest_paths(getattr(cfg.data, name))
        resolved = [str(base / p) if not Path(p).is_absolute() and (base / p).exists() else p for p in paths]
        setattr(cfg.data, name, ",".join(resolved))


def config_to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)
