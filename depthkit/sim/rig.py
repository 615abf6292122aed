"""The simulated stereo camera: geometry (a :class:`~depthkit.types.StereoRig`, rectified with
OpenCV) plus a photometric sensor model and an optional infrared dot projector."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from ..errors import ParameterError
from ..types import Intrinsics, StereoRig

__all__ = ["SimRig", "make_rig", "MIN_SIZE"]

#: Smallest image the simulator renders (width, height).
MIN_SIZE = (32, 24)


def _rodrigues(rvec) -> np.ndarray:
    import cv2

    return cv2.Rodrigues(np.asarray(rvec, np.float64).reshape(3, 1))[0]


def rectify(rig: StereoRig) -> StereoRig:
    """Fill R1, R2, P1, P2, Q with ``cv2.stereoRectify(alpha=0)`` (zero-disparity at infinity).

    Parameters
    ----------
    rig : StereoRig
        Raw rig (intrinsics, distortion, R, T).
    """
    import cv2

    R1, R2, P1, P2, Q, _, _ = cv2.stereoRectify(
        rig.left.K, rig.left.D, rig.right.K, rig.right.D, rig.left.size,
        np.asarray(rig.R, np.float64), np.asarray(rig.T, np.float64).reshape(3, 1),
        flags=cv2.CALIB_ZERO_DISPARITY, alpha=0.0)
    return rig.with_rectification(R1, R2, P1, P2, Q)


def make_rig(size=(640, 480), *, hfov_deg=70.0, baseline_m=0.08, distortion=True,
             seed=None) -> StereoRig:
    """A realistic, slightly imperfect stereo rig, rectified (R1..Q filled).

    Parameters
    ----------
    size : (width, height)
    hfov_deg : float
        Horizontal field of view of the left camera.
    baseline_m : float
        Distance between the optical centres (the right camera is to the right).
    distortion : bool
        Mild radial/tangential distortion (k1 about -0.08) so rectification has work.
    seed : int or None
        None: the fixed default imperfections; an int jitters focal lengths, principal points,
        rotation and distortion a little (reproducibly).

    Examples
    --------
    >>> rig = make_rig((320, 240), baseline_m=0.1)
    >>> rig.is_rectified, round(rig.baseline_m, 3), len(rig.left.distortion)
    (True, 0.1, 5)
    """
    w, h = _check_size(size)
    if not 10.0 <= hfov_deg <= 150.0:
        raise ParameterError(f"hfov_deg must be in [10, 150]; got {hfov_deg!r}.")
    if not 0.005 <= baseline_m <= 2.0:
        raise ParameterError(f"baseline_m must be in [0.005, 2] metres; got {baseline_m!r}.")
    f = 0.5 * w / np.tan(np.radians(hfov_deg) / 2)
    j = (np.zeros(12) if seed is None
         else np.random.default_rng([int(seed), 99]).uniform(-1, 1, 12))
    s = w / 640.0
    # fixed imperfections (+ optional jitter): focal mismatch, off-centre principal points,
    # a rotation of about half a degree and a few millimetres of vertical/forward offset
    fl = f * (1.0 + 0.003 * j[0])
    fr = f * (1.004 + 0.003 * j[1])
    cxl, cyl = (w - 1) / 2 + s * (6.0 + 3 * j[2]), (h - 1) / 2 + s * (-4.0 + 3 * j[3])
    cxr, cyr = (w - 1) / 2 + s * (-5.0 + 3 * j[4]), (h - 1) / 2 + s * (3.0 + 3 * j[5])
    if distortion:
        dl = (-0.08 + 0.01 * j[6], 0.03, 0.0004, -0.0003, 0.0)
        dr = (-0.075 + 0.01 * j[7], 0.028, -0.0003, 0.0002, 0.0)
    else:
        dl = dr = ()
    left = Intrinsics(w, h, fl, fl * 1.0005, cxl, cyl, dl)
    right = Intrinsics(w, h, fr, fr * 0.9996, cxr, cyr, dr)
    rvec = np.radians([0.35 + 0.1 * j[8], -0.5 + 0.1 * j[9], 0.25 + 0.1 * j[10]])
    R = _rodrigues(rvec)
    # right camera centre in left coordinates: (b, small dy, small dz); T = -R @ C
    C = np.array([baseline_m, 0.002 + 0.001 * j[11], -0.0015])
    C *= baseline_m / np.linalg.norm(C)
    T = -R @ C
    return rectify(StereoRig(left, right, R, T))


def _check_size(size) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in size)
    except (TypeError, ValueError):
        raise ParameterError(f"size must be (width, height); got {size!r}.") from None
    if w < MIN_SIZE[0] or h < MIN_SIZE[1]:
        raise ParameterError(
            f"image size {w}x{h} is too small; the simulator needs at least "
            f"{MIN_SIZE[0]}x{MIN_SIZE[1]} (e.g. 160x120, 320x240, 640x480).")
    if w > 4096 or h > 4096:
        raise ParameterError(f"image size {w}x{h} is too large; at most 4096x4096.")
    return w, h


@dataclass(frozen=True)
class SimRig:
    """A simulated stereo camera: geometry plus sensor and projector model.

    Parameters
    ----------
    stereo : StereoRig
        Rectified rig (R1..Q filled); see :func:`make_rig`.
    exposure : (float, float)
        Relative exposure x gain of the left and right camera (a mismatch stereo must tolerate).
    brightness : float
        Grey level (0-255) of a white, fully lit surface at exposure 1.
    full_well : float
        Electrons at grey level 255: shot noise has variance ``signal_e``; larger = less noise.
    read_noise : float
        Read noise standard deviation, grey levels.
    vignetting : float
        Relative light loss at the image corners (0 = none).
    projector : bool
        Project a pseudo-random infrared dot pattern from between the cameras (active stereo).
    projector_power : float
        Grey levels a dot adds on a white surface at 1 m (falls off with 1/r^2).
    gray : bool
        Monochrome (infrared-like) images instead of RGB.
    """

    stereo: StereoRig
    exposure: tuple = (1.0, 0.9)
    brightness: float = 230.0
    full_well: float = 4000.0
    read_noise: float = 1.5
    vignetting: float = 0.25
    projector: bool = False
    projector_power: float = 400.0
    gray: bool = False

    def __post_init__(self):
        if not isinstance(self.stereo, StereoRig) or not self.stereo.is_rectified:
            raise ParameterError("SimRig.stereo must be a rectified StereoRig (see make_rig).")
        if len(self.exposure) != 2 or min(self.exposure) <= 0:
            raise ParameterError(f"exposure must be two positive numbers; got {self.exposure!r}.")
        for name in ("full_well", "brightness"):
            if not getattr(self, name) > 0:
                raise ParameterError(f"SimRig.{name} must be > 0; got {getattr(self, name)!r}.")
        for name in ("read_noise", "vignetting", "projector_power"):
            if not getattr(self, name) >= 0:
                raise ParameterError(f"SimRig.{name} must be >= 0; got {getattr(self, name)!r}.")

    @classmethod
    def default(cls, size=(640, 480), *, baseline_m=0.08, hfov_deg=70.0, distortion=True,
                seed=None, **kw) -> SimRig:
        """A rig from :func:`make_rig` with the default sensor model (keywords override it).

        Examples
        --------
        >>> SimRig.default((64, 48), projector=True).rectified.left.distortion
        ()
        """
        return cls(make_rig(size, hfov_deg=hfov_deg, baseline_m=baseline_m,
                            distortion=distortion, seed=seed), **kw)

    def ideal(self) -> SimRig:
        """The same geometry with a perfect sensor: no noise, equal exposure, no vignetting."""
        return replace(self, exposure=(1.0, 1.0), read_noise=0.0, full_well=np.inf,
                       vignetting=0.0)

    @functools.cached_property
    def rectified(self) -> StereoRig:
        """The rectified pair as ideal cameras (what ``rectified=True`` renders through)."""
        s = self.stereo
        intr = s.rectified_intrinsics
        return StereoRig.rectified_pair(intr, abs(s.P2[0, 3]) / s.P1[0, 0])

    @property
    def size(self) -> tuple[int, int]:
        return self.stereo.left.size
