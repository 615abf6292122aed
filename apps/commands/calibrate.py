"""``depthkit calibrate``: stereo calibration from board images, and printable boards.

    depthkit calibrate --board calib/boards/X.yaml --left 'L*.png' --right 'R*.png' -o rig.yaml
    depthkit calibrate make-board calib/boards/X.yaml -o board.png --dpi 300
"""

from __future__ import annotations

import glob
import json
import sys
from pathlib import Path

import depthkit as dk

_MAGIC = set("*?[")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "calibrate", help="calibrate a stereo rig from board images; make-board prints a board",
        description="Detect the board in every left/right pair, calibrate both cameras and "
                    "their pose (rejecting outlier views), rectify, and write an OpenCV-readable "
                    "rig YAML. `depthkit calibrate make-board BOARD.yaml -o board.png` renders "
                    "a printable board instead.")
    p.add_argument("action", nargs="*", metavar="make-board BOARD.yaml",
                   help="optional sub-action: make-board and the board file")
    p.add_argument("--board", help="board file (calib/boards/*.yaml)")
    p.add_argument("--left", nargs="+", help="left images: files or a quoted glob ('L*.png')")
    p.add_argument("--right", nargs="+", help="right images, in the same order")
    p.add_argument("-o", "--out", required=True,
                   help="rig YAML to write (make-board: the image to write)")
    p.add_argument("--report", metavar="DIR",
                   help="write summary.txt, report.json, errors.png, coverage.png here")
    p.add_argument("--ros", nargs=2, metavar=("LEFT.yaml", "RIGHT.yaml"),
                   help="also write ROS camera_info files")
    p.add_argument("--alpha", type=float, default=0.0,
                   help="rectification: 0 keeps only valid pixels, 1 all pixels (default 0)")
    p.add_argument("--rational", action="store_true", help="add k4 k5 k6 (wide-angle lenses)")
    p.add_argument("--fix-k3", action="store_true", help="keep k3 = 0")
    p.add_argument("--fix-intrinsics", action="store_true",
                   help="keep the mono intrinsics; solve only R, T")
    p.add_argument("--no-reject", action="store_true", help="keep outlier views")
    p.add_argument("--outlier-factor", type=float, default=3.0,
                   help="reject views whose RMS exceeds this times the median (default 3)")
    p.add_argument("--dpi", type=float, default=300.0, help="make-board: print resolution")
    p.add_argument("--square-px", type=int, default=None,
                   help="make-board: square size in pixels (boards without physical scale)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def expand(patterns: list[str], what: str) -> list[Path]:
    """Files named by `patterns` (paths or globs, in order; each glob sorted)."""
    out: list[Path] = []
    for pat in patterns:
        if _MAGIC & set(pat):
            hits = sorted(glob.glob(pat))
            if not hits:
                raise dk.errors.ParameterError(f"{what} pattern {pat!r} matches no files.")
            out += [Path(h) for h in hits]
        else:
            out.append(Path(pat))
    return out


def run(args) -> int:
    from depthkit import calibration as cal

    if args.action:
        if args.action[0] != "make-board":
            raise dk.errors.ParameterError(
                f"unknown calibrate action {args.action[0]!r}; the only one is make-board.")
        if len(args.action) != 2:
            raise dk.errors.ParameterError("usage: depthkit calibrate make-board BOARD.yaml -o "
                                           "board.png [--dpi 300]")
        board = cal.load_board(args.action[1])
        img = board.render(dpi=args.dpi, square_px=args.square_px)
        dk.io.write_image(args.out, img)
        print(f"board {board.name!r} written to {args.out} ({img.shape[1]}x{img.shape[0]} px"
              + (f" at {args.dpi:g} dpi)" if args.square_px is None else ")"), file=sys.stderr)
        return 0
    missing = [o for o, v in (("--board", args.board), ("--left", args.left),
                              ("--right", args.right)) if not v]
    if missing:
        raise dk.errors.ParameterError(f"calibrate needs {', '.join(missing)}.")
    board = cal.load_board(args.board)
    left, right = expand(args.left, "--left"), expand(args.right, "--right")
    rig, report = cal.calibrate_stereo(
        board, left, right, rational=args.rational, fix_k3=args.fix_k3,
        fix_intrinsics=args.fix_intrinsics, reject_outliers=not args.no_reject,
        outlier_factor=args.outlier_factor, alpha=args.alpha,
        progress=not args.no_progress)
    cal.save_rig(rig, args.out)
    if args.report:
        cal.write_report(report, args.report, outlier_factor=args.outlier_factor)
    if args.ros:
        cal.save_ros_camera_info(rig, args.ros[0], args.ros[1])
    if args.json:
        json.dump({"rig": str(args.out), "rms": float(report.rms),
                   "baseline": float(rig.baseline_m),
                   "pairs_used": len(report.used_views), "pairs": len(report.views),
                   "rejected": report.rejected, "report": args.report}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stderr.write(report.summary())
        print(f"rig written to {args.out}", file=sys.stderr)
    return 0
