"""Structured light: Gray code + phase-shift patterns, decoding, calibration, triangulation.

Patterns (:class:`PatternSet`) for a W x H projector, as uint8 images ready to show, in this
order: white, black, then for each axis (columns ``x``, optionally rows ``y``) the Gray-code
bits from the coarsest, each followed by its inverse, then ``n_phase`` sinusoids::

    I_k(j) = 127.5 + 127.5 cos(2 pi j / P + 2 pi k / N)       (j = projector column, P = period)

Decoding a camera pixel (:func:`decode`): white - black is the contrast (below
``min_contrast``: shadow or outside the projector, invalid); each Gray bit is "pattern brighter
than its inverse"; the Gray code names a cell of ``P / 2`` projector pixels; the phase gives
the position ``j mod P``; the period index is the one that puts the result nearest the cell's
centre, which corrects off-by-one-period errors at period and cell boundaries; a result that
still lands outside its cell (a wrong Gray bit away from a boundary) is invalid.

The projector is an inverse camera (:func:`calibrate_projector_camera` finds it from decoded
board corners with local homographies, as Moreno and Taubin, 3DIMPVT 2012), described by a
:class:`~depthkit.types.StereoRig` with ``left`` = camera, ``right`` = projector and
``x_projector = R x_camera + T``.  :func:`triangulate` intersects camera rays with projector
column planes (column-only decoding) or projector rays (columns and rows).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from .._checks import check_positive
from ..errors import CalibrationError, ParameterError, ShapeError
from ..types import DepthFrame, GroundTruth, Intrinsics, StereoRig
from .tof import _undistort_maps, _undistort_normalised, undistort_depth

__all__ = ["PatternSet", "SLCaptureFrame", "SLDecoded", "decode", "triangulate",
           "StructuredLightDecoder", "calibrate_projector_camera", "projector_corners",
           "camera_rays_cam"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PatternSet:
    """The pattern sequence for a ``width x height`` projector.

    Parameters
    ----------
    width, height : int
        Projector resolution.
    period : int
        Sinusoid period, projector pixels (even, >= 4).  The Gray code resolves cells of
        ``period / 2`` pixels.
    n_phase : int
        Phase steps (>= 3).
    axes : {"x", "xy"}
        Decode columns only, or columns and rows.
    """

    width: int
    height: int
    period: int = 16
    n_phase: int = 4
    axes: str = "x"

    def __post_init__(self):
        for name in ("width", "height"):
            v = getattr(self, name)
            if int(v) != v or v < 8:
                raise ParameterError(f"PatternSet.{name} must be an integer >= 8; got {v!r}.")
            object.__setattr__(self, name, int(v))
        if int(self.period) != self.period or self.period < 4 or self.period % 2:
            raise ParameterError(f"period must be an even integer >= 4; got {self.period!r}.")
        object.__setattr__(self, "period", int(self.period))
        if int(self.n_phase) != self.n_phase or self.n_phase < 3:
            raise ParameterError(f"n_phase must be an integer >= 3; got {self.n_phase!r}.")
        object.__setattr__(self, "n_phase", int(self.n_phase))
        if self.axes not in ("x", "xy"):
            raise ParameterError(f"axes must be 'x' or 'xy'; got {self.axes!r}.")

    @property
    def cell_width(self) -> int:
        return self.period // 2

    def n_cells(self, axis: str) -> int:
        size = self.width if axis == "x" else self.height
        return -(-size // self.cell_width)

    def n_bits(self, axis: str) -> int:
        return max(1, math.ceil(math.log2(self.n_cells(axis))))

    @property
    def names(self) -> list[str]:
        """Name of each image, e.g. ``white``, ``x_gray3``, ``x_gray3_inv``, ``x_phase0``."""
        out = ["white", "black"]
        for ax in self.axes:
            for b in range(self.n_bits(ax)):
                out += [f"{ax}_gray{b}", f"{ax}_gray{b}_inv"]
            out += [f"{ax}_phase{k}" for k in range(self.n_phase)]
        return out

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def images(self) -> np.ndarray:
        """All patterns as a ``(K, height, width)`` uint8 stack, in :attr:`names` order."""
        h, w = self.height, self.width
        out = np.empty((len(self), h, w), np.uint8)
        out[0] = 255
        out[1] = 0
        i = 2
        for ax in self.axes:
            size = w if ax == "x" else h
            j = np.arange(size)
            cell = j // self.cell_width
            gray = cell ^ (cell >> 1)
            nb = self.n_bits(ax)
            for b in range(nb):
                bit = ((gray >> (nb - 1 - b)) & 1).astype(bool)
                line = np.where(bit, 255, 0).astype(np.uint8)
                out[i] = line[None, :] if ax == "x" else line[:, None]
                out[i + 1] = 255 - out[i]
                i += 2
            for k in range(self.n_phase):
                ph = 2 * np.pi * j / self.period + 2 * np.pi * k / self.n_phase
                line = np.clip(np.rint(127.5 + 127.5 * np.cos(ph)), 0, 255).astype(np.uint8)
                out[i] = line[None, :] if ax == "x" else line[:, None]
                i += 1
        return out


@dataclass(frozen=True, eq=False)
class SLCaptureFrame:
    """Camera images of every pattern of a :class:`PatternSet` (what a scanner hands over).

    ``captures`` (K, H, W) uint8 (or uint16/float32) in ``patterns.names`` order; ``rig`` the
    projector-camera calibration (camera = ``rig.left``, projector = ``rig.right``).
    """

    captures: np.ndarray
    patterns: PatternSet
    rig: StereoRig | None = None
    timestamp_s: float = 0.0
    sequence: int = 0
    ground_truth: GroundTruth | None = None

    def __post_init__(self):
        c = self.captures
        if not isinstance(c, np.ndarray) or c.ndim != 3:
            raise ShapeError(f"captures must be a (K, H, W) array; got {getattr(c, 'shape', c)}.")
        if c.shape[0] != len(self.patterns):
            raise ShapeError(f"{c.shape[0]} captures for {len(self.patterns)} patterns.")
        if self.rig is not None:
            self.rig.left.check_image(c[0], "captures")

    @property
    def intrinsics(self) -> Intrinsics | None:
        return None if self.rig is None else self.rig.left


@dataclass(frozen=True, eq=False)
class SLDecoded:
    """Decoded projector coordinates per camera pixel.

    ``col``, ``row`` (H, W) float32 projector pixels (NaN = not decoded; ``row`` is None for
    column-only patterns); ``contrast`` white - black; ``modulation`` how much of the contrast
    the stripes keep (the smaller of the mean pattern/inverse difference and the sinusoid's
    peak-to-peak, relative to white - black; the smallest over axes); ``shadow`` True where
    white - black is too small.
    """

    col: np.ndarray
    row: np.ndarray | None
    contrast: np.ndarray
    modulation: np.ndarray
    shadow: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        v = np.isfinite(self.col)
        if self.row is not None:
            v &= np.isfinite(self.row)
        return v


# ------------------------------------------------------------------------------------------
# decoding
# ------------------------------------------------------------------------------------------
def _check_captures(captures, patterns: PatternSet) -> np.ndarray:
    if isinstance(captures, SLCaptureFrame):
        if captures.patterns != patterns:
            raise ParameterError(
                f"the captures were taken with {captures.patterns} but are decoded with "
                f"{patterns}; decode with the frame's own pattern set."
            )
        captures = captures.captures
    if isinstance(captures, (list, tuple)):
        shapes = {np.shape(c) for c in captures}
        if len(shapes) > 1:
            raise ShapeError(f"all captures must have the same size; got {sorted(shapes)}.")
        captures = np.stack(captures)
    if not isinstance(captures, np.ndarray) or captures.ndim != 3:
        raise ShapeError(
            f"captures must be a (K, H, W) stack of grey images; got "
            f"{getattr(captures, 'shape', type(captures).__name__)}."
        )
    if captures.shape[0] != len(patterns):
        raise ShapeError(
            f"got {captures.shape[0]} captures but the pattern set has {len(patterns)} "
            f"({patterns.names[0]}, ..., {patterns.names[-1]}); capture every pattern in order."
        )
    if captures.dtype not in (np.uint8, np.uint16, np.float32):
        raise ShapeError(f"captures must be uint8, uint16 or float32; got {captures.dtype}.")
    return np.ascontiguousarray(captures)


def decode(captures, patterns: PatternSet, *, min_contrast: float = 6.0,
           min_modulation: float = 0.25, saturation: float | None = None) -> SLDecoded:
    """Projector column (and row) of every camera pixel.

    Parameters
    ----------
    captures : (K, H, W) array or list of K images, or :class:`SLCaptureFrame`
        One image per pattern, in ``patterns.names`` order.
    patterns : PatternSet
    min_contrast : float
        Smallest white - black difference (image units) of a lit pixel; below it the pixel is
        shadowed (or outside the projector) and invalid.
    min_modulation : float
        Smallest mean pattern/inverse difference and sinusoid peak-to-peak, relative to the
        white - black contrast (0-1); lower values (blur, interreflections) are invalid.
    saturation : float, optional
        Value at which the camera clips (default: 255 for uint8, 65535 for uint16, none for
        float); a clipped phase image gives a wrong phase, so such pixels are invalid.

    Returns
    -------
    SLDecoded
    """
    from . import _kernels

    caps = _check_captures(captures, patterns)
    min_contrast = check_positive(min_contrast, "min_contrast")
    if not 0 <= min_modulation < 1:
        raise ParameterError(f"min_modulation must be in [0, 1); got {min_modulation!r}.")
    if saturation is None:
        saturation = float(np.iinfo(caps.dtype).max) if caps.dtype.kind == "u" else np.inf
    if caps.dtype.kind == "f":
        broken = ~np.all(np.isfinite(caps), axis=0)
        if broken.any():  # a non-finite sample makes its pixel invalid (as if shadowed)
            caps = np.where(np.isfinite(caps), caps, np.float32(0.0))
            caps[0][broken] = 0.0
            caps[1][broken] = 0.0
    names = patterns.names
    white, black = caps[0], caps[1]
    contrast = white.astype(np.float32) - black.astype(np.float32)
    shadow = ~(contrast >= min_contrast)
    cos_t = np.cos(2 * np.pi * np.arange(patterns.n_phase) / patterns.n_phase)
    sin_t = np.sin(2 * np.pi * np.arange(patterns.n_phase) / patterns.n_phase)
    coords = {}
    mods = []
    for ax in patterns.axes:
        nb = patterns.n_bits(ax)
        gi = np.array([names.index(f"{ax}_gray{b}") for b in range(nb)], np.int64)
        ii = np.array([names.index(f"{ax}_gray{b}_inv") for b in range(nb)], np.int64)
        pi = np.array([names.index(f"{ax}_phase{k}") for k in range(patterns.n_phase)], np.int64)
        size = patterns.width if ax == "x" else patterns.height
        out = np.empty(white.shape, np.float32)
        mod = np.empty(white.shape, np.float32)
        _kernels.sl_decode_axis(caps, gi, ii, pi, cos_t, sin_t, white, black,
                                float(patterns.period), patterns.n_cells(ax),
                                float(patterns.cell_width), min_contrast, float(min_modulation),
                                float(saturation), float(size), out, mod)
        coords[ax] = out
        mods.append(mod)
    modulation = np.minimum.reduce(mods) if len(mods) > 1 else mods[0]
    return SLDecoded(coords["x"], coords.get("y"), contrast, modulation, shadow)


# ------------------------------------------------------------------------------------------
# geometry
# ------------------------------------------------------------------------------------------
def camera_rays_cam(intr: Intrinsics) -> np.ndarray:
    """(H, W, 3) float64 unit rays, camera frame, of every raw (distorted) pixel."""
    h, w = intr.shape
    vv, uu = np.mgrid[0:h, 0:w].astype(np.float64)
    xy = _undistort_normalised(np.stack([uu.ravel(), vv.ravel()], 1), intr)
    d = np.concatenate([xy, np.ones((xy.shape[0], 1))], axis=1)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return d.reshape(h, w, 3)


def triangulate(decoded: SLDecoded, rig: StereoRig, *, use_rows: bool | None = None,
                rays: np.ndarray | None = None) -> np.ndarray:
    """z-depth (H, W) float32 in the camera frame (raw camera pixel grid), NaN where not decoded.

    Column-only: intersection of each camera ray with the plane of its projector column (the
    projector must then be distortion-free).  With rows (``use_rows``, default when decoded):
    the midpoint of the shortest segment between camera and projector rays.
    """
    cam, proj = rig.left, rig.right
    if decoded.col.shape != cam.shape:
        raise ShapeError(f"decoded maps are {decoded.col.shape}; the camera is {cam.shape}.")
    if use_rows is None:
        use_rows = decoded.row is not None
    if use_rows and decoded.row is None:
        raise ParameterError("use_rows=True needs patterns with axes='xy'.")
    pdist = bool(proj.distortion and any(proj.distortion))
    if pdist and not use_rows:
        raise ParameterError(
            "the projector has lens distortion; column planes are then curved: decode rows "
            "too (PatternSet(axes='xy')) or calibrate the projector without distortion."
        )
    from . import _kernels

    d = camera_rays_cam(cam) if rays is None else rays
    R = np.ascontiguousarray(rig.R, np.float64)
    T = np.ascontiguousarray(rig.T, np.float64)
    z = np.empty(cam.shape, np.float32)
    col = np.ascontiguousarray(decoded.col, np.float32)
    if not use_rows:
        _kernels.sl_triangulate_plane(col, d, R, T, float(proj.fx), float(proj.cx), z)
        return z
    row = np.ascontiguousarray(decoded.row, np.float32)
    if pdist:
        xn = np.full(cam.shape, np.nan)
        yn = np.full(cam.shape, np.nan)
        ok = np.isfinite(col) & np.isfinite(row)
        xy = _undistort_normalised(np.stack([col[ok], row[ok]], 1), proj)
        xn[ok], yn[ok] = xy[:, 0], xy[:, 1]
    else:
        xn = (col.astype(np.float64) - proj.cx) / proj.fx
        yn = (row.astype(np.float64) - proj.cy) / proj.fy
    _kernels.sl_triangulate_rays(xn, yn, d, R, T, z)
    return z


class StructuredLightDecoder:
    """Captures of a :class:`PatternSet` to a :class:`~depthkit.types.DepthFrame`.

    Parameters
    ----------
    rig : StereoRig
        Camera (``left``) and projector (``right``), ``x_projector = R x_camera + T``.
    patterns : PatternSet
    min_contrast, min_modulation, saturation
        See :func:`decode`.
    undistort : bool
        Resample the depth to the ideal (undistorted) camera with the same K.
    """

    def __init__(self, rig: StereoRig, patterns: PatternSet, *, min_contrast: float = 6.0,
                 min_modulation: float = 0.25, saturation: float | None = None,
                 undistort: bool = True):
        if not isinstance(rig, StereoRig):
            raise ParameterError(f"rig must be a StereoRig (camera, projector); got "
                                 f"{type(rig).__name__}.")
        if not isinstance(patterns, PatternSet):
            raise ParameterError(f"patterns must be a PatternSet; got {type(patterns).__name__}.")
        if rig.right.size != (patterns.width, patterns.height):
            raise ShapeError(
                f"the projector in the rig is {rig.right.width}x{rig.right.height} but the "
                f"patterns are {patterns.width}x{patterns.height}."
            )
        self.rig = rig
        self.patterns = patterns
        self.params = dict(min_contrast=min_contrast, min_modulation=min_modulation,
                           saturation=saturation)
        self.undistort = bool(undistort)
        self._rays = camera_rays_cam(rig.left)
        self._maps = None

    @property
    def output_intrinsics(self) -> Intrinsics:
        """Intrinsics of the depth frames :meth:`decode` returns."""
        c = self.rig.left
        return Intrinsics(c.width, c.height, c.fx, c.fy, c.cx, c.cy) if self.undistort else c

    def decode_full(self, captures) -> tuple[DepthFrame, SLDecoded]:
        dec = decode(captures, self.patterns, **self.params)
        z = triangulate(dec, self.rig, rays=self._rays)
        cam = self.rig.left
        conf = np.where(np.isfinite(z), np.clip(dec.modulation, 0, 1), 0).astype(np.float32)
        intr = cam
        if self.undistort:
            if cam.distortion and any(cam.distortion):
                import cv2

                if self._maps is None:
                    self._maps = _undistort_maps(cam)
                z, intr = undistort_depth(z, cam, _maps=self._maps)
                conf = cv2.remap(conf, self._maps[0], self._maps[1], cv2.INTER_NEAREST)
                conf[~np.isfinite(z)] = 0
            else:
                intr = Intrinsics(cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy)
        kw = {}
        if isinstance(captures, SLCaptureFrame):
            kw = dict(timestamp_s=captures.timestamp_s, sequence=captures.sequence,
                      ground_truth=captures.ground_truth)
        return DepthFrame(z, intr, confidence=conf, **kw), dec

    def decode(self, captures) -> DepthFrame:
        """Decode and triangulate (captures as for :func:`decode`)."""
        return self.decode_full(captures)[0]


# ------------------------------------------------------------------------------------------
# calibration
# ------------------------------------------------------------------------------------------
def projector_corners(corners_px, decoded: SLDecoded, *, window: int = 15,
                      min_points: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Projector coordinates of camera-image points through local homographies.

    For each corner a homography from camera pixels to decoded projector (col, row) is fitted
    to the valid pixels within ``window`` pixels and applied to the corner (sub-pixel accurate
    even though a corner sits on a board edge where the decoding is noisier).

    Returns
    -------
    proj_px : (K, 2) float32
    ok : (K,) bool, False where too few decoded pixels surround the corner
    """
    import cv2

    if decoded.row is None:
        raise ParameterError("projector calibration needs rows too: use PatternSet(axes='xy').")
    pts = np.asarray(corners_px, np.float64).reshape(-1, 2)
    h, w = decoded.col.shape
    valid = decoded.valid
    out = np.zeros((pts.shape[0], 2), np.float32)
    ok = np.zeros(pts.shape[0], bool)
    for i, (x, y) in enumerate(pts):
        x0, x1 = max(0, int(x) - window), min(w, int(x) + window + 1)
        y0, y1 = max(0, int(y) - window), min(h, int(y) + window + 1)
        m = valid[y0:y1, x0:x1]
        if m.sum() < min_points:
            continue
        vv, uu = np.nonzero(m)
        src = np.stack([uu + x0, vv + y0], 1).astype(np.float64)
        dst = np.stack([decoded.col[y0:y1, x0:x1][m], decoded.row[y0:y1, x0:x1][m]], 1)
        H, _ = cv2.findHomography(src - (x, y), dst.astype(np.float64), 0)
        if H is None or not np.all(np.isfinite(H)) or abs(H[2, 2]) < 1e-12:
            continue
        out[i] = H[:2, 2] / H[2, 2]
        ok[i] = True
    return out, ok


