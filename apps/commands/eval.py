"""``depthkit eval``: score predicted disparities against a dataset's ground truth."""

from __future__ import annotations

import argparse
import json
import math
import sys

_COLUMNS = [  # key, header, format
    ("bad1", "bad1%", "{:7.2f}"),
    ("bad2", "bad2%", "{:7.2f}"),
    ("bad4", "bad4%", "{:7.2f}"),
    ("bad2_nonocc", "bad2noc%", "{:8.2f}"),
    ("bad2_est", "bad2est%", "{:8.2f}"),
    ("epe", "EPE px", "{:7.3f}"),
    ("density", "dens%", "{:6.1f}"),
    ("d1", "D1%", "{:6.2f}"),
]
_PERCENT = {"bad1", "bad2", "bad4", "bad2_nonocc", "bad2_est", "density", "d1"}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score predicted disparity maps against ground truth",
        description=(
            "For every stereo scene under DATASET (Middlebury 2001-2014, ETH3D two-view, KITTI "
            "2015 layouts), read the predicted disparity PRED/<scene>.pfm (float32 pixels of the "
            "left image, NaN or inf = no estimate) and print bad-1/2/4 (%% of all GT pixels, a "
            "missing estimate counts as bad), bad-2 over non-occluded and over estimated pixels, "
            "end-point error, density and KITTI D1."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", required=True, metavar="DIR", help="dataset or scene folder")
    p.add_argument("--pred", required=True, metavar="DIR", help="folder of <scene>.pfm files")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--skip-missing", action="store_true",
                   help="skip scenes without a prediction instead of failing")
    p.set_defaults(func=run)


def _clean(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def _mean(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if not math.isnan(r[key])]
    return sum(vals) / len(vals) if vals else float("nan")


def format_table(rows: list[dict]) -> str:
    """The results as a fixed-width text table with a mean row (rates in percent)."""
    width = max([len("scene"), len("mean")] + [len(r["scene"]) for r in rows])
    head = f"{'scene':<{width}}  {'size':>9}  " + "  ".join(
        f"{h:>{len(fmt.format(0.0))}}" for _, h, fmt in _COLUMNS)
    lines = [head, "-" * len(head)]

    def cells(r):
        out = []
        for key, _, fmt in _COLUMNS:
            v = r[key] * (100.0 if key in _PERCENT else 1.0)
            out.append(fmt.format(v) if not math.isnan(v) else f"{'-':>{len(fmt.format(0.0))}}")
        return "  ".join(out)

    for r in rows:
        size = f"{r['width']}x{r['height']}"
        lines.append(f"{r['scene']:<{width}}  {size:>9}  {cells(r)}")
    if len(rows) > 1:
        mean = {key: _mean(rows, key) for key, _, _ in _COLUMNS}
        lines.append("-" * len(head))
        lines.append(f"{'mean':<{width}}  {'':>9}  {cells(mean)}")
    return "\n".join(lines)


def run(args) -> int:
    from depthkit.eval import evaluate_predictions

    rows = evaluate_predictions(args.dataset, args.pred, skip_missing=args.skip_missing)
    if args.json:
        out = {
            "scenes": [{k: _clean(v) for k, v in r.items()} for r in rows],
            "mean": {key: _clean(_mean(rows, key)) for key, _, _ in _COLUMNS} if rows else {},
            "units": "rates are fractions in [0, 1]; epe in pixels",
        }
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_table(rows))
    return 0
