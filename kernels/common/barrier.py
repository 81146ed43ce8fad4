import triton
import triton.language as tl


@triton.jit
def grid_barrier(p_arrivals, target):
    """Waits until `target` programs have arrived at `p_arrivals`.

    The counter only grows: step s waits for (s + 1) * num_programs arrivals, so the same counter
    serves every step with no reset and no phase bit to flip. This is the cooperative-groups
    grid.sync() pattern: CTA barrier, one release atomic, acquire spin, CTA barrier.
    Every program of the group must be resident at once (see launch.plan_launch); the caller
    reloads exchanged data with cache_modifier=".cg" so no stale L1 line is read.
    """
    tl.debug_barrier()
    tl.atomic_add(p_arrivals, 1, sem="release", scope="gpu")
    while tl.atomic_add(p_arrivals, 0, sem="acquire", scope="gpu") < target:
        pass
    tl.debug_barrier()
