"""Plain data that crosses stages: camera models, stereo rigs and frames.

Conventions (see DESIGN.md):

* Images are numpy arrays ``(H, W)`` or ``(H, W, 3)``; colour is **RGB** everywhere in depthkit
  (drivers convert OpenCV's BGR at the edge).
* Disparity is float32 pixels, ``x_left - x_right >= 0``, NaN = invalid.
* Depth is float32 metres along the optical axis (z), NaN = invalid.
* Times are seconds (``timestamp_s``); rigid transforms are 4x4 float64 arrays named ``a2b``
  (``cam2world`` maps camera coordinates to world coordinates).
* ``StereoRig`` follows OpenCV's ``stereoCalibrate``: ``x_right = R @ x_left + T`` (metres).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ._checks import check_image, check_matrix, check_positive
from .errors import ParameterError, ShapeError

__all__ = [
    "Intrinsics",
    "StereoRig",
    "GroundTruth",
    "StereoFrame",
    "DepthFrame",
    "RGBDFrame",
]


def _readonly(a: np.ndarray | None) -> np.ndarray | None:
    if a is not None and a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera with optional OpenCV distortion ``(k1, k2, p1, p2[, k3, ...])``.

    Parameters
    ----------
    width, height : int
        Image size in pixels.
    fx, fy, cx, cy : float
        Focal lengths and principal point in pixels.
    distortion : tuple of float
        OpenCV ``plumb_bob`` coefficients; empty for an ideal (or rectified) camera.
    model : {"pinhole", "fisheye"}
        ``"fisheye"``: `distortion` is OpenCV's equidistant ``(k1, k2, k3, k4)`` (cv2.fisheye).
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, ...] = ()
    model: str = "pinhole"

    def __post_init__(self):
        for name in ("width", "height"):
            v = getattr(self, name)
            if int(v) != v or v <= 0:
                raise ParameterError(f"Intrinsics.{name} must be a positive integer; got {v!r}.")
            object.__setattr__(self, name, int(v))
        for name in ("fx", "fy"):
            v = check_positive(getattr(self, name), f"Intrinsics.{name}")
            object.__setattr__(self, name, v)
        for name in ("cx", "cy"):
            v = float(getattr(self, name))
            if not np.isfinite(v):
                raise ParameterError(f"Intrinsics.{name} must be finite; got {v!r}.")
            object.__setattr__(self, name, v)
        d = tuple(float(x) for x in np.asarray(self.distortion, dtype=np.float64).ravel())
        if len(d) not in (0, 4, 5, 8, 12, 14):
            raise ParameterError(
                f"Intrinsics.distortion must have 0, 4, 5, 8, 12 or 14 coefficients (OpenCV); "
                f"got {len(d)}."
            )
        object.__setattr__(self, "distortion", d)
        if self.model not in ("pinhole", "fisheye"):
            raise ParameterError(
                f"Intrinsics.model must be 'pinhole' or 'fisheye'; got {self.model!r}."
            )
        if self.model == "fisheye" and len(d) not in (0, 4):
            raise ParameterError(
                f"a fisheye camera has 4 distortion coefficients (k1..k4); got {len(d)}."
            )

    @classmethod
    def from_K(cls, K, width: int, height: int, distortion=(), model: str = "pinhole"
               ) -> Intrinsics:
        """Build from a 3x3 camera matrix."""
        K = check_matrix(K, "K", (3, 3))
        return cls(width, height, K[0, 0], K[1, 1], K[0, 2], K[1, 2], tuple(np.ravel(distortion)),
                   model)

    @property
    def K(self) -> np.ndarray:
        """The 3x3 camera matrix (float64)."""
        return np.array(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=np.float64
        )

    @property
    def D(self) -> np.ndarray:
        """Distortion coefficients as an array (zeros(5), or zeros(4) for fisheye, when none)."""
        n = 4 if self.model == "fisheye" else 5
        return np.array(self.distortion if self.distortion else (0.0,) * n, dtype=np.float64)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``, as OpenCV wants image sizes."""
        return (self.width, self.height)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``, as numpy shapes are written."""
        return (self.height, self.width)

    def scaled(self, factor: float) -> Intrinsics:
        """Intrinsics of the image resized by `factor` (pixel-centre convention)."""
        f = check_positive(factor, "factor")
        w, h = max(1, round(self.width * f)), max(1, round(self.height * f))
        return replace(
            self,
            width=w,
            height=h,
            fx=self.fx * w / self.width,
            fy=self.fy * h / self.height,
            cx=(self.cx + 0.5) * w / self.width - 0.5,
            cy=(self.cy + 0.5) * h / self.height - 0.5,
        )

    def check_image(self, image: np.ndarray, name: str = "image") -> None:
        """Raise :class:`ShapeError` if `image` is not this camera's size."""
        if image.shape[:2] != self.shape:
            raise ShapeError(
                f"`{name}` is {image.shape[1]}x{image.shape[0]} but the camera is "
                f"{self.width}x{self.height} (WxH)."
            )

    def to_dict(self) -> dict:
        return {
            "width": self.width, "height": self.height, "fx": self.fx, "fy": self.fy,
            "cx": self.cx, "cy": self.cy, "distortion": list(self.distortion),
            "model": self.model,
        }


