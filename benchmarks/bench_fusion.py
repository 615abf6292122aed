"""TSDF fusion benchmark: speed next to Open3D's own integration, and quality on the simulator.

Speed: integration time per 640x480 frame of ``depthkit.geometry.Fusion`` and, on the same
frames, of a bare Open3D ``VoxelBlockGrid`` (uint16 millimetre depth and uint8 colour already
converted to tensors, as Open3D's own examples feed it; the same voxel size, truncation, depth
range and block size; and with Open3D's default 16^3 blocks); median and IQR over frames in
the best of three interleaved rounds (the machine may be shared), ratio printed.
Budget: <= 60 ms/frame on 2 cores.

Quality (issue 7 targets), on a simulated ``sim://stereo`` orbit with depth from our SGM:
mesh accuracy (mean distance from mesh vertices to the true scene meshes) <= 1 % of the mean
scene depth; completeness >= 90 %: samples of the true surface that the stereo pair can observe
(ground-truth depth of pixels seen by both cameras, inside the disparity range and the depth
limit, from every frame) within 2 voxels of the mesh; and with
RGB-D odometry instead of ground-truth poses, final translation drift <= 2 % of the path.

    python benchmarks/bench_fusion.py [--frames 60] [--size 640x480] [--voxel 0.01] [--json]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

import depthkit as dk
from depthkit.geometry import (
    STEREO_SPATIAL,
    Fusion,
    Odometry,
    mesh_accuracy_completeness,
    spatial_filter,
    trajectory_drift,
    voxel_downsample,
)


def _meta(args) -> dict:
    import numba
    import open3d

    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=False).stdout.strip()
    except OSError:
        sha = ""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"git": sha, "numpy": np.__version__, "numba": numba.__version__,
            "open3d": open3d.__version__, "cpus": os.cpu_count(), "cpu": cpu,
            "size": args.size, "frames": args.frames, "voxel": args.voxel}


def _open3d_integration_ms(frames, poses, voxel, trunc_mult, max_depth,
                           block_resolution) -> list[float]:
    """Open3D's own VoxelBlockGrid integration of the same frames (inputs pre-converted)."""
    import open3d as o3d

    o3c = o3d.core
    grid = o3d.t.geometry.VoxelBlockGrid(
        attr_names=("tsdf", "weight", "color"), attr_dtypes=(o3c.float32,) * 3,
        attr_channels=((1), (1), (3)), voxel_size=voxel, block_resolution=block_resolution,
        block_count=4000 if block_resolution <= 8 else 1000)
    inputs = []
    for f, T in zip(frames, poses):  # Open3D's usual input: uint16 millimetres, uint8 RGB
        d = np.nan_to_num(f.depth_m, nan=0.0)
        d = np.where(d <= max_depth, np.round(d * 1000.0), 0).astype(np.uint16)
        inputs.append((o3d.t.geometry.Image(o3c.Tensor(d)),
                       o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(f.color))),
                       o3c.Tensor(f.intrinsics.K, o3c.float64),
                       o3c.Tensor(np.linalg.inv(T), o3c.float64)))
    times = []
    for dimg, cimg, K, ext in inputs:
        t0 = time.perf_counter()
        blocks = grid.compute_unique_block_coordinates(dimg, K, ext, 1000.0, max_depth,
                                                       trunc_mult)
        grid.integrate(blocks, dimg, cimg, K, K, ext, 1000.0, max_depth, trunc_mult)
        times.append(1000 * (time.perf_counter() - t0))
    return times


def _depthkit_integration_ms(frames, poses, voxel, trunc, max_depth):
    fusion = Fusion(voxel, truncation=trunc, max_depth_m=max_depth)
    times = []
    for f, T in zip(frames, poses):
        t0 = time.perf_counter()
        fusion.integrate(f, T)
        times.append(1000 * (time.perf_counter() - t0))
    return times, fusion


def _stats(ms) -> dict:
    a = np.asarray(ms[1:] if len(ms) > 2 else ms)  # the first frame allocates the grid
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {"median_ms": round(float(med), 2), "iqr_ms": round(float(q3 - q1), 2),
            "mean_ms": round(float(a.mean()), 2)}


def _observable_depth(frame, num_disparities: int, max_depth: float) -> np.ndarray:
    """Ground-truth depth where the stereo pair can measure at all: seen by both cameras
    (not occluded, inside the right image and the disparity range) and within max_depth.
    These pixels' surface is what completeness is measured against."""
    gt = frame.ground_truth
    z = np.array(gt.depth_m, dtype=np.float32)
    ok = np.isfinite(z) & (z <= max_depth)
    if gt.disparity is not None:
        d = gt.disparity
        x = np.arange(z.shape[1])[None, :]
        with np.errstate(invalid="ignore"):
            ok &= np.isfinite(d) & (d < num_disparities) & (x - d >= 0)
    if gt.occlusion is not None:
        ok &= ~gt.occlusion
    z[~ok] = np.nan
    return z


