"""Helpers shared by the benchmark scripts (not a benchmark itself)."""

from __future__ import annotations

import time

import numpy as np


def time_rounds(fn, rounds: int) -> dict:
    """Call `fn` once to warm up (JIT, caches), then `rounds` times; wall and CPU statistics.

    CPU seconds (all threads) tell the cost on a machine shared with other jobs, where the wall
    time says little.
    """
    fn()
    ts, cpu = [], []
    for _ in range(rounds):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    q1, med, q3 = np.percentile(ts, [25, 50, 75])
    return {"median_s": float(med), "iqr_s": float(q3 - q1), "min_s": float(min(ts)),
            "cpu_s": float(np.median(cpu)), "rounds": rounds}