@dataclass(frozen=True, eq=False)
class StereoRig:
    """Two calibrated cameras and, once rectified, their rectification.

    Parameters
    ----------
    left, right : Intrinsics
        Raw (unrectified) cameras, with distortion.
    R : (3, 3) array
        Rotation from the left to the right camera frame.
    T : (3,) array
        Translation from left to right, metres (``x_right = R @ x_left + T``; a horizontal rig
        with the right camera to the right has ``T[0] < 0``).
    R1, R2, P1, P2, Q : arrays or None
        OpenCV ``stereoRectify`` outputs; ``None`` until the rig is rectified.
    rms : float or None
        Stereo reprojection RMS of the calibration, pixels.
    """

    left: Intrinsics
    right: Intrinsics
    R: np.ndarray
    T: np.ndarray
    R1: np.ndarray | None = None
    R2: np.ndarray | None = None
    P1: np.ndarray | None = None
    P2: np.ndarray | None = None
    Q: np.ndarray | None = None
    rms: float | None = None

    def __post_init__(self):
        if not isinstance(self.left, Intrinsics) or not isinstance(self.right, Intrinsics):
            raise ParameterError("StereoRig.left and .right must be Intrinsics.")
        object.__setattr__(self, "R", _readonly(check_matrix(self.R, "R", (3, 3))))
        object.__setattr__(self, "T", _readonly(check_matrix(np.ravel(self.T), "T", (3,))))
        if not np.allclose(self.R @ self.R.T, np.eye(3), atol=1e-6):
            raise ParameterError("StereoRig.R is not a rotation matrix (R @ R.T != I).")
        if np.linalg.norm(self.T) <= 0:
            raise ParameterError("StereoRig.T is zero: the two cameras must be apart.")
        rect = [self.R1, self.R2, self.P1, self.P2, self.Q]
        if any(m is not None for m in rect):
            if any(m is None for m in rect):
                raise ParameterError("StereoRig needs all of R1, R2, P1, P2, Q, or none of them.")
            for name, shape in (("R1", (3, 3)), ("R2", (3, 3)), ("P1", (3, 4)), ("P2", (3, 4)),
                                ("Q", (4, 4))):
                m = check_matrix(getattr(self, name), name, shape)
                object.__setattr__(self, name, _readonly(m))
        if self.rms is not None:
            object.__setattr__(self, "rms", float(self.rms))

    @classmethod
    def rectified_pair(cls, intrinsics: Intrinsics, baseline_m: float) -> StereoRig:
        """A rig that is already rectified (e.g. a RealSense infrared pair, the simulator's
        rectified views): identical ideal cameras, right camera `baseline_m` to the right."""
        b = check_positive(baseline_m, "baseline_m")
        if intrinsics.distortion and any(intrinsics.distortion):
            raise ParameterError("A rectified pair has no distortion; pass distortion=().")
        K = intrinsics.K
        P1 = np.hstack([K, np.zeros((3, 1))])
        P2 = P1.copy()
        P2[0, 3] = -intrinsics.fx * b
        Q = _q_matrix(intrinsics.fx, intrinsics.cx, intrinsics.cy, intrinsics.cx, b)
        return cls(intrinsics, intrinsics, np.eye(3), np.array([-b, 0.0, 0.0]),
                   np.eye(3), np.eye(3), P1, P2, Q)

    @property
    def is_rectified(self) -> bool:
        """True when the rectification (R1, R2, P1, P2, Q) is known."""
        return self.P1 is not None

    @property
    def is_vertical(self) -> bool:
        """True for a rig rectified along image columns (cameras above each other)."""
        if self.P2 is None:
            return abs(self.T[1]) > abs(self.T[0])
        return abs(self.P2[1, 3]) > abs(self.P2[0, 3])

    @property
    def baseline_m(self) -> float:
        """Distance between the optical centres, metres."""
        return float(np.linalg.norm(self.T))

    @property
    def rectified_intrinsics(self) -> Intrinsics:
        """Intrinsics of the rectified left view (from P1)."""
        self._need_rectified()
        P = self.P1
        return Intrinsics(self.left.width, self.left.height, P[0, 0], P[1, 1], P[0, 2], P[1, 2])

    @property
    def focal_px(self) -> float:
        """Rectified focal length in pixels (the f of Z = f·B/d)."""
        self._need_rectified()
        return float(self.P1[0, 0])

    @property
    def disparity_offset_px(self) -> float:
        """``cx_left - cx_right`` of the rectified views (0 unless alpha/zero-disparity differ)."""
        self._need_rectified()
        return float(self.P1[0, 2] - self.P2[0, 2])

    def _need_rectified(self) -> None:
        if not self.is_rectified:
            raise ParameterError(
                "this StereoRig is not rectified yet (no P1/P2/Q); rectify it with "
                "depthkit.calibration.rectify_rig(rig) or use StereoRig.rectified_pair(...)."
            )

    def with_rectification(self, R1, R2, P1, P2, Q) -> StereoRig:
        return replace(self, R1=R1, R2=R2, P1=P1, P2=P2, Q=Q)

    def to_dict(self) -> dict:
        d = {"left": self.left.to_dict(), "right": self.right.to_dict(),
             "R": self.R.tolist(), "T": self.T.tolist(), "rms": self.rms}
        for k in ("R1", "R2", "P1", "P2", "Q"):
            v = getattr(self, k)
            d[k] = None if v is None else v.tolist()
        return d


