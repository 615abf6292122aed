"""``depthkit demo``: the whole pipeline on the built-in simulator, scored against ground truth.

Renders a short orbit of raw (distorted) stereo views, rectifies them with the simulated rig's
calibration, computes SGM disparity, depth and point clouds, fuses them into a mesh, scores every
stage against the exact ground truth, and writes previews, ``disparity.pfm``, ``cloud.ply``,
``mesh.ply``, ``report.html`` and ``summary.json``.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

import depthkit as dk
from depthkit.apps.report import write_html_report

# nearest depth the demo rig has to match: sets the disparity range (f * B / z_near)
DEMO_NEAR_M = 0.5


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline on the simulator and score it",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/demo", help="output folder (default: %(default)s)")
    p.add_argument("--scene", default="tabletop", help="simulated scene (default: %(default)s)")
    p.add_argument("--frames", type=int, default=8, help="frames of the orbit (default 8)")
    p.add_argument("--size", default="640x480", help="image size WxH (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--preset", default="balanced", help="SGM preset")
    p.add_argument("--voxel", type=float, default=0.01, help="fusion voxel size, metres")
    p.add_argument("--json", action="store_true", help="print summary.json on stdout")
    p.set_defaults(func=run)


def _mean(records: list[dict], key: str) -> float:
    vals = [r[key] for r in records if np.isfinite(r[key])]
    return float(np.mean(vals)) if vals else float("nan")


def run(args) -> int:
    from depthkit.eval import evaluate_depth, evaluate_disparity
    from depthkit.geometry import mesh_accuracy_completeness, voxel_downsample

    if args.frames < 1:
        raise dk.errors.ParameterError(f"--frames must be >= 1; got {args.frames}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    uri = (f"sim://stereo?scene={args.scene}&seed={args.seed}&size={args.size}"
           f"&frames={args.frames}&trajectory=orbit")
    disp_stats, depth_stats, gt_clouds = [], [], []
    first = None
    with dk.open(uri) as cam:
        rig = cam.rig
        f_px, b_m = rig.focal_px, rig.baseline_m
        num_disp = 16 * math.ceil(f_px * b_m / DEMO_NEAR_M / 16)
        matcher = dk.SGM(num_disparities=num_disp, preset=args.preset)
        fusion = dk.Fusion(voxel_size=args.voxel, max_depth_m=4.0)
        # stereo noise is uniform in disparity: smooth there (edge-preserving) before depth
        smooth = functools.partial(dk.geometry.spatial_filter, **dk.geometry.STEREO_SPATIAL)
        pipe = dk.Pipeline(cam, matcher=matcher, disparity_filter=smooth, fusion=fusion)
        print(f"depthkit demo: {args.frames} frames of sim://stereo ({args.scene}, {args.size}), "
              f"SGM {args.preset} with {num_disp} disparities", file=sys.stderr)
        for frame in pipe:
            gt = frame.ground_truth
            nonocc = ~gt.occlusion if gt.occlusion is not None else None
            disp_stats.append(evaluate_disparity(frame.disparity, gt.disparity,
                                                 nonoccluded=nonocc))
            gt_depth = dk.disparity_to_depth(gt.disparity, rig)
            depth_stats.append(evaluate_depth(frame.depth_m, gt_depth))
            # ground-truth surface as the cameras saw it, in the world frame
            pts, _ = dk.to_pointcloud(gt_depth, frame.intrinsics, cam2world=frame.pose)
            gt_clouds.append(pts)
            if first is None:
                first = (frame, gt_depth)
            print(f"  frame {frame.sequence}: bad-2 {100 * disp_stats[-1]['bad2']:.1f}%  "
                  f"depth within 5% {100 * depth_stats[-1]['within5']:.1f}%", file=sys.stderr)
        timings = pipe.stats()
    mesh = fusion.extract_mesh()
    fusion.save(out / "mesh.ply")
    gt_points, _ = voxel_downsample(np.concatenate(gt_clouds), voxel_size=args.voxel / 4)
    quality = mesh_accuracy_completeness(mesh, gt_points, threshold_m=2 * args.voxel)
    mean_depth = float(np.nanmean(first[1]))

    frame, gt_depth = first
    dk.io.write_pfm(out / "disparity.pfm", frame.disparity)
    pts, cols = dk.to_pointcloud(frame.depth_m, frame.intrinsics, color=frame.color,
                                 cam2world=frame.pose)
    dk.io.write_ply(out / "cloud.ply", pts, cols)
    gt_disp = frame.ground_truth.disparity
    pictures = {
        "left.png": np.asarray(frame.color),
        "disparity.png": dk.io.colorize_disparity(frame.disparity, max_disparity=num_disp,
                                                  legend=True),
        "disparity_gt.png": dk.io.colorize_disparity(gt_disp, max_disparity=num_disp,
                                                     legend=True),
        "disparity_error.png": dk.io.colorize_error(frame.disparity - gt_disp, max_error=4.0,
                                                    legend=True),
        "depth.png": dk.io.colorize_depth(frame.depth_m, min_m=0.3, max_m=3.0, legend=True),
    }
    for name, img in pictures.items():
        dk.io.write_image(out / name, img)

    summary = {
        "source": uri,
        "frames": len(disp_stats),
        "num_disparities": num_disp,
        "preset": args.preset,
        "stereo": {k: _mean(disp_stats, k) for k in disp_stats[0]},
        "depth": {k: _mean(depth_stats, k) for k in depth_stats[0]},
        "fusion": {**quality.to_dict(), "voxel_size_m": args.voxel,
                   "accuracy_over_mean_depth": quality.accuracy_mean_m / mean_depth,
                   "mesh_vertices": int(len(mesh.vertices))},
        "timings": timings,
        "seconds": round(time.perf_counter() - t0, 2),
        "outputs": sorted([*pictures, "disparity.pfm", "cloud.ply", "mesh.ply", "report.html",
                           "summary.json"]),
    }
    write_html_report(out / "report.html", "depthkit demo", [
        ("Stereo (SGM vs ground-truth disparity, mean over frames)", summary["stereo"],
         [("left (rectified)", pictures["left.png"]),
          ("disparity", pictures["disparity.png"]),
          ("ground truth", pictures["disparity_gt.png"]),
          ("|error| (px)", pictures["disparity_error.png"])]),
        ("Depth (metres vs ground truth)", summary["depth"],
         [("depth", pictures["depth.png"])]),
        ("Fusion (mesh vs ground-truth surface)", summary["fusion"], []),
        ("Timing", {k: f"{v['median_ms']} ms median" for k, v in timings["stages"].items()}, []),
    ])
    dk.io.write_bytes_atomic(out / "summary.json", json.dumps(summary, indent=2).encode())
    s, d, fu = summary["stereo"], summary["depth"], summary["fusion"]
    print(f"stereo: bad-2 {100 * s['bad2']:.1f}% (all GT px), {100 * s['bad2_est']:.1f}% "
          f"(estimated), EPE {s['epe']:.2f} px, density {100 * s['density']:.0f}%\n"
          f"depth:  within 1% {100 * d['within1']:.1f}%, within 5% {100 * d['within5']:.1f}%, "
          f"RMSE {d['rmse'] * 100:.1f} cm\n"
          f"fusion: accuracy {fu['accuracy_mean_m'] * 1000:.1f} mm "
          f"({100 * fu['accuracy_over_mean_depth']:.2f}% of mean depth), completeness "
          f"{100 * fu['completeness']:.1f}%, {fu['mesh_vertices']} vertices\n"
          f"wrote {out}/ (report.html, summary.json, mesh.ply, cloud.ply, disparity.pfm) "
          f"in {summary['seconds']:.1f} s", file=sys.stderr)
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0
