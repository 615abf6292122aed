"""Disparity <-> metric depth for a rectified stereo pair.

``Z = f * B / (d - d0)`` with ``f`` the rectified focal length (pixels), ``B`` the baseline
(metres) and ``d0`` the disparity offset ``cx_left - cx_right`` (0 for most rigs).  Disparities
that are NaN or do not exceed ``d0`` have no finite depth and become NaN, never a huge number.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_image, check_matrix, check_positive
from ..errors import ParameterError, ShapeError
from ..types import StereoRig

__all__ = ["disparity_to_depth", "depth_to_disparity", "stereo_constants"]


def stereo_constants(rig: StereoRig | None = None, *, focal_px: float | None = None,
                     baseline_m: float | None = None, Q=None,
                     disparity_offset_px: float | None = None) -> tuple[float, float, float]:
    """Return ``(f, B, d0)``: focal length (px), baseline (m) and disparity offset (px).

    Exactly one description of the rig is used: a rectified `rig`, OpenCV's 4x4 `Q` matrix,
    or `focal_px` and `baseline_m` (with an optional `disparity_offset_px`).
    """
    given = [rig is not None, Q is not None, focal_px is not None or baseline_m is not None]
    if sum(given) != 1:
        raise ParameterError(
            "describe the stereo rig exactly one way: rig=StereoRig, Q=4x4 matrix, or "
            f"focal_px= and baseline_m=; got rig={rig is not None}, Q={Q is not None}, "
            f"focal_px={focal_px!r}, baseline_m={baseline_m!r}."
        )
    if rig is not None:
        if not isinstance(rig, StereoRig):
            raise ParameterError(f"rig must be a depthkit.StereoRig; got {type(rig).__name__}.")
        f, b = rig.focal_px, rig.baseline_m
        d0 = rig.disparity_offset_px if disparity_offset_px is None else disparity_offset_px
    elif Q is not None:
        Q = check_matrix(Q, "Q", (4, 4))
        if Q[3, 2] == 0 or Q[2, 3] == 0:
            raise ParameterError(
                "Q has Q[3,2] == 0 or Q[2,3] == 0; it is not a stereoRectify disparity-to-depth "
                "matrix (expected Q[2,3] = f and Q[3,2] = 1/B)."
            )
        f = abs(float(Q[2, 3]))
        b = abs(1.0 / float(Q[3, 2]))
        # w = Q32 * d + Q33 = Q32 * (d - d0)
        d0 = (-float(Q[3, 3]) / float(Q[3, 2]) if disparity_offset_px is None
              else disparity_offset_px)
    else:
        if focal_px is None or baseline_m is None:
            raise ParameterError(
                f"focal_px and baseline_m go together; got focal_px={focal_px!r}, "
                f"baseline_m={baseline_m!r}."
            )
        f = check_positive(focal_px, "focal_px")
        b = check_positive(baseline_m, "baseline_m")
        d0 = 0.0 if disparity_offset_px is None else disparity_offset_px
    d0 = float(d0)
    if not np.isfinite(d0):
        raise ParameterError(f"disparity_offset_px must be finite; got {d0!r}.")
    return float(f), float(b), d0


def disparity_to_depth(disparity: np.ndarray, rig: StereoRig | None = None, *,
                       focal_px: float | None = None, baseline_m: float | None = None, Q=None,
                       disparity_offset_px: float | None = None, return_sigma: bool = False,
                       disparity_sigma=0.25):
    """Metric z-depth from disparity.

    Parameters
    ----------
    disparity : (H, W) float32 or float64 ndarray
        Pixels, ``x_left - x_right``; NaN = invalid.
    rig : StereoRig, optional
        A rectified rig (gives f, B and the disparity offset).  Alternatively pass `Q`, or
        `focal_px` and `baseline_m`.
    focal_px, baseline_m : float, optional
        Rectified focal length in pixels and baseline in metres.
    Q : (4, 4) array, optional
        OpenCV ``stereoRectify`` disparity-to-depth matrix.
    disparity_offset_px : float, optional
        ``cx_left - cx_right`` of the rectified views; overrides the rig's.
    return_sigma : bool
        Also return the depth standard deviation ``Z**2 / (f*B) * disparity_sigma``.
    disparity_sigma : float or (H, W) ndarray
        Disparity uncertainty in pixels (default 0.25 px, typical sub-pixel SGM).

    Returns
    -------
    depth_m : (H, W) float32 ndarray
        Metres along the optical axis; NaN where the disparity is NaN, infinite or ``<= d0``.
    sigma_m : (H, W) float32 ndarray
        Only with ``return_sigma=True``; NaN where the depth is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> d = np.array([[10.0, 0.0, np.nan]], np.float32)
    >>> disparity_to_depth(d, focal_px=500, baseline_m=0.1)
    array([[ 5., nan, nan]], dtype=float32)
    """
    check_image(disparity, "disparity", channels=(1,), dtypes=(np.float32, np.float64),
                allow_nan=True)
    f, b, d0 = stereo_constants(rig, focal_px=focal_px, baseline_m=baseline_m, Q=Q,
                                disparity_offset_px=disparity_offset_px)
    d = disparity.astype(np.float64) - d0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(np.isfinite(d) & (d > 0), (f * b) / d, np.nan)
    z[~np.isfinite(z) | (z <= 0)] = np.nan
    depth = z.astype(np.float32)
    if not return_sigma:
        return depth
    sd = np.asarray(disparity_sigma, dtype=np.float64)
    if sd.ndim != 0 and sd.shape != disparity.shape:
        raise ShapeError(
            f"disparity_sigma must be a scalar or an array like disparity {disparity.shape}; "
            f"got shape {sd.shape}."
        )
    if np.any(sd[np.isfinite(sd)] < 0):
        raise ParameterError("disparity_sigma must be >= 0 (pixels).")
    sigma = (z * z / (f * b) * sd).astype(np.float32)
    return depth, sigma


def depth_to_disparity(depth_m: np.ndarray, rig: StereoRig | None = None, *,
                       focal_px: float | None = None, baseline_m: float | None = None, Q=None,
                       disparity_offset_px: float | None = None) -> np.ndarray:
    """Disparity in pixels from z-depth in metres: ``d = f*B/Z + d0``.

    The rig is described as in :func:`disparity_to_depth`.  NaN and non-positive depths give
    NaN disparity.

    Examples
    --------
    >>> import numpy as np
    >>> depth_to_disparity(np.array([[5.0, -1.0]], np.float32), focal_px=500, baseline_m=0.1)
    array([[10., nan]], dtype=float32)
    """
    check_image(depth_m, "depth_m", channels=(1,), dtypes=(np.float32, np.float64),
                allow_nan=True)
    f, b, d0 = stereo_constants(rig, focal_px=focal_px, baseline_m=baseline_m, Q=Q,
                                disparity_offset_px=disparity_offset_px)
    z = depth_m.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(np.isfinite(z) & (z > 0), f * b / z + d0, np.nan)
    d[~np.isfinite(d)] = np.nan
    return d.astype(np.float32)
