from kernels.gru.fused_recurrent import gru_recurrence
from kernels.gru.naive import gru_recurrence_ref

__all__ = ["gru_recurrence", "gru_recurrence_ref"]