def _q_matrix(f: float, cx: float, cy: float, cx_right: float, baseline_m: float) -> np.ndarray:
    """OpenCV's disparity-to-depth matrix for a horizontal rectified rig."""
    Tx = -baseline_m
    return np.array([[1, 0, 0, -cx], [0, 1, 0, -cy], [0, 0, 0, f],
                     [0, 0, -1.0 / Tx, (cx - cx_right) / Tx]], dtype=np.float64)


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """What the simulator (or a dataset) knows exactly about a frame.

    For a stereo frame every field describes the **rectified left view** (the view disparity
    and depth are computed in), also when the frame carries raw, distorted images.

    ``depth_m`` (H, W) float32 z-depth; ``disparity`` (H, W) float32 of the rectified left view;
    ``occlusion`` (H, W) bool, True where the left pixel is not visible in the right view;
    ``pose`` 4x4 ``cam2world``; ``normals`` (H, W, 3) float32 in the camera frame.
    """

    depth_m: np.ndarray | None = None
    disparity: np.ndarray | None = None
    occlusion: np.ndarray | None = None
    pose: np.ndarray | None = None
    normals: np.ndarray | None = None
    extras: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("depth_m", "disparity", "occlusion", "normals"):
            object.__setattr__(self, name, _readonly(getattr(self, name)))
        if self.pose is not None:
            object.__setattr__(self, "pose", _readonly(check_matrix(self.pose, "pose", (4, 4))))


def _check_time(ts, seq) -> tuple[float, int]:
    t = float(ts)
    if not np.isfinite(t):
        raise ParameterError(f"timestamp_s must be finite; got {ts!r}.")
    if int(seq) != seq or seq < 0:
        raise ParameterError(f"sequence must be a non-negative integer; got {seq!r}.")
    return t, int(seq)


