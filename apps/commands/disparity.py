"""``depthkit disparity LEFT RIGHT -o OUT.pfm``: SGM disparity of one rectified pair."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import depthkit as dk


def add_parser(sub) -> None:
    p = sub.add_parser(
        "disparity", help="compute the disparity of a stereo pair (SGM)",
        description="Compute the left-view disparity of LEFT/RIGHT with depthkit's SGM and write "
                    "it as a float32 PFM (pixels, NaN = invalid). With --rig the pair is "
                    "rectified first.")
    p.add_argument("left", help="left image file")
    p.add_argument("right", help="right image file")
    p.add_argument("-o", "--out", required=True, help="output .pfm file")
    p.add_argument("--num-disparities", type=int, default=64, metavar="N",
                   help="disparities searched (default 64)")
    p.add_argument("--min-disparity", type=int, default=0, metavar="N",
                   help="smallest disparity (default 0)")
    p.add_argument("--preset", default="balanced", choices=["fast", "balanced", "quality"],
                   help="SGM preset (default balanced)")
    p.add_argument("--rig", help="rig YAML: rectify the pair with it first")
    p.add_argument("--preview", metavar="PNG", help="also write a colourised preview image")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run)


def run(args) -> int:
    out = Path(args.out)
    if out.suffix.lower() != ".pfm":
        raise dk.errors.ParameterError(
            f"-o {out}: the disparity is written as PFM (float32 pixels, NaN = invalid), so "
            "name it .pfm; --preview NAME.png writes a picture of it")
    left_path, right_path = Path(args.left), Path(args.right)
    for path, what in ((left_path, "left"), (right_path, "right")):
        if not path.is_file():
            raise dk.errors.FileFormatError(f"{what} image not found: {path}")
    left, right = dk.io.read_image(left_path), dk.io.read_image(right_path)
    if args.rig:
        from depthkit import calibration as cal

        frame = cal.Rectifier(cal.load_rig(args.rig)).rectify(left, right)
        left, right = frame.left, frame.right
    matcher = dk.SGM(num_disparities=args.num_disparities, min_disparity=args.min_disparity,
                     preset=args.preset)
    t0 = time.perf_counter()
    disp = matcher.compute(left, right)
    elapsed = time.perf_counter() - t0
    dk.io.write_pfm(out, disp)
    if args.preview:
        dk.io.write_image(args.preview, dk.io.colorize_disparity(
            disp, max_disparity=float(args.min_disparity + args.num_disparities)))
    summary = {"out": str(out), "width": int(disp.shape[1]), "height": int(disp.shape[0]),
               "density": float((disp == disp).mean()), "seconds": elapsed,
               "rectified": bool(args.rig), "preset": args.preset}
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"wrote {out} ({disp.shape[1]}x{disp.shape[0]}, {summary['density']:.1%} valid, "
              f"{elapsed * 1000:.0f} ms)", file=sys.stderr)
    return 0
