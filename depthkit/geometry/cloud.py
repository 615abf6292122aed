"""Point clouds from depth images: numpy arrays first, Open3D objects on request.

Points are float32 ``(N, 3)`` metres in the camera frame (x right, y down, z forward) or, given
``cam2world``, in the world frame; colours are uint8 ``(N, 3)`` RGB.  Invalid (NaN, <= 0)
depths are dropped.
"""

from __future__ import annotations

import os

import numpy as np

from .._checks import check_image, check_matrix, check_positive
from .._optional import require
from ..errors import ParameterError, ShapeError
from ..types import DepthFrame, Intrinsics, RGBDFrame

__all__ = ["to_pointcloud", "to_open3d", "from_open3d", "voxel_downsample", "remove_outliers",
           "save_pointcloud", "backproject", "colors_to_uint8"]


def colors_to_uint8(color: np.ndarray) -> np.ndarray:
    """(H, W[, 3]) uint8/uint16/float image -> (H, W, 3) uint8 RGB (grey is repeated)."""
    c = np.asarray(color)
    if c.dtype == np.uint16:
        c = (c >> 8).astype(np.uint8)
    elif c.dtype.kind == "f":  # [0, 1] if it looks like it, else 0..255
        scale = 255.0 if np.nanmax(c, initial=0.0) <= 1.0 else 1.0
        c = np.clip(np.nan_to_num(c * scale), 0, 255).round().astype(np.uint8)
    elif c.dtype != np.uint8:
        raise ShapeError(f"color has dtype {c.dtype}; expected uint8, uint16 or float.")
    if c.ndim == 2:
        c = np.repeat(c[..., None], 3, axis=2)
    return c


