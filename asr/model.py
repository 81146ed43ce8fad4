"""The acoustic model: Deep Speech 2 conv front end, BiLSTM/BiGRU stack on our kernels, CTC head."""

from dataclasses import dataclass

import torch
from torch import nn

try:
    from kernels import GRU, LSTM
except ImportError as error:
    # Hugging Face's `kernels` distribution installs a package of the same name: whichever came
    # last overwrote the other's files, which otherwise fails as a bare "cannot import name".
    from importlib.metadata import packages_distributions
    ours = {"triton-asr", "triton_asr"}  # the metadata may spell the name either way
    others = sorted(set(packages_distributions().get("kernels", [])) - ours)
    if not others:
        raise
    raise ImportError(f"this project's `kernels` package cannot be imported ({error}): another installed "
                      f"distribution ({', '.join(others)}) also provides a package named `kernels` and has "
                      "overwritten it; install triton-asr in a virtual environment of its own") from error

RNN_TYPES = {"lstm": LSTM, "gru": GRU}
SUBSAMPLES = (2, 4)
# ModelConfig fields that change how the model trains or runs, not what its weights mean: a
# fine-tune with another dropout still averages with the file it started from.
WEIGHT_FREE_SETTINGS = ("dropout", "impl")


@dataclass
class ModelConfig:
    n_mels: int = 80
    conv_channels: int = 32
    subsample: int = 4  # time reduction of the front end: 2 or 4
    rnn_type: str = "lstm"  # lstm | gru
    hidden_size: int = 256
    num_layers: int = 3
    dropout: float = 0.1
    vocab_size: int = 29
    impl: str = "auto"  # kernels.LSTM/GRU: auto | triton | torch


class ConvFrontEnd(nn.Module):
    """Two 2-D convolutions over (time, frequency) with BatchNorm and clipped ReLU, as in DS2.

    Frequency is always reduced 4x; time 2x or 4x (`subsample`). Frames past each utterance's
    length are zeroed after every block, so an utterance gives the same output alone or padded
    in a batch (otherwise BatchNorm's shift of the padding leaks into the last valid frames).
    """

    KERNELS = ((11, 41), (11, 21))

    def __init__(self, n_mels: int, channels: int, subsample: int):
        super().__init__()
        if subsample not in SUBSAMPLES:
            raise ValueError(f"subsample must be one of {SUBSAMPLES}, got {subsample}")
        self.time_strides = (2, subsample // 2)
        blocks, in_ch = [], 1
        for (kt, kf), st in zip(self.KERNELS, self.time_strides):
            blocks.append(nn.Sequential(
                nn.Conv2d(in_ch, channels, (kt, kf), stride=(st, 2), padding=(kt // 2, kf // 2), bias=False),
                nn.BatchNorm2d(channels), nn.Hardtanh(0, 20, inplace=True)))
            in_ch = channels
        self.blocks = nn.ModuleList(blocks)
        # oneDNN runs these 1- and 16-channel convolutions about 3x faster in channels_last on
        # CPU (forward, measured on the project's 2-core Xeon); the layout follows the weights.
        self.to(memory_format=torch.channels_last)
        freq = n_mels
        for _, kf in self.KERNELS:
            freq = (freq + 2 * (kf // 2) - kf) // 2 + 1
        self.output_size = channels * freq

    @staticmethod
    def _block_lengths(lengths, kernel_time: int, stride: int):
        return torch.div(lengths + 2 * (kernel_time // 2) - kernel_time, stride, rounding_mode="floor") + 1

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for (kt, _), st in zip(self.KERNELS, self.time_strides):
            lengths = self._block_lengths(lengths, kt, st)
        return lengths

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = feats.unsqueeze(1)  # [B, 1, T, F]
        for block, (kt, _), st in zip(self.blocks, self.KERNELS, self.time_strides):
            x = block(x)
            lengths = self._block_lengths(lengths, kt, st)
            valid = torch.arange(x.shape[2], device=x.device)[None, :] < lengths.to(x.device)[:, None]
            x = x * valid[:, None, :, None]
        return x.permute(0, 2, 1, 3).flatten(2)  # [B, T', C*F']


class AcousticModel(nn.Module):
    """feats [B, T, n_mels] and lengths [B] -> CTC log-probabilities [B, T', vocab] and T' lengths.

    Example:
        >>> model = AcousticModel(ModelConfig(vocab_size=len(tokenizer)))
        >>> log_probs, out_lengths = model(feats, lengths)
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.front = ConvFrontEnd(cfg.n_mels, cfg.conv_channels, cfg.subsample)
        rnn_cls = RNN_TYPES.get(cfg.rnn_type)
        if rnn_cls is None:
            raise ValueError(f"rnn_type must be one of {list(RNN_TYPES)}, got {cfg.rnn_type!r}")
        self.rnn = rnn_cls(self.front.output_size, cfg.hidden_size, num_layers=cfg.num_layers, bidirectional=True,
                           batch_first=True, dropout=cfg.dropout if cfg.num_layers > 1 else 0.0, impl=cfg.impl)
        self.norm = nn.LayerNorm(2 * cfg.hidden_size)
        self.head = nn.Linear(2 * cfg.hidden_size, cfg.vocab_size)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.front.output_lengths(lengths)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.front(feats, lengths)
        out_lengths = self.output_lengths(lengths).clamp(1, x.shape[1])
        x, _ = self.rnn(x, lengths=out_lengths.cpu())
        return self.head(self.norm(x)).log_softmax(dim=-1), out_lengths


def ctc_loss(log_probs, out_lengths, targets, target_lengths, blank: int = 0) -> torch.Tensor:
    """Mean over the batch of per-utterance CTC loss divided by target length (as torch's 'mean');
    infeasible utterances contribute zero instead of inf."""
    return nn.functional.ctc_loss(log_probs.transpose(0, 1).float(), targets, out_lengths, target_lengths,
                                  blank=blank, reduction="mean", zero_infinity=True)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
