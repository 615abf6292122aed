"""Colourised previews of disparity, depth and error maps (turbo colormap, invalid = black)."""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError, ShapeError


def colorize(
    values: np.ndarray,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    colormap: str = "turbo",
    invert: bool = False,
    legend: str | None = None,
) -> np.ndarray:
    """Map a float image to RGB uint8 with a colormap; NaN/inf pixels are black.

    Parameters
    ----------
    values : (H, W) ndarray
        Disparity, depth or error.
    vmin, vmax : float, optional
        Value range; the 1st/99th percentiles of the valid values by default.
    colormap : str
        An OpenCV colormap name (``turbo``, ``jet``, ``inferno``, ...).
    invert : bool
        Map high values to the low end (e.g. depth, so near is warm).
    legend : str, optional
        If given, a colour bar with this label and the value range is drawn along the bottom.
    """
    import cv2

    v = np.asarray(values, dtype=np.float32)
    if v.ndim != 2:
        raise ShapeError(f"colorize takes an (H, W) array; got shape {v.shape}.")
    valid = np.isfinite(v)
    if vmin is None or vmax is None:
        if valid.any():
            lo, hi = np.percentile(v[valid], [1, 99])
        else:
            lo, hi = 0.0, 1.0
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
    span = max(float(vmax) - float(vmin), 1e-12)
    t = np.clip((np.where(valid, v, vmin) - vmin) / span, 0, 1)
    if invert:
        t = 1 - t
    cmap = getattr(cv2, f"COLORMAP_{colormap.upper()}", None)
    if cmap is None:
        raise ParameterError(f"unknown colormap {colormap!r}; use an OpenCV name such as 'turbo'.")
    bgr = cv2.applyColorMap((t * 255).astype(np.uint8), cmap)
    bgr[~valid] = 0
    if legend is not None:
        bgr = _with_legend(bgr, cmap, float(vmin), float(vmax), legend, invert)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _with_legend(bgr, cmap, vmin, vmax, label, invert):
    import cv2

    w = bgr.shape[1]
    bar_h = max(16, bgr.shape[0] // 20)
    ramp = np.linspace(0, 255, w, dtype=np.float32)
    if invert:
        ramp = ramp[::-1]
    bar = cv2.applyColorMap(np.tile(ramp.astype(np.uint8), (bar_h, 1)), cmap)
    text = np.zeros((bar_h + 4, w, 3), np.uint8)
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.35, bar_h / 40)
    cv2.putText(text, f"{vmin:.3g}", (2, bar_h), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    (tw, _), _ = cv2.getTextSize(f"{vmax:.3g}", font, scale, 1)
    cv2.putText(text, f"{vmax:.3g}", (w - tw - 2, bar_h), font, scale, (255, 255, 255), 1,
                cv2.LINE_AA)
    (lw, _), _ = cv2.getTextSize(label, font, scale, 1)
    cv2.putText(text, label, ((w - lw) // 2, bar_h), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([bgr, bar, text])


def colorize_disparity(disparity: np.ndarray, *, max_disparity: float | None = None,
                       legend: bool = False) -> np.ndarray:
    """Turbo-coloured disparity (0 .. max), invalid pixels black."""
    return colorize(disparity, vmin=0.0, vmax=max_disparity,
                    legend="disparity [px]" if legend else None)


def colorize_depth(depth_m: np.ndarray, *, min_m: float | None = None, max_m: float | None = None,
                   legend: bool = False) -> np.ndarray:
    """Turbo-coloured depth, near = warm, invalid pixels black."""
    return colorize(depth_m, vmin=min_m, vmax=max_m, invert=True,
                    legend="depth [m]" if legend else None)


def colorize_error(error: np.ndarray, *, max_error: float = 4.0,
                   legend: bool = False) -> np.ndarray:
    """Absolute error map (0 .. max_error, inferno), pixels without GT black."""
    return colorize(np.abs(error), vmin=0.0, vmax=max_error, colormap="inferno",
                    legend="|error|" if legend else None)
