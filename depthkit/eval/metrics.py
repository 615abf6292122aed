"""Error metrics for disparity and depth maps, in plain numpy.

Conventions: NaN (or any non-finite value) marks an invalid pixel in both the estimate and the
ground truth.  Pixels without ground truth are never scored.  Rates are fractions in ``[0, 1]``
(multiply by 100 for the percentages benchmarks print); a metric over an empty set of pixels
is NaN.

The ``over`` argument of the rate metrics chooses the pixels scored:

* ``"all"`` - every pixel with ground truth (and inside `mask`); a missing estimate counts as
  wrong (Middlebury v3 and KITTI "all" style, so sparse methods cannot look better by leaving
  hard pixels out);
* ``"estimated"`` - only those of them that also have an estimate (pair it with
  :func:`density`).
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError, ShapeError

__all__ = [
    "bad_pixel_rate",
    "end_point_error",
    "density",
    "kitti_d1",
    "depth_rmse",
    "depth_absrel",
    "depth_within",
    "evaluate_disparity",
    "evaluate_depth",
]

_OVER = ("all", "estimated")


def _prepare(pred, gt, mask, over: str = "all"):
    """Validate and return (pred float64, gt float64, scored mask, estimated mask)."""
    if over not in _OVER:
        raise ParameterError(f"over must be 'all' or 'estimated'; got {over!r}.")
    p = _as_map(pred, "pred")
    g = _as_map(gt, "gt")
    if p.shape != g.shape:
        raise ShapeError(
            f"`pred` and `gt` must have the same shape; got {p.shape} and {g.shape} (H, W). "
            "Resize the estimate to the ground truth's size (and scale its values) first."
        )
    scored = np.isfinite(g)
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != g.shape:
            raise ShapeError(f"`mask` must have the shape of `gt` {g.shape}; got {m.shape}.")
        if m.dtype != np.bool_:
            raise ShapeError(f"`mask` must be a boolean array; got dtype {m.dtype}.")
        scored &= m
    est = np.isfinite(p)
    if over == "estimated":
        scored &= est
    return p, g, scored, est


def _as_map(a, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 2:
        raise ShapeError(f"`{name}` must be an (H, W) map; got shape {arr.shape}.")
    if arr.dtype.kind not in "fiu":
        raise ShapeError(f"`{name}` must be a real numeric array; got dtype {arr.dtype}.")
    return arr.astype(np.float64, copy=False)


def _rate(wrong: np.ndarray, scored: np.ndarray) -> float:
    n = int(scored.sum())
    return float(np.count_nonzero(wrong & scored)) / n if n else float("nan")


def bad_pixel_rate(pred, gt, threshold: float, mask=None, *, over: str = "all") -> float:
    """Fraction of scored pixels whose disparity error exceeds `threshold` pixels.

    Parameters
    ----------
    pred, gt : (H, W) array
        Estimated and ground-truth disparity, NaN = invalid.
    threshold : float
        Error in pixels above which (``|pred - gt| > threshold``) a pixel is bad.
    mask : (H, W) bool array, optional
        Restrict scoring to these pixels (e.g. ``StereoScene.nonoccluded``).
    over : {"all", "estimated"}
        ``"all"`` counts a missing estimate as bad; ``"estimated"`` skips it.

    Returns
    -------
    float
        In ``[0, 1]``; NaN if no pixel is scored.

    Examples
    --------
    >>> gt = np.array([[1.0, 2.0, 3.0, np.nan]])
    >>> bad_pixel_rate(np.array([[1.0, 4.5, np.nan, 9.0]]), gt, 2.0)
    0.6666666666666666
    >>> bad_pixel_rate(np.array([[1.0, 4.5, np.nan, 9.0]]), gt, 2.0, over="estimated")
    0.5
    """
    t = float(threshold)
    if not np.isfinite(t) or t < 0:
        raise ParameterError(f"threshold must be a finite number >= 0 pixels; got {threshold!r}.")
    p, g, scored, est = _prepare(pred, gt, mask, over)
    with np.errstate(invalid="ignore"):
        wrong = ~est | (np.abs(p - g) > t)
    return _rate(wrong, scored)


def end_point_error(pred, gt, mask=None) -> float:
    """Mean absolute disparity error (pixels) over pixels with both GT and an estimate.

    Examples
    --------
    >>> end_point_error(np.array([[1.0, 4.0, np.nan]]), np.array([[2.0, 2.0, 5.0]]))
    1.5
    """
    p, g, scored, _ = _prepare(pred, gt, mask, "estimated")
    if not scored.any():
        return float("nan")
    return float(np.mean(np.abs(p[scored] - g[scored])))


def density(pred, mask=None) -> float:
    """Fraction of pixels (inside `mask`, if given) that have a finite estimate.

    Examples
    --------
    >>> density(np.array([[1.0, np.nan], [np.inf, 2.0]]))
    0.5
    """
    p = _as_map(pred, "pred")
    sel = np.ones(p.shape, bool)
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != p.shape or m.dtype != np.bool_:
            raise ShapeError(
                f"`mask` must be a boolean array of shape {p.shape}; got {m.dtype} {m.shape}."
            )
        sel = m
    return _rate(np.isfinite(p), sel)


def kitti_d1(pred, gt, mask=None, *, over: str = "all") -> float:
    """KITTI 2015 D1: fraction of pixels whose error is > 3 px **and** > 5 % of the GT.

    With ``over="all"`` (the default) a missing estimate counts as an outlier.

    Examples
    --------
    >>> gt = np.array([[10.0, 100.0, 100.0, 50.0]])
    >>> kitti_d1(np.array([[14.0, 104.0, 106.0, np.nan]]), gt)
    0.75
    """
    p, g, scored, est = _prepare(pred, gt, mask, over)
    with np.errstate(invalid="ignore"):
        err = np.abs(p - g)
        wrong = ~est | ((err > 3.0) & (err > 0.05 * np.abs(g)))
    return _rate(wrong, scored)


def _depth_prepare(pred, gt, mask, over):
    p, g, scored, est = _prepare(pred, gt, mask, over)
    with np.errstate(invalid="ignore"):
        scored &= g > 0
    return p, g, scored, est


def depth_rmse(pred, gt, mask=None) -> float:
    """Root-mean-square depth error (units of the input, e.g. metres) where both are valid."""
    p, g, scored, _ = _depth_prepare(pred, gt, mask, "estimated")
    if not scored.any():
        return float("nan")
    return float(np.sqrt(np.mean((p[scored] - g[scored]) ** 2)))


def depth_absrel(pred, gt, mask=None) -> float:
    """Mean absolute relative depth error ``|pred - gt| / gt`` where both are valid."""
    p, g, scored, _ = _depth_prepare(pred, gt, mask, "estimated")
    if not scored.any():
        return float("nan")
    return float(np.mean(np.abs(p[scored] - g[scored]) / g[scored]))


def depth_within(pred, gt, relative: float, mask=None, *, over: str = "all") -> float:
    """Fraction of GT pixels whose depth estimate is within ``relative * gt`` of the GT.

    ``relative=0.01`` gives "within 1 %".  With ``over="all"`` a missing estimate counts as
    not within.

    Examples
    --------
    >>> depth_within(np.array([[1.005, 2.2, np.nan]]), np.array([[1.0, 2.0, 3.0]]), 0.01)
    0.3333333333333333
    """
    r = float(relative)
    if not np.isfinite(r) or r <= 0:
        raise ParameterError(f"relative must be > 0 (e.g. 0.01 for 1 %); got {relative!r}.")
    p, g, scored, est = _depth_prepare(pred, gt, mask, over)
    with np.errstate(invalid="ignore"):
        good = est & (np.abs(p - g) <= r * g)
    return _rate(good, scored)


def evaluate_disparity(pred, gt, *, nonoccluded=None) -> dict[str, float]:
    """The standard disparity scores of one estimate, as a dict of floats.

    Keys: ``bad1``, ``bad2``, ``bad4`` (over all GT pixels, missing = bad), ``bad2_nonocc``
    (over non-occluded GT pixels, missing = bad; NaN without `nonoccluded`), ``bad2_est``
    (over estimated GT pixels), ``epe`` (pixels, over estimated GT pixels), ``density``
    (fraction of all image pixels with an estimate) and ``d1`` (KITTI D1 over all GT pixels).
    Rates are fractions in ``[0, 1]``.

    Examples
    --------
    >>> gt = np.array([[1.0, 2.0, 3.0, np.nan]])
    >>> s = evaluate_disparity(np.array([[1.5, 5.0, np.nan, 1.0]]), gt)
    >>> round(s["bad1"], 3), s["bad2_est"], s["epe"], s["density"]
    (0.667, 0.5, 1.75, 0.75)
    """
    _, g, _, _ = _prepare(pred, gt, nonoccluded)  # validate shapes once, with clear names
    return {
        "bad1": bad_pixel_rate(pred, g, 1.0),
        "bad2": bad_pixel_rate(pred, g, 2.0),
        "bad4": bad_pixel_rate(pred, g, 4.0),
        "bad2_nonocc": (bad_pixel_rate(pred, g, 2.0, nonoccluded)
                        if nonoccluded is not None else float("nan")),
        "bad2_est": bad_pixel_rate(pred, g, 2.0, over="estimated"),
        "epe": end_point_error(pred, g),
        "density": density(pred),
        "d1": kitti_d1(pred, g),
    }


def evaluate_depth(pred, gt, mask=None) -> dict[str, float]:
    """Depth scores: ``rmse`` and ``absrel`` (where both are valid), ``within1`` and
    ``within5`` (fraction of GT pixels within 1 % / 5 %, missing = not within) and
    ``density`` (fraction of GT pixels with an estimate)."""
    p, g, scored, est = _depth_prepare(pred, gt, mask, "all")
    return {
        "rmse": depth_rmse(pred, gt, mask),
        "absrel": depth_absrel(pred, gt, mask),
        "within1": depth_within(pred, gt, 0.01, mask),
        "within5": depth_within(pred, gt, 0.05, mask),
        "density": _rate(est, scored),
    }
