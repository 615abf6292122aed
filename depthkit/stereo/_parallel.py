"""Tasks of the big SGM kernels on a shared thread pool.

The cost, aggregation and left-right kernels are plain ``@njit(nogil=True)`` functions over a
range of rows, run here on Python threads, rather than numba ``prange`` loops. Both give the
same parallel speed: the kernels release the GIL and there are only a few tasks per call. But
numba compiles each ``prange`` loop as one more function and optimises every kernel it calls
again with it. That cost about 5 s of first-call compile time per big kernel, which is the
difference between 33 s and 15 s for the default preset. The small element-wise kernels keep
``prange``.

The thread count is numba's, so ``numba.set_num_threads`` and ``NUMBA_NUM_THREADS`` apply to
both kinds.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numba

_pool: list = [None, None]  # [pid, ThreadPoolExecutor]
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """The shared pool, made again in a forked child (whose copy has no threads)."""
    with _pool_lock:
        if _pool[0] != os.getpid():
            n = max(numba.config.NUMBA_NUM_THREADS, os.cpu_count() or 1)
            _pool[:] = [os.getpid(),
                        ThreadPoolExecutor(max_workers=n, thread_name_prefix="depthkit-sgm")]
        return _pool[1]


def run_tasks(fn: Callable, tasks: Sequence[tuple]) -> None:
    """Call ``fn(*args)`` for every ``args`` in `tasks`, on up to ``numba.get_num_threads()``
    threads (the calling thread is one of them); re-raise the first error.

    Threads take the next task as they finish one, so uneven tasks balance. The caller waits
    for the tasks, not for the pool's threads: when another caller keeps the pool busy, the
    calling thread simply runs more of the tasks itself. After an error no task starts, and the
    error is raised once the running ones have finished, so that none of them still writes to
    arrays the caller may reuse.
    """
    n = min(numba.get_num_threads(), len(tasks))
    if n <= 1:
        for args in tasks:
            fn(*args)
        return
    lock = threading.Lock()
    done = threading.Event()
    state = {"next": 0, "left": len(tasks), "running": 0, "error": None}

    def work() -> None:
        while True:
            with lock:
                i = state["next"]
                if i >= len(tasks) or state["error"] is not None:
                    return
                state["next"] = i + 1
                state["running"] += 1
            try:
                fn(*tasks[i])
            except BaseException as e:  # handed to the caller below
                with lock:
                    if state["error"] is None:
                        state["error"] = e
            finally:
                with lock:
                    state["running"] -= 1
                    state["left"] -= 1
                    if state["left"] == 0 or (state["error"] is not None
                                              and state["running"] == 0):
                        done.set()

    pool = _executor()
    for _ in range(n - 1):
        pool.submit(work)
    work()
    done.wait()
    if state["error"] is not None:
        raise state["error"]


def row_ranges(height: int, parts: int | None = None) -> list[tuple[int, int]]:
    """`height` rows cut into `parts` contiguous ``(y0, y1)`` ranges (default: two per thread,
    so a thread slowed by the machine does not hold the others up for long)."""
    if parts is None:
        parts = 2 * numba.get_num_threads()
    parts = max(1, min(parts, height))
    return [(k * height // parts, (k + 1) * height // parts) for k in range(parts)]
