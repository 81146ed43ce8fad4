"""Speech recognition on persistent Triton RNN kernels: BiLSTM/BiGRU + CTC."""

__version__ = "0.1.0"
