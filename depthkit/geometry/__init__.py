"""Geometry: disparity <-> depth, depth filters, point clouds, TSDF fusion and odometry.

>>> import depthkit as dk
>>> depth = dk.disparity_to_depth(disparity, rig)                       # doctest: +SKIP
>>> points, colors = dk.to_pointcloud(depth, rig.rectified_intrinsics)  # doctest: +SKIP
>>> fusion = dk.Fusion(voxel_size=0.01); fusion.integrate(rgbd_frame)   # doctest: +SKIP

Open3D is imported only by the functions that need it.
"""

from __future__ import annotations

from .cloud import (
    backproject,
    from_open3d,
    remove_outliers,
    save_pointcloud,
    to_open3d,
    to_pointcloud,
    voxel_downsample,
)
from .depth import depth_to_disparity, disparity_to_depth, stereo_constants
from .filters import (
    PERSISTENCE,
    PostProcessor,
    TemporalFilter,
    decimate,
    fill_holes,
    from_disparity_domain,
    spatial_filter,
    threshold,
    to_disparity_domain,
)
from .fusion import Fusion, frame_pose
from .metrics import MeshQuality, mesh_accuracy_completeness, trajectory_drift
from .odometry import Odometry, pose_to_tum, read_trajectory, tum_to_pose, write_trajectory
from .reconstruct import STEREO_SPATIAL, fuse_source

__all__ = [
    "disparity_to_depth", "depth_to_disparity", "stereo_constants",
    "to_pointcloud", "backproject", "to_open3d", "from_open3d", "voxel_downsample",
    "remove_outliers", "save_pointcloud",
    "decimate", "threshold", "spatial_filter", "TemporalFilter", "fill_holes",
    "to_disparity_domain", "from_disparity_domain", "PostProcessor", "PERSISTENCE",
    "Fusion", "frame_pose",
    "Odometry", "write_trajectory", "read_trajectory", "pose_to_tum", "tum_to_pose",
    "fuse_source", "STEREO_SPATIAL", "STEREO_SPATIAL",
    "MeshQuality", "mesh_accuracy_completeness", "trajectory_drift",
]