def calibrate_projector_camera(object_points, camera_points, decoded, camera_size,
                               projector_size, *, window: int = 15,
                               camera: Intrinsics | None = None,
                               projector_distortion: bool = False) -> StereoRig:
    """Calibrate a camera-projector pair from views of a planar board.

    Parameters
    ----------
    object_points : list of (K, 3) arrays
        Board corners in the board frame, per view.
    camera_points : list of (K, 2) arrays
        The corners detected in the camera image (e.g. ``cv2.findChessboardCorners`` on the
        white capture), per view.
    decoded : list of SLDecoded
        Decoded columns and rows (``axes='xy'``) of each view.
    camera_size, projector_size : (width, height)
    window : int
        Half-size of the local-homography window, camera pixels.
    camera : Intrinsics, optional
        A known camera calibration (kept fixed); otherwise calibrated here too.
    projector_distortion : bool
        Estimate projector distortion (k1, k2, p1, p2); off by default (column planes stay
        planes, so column-only triangulation stays exact).

    Returns
    -------
    StereoRig
        ``left`` = camera, ``right`` = projector, ``R``, ``T`` with ``x_p = R x_c + T``,
        ``rms`` the stereo reprojection error (pixels).
    """
    import cv2

    n = len(object_points)
    if not (n == len(camera_points) == len(decoded)):
        raise ParameterError(
            f"object_points, camera_points and decoded must have one entry per view; got "
            f"{n}, {len(camera_points)}, {len(decoded)}."
        )
    if n < 3:
        raise CalibrationError(f"need at least 3 board views; got {n}.")
    obj, cam, prj = [], [], []
    for o, c, d in zip(object_points, camera_points, decoded):
        o = np.asarray(o, np.float32).reshape(-1, 3)
        c = np.asarray(c, np.float32).reshape(-1, 2)
        if o.shape[0] != c.shape[0]:
            raise ShapeError(f"a view has {o.shape[0]} board points but {c.shape[0]} corners.")
        p, ok = projector_corners(c, d, window=window)
        if ok.sum() < 6:
            log.warning("a board view has only %d corners with decoded projector coordinates; "
                        "skipped", int(ok.sum()))
            continue
        obj.append(o[ok])
        cam.append(c[ok].reshape(-1, 1, 2))
        prj.append(p[ok].reshape(-1, 1, 2))
    if len(obj) < 3:
        raise CalibrationError(
            f"only {len(obj)} views had enough decoded corners (need 3); is the board lit by "
            "the projector and decoded with axes='xy'?"
        )
    csize = tuple(int(x) for x in camera_size)
    psize = tuple(int(x) for x in projector_size)
    if camera is None:
        rms_c, Kc, Dc, _, _ = cv2.calibrateCamera(obj, cam, csize, None, None)
        camera = Intrinsics.from_K(Kc, *csize, distortion=Dc)
        log.info("camera calibration rms %.3f px", rms_c)
    pflags = 0 if projector_distortion else (cv2.CALIB_ZERO_TANGENT_DIST | cv2.CALIB_FIX_K1
                                             | cv2.CALIB_FIX_K2 | cv2.CALIB_FIX_K3)
    rms_p, Kp, Dp, _, _ = cv2.calibrateCamera(obj, prj, psize, None, None, flags=pflags)
    log.info("projector calibration rms %.3f px", rms_p)
    rms, _, _, _, _, R, T, _, _ = cv2.stereoCalibrate(
        obj, cam, prj, camera.K, camera.D, Kp, Dp, csize, flags=cv2.CALIB_FIX_INTRINSIC)
    dp = tuple(np.ravel(Dp)) if projector_distortion else ()
    projector = Intrinsics.from_K(Kp, *psize, distortion=dp)
    return StereoRig(camera, projector, R, T.ravel(), rms=float(rms))
