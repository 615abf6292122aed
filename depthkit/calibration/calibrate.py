"""Mono and stereo calibration from board views, with outlier rejection and a report.

The stereo procedure (what :func:`calibrate_stereo` does by default):

1. detect the board in every image (:func:`depthkit.calibration.detect`);
2. calibrate each camera alone (``cv2.calibrateCamera``) from all its views, dropping views
   whose error exceeds ``outlier_factor`` x the median and re-running;
3. refine both cameras and R, T jointly (``cv2.stereoCalibrate`` with the mono results as the
   initial guess), dropping outlier pairs the same way and re-running;
4. rectify (``cv2.stereoRectify``) so the returned rig carries R1, R2, P1, P2, Q.

Every dropped view is listed in the report with its error and the threshold it exceeded.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._checks import check_positive
from ..errors import CalibrationError, ParameterError, ShapeError
from ..types import Intrinsics, StereoRig
from .boards import Board
from .detect import Detection, detect
from .rigfile import _trim

__all__ = ["ViewResult", "CalibrationReport", "calibrate_mono", "calibrate_stereo"]

log = logging.getLogger(__name__)

_CRITERIA = (3, 100, 1e-7)  # cv2.TERM_CRITERIA_COUNT | EPS, iterations, epsilon
_COVERAGE_GRID = (8, 6)     # cells across, down for the coverage measure


@dataclass
class ViewResult:
    """One view (mono) or pair (stereo) of the calibration.

    ``error`` is the view's reprojection RMS in pixels (both cameras together for a pair),
    ``used`` whether it is in the final solution, and ``note`` why not.
    """

    index: int
    name: str
    error: float | None = None
    error_left: float | None = None
    error_right: float | None = None
    used: bool = False
    note: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class CalibrationReport:
    """What a calibration did: detections, per-view errors, rejections, coverage, results."""

    kind: str
    board: Board
    image_size: tuple[int, int]
    detections: list[Detection]
    detections_right: list[Detection] | None
    views: list[ViewResult]
    rms: float
    rms_left: float | None = None
    rms_right: float | None = None
    rejected: list[str] = field(default_factory=list)
    coverage: float = 0.0
    coverage_right: float | None = None
    intrinsics: Intrinsics | None = None
    rig: StereoRig | None = None
    flags: list[str] = field(default_factory=list)

    @property
    def used_views(self) -> list[ViewResult]:
        return [v for v in self.views if v.used]

    def summary(self) -> str:
        """A text summary: RMS, views used and rejected (with reasons), baseline, focal lengths."""
        w, h = self.image_size
        lines = [f"depthkit {self.kind} calibration: board {self.board.name!r} "
                 f"({self.board.kind} {self.board.pattern_size[0]}x{self.board.pattern_size[1]}"
                 f" inner corners, square {self.board.square_size:g} {self.board.unit_label}), "
                 f"images {w}x{h}",
                 ("model: fisheye (equidistant k1 k2 k3 k4)" if "fisheye" in self.flags else
                  f"model: pinhole, {self._n_dist()} distortion coefficients (OpenCV order "
                  f"k1 k2 p1 p2 k3 k4 k5 k6)")
                 + f"; options: {', '.join(self.flags) or 'defaults'}"]
        unit = "m" if self.board.units == "m" else " board units"
        if self.kind == "stereo":
            lines.append(f"stereo RMS reprojection error: {self.rms:.4f} px "
                         f"(mono: left {self.rms_left:.4f} px, right {self.rms_right:.4f} px)")
        else:
            lines.append(f"RMS reprojection error: {self.rms:.4f} px")
        n_used = len(self.used_views)
        lines.append(f"views used: {n_used} of {len(self.views)}")
        for v in self.views:
            err = "" if v.error is None else f"{v.error:.3f} px"
            if v.error_left is not None and v.error_right is not None:
                err += f" (left {v.error_left:.3f}, right {v.error_right:.3f})"
            state = "used" if v.used else "NOT USED"
            lines.append(f"  [{v.index:3d}] {v.name}: {state} {err}"
                         + (f" - {v.note}" if v.note else ""))
        lines.append(f"rejected as outliers: {len(self.rejected)}")
        for r in self.rejected:
            lines.append(f"  - {r}")
        cov = f"corner coverage ({_COVERAGE_GRID[0]}x{_COVERAGE_GRID[1]} cells): "
        if self.coverage_right is None:
            lines.append(cov + f"{self.coverage:.0%}")
        else:
            lines.append(cov + f"left {self.coverage:.0%}, right {self.coverage_right:.0%}")
        cams = ([("camera", self.intrinsics)] if self.rig is None
                else [("left", self.rig.left), ("right", self.rig.right)])
        for label, c in cams:
            if c is None:
                continue
            lines.append(f"{label}: fx {c.fx:.2f} fy {c.fy:.2f} cx {c.cx:.2f} cy {c.cy:.2f} px, "
                         f"distortion {', '.join(f'{d:.5f}' for d in c.distortion)}")
        if self.rig is not None:
            t = self.rig.T
            lines.append(f"baseline: {self.rig.baseline_m:.5f}{unit} "
                         f"(T = {t[0]:.5f}, {t[1]:.5f}, {t[2]:.5f}{unit})")
            ang = np.degrees(np.arccos(np.clip((np.trace(self.rig.R) - 1) / 2, -1, 1)))
            lines.append(f"rotation between the cameras: {ang:.3f} deg")
            if self.rig.is_rectified:
                lines.append(f"rectified: focal {self.rig.focal_px:.2f} px, "
                             f"{'vertical' if self.rig.is_vertical else 'horizontal'} rig")
        if self.kind == "stereo" and self.detections_right is not None:
            missed = [d for d in self.detections + self.detections_right if not d.found]
        else:
            missed = [d for d in self.detections if not d.found]
        if missed:
            lines.append(f"images without a usable board: {len(missed)}")
            for d in missed:
                lines.append(f"  - {d.name}: {d.reason}: {d.detail}")
        return "\n".join(lines) + "\n"

    def _n_dist(self) -> int:
        cam = self.intrinsics if self.rig is None else self.rig.left
        return len(cam.distortion) if cam is not None else 0

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "board": self.board.to_dict(), "image_size": list(self.image_size),
             "rms": self.rms, "rms_left": self.rms_left, "rms_right": self.rms_right,
             "views": [v.to_dict() for v in self.views], "rejected": list(self.rejected),
             "coverage": self.coverage, "coverage_right": self.coverage_right,
             "flags": list(self.flags),
             "detections": [x.to_dict() for x in self.detections]}
        if self.detections_right is not None:
            d["detections_right"] = [x.to_dict() for x in self.detections_right]
        if self.rig is not None:
            d["rig"] = self.rig.to_dict()
        if self.intrinsics is not None:
            d["intrinsics"] = self.intrinsics.to_dict()
        return d


# ---------------------------------------------------------------------------- helpers
def _name_of(item, i: int, names, prefix: str) -> str:
    if names is not None:
        return str(names[i])
    if isinstance(item, (str, os.PathLike)):
        return Path(item).name
    return f"{prefix}[{i}]"


def _detect_all(board, images, names, prefix, progress, subpix_window,
                detector) -> list[Detection]:
    from tqdm import tqdm

    from ..io import read_image

    out = []
    it = tqdm(list(enumerate(images)), desc=f"detect {prefix}", unit="img", file=sys.stderr,
              disable=None if progress else True, leave=False)
    for i, item in it:
        name = _name_of(item, i, names, prefix)
        if isinstance(item, (str, os.PathLike)):
            img = read_image(item, gray=True)
        else:
            img = np.asarray(item)
        out.append(detect(board, img, name=name, subpix_window=subpix_window,
                          detector=detector))
    return out


def _check_sizes(dets: list[Detection]) -> tuple[int, int]:
    size = dets[0].image_size
    for d in dets[1:]:
        if d.image_size != size:
            raise ShapeError(
                f"all calibration images must have the same size: {dets[0].name} is "
                f"{size[0]}x{size[1]} but {d.name} is {d.image_size[0]}x{d.image_size[1]} (WxH)."
            )
    return size


def _no_board_error(dets: list[Detection]) -> CalibrationError:
    reasons = {}
    for d in dets:
        reasons.setdefault(d.reason, []).append(d.name)
    parts = "; ".join(f"{r}: {', '.join(n[:6])}{' ...' if len(n) > 6 else ''}"
                      for r, n in reasons.items())
    return CalibrationError(
        f"no board found in any of the {len(dets)} images ({parts}). Check that the board file "
        "matches the target (inner corners, not squares) and that the images show it.",
        detections=dets)


def _coverage(points: list[np.ndarray], size) -> float:
    w, h = size
    gx, gy = _COVERAGE_GRID
    hit = np.zeros((gy, gx), bool)
    for p in points:
        ix = np.clip((p[:, 0] / w * gx).astype(int), 0, gx - 1)
        iy = np.clip((p[:, 1] / h * gy).astype(int), 0, gy - 1)
        hit[iy, ix] = True
    return float(hit.mean())


def _flags(rational: bool, fix_k3: bool, cv_flags: int = 0) -> tuple[int, list[str]]:
    import cv2

    flags, names = int(cv_flags), ([f"cv_flags=0x{int(cv_flags):x}"] if cv_flags else [])
    if rational:
        flags |= cv2.CALIB_RATIONAL_MODEL
        names.append("rational")
    if fix_k3:
        flags |= cv2.CALIB_FIX_K3
        names.append("fix_k3")
    return flags, names


def _rejection_threshold(errors: np.ndarray, factor: float, floor: float) -> float:
    return max(factor * float(np.median(errors)), floor)


def _fisheye_view_errors(obj, img, K, D, rvecs, tvecs, R=None, T=None) -> np.ndarray:
    """Per-view RMS of a fisheye fit (cv2.fisheye does not return them); R, T move the poses
    from the left camera into the right one."""
    import cv2

    out = []
    for o, p, rv, tv in zip(obj, img, rvecs, tvecs):
        if R is not None:
            Rv = R @ cv2.Rodrigues(np.asarray(rv, np.float64))[0]
            rv, tv = cv2.Rodrigues(Rv)[0], R @ np.ravel(tv) + np.ravel(T)
        proj, _ = cv2.fisheye.projectPoints(o.reshape(-1, 1, 3).astype(np.float64),
                                            np.ravel(rv), np.ravel(tv), K, D)
        out.append(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - p.reshape(-1, 2)) ** 2, 1))))
    return np.array(out)


def _solve_mono(obj, img, size, flags, fisheye):
    """(rms, K, D, per-view RMS)."""
    import cv2

    if not fisheye:
        rms, K, D, _, _, _, _, pve = cv2.calibrateCameraExtended(
            obj, img, size, None, None, flags=flags, criteria=_CRITERIA)
        return rms, K, D, pve.ravel()
    o64 = [o.astype(np.float64) for o in obj]
    i64 = [i.astype(np.float64) for i in img]
    fflags = flags | cv2.fisheye.CALIB_RECOMPUTE_EXTRINSIC | cv2.fisheye.CALIB_FIX_SKEW
    try:
        rms, K, D, rvecs, tvecs = cv2.fisheye.calibrate(o64, i64, size, np.eye(3), np.zeros(4),
                                                        flags=fflags, criteria=_CRITERIA)
    except cv2.error as exc:
        raise CalibrationError(f"the fisheye calibration did not converge ({exc}); add views "
                               "that cover the image, or use model='pinhole'.") from exc
    return rms, K, D, _fisheye_view_errors(o64, i64, K, D, rvecs, tvecs)


def _mono(board, obj, img, size, flags, reject, factor, floor, min_views, views, label="",
          fisheye=False):
    """Mono calibration with outlier rejection; updates `views` (ViewResult per entry)."""
    keep = [v.used for v in views]
    rejected = []
    while True:
        idx = [i for i, k in enumerate(keep) if k]
        rms, K, D, pve = _solve_mono([obj[i] for i in idx], [img[i] for i in idx], size, flags,
                                     fisheye)
        for j, i in enumerate(idx):
            views[i].error = float(pve[j])
        if not reject:
            break
        thr = _rejection_threshold(pve, factor, floor)
        bad = [i for j, i in enumerate(idx) if pve[j] > thr]
        if not bad or len(idx) - len(bad) < min_views:
            if bad:
                log.warning("not rejecting %d outlier view(s): fewer than %d would remain",
                            len(bad), min_views)
            break
        med = float(np.median(pve))
        for i in bad:
            keep[i] = False
            views[i].used = False
            views[i].note = (f"rejected{label}: RMS {views[i].error:.3f} px > {factor:g} x median "
                             f"{med:.3f} px")
            rejected.append(f"{views[i].name}{label}: RMS {views[i].error:.3f} px > {factor:g} x "
                            f"median {med:.3f} px = {thr:.3f} px")
    return float(rms), K, D, rejected


def _to_points(board: Board, dets: Sequence[Detection]):
    obj = [d.object_points(board).reshape(-1, 1, 3).astype(np.float32) for d in dets]
    img = [d.corners.reshape(-1, 1, 2).astype(np.float32) for d in dets]
    return obj, img


def _common_options(outlier_factor, min_views):
    factor = check_positive(outlier_factor, "outlier_factor")
    if factor <= 1:
        raise ParameterError(
            f"outlier_factor must be > 1 (it multiplies the median); got {factor}.")
    if int(min_views) != min_views or min_views < 3:
        raise ParameterError(f"at least 3 views are needed; got min_views={min_views!r}.")
    return factor, int(min_views)


# ---------------------------------------------------------------------------- mono
def calibrate_mono(board: Board, images: Sequence, *, names: Sequence[str] | None = None,
                   model: str = "pinhole", rational: bool = False, fix_k3: bool = False,
                   reject_outliers: bool = True,
                   outlier_factor: float = 3.0, outlier_floor_px: float = 0.3,
                   min_views: int = 3, subpix_window: int | None = None, detector: str = "auto",
                   cv_flags: int = 0, progress: bool = True
                   ) -> tuple[Intrinsics, CalibrationReport]:
    """Calibrate one camera (pinhole with k1 k2 p1 p2 k3, or fisheye) from views of `board`.

    Parameters
    ----------
    board : Board
    images : sequence of arrays or paths
    names : sequence of str, optional
        Labels for the report (default: file names, or ``image[i]``).
    model : {"pinhole", "fisheye"}
        ``"fisheye"``: OpenCV's equidistant model (``cv2.fisheye``, k1..k4) for lenses beyond
        ~120 degrees; `rational`, `fix_k3` and `cv_flags` then do not apply.
    rational : bool
        Add k4 k5 k6 (``CALIB_RATIONAL_MODEL``) for wide-angle lenses.
    fix_k3 : bool
        Keep k3 at 0 (fewer parameters for weakly distorted lenses or few views).
    reject_outliers : bool
        Drop views whose RMS exceeds ``max(outlier_factor * median, outlier_floor_px)`` and
        re-run; the rejected views are listed in the report.
    min_views : int
        Fewest usable views (>= 3).
    subpix_window, detector : see :func:`depthkit.calibration.detect`.
    cv_flags : int
        Extra OpenCV ``CALIB_*`` flags, for reproducing another tool's model (e.g. OpenCV's
        stereo_calib sample: ``CALIB_RATIONAL_MODEL | CALIB_FIX_K3 | CALIB_FIX_K4 |
        CALIB_FIX_K5 | CALIB_ZERO_TANGENT_DIST | CALIB_FIX_ASPECT_RATIO |
        CALIB_SAME_FOCAL_LENGTH``).

    Returns
    -------
    (Intrinsics, CalibrationReport)
    """
    if not isinstance(board, Board):
        raise TypeError(f"board must be a depthkit Board; got {type(board).__name__}.")
    factor, min_views = _common_options(outlier_factor, min_views)
    fisheye = _check_model(model, rational, fix_k3, cv_flags)
    images = list(images)
    if not images:
        raise ParameterError("no images given to calibrate_mono.")
    dets = _detect_all(board, images, names, "image", progress, subpix_window,
                        detector)
    size = _check_sizes(dets)
    found = [i for i, d in enumerate(dets) if d.found]
    if not found:
        raise _no_board_error(dets)
    if len(found) < min_views:
        raise CalibrationError(
            f"only {len(found)} usable view(s) ({', '.join(dets[i].name for i in found)}) of "
            f"{len(dets)}; at least {min_views} are needed. Add views of the board at other "
            "angles and positions.", detections=dets)
    views = [ViewResult(i, dets[i].name, used=True) for i in found]
    obj, img = _to_points(board, [dets[i] for i in found])
    import cv2

    flags, flag_names = _flags(rational, fix_k3, cv_flags)
    flags &= ~cv2.CALIB_SAME_FOCAL_LENGTH  # a stereo-only flag
    rms, K, D, rejected = _mono(board, obj, img, size, flags, reject_outliers, factor,
                                outlier_floor_px, min_views, views, fisheye=fisheye)
    all_views = {v.index: v for v in views}
    view_list = [all_views.get(i) or ViewResult(i, d.name, note=f"no board: {d.reason}")
                 for i, d in enumerate(dets)]
    intr = Intrinsics.from_K(K, size[0], size[1], np.ravel(D) if fisheye else _trim(D), model)
    cov = _coverage([img[j].reshape(-1, 2) for j, v in enumerate(views) if v.used], size)
    report = CalibrationReport("mono", board, size, dets, None, view_list, rms,
                               rejected=rejected, coverage=cov, intrinsics=intr,
                               flags=flag_names + (["fisheye"] if fisheye else []))
    log.info("mono calibration: RMS %.4f px from %d views", rms, len(report.used_views))
    return intr, report


# ---------------------------------------------------------------------------- stereo
def calibrate_stereo(board: Board, left_images: Sequence, right_images: Sequence, *,
                     left_names: Sequence[str] | None = None,
                     right_names: Sequence[str] | None = None,
                     model: str = "pinhole", rational: bool = False, fix_k3: bool = False,
                     fix_intrinsics: bool = False, reject_outliers: bool = True,
                     outlier_factor: float = 3.0, outlier_floor_px: float = 0.3,
                     min_pairs: int = 3, rectify: bool = True, alpha: float = 0.0,
                     subpix_window: int | None = None, detector: str = "auto",
                     cv_flags: int = 0, progress: bool = True
                     ) -> tuple[StereoRig, CalibrationReport]:
    """Calibrate a stereo pair from synchronised views of `board`.

    Parameters
    ----------
    board : Board
    left_images, right_images : sequences of arrays or paths
        Pair ``i`` is ``(left_images[i], right_images[i])``; all images the same size.
    model : {"pinhole", "fisheye"}
        Camera model of both cameras (see :func:`calibrate_mono`).
    rational, fix_k3 : bool
        Distortion model options (see :func:`calibrate_mono`).
    fix_intrinsics : bool
        Keep the mono intrinsics and solve only R, T (OpenCV's sample); the default refines
        everything jointly, which lowers the rectified row error.
    reject_outliers, outlier_factor, outlier_floor_px : see :func:`calibrate_mono`.
    min_pairs : int
        Fewest usable pairs (>= 3).
    subpix_window, detector, cv_flags : see :func:`calibrate_mono`.
    rectify, alpha : bool, float
        Rectify the result (:func:`rectify_rig`) so it carries R1 R2 P1 P2 Q.

    Returns
    -------
    (StereoRig, CalibrationReport)
        ``x_right = R x_left + T``; T is in the board's unit (metres for a metric board).

    Raises
    ------
    CalibrationError
        No board in any image, or fewer than `min_pairs` usable pairs.
    ParameterError, ShapeError
        Left and right lists of different lengths, or images of different sizes.
    """
    import cv2

    if not isinstance(board, Board):
        raise TypeError(f"board must be a depthkit Board; got {type(board).__name__}.")
    factor, min_pairs = _common_options(outlier_factor, min_pairs)
    fisheye = _check_model(model, rational, fix_k3, cv_flags)
    left_images, right_images = list(left_images), list(right_images)
    if len(left_images) != len(right_images):
        nl, nr = len(left_images), len(right_images)
        longer, names_l, side = ((left_images, left_names, "left") if nl > nr
                                 else (right_images, right_names, "right"))
        extra = [_name_of(longer[i], i, names_l, side) for i in range(min(nl, nr), max(nl, nr))]
        raise ParameterError(
            f"left and right image lists differ in length: {nl} left, {nr} right; unmatched "
            f"{side} image(s): {', '.join(extra[:8])}{' ...' if len(extra) > 8 else ''}. "
            "Give one right image per left image, in the same order."
        )
    if not left_images:
        raise ParameterError("no images given to calibrate_stereo.")
    dl = _detect_all(board, left_images, left_names, "left", progress, subpix_window,
                        detector)
    dr = _detect_all(board, right_images, right_names, "right", progress, subpix_window,
                        detector)
    size = _check_sizes(dl + dr)
    if not any(d.found for d in dl + dr):
        raise _no_board_error(dl + dr)

    # pairs with the board in both views; corners matched by id, order made consistent
    pairs: list[tuple[int, Detection, Detection]] = []
    views: list[ViewResult] = []
    for i, (a, b) in enumerate(zip(dl, dr)):
        v = ViewResult(i, f"{a.name} | {b.name}")
        views.append(v)
        if not (a.found and b.found):
            v.note = "; ".join(f"{s}: {d.reason}" for s, d in (("left", a), ("right", b))
                               if not d.found)
            continue
        a2, b2 = _match(board, a, b)
        if a2 is None:
            v.note = "fewer than 6 corners seen by both cameras"
            continue
        v.used = True
        pairs.append((i, a2, b2))
    if len(pairs) < min_pairs:
        status = "; ".join(f"{v.name}: {'ok' if v.used else v.note}" for v in views)
        raise CalibrationError(
            f"only {len(pairs)} usable pair(s) of {len(views)}; at least {min_pairs} are needed "
            f"({status}). Add pairs where both cameras see the whole board.",
            detections=dl + dr)

    flags, flag_names = _flags(rational, fix_k3, cv_flags)
    mono_flags = flags & ~cv2.CALIB_SAME_FOCAL_LENGTH  # a stereo-only flag
    if fix_intrinsics:
        flag_names.append("fix_intrinsics")
    if fisheye:
        flag_names.append("fisheye")
    rejected: list[str] = []
    # 1. mono initialisation of each camera from all of its views
    inits = []
    for side, dets in (("left", dl), ("right", dr)):
        found = [d for d in dets if d.found]
        mviews = [ViewResult(j, d.name, used=True) for j, d in enumerate(found)]
        obj, img = _to_points(board, found)
        rms_m, K, D, rej = _mono(board, obj, img, size, mono_flags, reject_outliers, factor,
                                 outlier_floor_px, min_pairs, mviews, label=f" ({side} mono)",
                                 fisheye=fisheye)
        rejected += rej
        bad_names = {v.name for v in mviews if not v.used}
        for (_i, a, b), v in ((p, views[p[0]]) for p in pairs):
            name = a.name if side == "left" else b.name
            if name in bad_names and v.used:
                v.used = False
                v.note = next(m.note for m in mviews if m.name == name)
        inits.append((rms_m, K, D))
    (rms_l, K1, D1), (rms_r, K2, D2) = inits

    # 2. joint stereo refinement with outlier rejection
    sflags = flags | (cv2.CALIB_FIX_INTRINSIC if fix_intrinsics else cv2.CALIB_USE_INTRINSIC_GUESS)
    while True:
        use = [p for p in pairs if views[p[0]].used]
        if len(use) < min_pairs:
            raise CalibrationError(
                f"only {len(use)} pair(s) left after rejecting outliers; at least {min_pairs} "
                "are needed. Add more views.", detections=dl + dr)
        obj, il = _to_points(board, [p[1] for p in use])
        _, ir = _to_points(board, [p[2] for p in use])
        if fisheye:
            rms, K1s, D1s, K2s, D2s, R, T, pve = _stereo_fisheye(
                obj, il, ir, K1, D1, K2, D2, size, fix_intrinsics)
        else:
            out = cv2.stereoCalibrateExtended(obj, il, ir, K1.copy(), D1.copy(), K2.copy(),
                                              D2.copy(), size, None, None, flags=sflags,
                                              criteria=_CRITERIA)
            rms, K1s, D1s, K2s, D2s, R, T = out[:7]
            pve = np.asarray(out[-1]).reshape(len(use), 2)
        comb = np.sqrt((pve ** 2).mean(axis=1))
        for (i, _, _), e, (el, er) in zip(use, comb, pve):
            views[i].error, views[i].error_left, views[i].error_right = (
                float(e), float(el), float(er))
        if not reject_outliers:
            break
        thr = _rejection_threshold(comb, factor, outlier_floor_px)
        bad = [p[0] for p, e in zip(use, comb) if e > thr]
        if not bad:
            break
        if len(use) - len(bad) < min_pairs:
            log.warning("not rejecting %d outlier pair(s): fewer than %d would remain",
                        len(bad), min_pairs)
            break
        med = float(np.median(comb))
        for i in bad:
            v = views[i]
            v.used = False
            v.note = f"rejected (stereo): RMS {v.error:.3f} px > {factor:g} x median {med:.3f} px"
            rejected.append(f"pair {v.name} (stereo): RMS {v.error:.3f} px (left "
                            f"{v.error_left:.3f}, right {v.error_right:.3f}) > {factor:g} x "
                            f"median {med:.3f} px = {thr:.3f} px")
    trim = np.ravel if fisheye else _trim
    left = Intrinsics.from_K(K1s, size[0], size[1], trim(D1s), model)
    right = Intrinsics.from_K(K2s, size[0], size[1], trim(D2s), model)
    rig = StereoRig(left, right, R, np.ravel(T), rms=float(rms))
    if rectify:
        from .rectify import rectify_rig

        rig = rectify_rig(rig, alpha=alpha)
    used = [p for p in pairs if views[p[0]].used]
    cov_l = _coverage([p[1].corners for p in used], size)
    cov_r = _coverage([p[2].corners for p in used], size)
    report = CalibrationReport("stereo", board, size, dl, dr, views, float(rms),
                               rms_left=rms_l, rms_right=rms_r, rejected=rejected,
                               coverage=cov_l, coverage_right=cov_r, rig=rig, flags=flag_names)
    log.info("stereo calibration: RMS %.4f px from %d pairs (%d rejected)", rms, len(used),
             len(rejected))
    return rig, report


def _check_model(model, rational, fix_k3, cv_flags) -> bool:
    if model not in ("pinhole", "fisheye"):
        raise ParameterError(f"model must be 'pinhole' or 'fisheye'; got {model!r}.")
    if model == "fisheye" and (rational or fix_k3 or cv_flags):
        raise ParameterError("rational, fix_k3 and cv_flags apply to the pinhole model only.")
    return model == "fisheye"


def _stereo_fisheye(obj, il, ir, K1, D1, K2, D2, size, fix_intrinsics):
    import cv2

    f = cv2.fisheye
    flags = f.CALIB_FIX_SKEW | (f.CALIB_FIX_INTRINSIC if fix_intrinsics
                                else f.CALIB_USE_INTRINSIC_GUESS)
    o64 = [o.astype(np.float64) for o in obj]
    l64 = [p.astype(np.float64) for p in il]
    r64 = [p.astype(np.float64) for p in ir]
    try:
        rms, K1s, D1s, K2s, D2s, R, T, rvecs, tvecs = f.stereoCalibrate(
            o64, l64, r64, K1.copy(), D1.copy(), K2.copy(), D2.copy(), size, flags=flags,
            criteria=_CRITERIA)
    except cv2.error as exc:
        raise CalibrationError(f"the fisheye stereo calibration did not converge ({exc}).") \
            from exc
    el = _fisheye_view_errors(o64, l64, K1s, D1s, rvecs, tvecs)
    er = _fisheye_view_errors(o64, r64, K2s, D2s, rvecs, tvecs, R, T)
    return rms, K1s, D1s, K2s, D2s, R, T, np.column_stack([el, er])


def _match(board: Board, a: Detection, b: Detection):
    """Both detections restricted to the corners they share, in the same order."""
    if board.kind == "chessboard":
        # the chessboard's 180-degree ambiguity: number the right view like the left one
        ca, cb = a.corners, b.corners
        if np.dot(ca[-1] - ca[0], cb[-1] - cb[0]) < 0:
            b = b.reversed()
        return a, b
    common, ia, ib = np.intersect1d(a.ids, b.ids, return_indices=True)
    if len(common) < 6:
        return None, None
    def sub(d, ix):
        return Detection(True, d.corners[ix], d.ids[ix], d.image_size, d.method, d.reason,
                         d.detail, d.spacing_px, d.name)

    return sub(a, ia), sub(b, ib)
