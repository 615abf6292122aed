"""Scale-out benchmark: frames per second of ``depthkit depth`` on a simulated sequence for the
in-process run, ``--workers 2``, ``--scheduler local:1`` and ``--scheduler local:2``, side by side
in one run.

Each configuration is timed on the first quarter of the sequence and on the whole of it; the
frames per second compared are those of the difference, the frames past the first quarter.  What
each run pays once cancels out of it: the process pool of ``--workers`` is made per run (spawning,
imports, each process building the scene and loading kernels), and roughly the tail of the
last tasks.  Dask workers first open the source and process one frame each (``client.run``),
since their cluster outlives the run.  The whole-run figure is printed beside it.  The pool's
start-up (3-4 s here) varies by about a second between runs, so the sequence is long enough
(96 frames) for that to be a few per cent of the difference.

The four configurations run in turn, for ``--rounds`` rounds.  The ratios use the shortest of
each configuration's short runs and of its whole runs (disturbances by other work on a shared
machine, which moved one configuration's throughput by 30 % between runs, only ever add time);
the same from the median runs, and the ratios within each round, are printed beside them.

Targets (issue 10, on a 2-core machine): local:2 at least 1.7x local:1, and Dask's overhead
against --workers 2 at most 10 %.

    python benchmarks/bench_scale.py [--frames 96] [--size 640x480] [--rounds 3] [--json]
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


def _warm_worker(job_sgm: dict, uri: str, out: str) -> None:
    """On a Dask worker: open the source (the scene is built) and process one frame."""
    from depthkit.batch import DepthJob, process_chunk

    process_chunk(DepthJob(Path(out), ("disparity", "depth"), sgm=job_sgm), uri=uri, indices=[0])


def measure(name: str, frames: int, size: str, **kw) -> dict:
    """Seconds of a short run (the first quarter of `frames`) and of a whole run."""
    sgm = {"num_disparities": 64, "preset": "balanced"}
    opts = dict(save=("disparity", "depth"), sgm=sgm, progress=False)
    scheduler = kw.pop("scheduler", None)
    client = None
    if scheduler is not None:
        # the cluster scheduler="local:N" starts, kept for the warm-up and both timed runs
        n = int(scheduler.split(":")[1])
        client = dk.batch.local_client(n)
        client.wait_for_workers(n)
        kw["scheduler"] = client
    short = max(1, frames // 4)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if client is not None:
                # every worker opens the source (scene built) and loads its kernels first
                client.run(_warm_worker, sgm, _uri(frames, size, 1), str(Path(tmp) / "warm"))
            elif not kw.get("workers"):  # kernels loaded in this process
                dk.batch.run_depth(_uri(frames, size, 1), Path(tmp) / "warm", max_frames=1,
                                   **opts, **kw)
            seconds = {}
            for n_frames in (short, frames):
                t = time.perf_counter()
                s = dk.batch.run_depth(_uri(frames, size, 1), Path(tmp) / f"run{n_frames}",
                                       max_frames=n_frames, **opts, **kw)
                seconds[n_frames] = time.perf_counter() - t
                assert s["frames_done"] == n_frames, s
    finally:
        if client is not None:
            client.close()
    return {"config": name, "frames": frames, "short_frames": short,
            "seconds": round(seconds[frames], 3), "short_seconds": round(seconds[short], 3)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=96)
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
            runs[name].append(measure(name, args.frames, args.size, **dict(kw)))
    L1, L2, W2 = "--scheduler local:1", "--scheduler local:2", "--workers 2"
    extra = args.frames - runs[L1][0]["short_frames"]

    def marginal(rs, pick):
        """Frames per second past the first quarter, from the picked whole and short times."""
        return extra / (pick([r["seconds"] for r in rs]) - pick([r["short_seconds"] for r in rs]))

    # each time's best round (disturbances only ever add time), and the median rounds
    best = {name: marginal(rs, min) for name, rs in runs.items()}
    median = {name: marginal(rs, np.median) for name, rs in runs.items()}
    whole = {name: args.frames / min(r["seconds"] for r in rs) for name, rs in runs.items()}
    per_round = [(marginal([a], min) / marginal([b], min),
                  1 - marginal([a], min) / marginal([c], min))
                 for a, b, c in zip(runs[L2], runs[L1], runs[W2])]
    speedup = best[L2] / best[L1]
    overhead = 1 - best[L2] / best[W2]
    print(f"frames/s of the {extra} frames past the first quarter of {args.frames} (whole run "
          f"less short run), from each time's best of {args.rounds} rounds, and from the "
          f"median rounds; frames/s of the fastest whole run")
    print(f"{'configuration':22s} {'frames/s':>9s} {'median':>7s} {'whole run':>10s}")
    for name in runs:
        print(f"{name:22s} {best[name]:9.2f} {median[name]:7.2f} {whole[name]:10.2f}")
    print(f"local:2 / local:1 = {speedup:.2f}x (target >= 1.7x; medians "
          f"{median[L2] / median[L1]:.2f}x, per round "
          f"{', '.join(f'{r[0]:.2f}' for r in per_round)})")
    print(f"Dask overhead vs --workers 2 = {100 * overhead:.1f}% (target <= 10%; medians "
          f"{100 * (1 - median[L2] / median[W2]):.1f}%, per round "
          f"{', '.join(f'{100 * r[1]:.1f}' for r in per_round)})")
    if args.json:
        print(json.dumps({"runs": runs, "marginal_fps": best, "median_marginal_fps": median,
                          "best_whole_run_fps": whole,
                          "speedup_local2_over_local1": speedup,
                          "dask_overhead_vs_workers2": overhead,
                          "per_round": per_round}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