def _render_and_match(uri, sgm, args, max_depth):
    frames, gt_poses, gt_frames = [], [], []
    flt = None if args.no_filter else functools.partial(spatial_filter, **STEREO_SPATIAL)
    pipe = dk.Pipeline(matcher=sgm, disparity_filter=flt)
    with dk.open(uri) as src:
        for sf in src:
            f = pipe.process(sf)
            if f.color is not None and f.color.ndim == 2:
                f = dk.RGBDFrame(f.depth_m, f.intrinsics, f.timestamp_s, f.sequence,
                                 color=np.repeat(f.color[..., None], 3, axis=2))
            frames.append(dk.RGBDFrame(f.depth_m, f.intrinsics, f.timestamp_s, f.sequence,
                                       color=f.color))
            gt_poses.append(np.asarray(sf.ground_truth.pose))
            gt_frames.append(_observable_depth(sf, args.num_disparities, max_depth))
    return frames, gt_poses, gt_frames


def _save_cache(path, frames, gt_poses, gt_frames):
    i = frames[0].intrinsics
    np.savez(path, depth=np.stack([f.depth_m for f in frames]),
             color=np.stack([f.color for f in frames]), times=[f.timestamp_s for f in frames],
             poses=np.stack(gt_poses), gt=np.stack(gt_frames),
             intr=[i.width, i.height, i.fx, i.fy, i.cx, i.cy])


def _load_cache(path):
    z = np.load(path)
    w, h, fx, fy, cx, cy = z["intr"]
    intr = dk.Intrinsics(int(w), int(h), fx, fy, cx, cy)
    frames = [dk.RGBDFrame(d, intr, float(t), k, color=c)
              for k, (d, c, t) in enumerate(zip(z["depth"], z["color"], z["times"]))]
    return frames, list(z["poses"]), list(z["gt"])


