import triton
import triton.language as tl


@triton.jit
def tanh(x):
    # tl has no tanh that also runs under TRITON_INTERPRET; this form saturates to ±1 at ±inf.
    return 2.0 * tl.sigmoid(2.0 * x) - 1.0
