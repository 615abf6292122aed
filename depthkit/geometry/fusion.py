"""TSDF fusion of posed depth frames into a mesh, on Open3D's tensor ``VoxelBlockGrid``.

The legacy ``open3d.pipelines.integration.ScalableTSDFVolume`` integrates nothing on the pinned
open3d(-cpu) 0.20, so depthkit uses ``open3d.t.geometry.VoxelBlockGrid`` (a sparse hash of
16^3-voxel blocks that grows as needed); the tests prove it reconstructs known surfaces.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .._checks import check_image, check_matrix, check_positive
from .._optional import require
from ..errors import DataError, ParameterError
from ..types import DepthFrame, Intrinsics, RGBDFrame
from . import _kernels

__all__ = ["Fusion", "frame_pose"]

log = logging.getLogger(__name__)


def frame_pose(frame, cam2world=None) -> np.ndarray | None:
    """The ``cam2world`` pose to use for `frame`: the given one, the frame's own ``pose``, or
    its ground truth's; None when there is none."""
    if cam2world is not None:
        return check_matrix(cam2world, "cam2world", (4, 4))
    pose = getattr(frame, "pose", None)
    if pose is None and getattr(frame, "ground_truth", None) is not None:
        pose = frame.ground_truth.pose
    return None if pose is None else check_matrix(pose, "pose", (4, 4))


