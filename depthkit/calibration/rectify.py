"""Stereo rectification: ``cv2.stereoRectify`` for the rig, remap tables computed once."""

from __future__ import annotations

import numpy as np

from .._checks import check_image
from ..errors import ParameterError, ShapeError
from ..types import StereoFrame, StereoRig

__all__ = ["rectify_rig", "Rectifier"]


def _check_alpha(alpha) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"alpha must be a number in [0, 1]; got {alpha!r}.") from exc
    if not 0.0 <= a <= 1.0:
        raise ParameterError(
            f"alpha must be in [0, 1] (0: only valid pixels, 1: all source pixels); got {alpha!r}."
        )
    return a


def _stereo_rectify(rig: StereoRig, alpha: float):
    import cv2

    if _fisheye(rig):
        R1, R2, P1, P2, Q = cv2.fisheye.stereoRectify(
            rig.left.K, rig.left.D, rig.right.K, rig.right.D, rig.left.size, np.asarray(rig.R),
            np.asarray(rig.T, dtype=np.float64).reshape(3, 1), cv2.CALIB_ZERO_DISPARITY,
            balance=alpha, fov_scale=1.0)
        return R1, R2, P1, P2, Q, None, None
    return cv2.stereoRectify(rig.left.K, rig.left.D, rig.right.K, rig.right.D, rig.left.size,
                             np.asarray(rig.R), np.asarray(rig.T, dtype=np.float64).reshape(3, 1),
                             flags=cv2.CALIB_ZERO_DISPARITY, alpha=alpha)


def _fisheye(rig: StereoRig) -> bool:
    models = {rig.left.model, rig.right.model}
    if len(models) > 1:
        raise ParameterError("cannot rectify a rig that mixes pinhole and fisheye cameras.")
    return models == {"fisheye"}


def rectify_rig(rig: StereoRig, alpha: float = 0.0) -> StereoRig:
    """The rig with its rectification (R1, R2, P1, P2, Q) from ``cv2.stereoRectify``.

    Parameters
    ----------
    rig : StereoRig
        A calibrated rig (any existing rectification is replaced).
    alpha : float
        0 keeps only valid pixels (zoomed in), 1 keeps every source pixel (black borders).
        For fisheye rigs it is ``cv2.fisheye.stereoRectify``'s `balance`.

    Notes
    -----
    Rigs whose cameras are above each other (``|T_y| > |T_x|``) are rectified vertically:
    corresponding points then share a column, and ``rig.is_vertical`` is True. Both rectified
    views share one focal length and principal point (``CALIB_ZERO_DISPARITY``).
    """
    if not isinstance(rig, StereoRig):
        raise ParameterError(f"rig must be a StereoRig; got {type(rig).__name__}.")
    if rig.left.size != rig.right.size:
        raise ShapeError(
            f"both cameras must have the same image size to rectify; got {rig.left.size} and "
            f"{rig.right.size}."
        )
    R1, R2, P1, P2, Q, _, _ = _stereo_rectify(rig, _check_alpha(alpha))
    return rig.with_rectification(R1, R2, P1, P2, Q)


