"""Scale-out benchmark: frames per second of ``depthkit depth`` on a simulated sequence for the
in-process run, ``--workers 2``, ``--scheduler local:1`` and ``--scheduler local:2``, side by side
in one run.  Each configuration first processes 4 frames of the same sequence (Dask workers then
hold the source open with its scene built and their kernels loaded), then the whole sequence is
timed.  The process pool of ``--workers`` is made per run, so its start-up (spawning, imports,
building the scene in each process) is inside its time.

The four configurations run in turn, for ``--rounds`` rounds: the ratios use each one's best
round (the least disturbed by other work on a shared machine, where one configuration's
throughput moved by 30 % between runs), and the median is printed beside it.

Targets (issue 10, on a 2-core machine): local:2 at least 1.7x local:1, and Dask's overhead
against --workers 2 at most 10 %.

    python benchmarks/bench_scale.py [--frames 48] [--size 640x480] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

import depthkit as dk  # noqa: E402


def _uri(frames: int, size: str, seed: int) -> str:
    return (f"sim://stereo?scene=tabletop&seed={seed}&size={size}&frames={frames}"
            f"&rectified=1&trajectory=orbit")


def measure(name: str, frames: int, size: str, **kw) -> dict:
    sgm = {"num_disparities": 64, "preset": "balanced"}
    opts = dict(save=("disparity", "depth"), sgm=sgm, progress=False)
    scheduler = kw.pop("scheduler", None)
    client = cluster = None
    if scheduler is not None:
        from distributed import Client, LocalCluster

        n = int(scheduler.split(":")[1])
        from depthkit.batch import SINGLE_THREADED

        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None, env=SINGLE_THREADED)
        client = Client(cluster)
        kw["scheduler"] = client
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # warm-up on the same source: Dask workers keep it open (scene built, kernels
            # loaded), so the timed run measures throughput, not start-up
            dk.batch.run_depth(_uri(frames, size, 1), Path(tmp) / "warm", max_frames=4,
                               **opts, **kw)
            t = time.perf_counter()
            s = dk.batch.run_depth(_uri(frames, size, 1), Path(tmp) / "run", **opts, **kw)
            dt = time.perf_counter() - t
    finally:
        if client is not None:
            client.close()
            cluster.close()
    assert s["frames_done"] == frames, s
    return {"config": name, "frames": frames, "seconds": round(dt, 3),
            "fps": round(frames / dt, 3)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each configuration")
    args = ap.parse_args(argv)
    configs = [("in-process", {}), ("--workers 2", {"workers": 2}),
               ("--scheduler local:1", {"scheduler": "local:1"}),
               ("--scheduler local:2", {"scheduler": "local:2"})]
    runs: dict[str, list[dict]] = {name: [] for name, _ in configs}
    for _ in range(max(1, args.rounds)):
        for name, kw in configs:
            runs[name].append(measure(name, args.frames, args.size, **kw))
    best = {name: max(r["fps"] for r in rs) for name, rs in runs.items()}
    median = {name: float(np.median([r["fps"] for r in rs])) for name, rs in runs.items()}
    speedup = best["--scheduler local:2"] / best["--scheduler local:1"]
    overhead = 1 - best["--scheduler local:2"] / best["--workers 2"]
    print(f"{'configuration':24s} {'frames':>6s} {'best s':>8s} {'frames/s':>9s} "
          f"{'median':>7s}   ({len(runs['in-process'])} rounds)")
    for name, rs in runs.items():
        print(f"{name:24s} {rs[0]['frames']:6d} {min(r['seconds'] for r in rs):8.2f} "
              f"{best[name]:9.2f} {median[name]:7.2f}")
    print(f"local:2 / local:1 = {speedup:.2f}x (target >= 1.7x; medians "
          f"{median['--scheduler local:2'] / median['--scheduler local:1']:.2f}x)   "
          f"Dask overhead vs --workers 2 = {100 * overhead:.1f}% (target <= 10%)")
    if args.json:
        print(json.dumps({"runs": runs, "best_fps": best, "median_fps": median,
                          "speedup_local2_over_local1": speedup,
                          "dask_overhead_vs_workers2": overhead}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
