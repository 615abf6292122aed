"""``depthkit depth SOURCE -o DIR``: pairs, folders, videos and datasets to per-frame outputs."""

from __future__ import annotations

import json
import sys

import depthkit as dk


def add_parser(sub) -> None:
    p = sub.add_parser(
        "depth", help="compute disparity/depth/clouds for every frame of a source",
        description="Offline depth from stereo. SOURCE is a URI (files://L*.png,R*.png, "
                    "video://PATH?layout=side-by-side, middlebury://DIR, kitti://DIR, "
                    "sim://stereo, ...). Outputs are written atomically, one set per frame.")
    p.add_argument("source", help="source URI")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--save", default="disparity,depth,preview",
                   help="comma list of disparity,depth,cloud,preview (default: %(default)s)")
    p.add_argument("--depth-format", default="png",
                   help="comma list of png (16-bit mm) and pfm (metres) (default: %(default)s)")
    p.add_argument("--rig", help="rig YAML: rectify raw frames with it and use it for depth")
    p.add_argument("--preset", default="balanced", help="SGM preset: fast, balanced, quality")
    p.add_argument("--num-disparities", type=int, default=64, help="disparity range (default 64)")
    p.add_argument("--min-disparity", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="skip frames already written")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="run on Dask: local:N (a local cluster of N workers) or tcp://HOST:8786 "
                        "(a running scheduler; OUT must be on storage every worker can write)")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="most frames per Dask task (default 4; smaller at the end)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    rig = dk.load_rig(args.rig) if args.rig else None
    summary = dk.batch.run_depth(
        args.source, args.out,
        save=[s.strip() for s in args.save.split(",") if s.strip()],
        depth_formats=[s.strip() for s in args.depth_format.split(",") if s.strip()],
        sgm={"num_disparities": args.num_disparities, "min_disparity": args.min_disparity,
             "preset": args.preset},
        rig=rig, resume=args.resume, workers=args.workers, scheduler=args.scheduler,
        chunk_size=args.chunk_size, max_frames=args.max_frames,
        progress=False if args.no_progress else None,
    )
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"{summary['frames_done']} frames written to {summary['out_dir']} "
              f"({summary['frames_skipped']} skipped, {summary['frames_failed']} failed, "
              f"{summary['fps']} frames/s)", file=sys.stderr)
        for f in summary["failed"]:
            print(f"  frame {f['key']}: {f['error']}", file=sys.stderr)
    return 1 if summary["frames_failed"] and not summary["frames_done"] else 0