class Rectifier:
    """Rectifies raw stereo pairs of one rig; the remap tables are computed once.

    Parameters
    ----------
    rig : StereoRig
    alpha : float or None
        Passed to :func:`rectify_rig`. None (default) keeps the rig's own rectification when it
        has one (e.g. from a rig file) and uses 0 otherwise.
    interpolation : int
        OpenCV interpolation flag for ``cv2.remap`` (default ``cv2.INTER_LINEAR``).
    fixed_point : bool
        Use OpenCV's fixed-point maps (``CV_16SC2``: faster remap, 1/32 px steps) instead of
        float maps.

    Examples
    --------
    >>> rect = Rectifier(load_rig("rig.yaml"))            # doctest: +SKIP
    >>> frame = rect.rectify(left, right)                  # doctest: +SKIP
    >>> x, y, w, h = rect.roi                              # valid in both views
    """

    def __init__(self, rig: StereoRig, alpha: float | None = None, *,
                 interpolation: int | None = None, fixed_point: bool = False):
        import cv2

        if not isinstance(rig, StereoRig):
            raise ParameterError(f"rig must be a StereoRig; got {type(rig).__name__}.")
        if alpha is None and rig.is_rectified:
            self.rig = rig
        else:
            self.rig = rectify_rig(rig, 0.0 if alpha is None else alpha)
        r = self.rig
        size = r.left.size
        m1type = cv2.CV_16SC2 if fixed_point else cv2.CV_32FC1
        init = (cv2.fisheye.initUndistortRectifyMap if _fisheye(r)
                else cv2.initUndistortRectifyMap)
        self._maps = (
            init(r.left.K, r.left.D, r.R1, r.P1, size, m1type),
            init(r.right.K, r.right.D, r.R2, r.P2, size, m1type),
        )
        self.interpolation = cv2.INTER_LINEAR if interpolation is None else int(interpolation)
        self.roi_left = _valid_roi(*self._maps[0], r.left.size)
        self.roi_right = _valid_roi(*self._maps[1], r.right.size)
        self.roi = _intersect(self.roi_left, self.roi_right)
        self._masks: list[np.ndarray | None] = [None, None]

    @property
    def shape(self) -> tuple[int, int]:
        return self.rig.left.shape

    def maps(self, which: str = "left") -> tuple[np.ndarray, np.ndarray]:
        """The ``(map1, map2)`` remap tables of one camera (read-only views)."""
        if which not in ("left", "right"):
            raise ParameterError(f"which must be 'left' or 'right'; got {which!r}.")
        m = self._maps[0 if which == "left" else 1]
        out = []
        for a in m:
            v = a.view()
            v.flags.writeable = False
            out.append(v)
        return out[0], out[1]

    def valid_mask(self, which: str = "left") -> np.ndarray:
        """Boolean ``(H, W)``: rectified pixels that sample inside the raw image (the rest is
        the black border ``rectify`` fills in, where no disparity should be reported)."""
        if which not in ("left", "right"):
            raise ParameterError(f"which must be 'left' or 'right'; got {which!r}.")
        i = 0 if which == "left" else 1
        if self._masks[i] is None:
            import cv2

            src = np.full(self.rig.left.shape, 255, np.uint8)
            m1, m2 = self._maps[i]
            # the same sampling as rectify: valid only if every tap lies inside the raw image
            out = cv2.remap(src, m1, m2, self.interpolation, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=0)
            mask = out == 255
            mask.flags.writeable = False
            self._masks[i] = mask
        return self._masks[i]

    def rectify_image(self, image: np.ndarray, which: str = "left") -> np.ndarray:
        """Rectify one image of the given camera."""
        import cv2

        check_image(image, which)
        self.rig.left.check_image(image, which)
        m1, m2 = self._maps[0 if which == "left" else 1]
        return cv2.remap(np.ascontiguousarray(image), m1, m2, self.interpolation,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def rectify(self, left: np.ndarray, right: np.ndarray, *, timestamp_s: float = 0.0,
                sequence: int = 0) -> StereoFrame:
        """Rectify a raw pair; returns a ``StereoFrame`` with ``rectified=True`` and the rig."""
        check_image(left, "left")
        check_image(right, "right")
        if left.shape != right.shape:
            raise ShapeError(
                f"left and right must have the same shape; got {left.shape} and {right.shape}."
            )
        return StereoFrame(self.rectify_image(left, "left"), self.rectify_image(right, "right"),
                           timestamp_s=timestamp_s, sequence=sequence, rectified=True,
                           rig=self.rig)

    def rectify_frame(self, frame: StereoFrame) -> StereoFrame:
        """Rectify a raw ``StereoFrame`` keeping its time, sequence number and ground truth."""
        if frame.rectified:
            raise ParameterError("this StereoFrame is already rectified.")
        out = self.rectify(frame.left, frame.right, timestamp_s=frame.timestamp_s,
                           sequence=frame.sequence)
        if frame.ground_truth is not None:
            from dataclasses import replace

            out = replace(out, ground_truth=frame.ground_truth)
        return out

    __call__ = rectify


def _valid_roi(map1, map2, src_size) -> tuple[int, int, int, int]:
    """Largest axis-aligned box ``(x, y, w, h)`` of output pixels that sample inside the source.

    Found from the remap tables themselves (so it holds for any alpha), shrunk row/column-wise
    from the bounding box of valid pixels until the box is fully valid.
    """
    import cv2

    if map1.ndim == 3 and map1.shape[2] == 2 and map1.dtype == np.int16:
        mx, my = cv2.convertMaps(map1, map2, cv2.CV_32FC1)
    else:
        mx, my = map1, map2
    w, h = src_size
    valid = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    rows = np.flatnonzero(valid.any(axis=1))
    cols = np.flatnonzero(valid.any(axis=0))
    if not len(rows) or not len(cols):
        return (0, 0, 0, 0)
    y0, y1, x0, x1 = rows[0], rows[-1], cols[0], cols[-1]
    # shrink the box greedily on the side with the most invalid pixels
    while y0 <= y1 and x0 <= x1:
        box = valid[y0:y1 + 1, x0:x1 + 1]
        if box.all():
            return (int(x0), int(y0), int(x1 - x0 + 1), int(y1 - y0 + 1))
        bad = {"top": (~box[0]).sum(), "bottom": (~box[-1]).sum(),
               "left": (~box[:, 0]).sum(), "right": (~box[:, -1]).sum()}
        side = max(bad, key=bad.get)
        if side == "top":
            y0 += 1
        elif side == "bottom":
            y1 -= 1
        elif side == "left":
            x0 += 1
        else:
            x1 -= 1
    return (0, 0, 0, 0)


def _intersect(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))
