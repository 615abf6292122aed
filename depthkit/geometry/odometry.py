"""Frame-to-frame RGB-D odometry (Open3D, tensor pipeline) and trajectory files.

:class:`Odometry` chains relative motions between consecutive frames into ``cam2world`` poses
(the first frame defines the world, unless an initial pose is given).  Trajectories are written
in the TUM RGB-D format, one pose a line: ``t tx ty tz qx qy qz qw``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .._checks import check_matrix, check_positive
from .._optional import require
from ..errors import DataError, FileFormatError, ParameterError
from ..types import DepthFrame, RGBDFrame

__all__ = ["Odometry", "write_trajectory", "read_trajectory", "pose_to_tum", "tum_to_pose"]

log = logging.getLogger(__name__)

_METHODS = ("hybrid", "intensity", "point_to_plane")


class Odometry:
    """Track a moving RGB-D camera from consecutive frames (Open3D RGB-D odometry).

    Parameters
    ----------
    method : {"hybrid", "intensity", "point_to_plane"}
        Residuals: photometric and geometric (hybrid Jacobian, the default), photometric only,
        or geometric only (works without colour; tensor backend only).
    backend : {"legacy", "tensor"}
        ``"legacy"``: ``open3d.pipelines.odometry.compute_rgbd_odometry`` (Steinbrücker/Park
        hybrid); the more accurate in depthkit's tests (about 0.5 % drift where the tensor
        pipeline had 1-5 %).  ``"tensor"``: ``open3d.t.pipelines.odometry``, about twice as
        fast.  ``point_to_plane`` always uses the tensor backend.
    max_depth_m : float
        Depths beyond this are ignored.
    iterations : tuple of int
        Gauss-Newton iterations per pyramid level, finest level first (the number of entries
        sets the number of levels).
    depth_diff_max : float, optional
        Point pairs whose depths differ by more than this (metres) are outliers (legacy
        ``depth_diff_max``, default 0.03; tensor ``depth_outlier_trunc``, default 0.07).
    depth_huber_delta, intensity_huber_delta : float
        Robust-loss scales of the tensor backend (Open3D's defaults).
    initial_pose : (4, 4) array, optional
        ``cam2world`` of the first frame (default identity: the first camera is the world).
    constant_velocity : bool
        Start each estimate from the previous frame-to-frame motion (helps fast motion).

    Attributes
    ----------
    poses : list of (4, 4) ndarray
        ``cam2world`` of each tracked frame.
    timestamps : list of float
    failures : int
        Frames where Open3D failed and the previous motion was assumed.
    """

    def __init__(self, *, method: str = "hybrid", backend: str = "legacy",
                 max_depth_m: float = 3.0, iterations: tuple[int, ...] = (20, 10, 5),
                 depth_diff_max: float | None = None, depth_huber_delta: float = 0.05,
                 intensity_huber_delta: float = 0.1, initial_pose: np.ndarray | None = None,
                 constant_velocity: bool = True):
        if method not in _METHODS:
            raise ParameterError(
                f"unknown odometry method {method!r}; use one of {', '.join(_METHODS)}."
            )
        if backend not in ("legacy", "tensor"):
            raise ParameterError(f"backend must be 'legacy' or 'tensor'; got {backend!r}.")
        self.method = method
        self.backend = "tensor" if method == "point_to_plane" else backend
        self.max_depth_m = check_positive(max_depth_m, "max_depth_m")
        its = tuple(iterations)
        if not its or any(int(i) != i or i < 1 for i in its):
            raise ParameterError(
                f"iterations must be positive integers per level; got {iterations!r}."
            )
        self.iterations = tuple(int(i) for i in its)
        if depth_diff_max is None:  # Open3D's defaults for each backend
            depth_diff_max = 0.03 if self.backend == "legacy" else 0.07
        self.depth_diff_max = check_positive(depth_diff_max, "depth_diff_max")
        self.depth_huber_delta = check_positive(depth_huber_delta, "depth_huber_delta")
        self.intensity_huber_delta = check_positive(intensity_huber_delta, "intensity_huber_delta")
        self.initial_pose = (np.eye(4) if initial_pose is None
                             else check_matrix(initial_pose, "initial_pose", (4, 4)))
        self.constant_velocity = bool(constant_velocity)
        self._o3d = require("open3d")
        self.reset()

    def reset(self) -> None:
        """Forget the trajectory; the next frame starts again at `initial_pose`."""
        self.poses: list[np.ndarray] = []
        self.timestamps: list[float] = []
        self.failures = 0
        self._prev = None
        self._prev_shape = None
        self._motion = np.eye(4)  # last current->previous camera transform

    def _image(self, frame: DepthFrame):
        """The frame as an Open3D RGB-D image of the chosen backend."""
        o3d = self._o3d
        depth = np.nan_to_num(np.asarray(frame.depth_m, dtype=np.float32), nan=0.0)
        depth[(depth < 0) | (depth > self.max_depth_m)] = 0.0
        color = frame.color if isinstance(frame, RGBDFrame) else None
        if color is None and self.method != "point_to_plane":
            raise ParameterError(
                f"odometry method {self.method!r} needs colour (an RGBDFrame with color); "
                "use method='point_to_plane' for depth-only frames."
            )
        if self.backend == "legacy":
            from .cloud import colors_to_uint8

            return o3d.geometry.RGBDImage.create_from_color_and_depth(
                o3d.geometry.Image(np.ascontiguousarray(colors_to_uint8(color))),
                o3d.geometry.Image(depth), depth_scale=1.0, depth_trunc=self.max_depth_m,
                convert_rgb_to_intensity=True)
        o3c = o3d.core
        if color is None:
            c = np.zeros(depth.shape + (3,), np.float32)
        else:
            c = _color_float(color)
        return o3d.t.geometry.RGBDImage(o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(c))),
                                        o3d.t.geometry.Image(o3c.Tensor(depth)))

    def _estimate(self, cur, prev, intrinsics, init: np.ndarray) -> np.ndarray | None:
        """cur->prev transform, or None when Open3D fails."""
        o3d = self._o3d
        if self.backend == "legacy":
            od = o3d.pipelines.odometry
            pin = o3d.camera.PinholeCameraIntrinsic(intrinsics.width, intrinsics.height,
                                                    intrinsics.fx, intrinsics.fy,
                                                    intrinsics.cx, intrinsics.cy)
            jac = (od.RGBDOdometryJacobianFromHybridTerm() if self.method == "hybrid"
                   else od.RGBDOdometryJacobianFromColorTerm())
            opt = od.OdometryOption(o3d.utility.IntVector(list(self.iterations)),
                                    self.depth_diff_max, 0.0, self.max_depth_m)
            ok, T, _ = od.compute_rgbd_odometry(cur, prev, pin, init, jac, opt)
            return np.asarray(T, dtype=np.float64) if ok else None
        o3c = o3d.core
        od = o3d.t.pipelines.odometry
        method = {"hybrid": od.Method.Hybrid, "intensity": od.Method.Intensity,
                  "point_to_plane": od.Method.PointToPlane}[self.method]
        criteria = [od.OdometryConvergenceCriteria(i) for i in self.iterations]
        params = od.OdometryLossParams(self.depth_diff_max, self.depth_huber_delta,
                                       self.intensity_huber_delta)
        res = od.rgbd_odometry_multi_scale(
            cur, prev, o3c.Tensor(intrinsics.K, o3c.float64), o3c.Tensor(init, o3c.float64),
            1.0, self.max_depth_m, criteria, method, params)
        if not res.fitness > 0:
            return None
        return res.transformation.numpy().astype(np.float64)

    def track(self, frame: DepthFrame) -> np.ndarray:
        """Add the next frame; return its estimated ``cam2world`` (4x4 float64)."""
        if not isinstance(frame, DepthFrame):
            raise ParameterError(
                f"Odometry.track takes a DepthFrame/RGBDFrame; got {type(frame).__name__}."
            )
        if self._prev is not None and frame.depth_m.shape != self._prev_shape:
            raise DataError(
                f"frame size changed from {self._prev_shape} to {frame.depth_m.shape}; "
                "odometry needs one camera (call reset() for a new stream)."
            )
        cur = self._image(frame)
        if self._prev is None:
            pose = self.initial_pose.copy()
        else:
            init = self._motion if self.constant_velocity else np.eye(4)
            try:
                # source = current frame, target = previous: the result maps current-camera
                # points into the previous camera's frame
                motion = self._estimate(cur, self._prev, frame.intrinsics, init)
            except RuntimeError as exc:
                log.warning("odometry failed on frame %d (%s)", frame.sequence, exc)
                motion = None
            if motion is None or not np.all(np.isfinite(motion)):
                log.warning("odometry lost on frame %d; assuming the previous motion",
                            frame.sequence)
                self.failures += 1
                motion = self._motion
            self._motion = motion
            pose = self.poses[-1] @ motion
        self._prev = cur
        self._prev_shape = frame.depth_m.shape
        self.poses.append(pose)
        self.timestamps.append(float(frame.timestamp_s))
        return pose.copy()

    def write_trajectory(self, path: str | os.PathLike) -> Path:
        """Write the estimated trajectory in TUM format."""
        return write_trajectory(path, self.poses, self.timestamps)


def pose_to_tum(pose: np.ndarray) -> np.ndarray:
    """4x4 ``cam2world`` -> ``[tx, ty, tz, qx, qy, qz, qw]``."""
    from scipy.spatial.transform import Rotation

    T = check_matrix(pose, "pose", (4, 4))
    q = Rotation.from_matrix(T[:3, :3]).as_quat()  # x, y, z, w
    return np.concatenate([T[:3, 3], q])


def tum_to_pose(values) -> np.ndarray:
    """``[tx, ty, tz, qx, qy, qz, qw]`` -> 4x4 ``cam2world``."""
    from scipy.spatial.transform import Rotation

    v = np.asarray(values, dtype=np.float64)
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(v[3:7]).as_matrix()
    T[:3, 3] = v[:3]
    return T


def write_trajectory(path: str | os.PathLike, poses, timestamps=None) -> Path:
    """Write ``cam2world`` poses as a TUM trajectory (``t tx ty tz qx qy qz qw`` per line).

    `timestamps` default to the frame index.
    """
    from ..io import write_bytes_atomic

    poses = list(poses)
    ts = np.arange(len(poses), dtype=np.float64) if timestamps is None else np.asarray(
        timestamps, dtype=np.float64)
    if ts.shape != (len(poses),):
        raise ParameterError(f"got {len(poses)} poses but {ts.size} timestamps.")
    lines = ["# timestamp tx ty tz qx qy qz qw  (cam2world, written by depthkit)"]
    for t, T in zip(ts, poses):
        v = pose_to_tum(T)
        lines.append(f"{t:.6f} " + " ".join(f"{x:.9f}" for x in v))
    p = Path(path)
    write_bytes_atomic(p, ("\n".join(lines) + "\n").encode())
    return p


def read_trajectory(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read ``cam2world`` poses: returns ``(timestamps (N,), poses (N, 4, 4))``.

    Formats: TUM text (8 numbers a line: ``t tx ty tz qx qy qz qw``), KITTI text (12 numbers a
    line: the top 3x4 of the matrix, row-major; timestamps = index), or ``.npy`` of (N, 4, 4).
    Lines starting with ``#`` are comments.
    """
    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"pose file not found: {p}")
    if p.suffix.lower() == ".npy":
        poses = np.load(p)
        if poses.ndim != 3 or poses.shape[1:] != (4, 4):
            raise FileFormatError(f"{p} holds an array of shape {poses.shape}; expected (N, 4, 4).")
        return np.arange(len(poses), dtype=np.float64), poses.astype(np.float64)
    rows = []
    for i, line in enumerate(p.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            rows.append([float(x) for x in line.replace(",", " ").split()])
        except ValueError as exc:
            raise FileFormatError(f"{p}:{i}: not a line of numbers: {line[:60]!r}") from exc
    if not rows:
        raise FileFormatError(f"{p} contains no poses.")
    n = {len(r) for r in rows}
    if n == {8}:
        a = np.array(rows)
        return a[:, 0], np.stack([tum_to_pose(r[1:]) for r in a])
    if n == {12}:
        a = np.array(rows).reshape(-1, 3, 4)
        poses = np.tile(np.eye(4), (len(a), 1, 1))
        poses[:, :3, :] = a
        return np.arange(len(a), dtype=np.float64), poses
    raise FileFormatError(
        f"{p}: lines have {sorted(n)} numbers; expected 8 (TUM: t tx ty tz qx qy qz qw) or 12 "
        "(KITTI: 3x4 matrix, row-major)."
    )


def _color_float(color: np.ndarray) -> np.ndarray:
    """Colour as (H, W, 3) float32 in [0, 1] (what the tensor odometry takes)."""
    c = color
    if c.ndim == 2:
        c = np.repeat(c[..., None], 3, axis=2)
    if c.dtype == np.uint8:
        return c.astype(np.float32) * np.float32(1.0 / 255.0)
    if c.dtype == np.uint16:
        return c.astype(np.float32) * np.float32(1.0 / 65535.0)
    return np.ascontiguousarray(np.clip(c, 0.0, 1.0), dtype=np.float32)
