"""Point clouds and meshes in PLY/PCD through Open3D (imported on use)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._optional import require
from ..errors import FileFormatError, ShapeError
from ._atomic import atomic_path


def write_ply(path: str | os.PathLike, points: np.ndarray, colors: np.ndarray | None = None,
              *, normals: np.ndarray | None = None) -> None:
    """Write an N x 3 point array (colours N x 3 uint8 RGB or float in [0, 1]) atomically.

    The format follows the suffix (``.ply`` or ``.pcd``).
    """
    o3d = require("open3d")
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ShapeError(f"points must be (N, 3); got {pts.shape}.")
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    if colors is not None:
        c = np.asarray(colors)
        if c.shape != pts.shape:
            raise ShapeError(f"colors must be (N, 3) like points {pts.shape}; got {c.shape}.")
        c = c.astype(np.float64) / 255.0 if c.dtype == np.uint8 else c.astype(np.float64)
        pc.colors = o3d.utility.Vector3dVector(c)
    if normals is not None:
        pc.normals = o3d.utility.Vector3dVector(np.asarray(normals, dtype=np.float64))
    write_geometry(path, pc)


def write_geometry(path: str | os.PathLike, geometry) -> None:
    """Write an Open3D point cloud or triangle mesh (legacy or tensor) atomically."""
    o3d = require("open3d")
    if hasattr(geometry, "to_legacy"):
        geometry = geometry.to_legacy()
    with atomic_path(path) as tmp:
        if isinstance(geometry, o3d.geometry.TriangleMesh):
            ok = o3d.io.write_triangle_mesh(str(tmp), geometry, write_ascii=False)
        else:
            ok = o3d.io.write_point_cloud(str(tmp), geometry, write_ascii=False)
        if not ok:
            raise FileFormatError(f"Open3D could not write {path}.")


def read_ply(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a point cloud file; return ``(points (N, 3) float64, colors (N, 3) uint8 or None)``."""
    o3d = require("open3d")
    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"point cloud file not found: {p}")
    pc = o3d.io.read_point_cloud(str(p))
    pts = np.asarray(pc.points)
    if len(pts) == 0 and p.stat().st_size > 0 and not _ply_declares_zero(p):
        raise FileFormatError(f"Open3D read no points from {p}; is it a valid PLY/PCD file?")
    cols = None
    if pc.has_colors():
        cols = np.clip(np.round(np.asarray(pc.colors) * 255), 0, 255).astype(np.uint8)
    return pts, cols


def read_mesh(path: str | os.PathLike):
    """Read a triangle mesh (legacy Open3D ``TriangleMesh``)."""
    o3d = require("open3d")
    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"mesh file not found: {p}")
    return o3d.io.read_triangle_mesh(str(p))


def _ply_declares_zero(p: Path) -> bool:
    with open(p, "rb") as f:
        head = f.read(512)
    return b"element vertex 0" in head
