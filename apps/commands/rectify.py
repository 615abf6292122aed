"""``depthkit rectify --rig rig.yaml LEFT RIGHT -o DIR``: rectify image pairs (files or folders)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import depthkit as dk

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm"}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "rectify", help="rectify stereo image pairs with a rig file",
        description="Rectify LEFT/RIGHT (two image files, or two folders whose sorted images "
                    "pair up) with the rig file and write DIR/left/NAME.png, DIR/right/NAME.png "
                    "and the rectified rig DIR/rig_rectified.yaml.")
    p.add_argument("left", help="left image or folder")
    p.add_argument("right", help="right image or folder")
    p.add_argument("--rig", required=True, help="rig YAML (depthkit calibrate's output)")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--alpha", type=float, default=None,
                   help="re-rectify with this alpha (default: the rig file's rectification)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run)


def _list(path: Path, what: str) -> list[Path]:
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in _IMAGE_SUFFIXES)
        if not files:
            raise dk.errors.ParameterError(f"{what} folder {path} holds no images.")
        return files
    if not path.is_file():
        raise dk.errors.FileFormatError(f"{what} image or folder not found: {path}")
    return [path]


def run(args) -> int:
    from depthkit import calibration as cal

    rig = cal.load_rig(args.rig)
    rect = cal.Rectifier(rig, args.alpha)
    left, right = _list(Path(args.left), "left"), _list(Path(args.right), "right")
    if len(left) != len(right):
        raise dk.errors.ParameterError(
            f"{len(left)} left image(s) but {len(right)} right image(s); they must pair up.")
    out = Path(args.out)
    x, y, w, h = rect.roi
    rig_out = rect.rig
    written = []
    for lf, rf in zip(left, right):
        a, b = dk.io.read_image(lf), dk.io.read_image(rf)
        frame = rect.rectify(a, b)
        for side, img, src in (("left", frame.left, lf), ("right", frame.right, rf)):
            dst = out / side / (src.stem + ".png")
            dk.io.write_image(dst, img)
            written.append(str(dst))
    cal.save_rig(rig_out, out / "rig_rectified.yaml")
    summary = {"pairs": len(left), "out": str(out), "roi": [x, y, w, h],
               "focal_px": float(rig_out.focal_px), "baseline": float(rig_out.baseline_m),
               "vertical": bool(rig_out.is_vertical)}
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"{len(left)} pair(s) rectified into {out} (valid region x={x} y={y} w={w} h={h}, "
              f"focal {rig_out.focal_px:.2f} px)", file=sys.stderr)
    return 0
