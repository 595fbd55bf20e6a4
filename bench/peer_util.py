"""Timing shared by the PyTorch peers of the benchmarks (same method as bench/harness.ts)."""
import time


def timed(fn, reps, warmup=3):
    """Milliseconds of each of `reps` runs of fn, after `warmup` runs."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out
