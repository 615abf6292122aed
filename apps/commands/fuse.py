"""``depthkit fuse SOURCE -o mesh.ply``: fuse a source's frames into a TSDF mesh."""

from __future__ import annotations

import json
import sys

import depthkit as dk


def add_parser(sub) -> None:
    p = sub.add_parser(
        "fuse", help="fuse posed depth frames into a mesh (TSDF)",
        description="Fuse the frames of SOURCE (sim://rgbd, sim://stereo, realsense://REC.bag, "
                    "...) into a TSDF volume and write the mesh. Poses come from the source "
                    "(e.g. the simulator's ground truth), a pose file, or RGB-D odometry. "
                    "Stereo sources are matched with SGM first.")
    p.add_argument("source", help="source URI")
    p.add_argument("-o", "--out", required=True,
                   help="output: .ply/.obj/.stl mesh, .pcd point cloud or .npz voxel grid")
    p.add_argument("--voxel", type=float, default=0.005,
                   help="voxel size in metres (default 0.005)")
    p.add_argument("--truncation", type=float, default=None,
                   help="TSDF truncation in metres (default 4 voxels)")
    p.add_argument("--max-depth", type=float, default=3.0, help="ignore depth beyond this (m)")
    p.add_argument("--weight-threshold", type=float, default=None,
                   help="minimum observations per voxel in the mesh (default min(frames-0.5, 3))")
    poses = p.add_mutually_exclusive_group()
    poses.add_argument("--poses", help="pose file (TUM 't tx ty tz qx qy qz qw', KITTI 3x4, .npy)")
    poses.add_argument("--odometry", action="store_true", help="estimate poses by RGB-D odometry")
    p.add_argument("--trajectory", help="write the poses used (TUM format) to this file")
    p.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    p.add_argument("--preset", default="balanced", help="SGM preset for stereo sources")
    p.add_argument("--num-disparities", type=int, default=64, help="SGM disparity range")
    p.add_argument("--no-filter", action="store_true",
                   help="fuse stereo disparities without the edge-preserving spatial filter")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    summary = dk.geometry.fuse_source(
        args.source, args.out, voxel_size=args.voxel, truncation=args.truncation,
        max_depth_m=args.max_depth, poses=args.poses, odometry=args.odometry,
        max_frames=args.max_frames, trajectory_out=args.trajectory,
        weight_threshold=args.weight_threshold, spatial=not args.no_filter,
        sgm={"num_disparities": args.num_disparities, "preset": args.preset},
        progress=False if args.no_progress else None,
    )
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"{summary['frames']} frames fused into {summary['vertices']} vertices, "
              f"{summary['triangles']} triangles -> {summary['out']} "
              f"({summary['integrate_ms_per_frame']} ms/frame integration)", file=sys.stderr)
        if summary["trajectory"]:
            print(f"trajectory written to {summary['trajectory']}", file=sys.stderr)
    return 0