@dataclass(frozen=True, eq=False)
class StereoFrame:
    """A left/right image pair.

    ``rectified`` says whether the images are already row-aligned; ``rig`` is the calibration
    (needed to rectify raw views and to turn disparity into depth).
    """

    left: np.ndarray
    right: np.ndarray
    timestamp_s: float = 0.0
    sequence: int = 0
    rectified: bool = False
    rig: StereoRig | None = None
    ground_truth: GroundTruth | None = None

    def __post_init__(self):
        check_image(self.left, "left", allow_nan=True)
        check_image(self.right, "right", allow_nan=True)
        if self.left.shape != self.right.shape or self.left.dtype != self.right.dtype:
            raise ShapeError(
                f"left and right must have the same shape and dtype; got {self.left.shape} "
                f"{self.left.dtype} and {self.right.shape} {self.right.dtype}."
            )
        if self.rig is not None:
            if not isinstance(self.rig, StereoRig):
                raise ParameterError(f"rig must be a StereoRig; got {type(self.rig).__name__}.")
            self.rig.left.check_image(self.left, "left")
        t, s = _check_time(self.timestamp_s, self.sequence)
        object.__setattr__(self, "timestamp_s", t)
        object.__setattr__(self, "sequence", s)
        object.__setattr__(self, "left", _readonly(self.left))
        object.__setattr__(self, "right", _readonly(self.right))

    @property
    def shape(self) -> tuple[int, int]:
        return self.left.shape[:2]


@dataclass(frozen=True, eq=False)
class DepthFrame:
    """Metric depth with its camera: ``depth_m`` (H, W) float32, NaN = no measurement.

    ``confidence`` (H, W) float32 in [0, 1] where the sensor gives one (ToF amplitude,
    structured-light contrast, SGM cost margin).
    """

    depth_m: np.ndarray
    intrinsics: Intrinsics
    timestamp_s: float = 0.0
    sequence: int = 0
    confidence: np.ndarray | None = None
    ground_truth: GroundTruth | None = None

    def __post_init__(self):
        check_image(self.depth_m, "depth_m", channels=(1,), dtypes=(np.float32,), allow_nan=True)
        self.intrinsics.check_image(self.depth_m, "depth_m")
        if self.confidence is not None and self.confidence.shape != self.depth_m.shape:
            raise ShapeError(
                f"confidence has shape {self.confidence.shape}; expected {self.depth_m.shape}."
            )
        t, s = _check_time(self.timestamp_s, self.sequence)
        object.__setattr__(self, "timestamp_s", t)
        object.__setattr__(self, "sequence", s)
        object.__setattr__(self, "depth_m", _readonly(self.depth_m))
        object.__setattr__(self, "confidence", _readonly(self.confidence))

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask of pixels with a depth."""
        return np.isfinite(self.depth_m)


@dataclass(frozen=True, eq=False)
class RGBDFrame(DepthFrame):
    """Depth registered to a colour image (same size), plus the disparity it came from.

    ``color`` (H, W, 3) uint8 RGB (or (H, W) grey); ``disparity`` (H, W) float32 pixels when the
    depth came from stereo; ``pose`` 4x4 ``cam2world`` when known.
    """

    color: np.ndarray | None = None
    disparity: np.ndarray | None = None
    pose: np.ndarray | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.color is not None:
            check_image(self.color, "color", dtypes=(np.uint8, np.uint16, np.float32))
            self.intrinsics.check_image(self.color, "color")
            object.__setattr__(self, "color", _readonly(self.color))
        if self.disparity is not None:
            check_image(self.disparity, "disparity", channels=(1,), dtypes=(np.float32,),
                        allow_nan=True)
            self.intrinsics.check_image(self.disparity, "disparity")
            object.__setattr__(self, "disparity", _readonly(self.disparity))
        if self.pose is not None:
            object.__setattr__(self, "pose", _readonly(check_matrix(self.pose, "pose", (4, 4))))

    def point_cloud(self, *, cam2world: np.ndarray | None = None):
        """Coloured point cloud of the valid pixels (:func:`depthkit.geometry.to_pointcloud`)."""
        from .geometry import to_pointcloud

        pose = cam2world if cam2world is not None else self.pose
        return to_pointcloud(self.depth_m, self.intrinsics, color=self.color, cam2world=pose)
