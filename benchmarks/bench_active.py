"""Active sensing on the simulator's ground truth: CW-ToF and structured light at full size.

Targets (issue 8, tabletop scene, 640x480, default noise):

* ToF: median |depth error| <= 0.5% of depth over 0.5-4 m; wrongly unwrapped pixels <= 0.1% of
  valid pixels; unambiguous range >= 4x that of the highest frequency alone; decode <= 50 ms.
* Structured light: median |depth error| <= 0.1% of depth on lit, unshadowed pixels; >= 98% of
  those decoded; shadowed pixels invalid; decode <= 100 ms.

Run: ``python benchmarks/bench_active.py [--size 640x480] [--scene tabletop] [--rounds 7]
[--json]``.  Rendering and JIT compilation are excluded from the timings (a warm-up decode runs
first); the median wall time, its IQR, the minimum and the CPU seconds (all threads) are
reported with the machine's load, since wall times on a shared machine say little.
``run()`` returns the same dict for a runner script.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import time_rounds  # noqa: E402

TARGETS = {"tof_median_rel": 0.005, "tof_wrong_unwrap": 0.001, "tof_range_ratio": 4.0,
           "tof_decode_s": 0.050, "sl_median_rel": 0.001, "sl_decoded_of_lit": 0.98,
           "sl_decode_s": 0.100}


def _meta(size) -> dict:
    import numba

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = None
    return {"numpy": np.__version__, "numba": numba.__version__,
            "numba_threads": numba.get_num_threads(), "threading_layer": layer, "cpu": cpu,
            "cpus": os.cpu_count(), "size": f"{size[0]}x{size[1]}",
            "loadavg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def bench_tof(scene, size, rounds: int, seed: int = 1) -> dict:
    from depthkit.sensing.tof import C_LIGHT, ToFDecoder, unambiguous_range
    from depthkit.sim import make_rig
    from depthkit.sim.tof import ToFSimParams, render_tof

    cam = make_rig(size).left
    params = ToFSimParams()
    raw = render_tof(scene, cam, scene.default_pose, params, seed=seed)
    dec = ToFDecoder(cam, raw.frequencies_hz, saturation=raw.saturation,
                     read_noise=params.read_noise)
    out = dec.decode_full(raw)
    gt = raw.ground_truth.depth_m
    z = out.depth.depth_m
    band = np.isfinite(gt) & (gt >= 0.5) & (gt <= 4.0)
    ok = band & np.isfinite(z)
    rel = np.abs(z[ok] - gt[ok]) / gt[ok]
    r, gr = out.range_m, raw.ground_truth.extras["range_m"]
    v = np.isfinite(r)
    wrong = float(np.mean(np.abs(r[v] - gr[v]) > 0.25)) if v.any() else 0.0
    amb = unambiguous_range(raw.frequencies_hz)
    single = C_LIGHT / (2 * max(raw.frequencies_hz))
    timing = time_rounds(lambda: dec.decode(raw.samples), rounds)
    return {
        "frequencies_mhz": [f / 1e6 for f in raw.frequencies_hz],
        "phase_steps": int(raw.samples.shape[1]),
        "median_rel_error": float(np.median(rel)),
        "p90_rel_error": float(np.percentile(rel, 90)),
        "valid_of_gt_0.5-4m": float(ok.sum() / max(band.sum(), 1)),
        "wrong_unwrap_of_valid": wrong,
        "unambiguous_range_m": amb,
        "highest_frequency_range_m": single,
        "range_ratio": amb / single,
        "status_counts": np.bincount(out.status.ravel(), minlength=7).tolist(),
        "decode": timing,
    }


def bench_sl(scene, size, rounds: int, seed: int = 1, period: int = 8, n_phase: int = 8) -> dict:
    from depthkit.sensing.structured_light import PatternSet, StructuredLightDecoder
    from depthkit.sim import make_rig
    from depthkit.sim.structured_light import make_projector_rig, render_structured_light

    cam = make_rig(size).left
    rig = make_projector_rig(cam)
    pats = PatternSet(rig.right.width, rig.right.height, period=period, n_phase=n_phase)
    frame = render_structured_light(scene, rig, pats, seed=seed)
    ex = frame.ground_truth.extras
    raw_dec = StructuredLightDecoder(rig, pats, undistort=False)
    _, d = raw_dec.decode_full(frame)
    dec = StructuredLightDecoder(rig, pats)
    depth = dec.decode(frame)
    gt = frame.ground_truth.depth_m
    lit = ex["lit"] & np.isfinite(gt)
    z = depth.depth_m
    ok = lit & np.isfinite(z)
    rel = np.abs(z[ok] - gt[ok]) / gt[ok]
    timing = time_rounds(lambda: dec.decode(frame.captures), rounds)
    return {
        "projector": f"{rig.right.width}x{rig.right.height}",
        "patterns": len(pats), "period_px": period, "phase_steps": n_phase,
        "median_rel_error": float(np.median(rel)),
        "p90_rel_error": float(np.percentile(rel, 90)),
        "decoded_of_lit_raw_grid": float(d.valid[ex["lit_raw"]].mean()),
        "valid_of_lit_undistorted": float(ok.sum() / max(lit.sum(), 1)),
        "valid_in_shadow_or_unlit": int(d.valid[~ex["lit_raw"]].sum()),
        "lit_fraction": float(ex["lit_raw"].mean()),
        "decode": timing,
    }


def run(size=(640, 480), rounds=7, scene="tabletop", seed=1) -> dict:
    from depthkit.sim import make_scene

    sc = make_scene(scene, seed=0)
    res = {"meta": _meta(size), "scene": scene, "targets": TARGETS}
    res["tof"] = bench_tof(sc, size, rounds, seed)
    res["structured_light"] = bench_sl(sc, size, rounds, seed)
    t, s = res["tof"], res["structured_light"]
    res["pass"] = {
        "tof_median_rel": t["median_rel_error"] <= TARGETS["tof_median_rel"],
        "tof_wrong_unwrap": t["wrong_unwrap_of_valid"] <= TARGETS["tof_wrong_unwrap"],
        "tof_range_ratio": t["range_ratio"] >= TARGETS["tof_range_ratio"],
        "tof_decode_s": t["decode"]["median_s"] <= TARGETS["tof_decode_s"],
        "sl_median_rel": s["median_rel_error"] <= TARGETS["sl_median_rel"],
        "sl_decoded_of_lit": s["decoded_of_lit_raw_grid"] >= TARGETS["sl_decoded_of_lit"],
        "sl_shadow_invalid": s["valid_in_shadow_or_unlit"] == 0,
        "sl_decode_s": s["decode"]["median_s"] <= TARGETS["sl_decode_s"],
    }
    return res


def _report(res: dict) -> str:
    t, s, m = res["tof"], res["structured_light"], res["meta"]
    ok = res["pass"]

    def mark(k):
        return "ok " if ok[k] else "MISS"

    lines = [
        f"active sensing on sim {res['scene']} {m['size']}  ({m['cpu']}, {m['cpus']} cpus, "
        f"{m['numba_threads']} numba threads, load {m['loadavg']})",
        f"ToF {t['frequencies_mhz']} MHz x {t['phase_steps']} steps",
        f"  [{mark('tof_median_rel')}] median |dz|/z (0.5-4 m)  {100 * t['median_rel_error']:.3f} %"
        f"   (valid {100 * t['valid_of_gt_0.5-4m']:.1f} % of GT)",
        f"  [{mark('tof_wrong_unwrap')}] wrongly unwrapped       "
        f"{100 * t['wrong_unwrap_of_valid']:.3f} % of valid",
        f"  [{mark('tof_range_ratio')}] unambiguous range       {t['unambiguous_range_m']:.2f} m "
        f"= {t['range_ratio']:.1f} x {t['highest_frequency_range_m']:.2f} m",
        f"  [{mark('tof_decode_s')}] decode                  "
        f"{1e3 * t['decode']['median_s']:.1f} ms (min {1e3 * t['decode']['min_s']:.1f}, "
        f"cpu {1e3 * t['decode']['cpu_s']:.1f})",
        f"Structured light: projector {s['projector']}, {s['patterns']} patterns "
        f"(period {s['period_px']} px, {s['phase_steps']} steps)",
        f"  [{mark('sl_median_rel')}] median |dz|/z on lit      "
        f"{100 * s['median_rel_error']:.3f} %",
        f"  [{mark('sl_decoded_of_lit')}] decoded of lit           "
        f"{100 * s['decoded_of_lit_raw_grid']:.2f} % (after undistortion "
        f"{100 * s['valid_of_lit_undistorted']:.2f} %)",
        f"  [{mark('sl_shadow_invalid')}] valid in shadow/unlit    {s['valid_in_shadow_or_unlit']}",
        f"  [{mark('sl_decode_s')}] decode                  "
        f"{1e3 * s['decode']['median_s']:.1f} ms (min {1e3 * s['decode']['min_s']:.1f}, "
        f"cpu {1e3 * s['decode']['cpu_s']:.1f})",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--scene", default="tabletop")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    w, h = (int(x) for x in a.size.lower().split("x"))
    res = run((w, h), a.rounds, a.scene, a.seed)
    sys.stdout.write((json.dumps(res, indent=2) if a.json else _report(res)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
