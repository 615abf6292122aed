"""Simulator speed: one 640x480 stereo pair with its ground truth (budget: < 0.3 s on 2 cores).

Run: ``python benchmarks/bench_sim.py [--size 640x480] [--rounds 7] [--json]``.  Compilation
and scene building are excluded (warm-up render first); the median and IQR are reported with
the metadata needed to compare runs.  ``run()`` returns the same dict for benchmarks/run_all.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import time_rounds  # noqa: E402

BUDGET_S = 0.3


def _meta(size) -> dict:
    import numba

    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).parent, check=False).stdout.strip()
    except OSError:
        sha = ""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"git": sha, "numpy": np.__version__, "numba": numba.__version__,
            "numba_threads": numba.get_num_threads(), "threading_layer": _layer(),
            "cpu": cpu, "cpus": os.cpu_count(), "size": f"{size[0]}x{size[1]}",
            "loadavg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def _layer():
    import numba

    try:
        return numba.threading_layer()
    except ValueError:
        return None


def run(size=(640, 480), rounds=7, scene="tabletop") -> dict:
    from depthkit.sim import SimRig, make_scene, render_rgbd, render_stereo

    sc = make_scene(scene, seed=1)
    rig = SimRig.default(size)
    rigp = SimRig.default(size, projector=True, gray=True)
    res = {"meta": _meta(size), "budget_s": BUDGET_S, "scene": scene, "results": {}}
    r = res["results"]
    r["stereo_rectified"] = time_rounds(lambda: render_stereo(sc, rig, rectified=True), rounds)
    r["stereo_raw"] = time_rounds(lambda: render_stereo(sc, rig, rectified=False), rounds)
    r["stereo_rectified_projector"] = time_rounds(
        lambda: render_stereo(sc, rigp, rectified=True), rounds)
    r["rgbd"] = time_rounds(lambda: render_rgbd(sc, rig.rectified.left), rounds)
    # quality next to speed: OpenCV SGBM on the rectified pair against the GT
    import cv2

    fr = render_stereo(sc, rig, rectified=True, seed=1)
    gl = cv2.cvtColor(fr.left, cv2.COLOR_RGB2GRAY)
    gr = cv2.cvtColor(fr.right, cv2.COLOR_RGB2GRAY)
    sg = cv2.StereoSGBM_create(0, 96, 5, P1=200, P2=800, uniquenessRatio=5, disp12MaxDiff=1)
    d = sg.compute(gl, gr).astype(np.float32) / 16
    d[d < 0] = np.nan
    gt = fr.ground_truth
    m = np.isfinite(d) & np.isfinite(gt.disparity) & ~gt.occlusion
    e = np.abs(d - gt.disparity)[m]
    res["sgbm_on_sim"] = {"median_abs_err_px": float(np.median(e)),
                          "bad2": float(np.mean(e > 2)), "density": float(m.mean())}
    res["within_budget"] = r["stereo_rectified"]["median_s"] < BUDGET_S
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--scene", default="tabletop")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    a = ap.parse_args(argv)
    size = tuple(int(x) for x in a.size.lower().split("x"))
    res = run(size, a.rounds, a.scene)
    if a.json:
        json.dump(res, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for k, v in res["results"].items():
            sys.stdout.write(f"{k:30s} {v['median_s'] * 1000:8.1f} ms  (IQR "
                             f"{v['iqr_s'] * 1000:.1f} ms, CPU {v['cpu_s'] * 1000:.0f} ms)\n")
        sys.stdout.write(f"budget {BUDGET_S * 1000:.0f} ms for a rectified pair with GT: "
                         f"{'met' if res['within_budget'] else 'NOT met'} "
                         f"(load average {res['meta']['loadavg']})\n")
        sys.stdout.write(f"SGBM vs GT: {res['sgbm_on_sim']}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
