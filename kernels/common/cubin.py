"""Build real cubins on a machine without a GPU, to prove a kernel variant compiles and to read
its registers, spills and shared memory (used by tests and the GPU-performance work)."""

import re
import subprocess
import tempfile
from dataclasses import dataclass

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource


@dataclass(frozen=True)
class CubinStats:
    n_regs: int
    n_spills: int
    shared_bytes: int


def compile_cubin(kernel, signature: dict, constexprs: dict, arch: int, num_warps: int) -> CubinStats:
    """`kernel` may be wrapped in @triton.heuristics; pass the resolved constexprs explicitly.

    signature maps each runtime argument to a Triton type ("*fp16", "i32"); constexprs holds the
    rest (None for an absent optional pointer).
    """
    fn = kernel
    while not isinstance(fn, triton.runtime.jit.JITFunction):
        fn = fn.fn
    full_signature = {name: signature.get(name, "constexpr") for name in fn.arg_names}
    source = ASTSource(fn, signature=full_signature, constexprs=constexprs)
    compiled = triton.compile(source, target=GPUTarget("cuda", arch, 32),
                              options={"num_warps": num_warps})
    meta = compiled.metadata
    # Triton fills n_regs/n_spills lazily from the driver; read them from ptxas' output instead.
    return CubinStats(*_ptxas_stats(compiled.asm["cubin"], arch), meta.shared)


def _ptxas_stats(cubin: bytes, arch: int) -> tuple[int, int]:
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        out = subprocess.run([triton.knobs.nvidia.cuobjdump.path, "--dump-resource-usage", f.name],
                             capture_output=True, text=True, check=True).stdout
    regs = int(re.search(r"REG:(\d+)", out).group(1))
    spills = sum(int(x) for x in re.findall(r"(?:STACK|LOCAL):(\d+)", out))
    return regs, spills
