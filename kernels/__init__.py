"""Persistent Triton LSTM/GRU recurrences and drop-in torch.nn.LSTM / torch.nn.GRU modules."""

from kernels.gru import gru_recurrence, gru_recurrence_ref
from kernels.lstm import lstm_recurrence, lstm_recurrence_ref
from kernels.rnn import GRU, LSTM

__all__ = ["GRU", "LSTM", "gru_recurrence", "gru_recurrence_ref", "lstm_recurrence",
           "lstm_recurrence_ref"]
