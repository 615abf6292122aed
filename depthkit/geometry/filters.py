"""Depth post-processing modelled on Intel RealSense's filters (numba kernels).

The RealSense order is: decimation -> threshold -> depth-to-disparity -> spatial -> temporal ->
disparity-to-depth -> hole filling.  Spatial and temporal filtering run in the *disparity*
domain (``d = f*B/Z``), where stereo noise is roughly uniform, so one `delta` suits near and far.
:class:`PostProcessor` does that chain on :class:`~depthkit.DepthFrame`; each step is also a
plain function on float32 arrays (NaN = invalid).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._checks import check_image, check_positive
from ..errors import ParameterError
from ..types import DepthFrame, Intrinsics
from . import _kernels

__all__ = ["decimate", "threshold", "spatial_filter", "TemporalFilter", "fill_holes",
           "to_disparity_domain", "from_disparity_domain", "PostProcessor", "PERSISTENCE"]

#: RealSense temporal-filter persistence modes: name -> (last n frames, at least k valid).
PERSISTENCE = {
    "off": (0, 9),     # never keep an old value
    "8/8": (8, 8),
    "2/3": (3, 2),
    "2/4": (4, 2),
    "2/8": (8, 2),
    "1/2": (2, 1),
    "1/5": (5, 1),
    "1/8": (8, 1),
    "always": (0, 0),  # keep the last value indefinitely
}
_PERSISTENCE_BY_INDEX = list(PERSISTENCE)  # RealSense's numeric modes 0..8, in this order

_FILL_MODES = {"left": 0, "farthest": 1, "nearest": 2}


def _as_map(image, name: str) -> np.ndarray:
    check_image(image, name, channels=(1,), dtypes=(np.float32, np.float64), allow_nan=True)
    out = np.ascontiguousarray(image, dtype=np.float32)
    if out is image:
        out = out.copy()
    out[~np.isfinite(out)] = np.nan
    return out


def _unit_interval(value, name: str) -> float:
    v = float(value)
    if not (0.0 < v <= 1.0):
        raise ParameterError(f"`{name}` must be in (0, 1]; got {value!r} (1 = no smoothing).")
    return v


def decimate(image: np.ndarray, intrinsics: Intrinsics, *, factor: int = 2
             ) -> tuple[np.ndarray, Intrinsics]:
    """Shrink a depth (or disparity) map by an integer `factor`, ignoring invalid pixels.

    Each ``factor x factor`` block becomes the median of its valid values (factor 2 or 3, as
    RealSense) or their mean (larger factors); a block with no valid value stays NaN.  Extra
    rows/columns that do not fill a block are cropped.

    Returns
    -------
    image : (H // factor, W // factor) float32 ndarray
    intrinsics : Intrinsics
        The camera of the smaller image (pixel-centre convention).
    """
    img = _as_map(image, "image")
    if not isinstance(intrinsics, Intrinsics):
        raise ParameterError(
            f"intrinsics must be depthkit.Intrinsics; got {type(intrinsics).__name__}."
        )
    intrinsics.check_image(img, "image")
    if int(factor) != factor or not 1 <= factor <= 8:
        raise ParameterError(f"factor must be an integer from 1 to 8; got {factor!r}.")
    f = int(factor)
    h, w = img.shape[0] // f, img.shape[1] // f
    if h == 0 or w == 0:
        raise ParameterError(
            f"factor {f} is larger than the image ({img.shape[1]}x{img.shape[0]})."
        )
    out = np.empty((h, w), np.float32)
    _kernels.decimate(img, f, f <= 3, out)
    new = replace(
        intrinsics, width=w, height=h, fx=intrinsics.fx / f, fy=intrinsics.fy / f,
        cx=(intrinsics.cx + 0.5) / f - 0.5, cy=(intrinsics.cy + 0.5) / f - 0.5,
    )
    return out, new


def threshold(depth_m: np.ndarray, min_m: float | None = None, max_m: float | None = None
              ) -> np.ndarray:
    """Depth with values outside ``[min_m, max_m]`` metres set to NaN (a new array)."""
    out = _as_map(depth_m, "depth_m")
    lo = 0.0 if min_m is None else float(min_m)
    hi = np.inf if max_m is None else check_positive(max_m, "max_m")
    if lo < 0 or lo >= hi:
        raise ParameterError(f"need 0 <= min_m < max_m; got min_m={min_m!r}, max_m={max_m!r}.")
    with np.errstate(invalid="ignore"):
        out[(out < lo) | (out > hi) | (out <= 0)] = np.nan
    return out


def to_disparity_domain(depth_m: np.ndarray, scale: float) -> np.ndarray:
    """``scale / depth`` (disparity in pixels when ``scale = f * B``); NaN stays NaN."""
    s = check_positive(scale, "scale")
    z = _as_map(depth_m, "depth_m")
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(z > 0, s / z, np.nan).astype(np.float32)
    d[~np.isfinite(d)] = np.nan
    return d


def from_disparity_domain(disparity: np.ndarray, scale: float) -> np.ndarray:
    """Inverse of :func:`to_disparity_domain`."""
    return to_disparity_domain(disparity, scale)


def spatial_filter(image: np.ndarray, *, alpha: float = 0.5, delta: float = 1.0,
                   iterations: int = 2) -> np.ndarray:
    """Edge-preserving smoothing (RealSense spatial filter, a recursive domain transform).

    Each row and then each column is filtered forward and backward with
    ``y[i] = alpha * x[i] + (1 - alpha) * y[i-1]``, but only while neighbours differ by less
    than `delta`: a step larger than `delta` (an object edge) is never blurred, and invalid
    pixels stop the recursion.

    Parameters
    ----------
    image : (H, W) float32 ndarray
        Disparity (recommended) or depth; NaN = invalid.
    alpha : float in (0, 1]
        Weight of the current pixel; 1 = no smoothing (RealSense default 0.5).
    delta : float
        Edge threshold in the units of `image` (pixels of disparity in the disparity domain).
    iterations : int
        Repetitions of the row/column sweep (1 to 5, RealSense default 2).
    """
    img = _as_map(image, "image")
    a = _unit_interval(alpha, "alpha")
    d = check_positive(delta, "delta")
    if int(iterations) != iterations or not 1 <= iterations <= 5:
        raise ParameterError(f"iterations must be an integer from 1 to 5; got {iterations!r}.")
    _kernels.spatial_inplace(img, np.float32(a), np.float32(d), int(iterations))
    return img


class TemporalFilter:
    """Exponential smoothing over frames with RealSense's validity persistence (stateful).

    ``out = alpha * x + (1 - alpha) * previous`` where the change is below `delta`; a jump
    larger than `delta` restarts from the new value.  A pixel that is invalid now keeps its
    previous value when the `persistence` rule holds (e.g. ``"2/4"``: valid in at least 2 of
    the last 4 frames).

    Parameters
    ----------
    alpha : float in (0, 1]
        Weight of the newest frame (RealSense default 0.4).
    delta : float
        Change, in the units of the input, above which no smoothing happens.
    persistence : str or int
        One of :data:`PERSISTENCE` (``"off"``, ``"8/8"``, ``"2/3"``, ``"2/4"``, ``"2/8"``,
        ``"1/2"``, ``"1/5"``, ``"1/8"``, ``"always"``) or RealSense's index 0-8 of that list.
    """

    def __init__(self, *, alpha: float = 0.4, delta: float = 1.0, persistence="2/4"):
        self.alpha = _unit_interval(alpha, "alpha")
        self.delta = check_positive(delta, "delta")
        if isinstance(persistence, (int, np.integer)) and not isinstance(persistence, bool):
            if not 0 <= persistence < len(_PERSISTENCE_BY_INDEX):
                raise ParameterError(f"persistence index must be 0-8; got {persistence!r}.")
            persistence = _PERSISTENCE_BY_INDEX[int(persistence)]
        if persistence not in PERSISTENCE:
            raise ParameterError(
                f"unknown persistence {persistence!r}; use one of {', '.join(PERSISTENCE)}."
            )
        self.persistence = persistence
        self.reset()

    def reset(self) -> None:
        """Forget all previous frames."""
        self._prev: np.ndarray | None = None
        self._history: np.ndarray | None = None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Filter the next frame (same size as the previous ones; call reset() to change)."""
        img = _as_map(image, "image")
        if self._prev is None or self._prev.shape != img.shape:
            if self._prev is not None:
                raise ParameterError(
                    f"frame size changed from {self._prev.shape} to {img.shape}; call reset() "
                    "before filtering a stream of a different size."
                )
            self._prev = np.full(img.shape, np.nan, np.float32)
            self._history = np.zeros(img.shape, np.uint8)
        n, k = PERSISTENCE[self.persistence]
        out = np.empty_like(img)
        _kernels.temporal(img, self._prev, self._history, np.float32(self.alpha),
                          np.float32(self.delta), n, k, out)
        return out

    apply = __call__


def fill_holes(image: np.ndarray, mode: str = "farthest", *, domain: str = "depth") -> np.ndarray:
    """Fill invalid (NaN) pixels from their neighbours (RealSense hole filling).

    Parameters
    ----------
    image : (H, W) float32 ndarray
    mode : {"farthest", "nearest", "left"}
        Take the farthest (RealSense's default, it does not grow foreground objects) or nearest
        of the neighbours, or copy the left neighbour only.
    domain : {"depth", "disparity"}
        What `image` holds; the farthest value is the largest depth but the smallest disparity.

    An all-invalid image comes back all NaN.
    """
    img = _as_map(image, "image")
    if mode not in _FILL_MODES:
        raise ParameterError(
            f"unknown hole-filling mode {mode!r}; use one of {', '.join(_FILL_MODES)}."
        )
    if domain not in ("depth", "disparity"):
        raise ParameterError(f"domain must be 'depth' or 'disparity'; got {domain!r}.")
    m = _FILL_MODES[mode]
    if domain == "disparity" and m != 0:
        m = 3 - m  # farthest = smallest disparity
    out = np.empty_like(img)
    _kernels.fill_holes(img, m, out)
    return out


def _block_mean(image: np.ndarray, f: int, shape: tuple[int, int]) -> np.ndarray:
    """Average ``f x f`` blocks of an image (colour that follows a decimated depth)."""
    h, w = shape
    c = image[: h * f, : w * f].astype(np.float32)
    c = c.reshape(h, f, w, f, *image.shape[2:]).mean(axis=(1, 3))
    if image.dtype.kind in "ui":
        c = np.round(c)
    return c.astype(image.dtype)


class PostProcessor:
    """The RealSense post-processing chain on :class:`~depthkit.DepthFrame` (stateful).

    Parameters
    ----------
    decimation : int
        Decimation factor (1 = off).
    min_m, max_m : float, optional
        Threshold range in metres.
    spatial : bool or dict
        Spatial filter (dict = keyword arguments of :func:`spatial_filter`).
    temporal : bool or dict
        Temporal filter (dict = keyword arguments of :class:`TemporalFilter`).
    hole_filling : str or None
        Mode of :func:`fill_holes`, or None for no hole filling.
    baseline_m : float
        Baseline that defines the disparity domain ``d = fx * baseline_m / Z`` in which the
        spatial and temporal filters run (their `delta` is then in pixels of disparity).
        The default, 0.05 m, is a RealSense D4xx's.
    """

    def __init__(self, *, decimation: int = 2, min_m: float | None = None,
                 max_m: float | None = None, spatial=True, temporal=True,
                 hole_filling: str | None = None, baseline_m: float = 0.05):
        if int(decimation) != decimation or not 1 <= decimation <= 8:
            raise ParameterError(f"decimation must be an integer from 1 to 8; got {decimation!r}.")
        self.decimation = int(decimation)
        self.min_m, self.max_m = min_m, max_m
        if min_m is not None or max_m is not None:
            threshold(np.ones((1, 1), np.float32), min_m, max_m)  # validate the range now
        self.spatial = {} if spatial is True else (spatial or None)
        if self.spatial is not None:
            spatial_filter(np.ones((1, 1), np.float32), **self.spatial)  # validate now
        self.temporal = None
        if temporal:
            self.temporal = TemporalFilter(**({} if temporal is True else temporal))
        if hole_filling is not None and hole_filling not in _FILL_MODES:
            raise ParameterError(
                f"unknown hole-filling mode {hole_filling!r}; use one of {', '.join(_FILL_MODES)}."
            )
        self.hole_filling = hole_filling
        self.baseline_m = check_positive(baseline_m, "baseline_m")

    def reset(self) -> None:
        """Forget the temporal filter's history."""
        if self.temporal is not None:
            self.temporal.reset()

    def __call__(self, frame: DepthFrame) -> DepthFrame:
        """Filter one frame; returns a new DepthFrame (with new intrinsics after decimation)."""
        if not isinstance(frame, DepthFrame):
            raise ParameterError(f"PostProcessor takes a DepthFrame; got {type(frame).__name__}.")
        depth, intr = frame.depth_m, frame.intrinsics
        if self.decimation > 1:
            depth, intr = decimate(depth, intr, factor=self.decimation)
        if self.min_m is not None or self.max_m is not None:
            depth = threshold(depth, self.min_m, self.max_m)
        if self.spatial is not None or self.temporal is not None:
            scale = intr.fx * self.baseline_m
            disp = to_disparity_domain(depth, scale)
            if self.spatial is not None:
                disp = spatial_filter(disp, **self.spatial)
            if self.temporal is not None:
                disp = self.temporal(disp)
            depth = from_disparity_domain(disp, scale)
        if self.hole_filling is not None:
            depth = fill_holes(depth, self.hole_filling, domain="depth")
        depth = np.ascontiguousarray(depth, dtype=np.float32)
        kwargs = {"depth_m": depth, "intrinsics": intr}
        if depth.shape != frame.depth_m.shape:
            kwargs["confidence"] = None
            kwargs["ground_truth"] = None
            if getattr(frame, "disparity", None) is not None:
                kwargs["disparity"] = None
            if getattr(frame, "color", None) is not None:
                kwargs["color"] = _block_mean(frame.color, self.decimation, depth.shape)
        elif hasattr(frame, "disparity") and frame.disparity is not None:
            kwargs["disparity"] = None  # no longer matches the filtered depth
        return replace(frame, **kwargs)
