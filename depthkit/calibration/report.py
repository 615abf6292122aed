"""Calibration report files: per-view error bar chart, corner coverage heat map, text summary.

Drawn with OpenCV (no plotting library needed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..io import write_bytes_atomic, write_image
from .calibrate import CalibrationReport, _rejection_threshold

__all__ = ["write_report", "error_chart", "coverage_map"]

_WHITE, _BLACK, _GREY = (255, 255, 255), (0, 0, 0), (150, 150, 150)
_BLUE, _ORANGE, _RED, _GREEN = (31, 119, 180), (255, 127, 14), (214, 39, 40), (44, 160, 44)


def _text(img, s, org, scale=0.45, color=_BLACK, thick=1):
    import cv2

    cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


def error_chart(report: CalibrationReport, *, outlier_factor: float = 3.0,
                outlier_floor_px: float = 0.3) -> np.ndarray:
    """RGB bar chart of the per-view RMS errors (left/right bars for stereo pairs).

    Used views are blue/orange, rejected ones red; the dashed line is the rejection threshold,
    the grey line the overall RMS.
    """
    import cv2

    views = report.views
    n = max(1, len(views))
    bar_w = 14 if report.kind == "stereo" else 20
    group = bar_w * (2 if report.kind == "stereo" else 1) + 10
    left_m, right_m, top_m, bot_m = 60, 20, 40, 170
    W = max(420, left_m + right_m + n * group)
    H = 440
    img = np.full((H, W, 3), 255, np.uint8)
    errs = [e for v in views for e in (v.error, v.error_left, v.error_right) if e is not None]
    used = np.array([v.error for v in views if v.used and v.error is not None])
    thr = (_rejection_threshold(used, outlier_factor, outlier_floor_px) if len(used) else None)
    # the axis fits the used views and the threshold; taller (rejected) bars are clipped and
    # labelled with their value
    used_errs = [e for v in views if v.used
                 for e in (v.error, v.error_left, v.error_right) if e is not None]
    ymax = max(used_errs + [thr or 0, report.rms, 1e-3]) * 1.3
    ymax = min(ymax, max(errs + [1e-3]) * 1.15) if errs else ymax
    plot_h = H - top_m - bot_m

    def ypix(e):
        return int(round(top_m + plot_h * (1 - e / ymax)))

    # axes and ticks
    cv2.line(img, (left_m, top_m), (left_m, H - bot_m), _BLACK, 1)
    cv2.line(img, (left_m, H - bot_m), (W - right_m, H - bot_m), _BLACK, 1)
    for k in range(6):
        e = ymax * k / 5
        y = ypix(e)
        cv2.line(img, (left_m - 4, y), (left_m, y), _BLACK, 1)
        _text(img, f"{e:.2f}", (5, y + 4), 0.38)
    title = f"per-view RMS reprojection error (px), overall {report.rms:.3f} px"
    _text(img, title, (left_m, 22), 0.5)
    for i, v in enumerate(views):
        x0 = left_m + 6 + i * group
        if report.kind == "stereo" and v.error_left is not None:
            bars = [(v.error_left, _BLUE), (v.error_right, _ORANGE)]
        else:
            bars = [(v.error, _BLUE)]
        for j, (e, col) in enumerate(bars):
            if e is None:
                continue
            c = col if v.used else _RED
            cv2.rectangle(img, (x0 + j * bar_w, ypix(min(e, ymax))),
                          (x0 + (j + 1) * bar_w - 2, H - bot_m), c, -1)
            if e > ymax:
                _text(img, f"{e:.0f}", (x0 + j * bar_w, top_m + 12 + 12 * j), 0.32, _WHITE)
        if v.error is None:  # not detected
            _text(img, "x", (x0 + 2, H - bot_m - 4), 0.45, _RED)
        # rotated label
        label = np.full((16, bot_m - 8, 3), 255, np.uint8)
        _text(label, v.name[:30], (1, 12), 0.36, _BLACK if v.used else _RED)
        label = cv2.rotate(label, cv2.ROTATE_90_COUNTERCLOCKWISE)
        lh, lw = label.shape[:2]
        xs = min(x0, W - lw)
        img[H - bot_m + 4:H - bot_m + 4 + lh, xs:xs + lw] = np.minimum(
            img[H - bot_m + 4:H - bot_m + 4 + lh, xs:xs + lw], label)
    y = ypix(report.rms)
    cv2.line(img, (left_m, y), (W - right_m, y), _GREY, 1)
    if thr is not None:
        yt = ypix(thr)
        for x in range(left_m, W - right_m, 12):
            cv2.line(img, (x, yt), (min(x + 6, W - right_m), yt), _RED, 1)
        _text(img, f"rejection threshold {thr:.2f}", (W - right_m - 190, max(12, yt - 5)), 0.38,
              _RED)
    if report.kind == "stereo":
        _text(img, "left", (W - 150, 36), 0.4, _BLUE)
        _text(img, "right", (W - 110, 36), 0.4, _ORANGE)
        _text(img, "rejected", (W - 65, 36), 0.4, _RED)
    return img


def _heat(points: list[np.ndarray], size) -> np.ndarray:
    import cv2

    w, h = size
    cell = max(8, max(w, h) // 16)
    gx, gy = max(1, w // cell), max(1, h // cell)
    hist = np.zeros((gy, gx), np.float32)
    for p in points:
        ix = np.clip((p[:, 0] / w * gx).astype(int), 0, gx - 1)
        iy = np.clip((p[:, 1] / h * gy).astype(int), 0, gy - 1)
        np.add.at(hist, (iy, ix), 1)
    norm = hist / hist.max() if hist.max() > 0 else hist
    u8 = (norm * 255).astype(np.uint8)
    big = cv2.resize(u8, (w, h), interpolation=cv2.INTER_NEAREST)
    col = cv2.applyColorMap(big, cv2.COLORMAP_INFERNO)[:, :, ::-1].copy()
    col[cv2.resize((hist == 0).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0] = (
        40, 40, 40)
    for p in points:
        for x, y in p:
            cv2.circle(col, (int(round(x)), int(round(y))), 1, _WHITE, -1)
    return col


def coverage_map(report: CalibrationReport) -> np.ndarray:
    """RGB heat map of where the used corners lie in each image (one panel per camera).

    Dark cells have no corner: distortion is extrapolated there; add views that cover them.
    """
    import cv2

    used = {v.index for v in report.views if v.used}
    if report.kind == "stereo":
        sets = [("left", report.detections), ("right", report.detections_right)]
    else:
        sets = [("camera", report.detections)]
    panels = []
    for label, dets in sets:
        pts = [d.corners for i, d in enumerate(dets) if i in used and d.found]
        p = _heat(pts, report.image_size)
        cov = report.coverage if label != "right" else report.coverage_right
        cv2.rectangle(p, (0, 0), (p.shape[1], 26), (255, 255, 255), -1)
        _text(p, f"{label}: {len(pts)} views, coverage {cov:.0%}", (6, 18), 0.55)
        panels.append(p)
    if len(panels) == 2:
        sep = np.full((panels[0].shape[0], 8, 3), 255, np.uint8)
        return np.hstack([panels[0], sep, panels[1]])
    return panels[0]


def write_report(report: CalibrationReport, folder: str | os.PathLike, *,
                 outlier_factor: float = 3.0, outlier_floor_px: float = 0.3) -> dict[str, Path]:
    """Write ``summary.txt``, ``report.json``, ``errors.png`` and ``coverage.png`` to `folder`.

    Returns the paths written, by kind.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"summary": out / "summary.txt", "json": out / "report.json",
             "errors": out / "errors.png", "coverage": out / "coverage.png"}
    write_bytes_atomic(paths["summary"], report.summary().encode())
    write_bytes_atomic(paths["json"], json.dumps(report.to_dict(), indent=2).encode())
    write_image(paths["errors"], error_chart(report, outlier_factor=outlier_factor,
                                             outlier_floor_px=outlier_floor_px))
    write_image(paths["coverage"], coverage_map(report))
    return paths
