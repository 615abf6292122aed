"""Stereo benchmark: depthkit's SGM presets next to OpenCV StereoSGBM (3WAY and HH).

On every scene with ground truth under the data folder (default ``../shared/data`` next to the
repository): the same disparity range for every method (the GT maximum rounded up to a multiple
of 16), the same thread count (``cv2.setNumThreads`` and ``numba.set_num_threads``), grey input
for OpenCV (blockSize 5, P1 = 8*25, P2 = 32*25, disp12MaxDiff 1, uniquenessRatio 10, speckle
100/2, preFilterCap 63). Runs alternate between methods in one process; JIT warm-up is excluded.
Per scene: median time, time ratio to 3WAY, bad-1/2/4 over all GT pixels (missing = wrong),
bad-2 over estimated pixels, end-point error, density, and peak numpy memory (tracemalloc; it
cannot see OpenCV's internal buffers). Then the means and the geometric-mean time ratio, and the
issue-3 targets, and the default matcher on a 2-megapixel pair at 256 disparities (time, peak
memory, process size). ``--compile`` also measures first-call compilation and cached loading in
fresh processes.

    python benchmarks/bench_stereo.py [--data DIR] [--scenes teddy,cones] [--repeat 5]
                                      [--threads 2] [--presets fast,balanced] [--json] [--compile]
                                      [--skip-large]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
PRESETS = ("fast", "balanced", "quality")
METRICS = ("bad1", "bad2", "bad4", "bad2_est", "epe", "density")


def _opencv_matcher(num_disp: int, mode: int):
    import cv2

    bs = 5
    m = cv2.StereoSGBM_create(
        minDisparity=0, numDisparities=num_disp, blockSize=bs, P1=8 * bs * bs, P2=32 * bs * bs,
        disp12MaxDiff=1, preFilterCap=63, uniquenessRatio=10, speckleWindowSize=100,
        speckleRange=2, mode=mode,
    )

    def run(left, right):
        lg = cv2.cvtColor(left, cv2.COLOR_RGB2GRAY) if left.ndim == 3 else left
        rg = cv2.cvtColor(right, cv2.COLOR_RGB2GRAY) if right.ndim == 3 else right
        d = m.compute(lg, rg).astype(np.float32) / 16.0
        d[d < 0] = np.nan
        return d

    return run


def methods(num_disp: int, presets) -> dict:
    """name -> callable(left, right) -> float32 disparity with NaN = invalid."""
    import cv2

    import depthkit as dk

    out = {"cv_3way": _opencv_matcher(num_disp, cv2.STEREO_SGBM_MODE_SGBM_3WAY),
           "cv_hh": _opencv_matcher(num_disp, cv2.STEREO_SGBM_MODE_HH)}
    for p in presets:
        out[p] = dk.SGM(num_disparities=num_disp, preset=p).compute
    return out


def disparity_range(max_disp: float, width: int) -> int:
    """GT maximum rounded up to a multiple of 16 (strictly above it), below the image width."""
    n = int(math.ceil((max_disp + 1e-6) / 16.0)) * 16
    if n <= max_disp:
        n += 16
    return min(n, (width - 1) // 16 * 16)


def peak_memory(fn, left, right) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn(left, right)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return int(peak)


def bench_scene(scene, presets, repeat: int) -> dict:
    from depthkit.eval import evaluate_disparity

    num_disp = disparity_range(scene.max_disparity, scene.shape[1])
    ms = methods(num_disp, presets)
    left, right = np.ascontiguousarray(scene.left), np.ascontiguousarray(scene.right)
    outs = {name: fn(left, right) for name, fn in ms.items()}  # warm-up (JIT excluded)
    times = {name: [] for name in ms}
    for _ in range(repeat):
        for name, fn in ms.items():  # alternate methods
            t0 = time.perf_counter()
            outs[name] = fn(left, right)
            times[name].append(time.perf_counter() - t0)
    res = {"scene": scene.name, "size": [int(scene.shape[1]), int(scene.shape[0])],
           "num_disparities": num_disp, "methods": {}}
    t3 = float(np.median(times["cv_3way"]))
    npx = scene.shape[0] * scene.shape[1] * num_disp
    for name in ms:
        t = float(np.median(times[name]))
        scores = evaluate_disparity(outs[name], scene.disparity, nonoccluded=scene.nonoccluded)
        mem = peak_memory(methods(num_disp, [name] if name in presets else [])[name], left,
                          right)  # a fresh matcher: its first call allocates its volumes
        res["methods"][name] = {
            "time_s": t, "ratio_3way": t / t3, "peak_bytes": mem,
            "bytes_per_px_disp": mem / npx,
            **{k: float(scores[k]) for k in METRICS},
        }
    return res


def summarize(results: list[dict]) -> dict:
    names = list(results[0]["methods"])
    summ = {}
    for name in names:
        rows = [r["methods"][name] for r in results]
        s = {k: float(np.mean([r[k] for r in rows])) for k in METRICS}
        s["geomean_ratio_3way"] = float(np.exp(np.mean([np.log(r["ratio_3way"]) for r in rows])))
        s["max_bytes_per_px_disp"] = float(max(r["bytes_per_px_disp"] for r in rows))
        summ[name] = s
    return summ


def targets(summ: dict) -> dict:
    """The issue-3 targets, each True/False (None when the preset was not run)."""
    cv = summ["cv_3way"]
    out = {}
    if "balanced" in summ:
        b = summ["balanced"]
        out["balanced_bad2_all<=0.75x3way"] = b["bad2"] <= 0.75 * cv["bad2"]
        out["balanced_bad2_est<=3way"] = b["bad2_est"] <= cv["bad2_est"]
        out["balanced_density>=3way"] = b["density"] >= cv["density"]
        out["balanced_time<=1.0x3way"] = b["geomean_ratio_3way"] <= 1.0
    if "fast" in summ:
        f = summ["fast"]
        out["fast_time<=0.6x3way"] = f["geomean_ratio_3way"] <= 0.6
        out["fast_bad2_all<=3way"] = f["bad2"] <= cv["bad2"]
    for name in ("fast", "balanced", "quality"):
        if name in summ:  # the largest peak over the scenes, at every disparity range
            out[f"{name}_peak<=3B/px*D"] = summ[name]["max_bytes_per_px_disp"] <= 3.0
    return out


def compile_times() -> dict:
    """In new processes: the first call of the default matcher with an empty numba cache
    (``first_call_s``, the issue's compile target) and again in a new process once the cache
    holds its kernels (``cached_first_call_s``, the cached-load target: imports included);
    then every kernel of every preset and option compiled (``all_kernels_s``,
    :func:`depthkit.stereo.warmup`) and loaded from the cache in a new process
    (``cached_load_s``). About 0.4 s of each cached figure is numba's own first load, which
    imports ``scipy.linalg`` to look for a BLAS."""
    first = ("import time; t = time.perf_counter(); import numpy as np; import depthkit as dk; "
             "a = np.random.default_rng(0).integers(0, 256, (48, 64), dtype=np.uint8); "
             "dk.SGM(16).compute(a, np.roll(a, -3, axis=1)); print(time.perf_counter() - t)")
    every = ("import time; t = time.perf_counter(); import depthkit.stereo as s; s.warmup(); "
             "print(time.perf_counter() - t)")
    out = {}
    with tempfile.TemporaryDirectory() as first_cache, tempfile.TemporaryDirectory() as cache:
        for key, code, where in (("first_call_s", first, first_cache),
                                 ("cached_first_call_s", first, first_cache),
                                 ("all_kernels_s", every, cache), ("cached_load_s", every, cache)):
            env = {**os.environ, "NUMBA_CACHE_DIR": where, "DEPTHKIT_NUMBA_CACHE": "1"}
            r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                               text=True, check=True, cwd=str(REPO))
            out[key] = float(r.stdout.strip().splitlines()[-1])
    return out


def large_pair(threads: int) -> dict:
    """The issue's memory bound in practice: the default matcher on a 2-megapixel pair
    (1920 x 1080, a random texture shifted by 40 pixels) with 256 disparities, in a new
    process: its time, the peak of numpy's allocations during the call (tracemalloc) and the
    process's peak resident size during the call (imports and loaded kernels included; target
    2 GB). On Linux the peak is reset after the warm-up, whose compilation (when the cache is
    cold) can take more memory than the call; elsewhere it is the whole process's."""
    code = f"""
import resource, time, tracemalloc
import numpy as np, numba
import depthkit as dk
numba.set_num_threads(min({threads}, numba.config.NUMBA_NUM_THREADS))
rng = np.random.default_rng(0)
base = rng.integers(0, 256, (1080, 1960), dtype=np.uint8)
left, right = base[:, :1920].copy(), base[:, 40:].copy()
m = dk.SGM(256)
m.compute(left[:64, :400], right[:64, :400])  # kernels from the cache, outside the timing
m.release()
try:  # reset the peak resident size (Linux): the warm-up may have compiled
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
tracemalloc.start()
t = time.perf_counter()
d = m.compute(left, right)
t = time.perf_counter() - t
peak = tracemalloc.get_traced_memory()[1]
ok = float(np.mean(np.abs(d[:, 300:] - 40.0) < 1))
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
try:
    with open("/proc/self/status") as f:
        rss = next(int(v.split()[1]) * 1024 for v in f if v.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
print(t, peak, rss, ok)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True, cwd=str(REPO))
    t, peak, rss, ok = (float(v) for v in r.stdout.split()[-4:])
    return {"time_s": t, "peak_bytes": peak, "max_rss_bytes": rss,
            "bytes_per_px_disp": peak / (1920 * 1080 * 256), "fraction_correct": ok}


def format_table(results, summ) -> str:
    hdr = (f"{'scene':22s} {'method':9s} {'ms':>8s} {'x3way':>6s} {'bad1%':>6s} {'bad2%':>6s} "
           f"{'bad4%':>6s} {'b2est%':>6s} {'EPE':>6s} {'dens%':>6s} {'MB':>7s} {'B/pxd':>5s}")
    lines = [hdr, "-" * len(hdr)]
    for r in results:
        for name, m in r["methods"].items():
            lines.append(
                f"{r['scene'][:22]:22s} {name:9s} {m['time_s'] * 1e3:8.1f} {m['ratio_3way']:6.2f} "
                f"{m['bad1'] * 100:6.1f} {m['bad2'] * 100:6.1f} {m['bad4'] * 100:6.1f} "
                f"{m['bad2_est'] * 100:6.1f} {m['epe']:6.2f} {m['density'] * 100:6.1f} "
                f"{m['peak_bytes'] / 2**20:7.1f} {m['bytes_per_px_disp']:5.2f}"
            )
    lines.append("-" * len(hdr))
    for name, s in summ.items():
        lines.append(
            f"{'MEAN':22s} {name:9s} {'':8s} {s['geomean_ratio_3way']:6.2f} "
            f"{s['bad1'] * 100:6.1f} {s['bad2'] * 100:6.1f} {s['bad4'] * 100:6.1f} "
            f"{s['bad2_est'] * 100:6.1f} {s['epe']:6.2f} {s['density'] * 100:6.1f} "
            f"{'':7s} {s['max_bytes_per_px_disp']:5.2f}"
        )
    lines.append("(x3way on MEAN rows is the geometric mean of the per-scene time ratios)")
    return "\n".join(lines)


def run(data: Path, scene_filter, presets, repeat: int, threads: int) -> dict:
    import cv2
    import numba

    from depthkit.eval import find_scenes, load_scene

    cv2.setNumThreads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    found = find_scenes(data)
    results = []
    for path, frame in found:
        scene = load_scene(path, frame)
        if scene_filter and not any(f.lower() in scene.name.lower() for f in scene_filter):
            continue
        results.append(bench_scene(scene, presets, repeat))
        print(f"done {scene.name}", file=sys.stderr)
    if not results:
        raise SystemExit(f"no scenes matched under {data}")
    summ = summarize(results)
    return {"meta": {"threads": threads, "repeat": repeat, "data": str(data),
                     "loadavg": list(os.getloadavg()), "opencv": cv2.__version__,
                     "numba": numba.__version__},
            "scenes": results, "summary": summ, "targets": targets(summ)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dataset root folder")
    ap.add_argument("--scenes", default="", help="comma-separated scene-name filters")
    ap.add_argument("--presets", default=",".join(PRESETS), help="depthkit presets to run")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per method and scene")
    ap.add_argument("--threads", type=int, default=2, help="threads for OpenCV and numba")
    ap.add_argument("--compile", action="store_true",
                    help="also measure compile and cached-load time in new processes")
    ap.add_argument("--skip-large", action="store_true",
                    help="skip the 2-megapixel pair at 256 disparities (1.3 GB, a few seconds)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    a = ap.parse_args(argv)
    presets = [p for p in a.presets.split(",") if p]
    filt = [s for s in a.scenes.split(",") if s]
    res = run(a.data, filt, presets, max(1, a.repeat), a.threads)
    if not a.skip_large:
        res["large_pair"] = large_pair(a.threads)
        res["targets"]["2MP_x_256_under_2GB"] = res["large_pair"]["max_rss_bytes"] < 2 * 2**30
    if a.compile:
        res["compile"] = compile_times()
    if a.json:
        json.dump(res, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    sys.stdout.write(format_table(res["scenes"], res["summary"]) + "\n")
    lp = res.get("large_pair")
    if lp:
        sys.stdout.write(f"2 MP x 256 disparities (balanced): {lp['time_s']:.2f} s, numpy "
                         f"peak {lp['peak_bytes'] / 2**30:.2f} GB ({lp['bytes_per_px_disp']:.2f} "
                         f"B/px*D), process peak RSS {lp['max_rss_bytes'] / 2**30:.2f} GB, "
                         f"{lp['fraction_correct'] * 100:.1f} % within 1 px\n")
    for k, v in res["targets"].items():
        sys.stdout.write(f"target {k:34s} {'met' if v else 'MISSED'}\n")
    if "compile" in res:
        c = res["compile"]
        sys.stdout.write(f"compile: first call {c['first_call_s']:.1f} s (target 20), from the "
                         f"cache {c['cached_first_call_s']:.2f} s (target 1); every kernel "
                         f"{c['all_kernels_s']:.1f} s, from the cache "
                         f"{c['cached_load_s']:.2f} s\n")
    sys.stdout.write(f"threads {a.threads}, load average {res['meta']['loadavg']}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
