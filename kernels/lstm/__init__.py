from kernels.lstm.fused_recurrent import lstm_recurrence
from kernels.lstm.naive import lstm_recurrence_ref

__all__ = ["lstm_recurrence", "lstm_recurrence_ref"]