def _rays(intrinsics: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Normalised image coordinates (x/z, y/z) of every pixel, undistorted if needed."""
    w, h = intrinsics.width, intrinsics.height
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    if intrinsics.distortion and any(intrinsics.distortion):
        import cv2

        uv = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)
        xy = cv2.undistortPoints(uv, intrinsics.K, np.asarray(intrinsics.distortion))
        xy = xy.reshape(h, w, 2)
        return xy[..., 0], xy[..., 1]
    return (u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy


def backproject(depth_m: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """(H, W, 3) float32 camera-frame points of every pixel (NaN where the depth is invalid)."""
    check_image(depth_m, "depth_m", channels=(1,), dtypes=(np.float32, np.float64),
                allow_nan=True)
    if not isinstance(intrinsics, Intrinsics):
        raise ParameterError(
            f"intrinsics must be depthkit.Intrinsics; got {type(intrinsics).__name__}."
        )
    intrinsics.check_image(depth_m, "depth_m")
    z = np.where(depth_m > 0, depth_m, np.nan).astype(np.float32)
    x, y = _rays(intrinsics)
    return np.stack([x * z, y * z, z], axis=-1).astype(np.float32)


def to_pointcloud(depth_m: np.ndarray, intrinsics: Intrinsics, color: np.ndarray | None = None,
                  cam2world: np.ndarray | None = None, *, max_depth_m: float | None = None,
                  stride: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    """Back-project the valid pixels of a depth image.

    Parameters
    ----------
    depth_m : (H, W) float32 ndarray
        z-depth in metres; NaN or <= 0 = invalid.
    intrinsics : Intrinsics
        The depth camera (distortion, if any, is undone exactly).
    color : (H, W, 3) or (H, W) ndarray, optional
        RGB (or grey) image registered to the depth.
    cam2world : (4, 4) array, optional
        Express the points in this world frame instead of the camera frame.
    max_depth_m : float, optional
        Drop points farther than this.
    stride : int
        Take every `stride`-th pixel in each direction (a quick subsample).

    Returns
    -------
    points : (N, 3) float32 ndarray
    colors : (N, 3) uint8 ndarray or None
        RGB per point; None without `color`.

    Examples
    --------
    >>> import numpy as np
    >>> from depthkit import Intrinsics
    >>> K = Intrinsics(4, 3, 2.0, 2.0, 1.5, 1.0)
    >>> pts, _ = to_pointcloud(np.full((3, 4), 2.0, np.float32), K)
    >>> pts.shape, float(pts[:, 2].mean())
    ((12, 3), 2.0)
    """
    xyz = backproject(depth_m, intrinsics)
    if int(stride) != stride or stride < 1:
        raise ParameterError(f"stride must be a positive integer; got {stride!r}.")
    stride = int(stride)
    valid = np.isfinite(xyz[..., 2])
    if max_depth_m is not None:
        valid &= xyz[..., 2] <= check_positive(max_depth_m, "max_depth_m")
    if stride > 1:
        sub = np.zeros_like(valid)
        sub[::stride, ::stride] = True
        valid &= sub
    pts = xyz[valid]
    if cam2world is not None:
        T = check_matrix(cam2world, "cam2world", (4, 4))
        pts = (pts.astype(np.float64) @ T[:3, :3].T + T[:3, 3]).astype(np.float32)
    cols = None
    if color is not None:
        check_image(color, "color", dtypes=(np.uint8, np.uint16, np.float32, np.float64),
                    allow_nan=True)
        intrinsics.check_image(color, "color")
        cols = colors_to_uint8(color)[valid]
    return np.ascontiguousarray(pts, dtype=np.float32), cols


def _check_points(points, colors):
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ShapeError(f"points must be an (N, 3) array; got shape {pts.shape}.")
    if colors is not None:
        c = np.asarray(colors)
        if c.shape != pts.shape:
            raise ShapeError(f"colors must be (N, 3) like points {pts.shape}; got {c.shape}.")
    return pts


def to_open3d(points, colors: np.ndarray | None = None, *, cam2world: np.ndarray | None = None):
    """An ``open3d.geometry.PointCloud`` from an (N, 3) array or a DepthFrame/RGBDFrame.

    Parameters
    ----------
    points : (N, 3) ndarray, DepthFrame or RGBDFrame
        Points in metres, or a frame to back-project (its colour is used).
    colors : (N, 3) uint8 RGB or float [0, 1] ndarray, optional
        Per-point colours (for array input).
    cam2world : (4, 4) array, optional
        For frame input: the pose (default: an RGBDFrame's own ``pose``).
    """
    o3d = require("open3d")
    if isinstance(points, DepthFrame):
        frame = points
        color = frame.color if isinstance(frame, RGBDFrame) else None
        pose = cam2world if cam2world is not None else getattr(frame, "pose", None)
        points, colors = to_pointcloud(frame.depth_m, frame.intrinsics, color, pose)
    pts = _check_points(points, colors)
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts.astype(np.float64)))
    if colors is not None:
        c = np.asarray(colors)
        c = c.astype(np.float64) / 255.0 if c.dtype == np.uint8 else c.astype(np.float64)
        pc.colors = o3d.utility.Vector3dVector(c)
    return pc


def from_open3d(pc) -> tuple[np.ndarray, np.ndarray | None]:
    """``(points (N, 3) float32, colors (N, 3) uint8 or None)`` of an Open3D point cloud."""
    if hasattr(pc, "to_legacy"):
        pc = pc.to_legacy()
    pts = np.asarray(pc.points, dtype=np.float32).reshape(-1, 3)
    cols = None
    if pc.has_colors():
        cols = np.clip(np.round(np.asarray(pc.colors) * 255), 0, 255).astype(np.uint8)
    return pts, cols


def _roundtrip(points, colors, op):
    """Apply an Open3D point cloud operation to numpy input (numpy out) or to a cloud."""
    o3d = require("open3d")
    if isinstance(points, o3d.geometry.PointCloud):
        return op(points)
    _check_points(points, colors)
    if len(points) == 0:
        empty = np.zeros((0, 3), np.uint8)
        return np.zeros((0, 3), np.float32), (None if colors is None else empty)
    return from_open3d(op(to_open3d(points, colors)))


def voxel_downsample(points, colors: np.ndarray | None = None, *, voxel_size: float):
    """Average the points (and colours) in each cube of `voxel_size` metres (Open3D).

    Takes (N, 3) arrays and returns ``(points, colors)``, or takes and returns an
    ``open3d.geometry.PointCloud``.
    """
    vs = check_positive(voxel_size, "voxel_size")
    return _roundtrip(points, colors, lambda pc: pc.voxel_down_sample(vs))


def remove_outliers(points, colors: np.ndarray | None = None, *, nb_neighbors: int = 20,
                    std_ratio: float = 2.0):
    """Statistical outlier removal (Open3D): drop points whose mean distance to their
    `nb_neighbors` nearest neighbours exceeds the global mean by `std_ratio` deviations."""
    if int(nb_neighbors) != nb_neighbors or nb_neighbors < 1:
        raise ParameterError(f"nb_neighbors must be a positive integer; got {nb_neighbors!r}.")
    sr = check_positive(std_ratio, "std_ratio")
    return _roundtrip(points, colors,
                      lambda pc: pc.remove_statistical_outlier(int(nb_neighbors), sr)[0])


def save_pointcloud(path: str | os.PathLike, points, colors: np.ndarray | None = None) -> None:
    """Write points (and colours) as PLY or PCD (by suffix), atomically."""
    from ..io import write_geometry, write_ply

    suffix = os.fspath(path).lower().rsplit(".", 1)[-1]
    if suffix not in ("ply", "pcd"):
        raise ParameterError(f"save_pointcloud writes .ply or .pcd files; got {path!r}.")
    if hasattr(points, "points") and not isinstance(points, np.ndarray):
        write_geometry(path, points)
        return
    _check_points(points, colors)
    write_ply(path, points, colors)