def _check_rigid(T: np.ndarray, name: str) -> None:
    R = T[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or not np.allclose(T[3], [0, 0, 0, 1]):
        raise ParameterError(
            f"`{name}` is not a rigid transform (rotation part not orthonormal or last row not "
            "[0, 0, 0, 1]); pass a 4x4 cam2world pose."
        )


class Fusion:
    """Fuse depth frames with known camera poses into a truncated signed distance field.

    Parameters
    ----------
    voxel_size : float
        Voxel edge in metres (e.g. 0.005 for desk objects, 0.02 for rooms).
    truncation : float, optional
        TSDF truncation distance in metres; default 4 voxels.  Larger values tolerate noisier
        depth but thicken thin structures.
    max_depth_m : float
        Depths beyond this are ignored (stereo depth is noisy far away).
    min_depth_m : float
        Depths below this are ignored.
    color : bool
        Integrate colour too (frames without colour then integrate depth only).
    block_resolution : int
        Voxels per block edge.  8 (Open3D's default is 16) integrates a 640x480 frame about
        twice as fast: blocks hug the surface, so fewer empty voxels are updated.
    block_count : int
        Initial hash-map capacity in blocks (each holds block_resolution^3 voxels of 20
        bytes: 40 MB for 4000 blocks of 8^3); it grows when needed.
    weight_threshold : float, optional
        Minimum integration weight (number of observations) of a voxel for extraction;
        default ``min(frames - 0.5, 3)`` so a single frame still gives a surface.

    Examples
    --------
    >>> fusion = Fusion(voxel_size=0.01, max_depth_m=3.0)        # doctest: +SKIP
    >>> for frame in frames:                                      # doctest: +SKIP
    ...     fusion.integrate(frame)  # uses frame.pose / frame.ground_truth.pose
    >>> mesh = fusion.extract_mesh()                              # doctest: +SKIP
    """

    def __init__(self, voxel_size: float = 0.01, *, truncation: float | None = None,
                 max_depth_m: float = 3.0, min_depth_m: float = 0.0, color: bool = True,
                 block_resolution: int = 8, block_count: int = 4000,
                 weight_threshold: float | None = None):
        self.voxel_size = check_positive(voxel_size, "voxel_size")
        self.truncation = (4.0 * self.voxel_size if truncation is None
                           else check_positive(truncation, "truncation"))
        if self.truncation < self.voxel_size:
            raise ParameterError(
                f"truncation ({self.truncation} m) must be at least one voxel "
                f"({self.voxel_size} m); 3-5 voxels is typical."
            )
        self.max_depth_m = check_positive(max_depth_m, "max_depth_m")
        self.min_depth_m = float(min_depth_m)
        if not 0 <= self.min_depth_m < self.max_depth_m:
            raise ParameterError(
                f"need 0 <= min_depth_m < max_depth_m; got {min_depth_m!r} and {max_depth_m!r}."
            )
        if int(block_resolution) != block_resolution or not 2 <= block_resolution <= 64:
            raise ParameterError(
                f"block_resolution must be an integer 2..64; got {block_resolution!r}."
            )
        if int(block_count) != block_count or block_count < 1:
            raise ParameterError(f"block_count must be a positive integer; got {block_count!r}.")
        self.block_resolution = int(block_resolution)
        self.block_count = int(block_count)
        self.color = bool(color)
        self.weight_threshold = (None if weight_threshold is None
                                 else check_positive(weight_threshold, "weight_threshold"))
        self._o3d = require("open3d")
        self.reset()

    # --- state -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Start over with an empty volume."""
        o3d = self._o3d
        o3c = o3d.core
        names, dtypes, channels = ["tsdf", "weight"], [o3c.float32, o3c.float32], [[1], [1]]
        if self.color:
            names.append("color")
            dtypes.append(o3c.float32)
            channels.append([3])
        self._grid = o3d.t.geometry.VoxelBlockGrid(
            attr_names=names, attr_dtypes=dtypes, attr_channels=channels,
            voxel_size=self.voxel_size, block_resolution=self.block_resolution,
            block_count=self.block_count,
        )
        self.frames = 0          # frames that contributed at least one valid depth
        self.frames_skipped = 0  # frames with no valid depth in range

    @property
    def voxel_block_grid(self):
        """The underlying ``open3d.t.geometry.VoxelBlockGrid``."""
        return self._grid

    @property
    def depth_scale(self) -> float:
        """uint16 steps per metre of the depth images handed to Open3D."""
        return 65535.0 / self.max_depth_m

    @property
    def trunc_voxel_multiplier(self) -> float:
        return self.truncation / self.voxel_size

    def effective_weight_threshold(self) -> float:
        """The weight threshold extraction uses now (see `weight_threshold`)."""
        if self.weight_threshold is not None:
            return self.weight_threshold
        return max(0.5, min(self.frames - 0.5, 3.0))

    # --- integration -------------------------------------------------------------------------
    def integrate(self, frame: DepthFrame, cam2world: np.ndarray | None = None) -> bool:
        """Integrate a :class:`~depthkit.DepthFrame` or :class:`~depthkit.RGBDFrame`.

        The pose is `cam2world`, else the frame's ``pose``, else its ground truth's.
        Returns False (and integrates nothing) when the frame has no valid depth in range.
        """
        if not isinstance(frame, DepthFrame):
            raise ParameterError(
                f"Fusion.integrate takes a DepthFrame or RGBDFrame; got {type(frame).__name__}. "
                "Turn stereo frames into depth first (dk.SGM + disparity_to_depth)."
            )
        pose = frame_pose(frame, cam2world)
        if pose is None:
            raise ParameterError(
                "no camera pose for this frame: pass cam2world=, use a source with poses, or "
                "estimate them with depthkit.geometry.Odometry."
            )
        color = frame.color if isinstance(frame, RGBDFrame) else None
        return self.integrate_depth(frame.depth_m, frame.intrinsics, pose, color=color)

    def integrate_depth(self, depth_m: np.ndarray, intrinsics: Intrinsics,
                        cam2world: np.ndarray, color: np.ndarray | None = None) -> bool:
        """Integrate a raw depth image (metres, NaN invalid) seen from `cam2world`."""
        o3d = self._o3d
        o3c = o3d.core
        check_image(depth_m, "depth_m", channels=(1,), dtypes=(np.float32, np.float64),
                    allow_nan=True)
        if not isinstance(intrinsics, Intrinsics):
            raise ParameterError(
                f"intrinsics must be depthkit.Intrinsics; got {type(intrinsics).__name__}."
            )
        intrinsics.check_image(depth_m, "depth_m")
        if intrinsics.distortion and any(intrinsics.distortion):
            raise ParameterError(
                "Fusion needs undistorted (pinhole) depth; these intrinsics have distortion "
                f"{intrinsics.distortion}. Rectify or undistort the depth image first."
            )
        T = check_matrix(cam2world, "cam2world", (4, 4))
        _check_rigid(T, "cam2world")
        use_color = self.color and color is not None
        if use_color:
            check_image(color, "color", dtypes=(np.uint8, np.uint16, np.float32))
            intrinsics.check_image(color, "color")
        # Open3D takes (float depth, float colour) or (uint16 depth, uint8 colour); the second
        # saves converting colour to float.  Depth is scaled so max_depth_m fills uint16
        # (0.05 mm steps at 3 m), far below any sensor's noise.
        scale = self.depth_scale
        depth = np.empty(depth_m.shape, np.uint16)
        row_valid = np.empty(depth_m.shape[0], np.int64)
        _kernels.depth_to_u16(np.ascontiguousarray(depth_m, dtype=np.float32),
                              np.float32(max(self.min_depth_m, 1e-6)),
                              np.float32(self.max_depth_m), np.float32(scale), depth, row_valid)
        if not row_valid.any():
            self.frames_skipped += 1
            log.debug("frame without valid depth in [%g, %g] m skipped",
                      self.min_depth_m, self.max_depth_m)
            return False
        K = o3c.Tensor(intrinsics.K, o3c.float64)
        world2cam = o3c.Tensor(np.linalg.inv(T), o3c.float64)
        dimg = o3d.t.geometry.Image(o3c.Tensor(depth))
        mult = self.trunc_voxel_multiplier
        blocks = self._grid.compute_unique_block_coordinates(
            dimg, K, world2cam, scale, self.max_depth_m, mult)
        if blocks.shape[0] == 0:
            self.frames_skipped += 1
            return False
        if use_color:
            from .cloud import colors_to_uint8

            cimg = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(colors_to_uint8(color))))
            self._grid.integrate(blocks, dimg, cimg, K, K, world2cam, scale, self.max_depth_m,
                                 mult)
        else:
            self._grid.integrate(blocks, dimg, K, world2cam, scale, self.max_depth_m, mult)
        self.frames += 1
        return True

    # --- extraction --------------------------------------------------------------------------
    def _threshold(self, weight_threshold):
        if weight_threshold is None:
            return self.effective_weight_threshold()
        return check_positive(weight_threshold, "weight_threshold")

    def _has_surface_voxels(self, wt: float) -> bool:
        if self._grid.hashmap().size() == 0:
            return False
        w = self._grid.attribute("weight").numpy()
        return bool(np.any(w >= wt))

    def extract_mesh(self, weight_threshold: float | None = None):
        """Marching-cubes mesh of the zero level set (``open3d.geometry.TriangleMesh``, with
        vertex normals, and vertex colours when colour was integrated).  Empty when nothing
        has been integrated or no voxel reaches `weight_threshold`."""
        o3d = self._o3d
        wt = self._threshold(weight_threshold)
        if self.frames == 0:
            return o3d.geometry.TriangleMesh()
        try:
            mesh = self._grid.extract_triangle_mesh(weight_threshold=wt)
        except RuntimeError:
            # Open3D raises when no vertex survives the threshold (empty colour tensor)
            if self._has_surface_voxels(wt):
                raise
            return o3d.geometry.TriangleMesh()
        return mesh.to_legacy()

    def extract_point_cloud(self, weight_threshold: float | None = None):
        """Surface points of the TSDF (``open3d.geometry.PointCloud`` with normals and colours
        where integrated).  Use :func:`~depthkit.geometry.from_open3d` for numpy arrays."""
        o3d = self._o3d
        wt = self._threshold(weight_threshold)
        if self.frames == 0:
            return o3d.geometry.PointCloud()
        try:
            pc = self._grid.extract_point_cloud(weight_threshold=wt)
        except RuntimeError:
            if self._has_surface_voxels(wt):
                raise
            return o3d.geometry.PointCloud()
        return pc.to_legacy()

    def save(self, path: str | os.PathLike, weight_threshold: float | None = None) -> Path:
        """Write the result by suffix: a mesh (``.ply``, ``.obj``, ``.stl``, ``.off``,
        ``.gltf``, ``.glb``), a point cloud (``.pcd``, ``.xyz``) or the voxel grid (``.npz``,
        Open3D's ``VoxelBlockGrid.load`` reads it back)."""
        from ..io import atomic_path, write_geometry

        p = Path(path)
        suffix = p.suffix.lower()
        if suffix == ".npz":
            with atomic_path(p) as tmp:  # the temporary name ends in .npz too
                self._grid.save(str(tmp))
        elif suffix in (".ply", ".obj", ".stl", ".off", ".gltf", ".glb"):
            mesh = self.extract_mesh(weight_threshold)
            if len(mesh.vertices) == 0:
                raise DataError(
                    f"the fused mesh is empty ({self.frames} frames integrated, "
                    f"{self.frames_skipped} skipped); nothing to write to {p}."
                )
            write_geometry(p, mesh)
        elif suffix in (".pcd", ".xyz", ".xyzrgb", ".pts"):
            write_geometry(p, self.extract_point_cloud(weight_threshold))
        else:
            raise ParameterError(
                f"unknown output format {suffix!r} for {p}; use .ply/.obj/.stl (mesh), .pcd "
                "(point cloud) or .npz (voxel grid)."
            )
        return p

    def __repr__(self) -> str:
        return (f"Fusion(voxel_size={self.voxel_size}, truncation={self.truncation}, "
                f"max_depth_m={self.max_depth_m}, frames={self.frames})")

