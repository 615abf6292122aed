"""``depthkit record``: copy frames from any source into a recording folder."""

from __future__ import annotations

import json
import sys

import depthkit as dk


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "record",
        help="record frames from a source to a folder (PNG/PFM + manifest.json)",
        description=(
            "Read frames from SOURCE (any depthkit URI: realsense://, uvc://0,1, sim://stereo, "
            "files://...) and write them to the folder OUT, one frame at a time: the images "
            "(PNG, depth and float images as PFM) first, then manifest.json, each atomically, so "
            "an interruption loses at most the frame in flight. Play it back with "
            "recording://OUT. To keep librealsense's own .bag/.db3 format from a live camera, "
            "add ?record=FILE.db3 to the realsense:// URI (librealsense then records the "
            "camera's raw streams too)."
        ),
    )
    p.add_argument("source", metavar="SOURCE", help="source URI")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="recording folder")
    p.add_argument("--frames", type=int, default=None, metavar="N",
                   help="stop after N frames (default: until the source ends or Ctrl-C)")
    p.add_argument("--timeout", type=float, default=5.0, metavar="S",
                   help="seconds to wait for each frame (default 5)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing recording")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.output.lower().endswith((".bag", ".db3")):
        raise dk.errors.ParameterError(
            f"-o {args.output}: depthkit record writes a folder; for a librealsense "
            f"recording open realsense://SERIAL?record=FILE.db3 instead"
        )
    with dk.open(args.source) as src:
        n = dk.sources.record(src, args.output, frames=args.frames, timeout=args.timeout,
                              overwrite=args.overwrite, progress=not args.no_progress)
        info = src.info()
    summary = {"output": args.output, "frames": n, "dropped": info.dropped,
               "source": args.source, "playback": f"recording://{args.output}"}
    if args.json:
        print(json.dumps(summary))
    else:
        dropped = f", {info.dropped} dropped by the source" if info.dropped else ""
        print(f"recorded {n} frame(s) to {args.output}{dropped}; play back with "
              f"{summary['playback']}", file=sys.stderr)
    return 0
