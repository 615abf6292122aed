"""Open3D canary: the tensor VoxelBlockGrid must turn a depth image into a mesh.

open3d 0.20.0's legacy ScalableTSDFVolume integrated a plain depth image into a mesh of 0 points
on this project's machines, which is why depthkit fuses with ``open3d.t.geometry.VoxelBlockGrid``.
This test integrates a synthetic plane so that an Open3D upgrade that breaks fusion fails here,
in one obvious place, rather than as an empty mesh somewhere downstream.
"""

from __future__ import annotations

import numpy as np
import pytest

from depthkit._optional import require

W, H = 160, 120
FX = FY = 120.0
CX, CY = (W - 1) / 2, (H - 1) / 2
PLANE_M = 1.5
VOXEL_M = 0.02
FRAMES = 2


def test_voxel_block_grid_integrates_a_plane():
    o3d = require("open3d")
    o3c = o3d.core
    depth = o3d.t.geometry.Image(o3c.Tensor(np.full((H, W), PLANE_M, np.float32)))
    K = o3c.Tensor(np.array([[FX, 0, CX], [0, FY, CY], [0, 0, 1]]), o3c.float64)
    world2cam = o3c.Tensor(np.eye(4), o3c.float64)
    vbg = o3d.t.geometry.VoxelBlockGrid(
        attr_names=("tsdf", "weight"), attr_dtypes=(o3c.float32, o3c.float32),
        attr_channels=((1), (1)), voxel_size=VOXEL_M, block_resolution=8, block_count=2000,
        device=o3c.Device("CPU:0"))
    for _ in range(FRAMES):
        blocks = vbg.compute_unique_block_coordinates(depth, K, world2cam, 1.0, 3.0)
        vbg.integrate(blocks, depth, K, world2cam, 1.0, 3.0)
    # the weight threshold must be below the number of frames integrated (each adds 1)
    mesh = vbg.extract_triangle_mesh(weight_threshold=FRAMES - 0.5)
    v = mesh.vertex.positions.numpy()
    assert len(v) > 1000, f"Open3D {o3d.__version__} fused a plane into {len(v)} vertices"
    assert len(mesh.triangle.indices) > 1000
    np.testing.assert_allclose(v[:, 2], PLANE_M, atol=VOXEL_M)
    # the mesh spans the camera's field of view at that distance (within a couple of voxels)
    half_w, half_h = PLANE_M * (W / 2) / FX, PLANE_M * (H / 2) / FY
    assert v[:, 0].min() == pytest.approx(-half_w, abs=2 * VOXEL_M)
    assert v[:, 0].max() == pytest.approx(half_w, abs=2 * VOXEL_M)
    assert v[:, 1].min() == pytest.approx(-half_h, abs=2 * VOXEL_M)
    assert v[:, 1].max() == pytest.approx(half_h, abs=2 * VOXEL_M)
