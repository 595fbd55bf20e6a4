"""Timing shared by the PyTorch peers of the benchmarks (same method as bench/harness.ts)."""
import os
import time

# SPOTTUNE_BENCH_CLOCK=cpu: this process's CPU time, as bench/harness.ts.
_now = time.process_time if os.environ.get('SPOTTUNE_BENCH_CLOCK') == 'cpu' else time.perf_counter


def timed(fn, reps, warmup=3):
    """Milliseconds of each of `reps` runs of fn, after `warmup` runs."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        t = _now()
        fn()
        out.append((_now() - t) * 1000)
    return out