def _gt_distance(scene, points) -> np.ndarray:
    """Unsigned distance of points to the simulator's true meshes."""
    import open3d as o3d

    rc = o3d.t.geometry.RaycastingScene()
    for obj in scene.objects:
        rc.add_triangles(o3d.core.Tensor(obj.vertices), o3d.core.Tensor(obj.triangles))
    return rc.compute_distance(o3d.core.Tensor(points.astype(np.float32))).numpy()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--scene", default="tabletop")
    ap.add_argument("--trajectory", default="orbit")
    ap.add_argument("--voxel", type=float, default=0.01)
    ap.add_argument("--rounds", type=int, default=3, help="timing rounds (best one counts)")
    ap.add_argument("--truncation", type=float, default=None, help="metres (default 4 voxels)")
    ap.add_argument("--max-depth", type=float, default=None,
                    help="metres (default: the scene's depth range far end, at most 4 m)")
    ap.add_argument("--num-disparities", type=int, default=128)
    ap.add_argument("--preset", default="balanced")
    ap.add_argument("--no-odometry", action="store_true")
    ap.add_argument("--no-filter", action="store_true",
                    help="no spatial filter on the disparities (depthkit fuse --no-filter)")
    ap.add_argument("--json", action="store_true", help="JSON on stdout")
    ap.add_argument("--cache", help="keep the matched frames in this .npz (re-runs skip SGM)")
    args = ap.parse_args(argv)
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print

    uri = (f"sim://stereo?scene={args.scene}&trajectory={args.trajectory}&frames={args.frames}"
           f"&size={args.size}&rectified=1")
    scene = dk.sim.make_scene(args.scene, 0)
    max_depth = args.max_depth or min(4.0, scene.depth_range[1])
    trunc = args.truncation or 4 * args.voxel
    sgm = dk.SGM(num_disparities=args.num_disparities, preset=args.preset)
    frames, gt_poses, gt_frames = [], [], []
    t0 = time.perf_counter()
    if args.cache and os.path.exists(args.cache):
        frames, gt_poses, gt_frames = _load_cache(args.cache)
        log(f"frames from {args.cache}")
    else:
        log(f"rendering {args.frames} frames of {uri} and matching them with SGM ...")
        frames, gt_poses, gt_frames = _render_and_match(uri, sgm, args, max_depth)
        if args.cache:
            _save_cache(args.cache, frames, gt_poses, gt_frames)
    log(f"  {time.perf_counter() - t0:.1f} s")


    # --- speed --------------------------------------------------------------------------------
    # interleaved rounds; the round with the lowest median counts (the machine is shared)
    runs = {"depthkit": [], "open3d": [], "open3d_default_blocks": []}
    for _ in range(args.rounds):
        dk_ms, fusion = _depthkit_integration_ms(frames, gt_poses, args.voxel, trunc, max_depth)
        res = fusion.block_resolution
        runs["depthkit"].append(_stats(dk_ms))
        runs["open3d"].append(_stats(_open3d_integration_ms(
            frames, gt_poses, args.voxel, trunc / args.voxel, max_depth, res)))
        runs["open3d_default_blocks"].append(_stats(_open3d_integration_ms(
            frames, gt_poses, args.voxel, trunc / args.voxel, max_depth, 16)))
    speed = {k: min(v, key=lambda r: r["median_ms"]) for k, v in runs.items()}
    speed["block_resolution"] = res
    speed["round_medians_ms"] = {k: [r["median_ms"] for r in v] for k, v in runs.items()}
    speed["ratio_depthkit_over_open3d"] = round(
        speed["depthkit"]["median_ms"] / max(speed["open3d"]["median_ms"], 1e-9), 3)
    speed["budget_ms"] = 60.0
    speed["within_budget"] = speed["depthkit"]["median_ms"] <= 60.0

    # --- quality ------------------------------------------------------------------------------
    mesh = fusion.extract_mesh()
    V = np.asarray(mesh.vertices)
    mean_depth = float(np.nanmean([np.nanmean(g) for g in gt_frames]))
    gt_pts = []
    for f, g, T in zip(frames, gt_frames, gt_poses):
        p, _ = dk.to_pointcloud(g, f.intrinsics, cam2world=T, stride=2)
        gt_pts.append(p)
    gt_pts, _ = voxel_downsample(np.concatenate(gt_pts), voxel_size=args.voxel / 2)
    acc = _gt_distance(scene, V) if len(V) else np.array([np.nan])
    q = mesh_accuracy_completeness(V, gt_pts, threshold_m=2 * args.voxel)
    quality = {
        "mean_scene_depth_m": round(mean_depth, 4),
        "accuracy_mean_m": round(float(acc.mean()), 5),
        "accuracy_ratio": round(float(acc.mean()) / mean_depth, 5),
        "accuracy_median_m": round(float(np.median(acc)), 5),
        "completeness": round(q.completeness, 4),
        "vertices": len(V),
        "target_accuracy_ratio": 0.01, "target_completeness": 0.90,
    }
    quality["meets_targets"] = (quality["accuracy_ratio"] <= 0.01
                                and quality["completeness"] >= 0.90)

    result = {"meta": _meta(args), "speed": speed, "quality": quality}
    if not args.no_odometry:
        odo = Odometry(max_depth_m=max_depth)
        t0 = time.perf_counter()
        for f in frames:
            odo.track(f)
        dt = time.perf_counter() - t0
        drift = trajectory_drift(odo.poses, gt_poses)
        result["odometry"] = {
            **{k: round(v, 5) for k, v in drift.items()},
            "failures": odo.failures, "ms_per_frame": round(1000 * dt / len(frames), 1),
            "target_drift_ratio": 0.02, "meets_target": drift["drift_ratio"] <= 0.02,
        }

    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        s = speed
        print(f"integration per {args.size} frame (median of {len(frames) - 1}, best of "
              f"{args.rounds} rounds):")
        print(f"  depthkit Fusion  {s['depthkit']['median_ms']:8.2f} ms  "
              f"(IQR {s['depthkit']['iqr_ms']:.2f})")
        print(f"  Open3D VBG       {s['open3d']['median_ms']:8.2f} ms  "
              f"(IQR {s['open3d']['iqr_ms']:.2f})  same settings ({res}^3-voxel blocks)")
        print(f"  Open3D VBG       {s['open3d_default_blocks']['median_ms']:8.2f} ms  "
              f"(IQR {s['open3d_default_blocks']['iqr_ms']:.2f})  Open3D's default 16^3 blocks")
        print(f"  ratio depthkit/Open3D {s['ratio_depthkit_over_open3d']:.2f}   budget 60 ms: "
              f"{'ok' if s['within_budget'] else 'OVER'}")
        print(f"mesh: {quality['vertices']} vertices; accuracy "
              f"{quality['accuracy_mean_m'] * 1000:.2f}"
              f" mm = {100 * quality['accuracy_ratio']:.2f} % of mean depth "
              f"{quality['mean_scene_depth_m']:.2f} m (target <= 1 %); completeness "
              f"{100 * quality['completeness']:.1f} % (target >= 90 %)")
        if "odometry" in result:
            o = result["odometry"]
            print(f"odometry: drift {o['drift_m'] * 1000:.1f} mm over {o['path_length_m']:.3f} m"
                  f" = {100 * o['drift_ratio']:.2f} % (target <= 2 %), {o['failures']} failures,"
                  f" {o['ms_per_frame']} ms/frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
