"""TSDF fusion on Open3D's VoxelBlockGrid: analytic plane and sphere scenes with known poses."""

import numpy as np
import pytest
from _geom_scenes import look_at, plane, render, sphere, surface_distance, visible_samples

from depthkit import DepthFrame, Intrinsics, RGBDFrame
from depthkit.errors import DataError, ParameterError, ShapeError
from depthkit.geometry import Fusion, from_open3d, mesh_accuracy_completeness
from depthkit.io import read_mesh, read_ply

INTR = Intrinsics(96, 72, 90.0, 90.0, 47.5, 35.5)
VOXEL = 0.01


def _frames(scene, poses, color=True):
    out = []
    for i, T in enumerate(poses):
        depth, rgb = render(scene, INTR, T)
        out.append(RGBDFrame(depth, INTR, timestamp_s=0.1 * i, sequence=i,
                             color=rgb if color else None, pose=T))
    return out


def test_plane_reconstructs_within_tolerance():
    # a tilted plane, not aligned with the voxel grid, seen from 3 poses
    scene = [plane((0, 0, 1.003), (0.1, -0.2, 1.0))]
    poses = [look_at((x, 0.02 * x, 0.0), (0.0, 0.0, 1.0)) for x in (-0.1, 0.0, 0.1)]
    fusion = Fusion(VOXEL, max_depth_m=2.0)
    for f in _frames(scene, poses):
        assert fusion.integrate(f)
    assert fusion.frames == 3 and fusion.effective_weight_threshold() == 2.5
    mesh = fusion.extract_mesh()
    V = np.asarray(mesh.vertices)
    assert len(V) > 1000 and len(mesh.triangles) > 1000
    err = surface_distance(scene, V)
    assert err.mean() < 0.1 * VOXEL and err.max() < 0.5 * VOXEL
    # every point seen by all three cameras is within 2 voxels of the mesh
    gt = visible_samples(scene, INTR, poses[1:2], stride=3)
    q = mesh_accuracy_completeness(mesh, gt, threshold_m=2 * VOXEL)
    assert q.completeness > 0.9


def test_sphere_reconstructs_with_colour():
    scene = [sphere((0.0, 0.0, 1.2), 0.25), plane((0, 0, 1.9), (0, 0, 1))]
    poses = [look_at((x, y, 0.0), (0.0, 0.0, 1.2))
             for x, y in ((-0.15, 0.0), (0.15, 0.0), (0.0, 0.12), (0.0, -0.12))]
    fusion = Fusion(VOXEL, truncation=4 * VOXEL, max_depth_m=2.5)
    for f in _frames(scene, poses):
        fusion.integrate(f)
    # 0.5: keep voxels seen by a single camera too (the borders of each view)
    mesh = fusion.extract_mesh(weight_threshold=0.5)
    V = np.asarray(mesh.vertices)
    err = surface_distance(scene, V)
    assert err.mean() < 0.1 * VOXEL and np.percentile(err, 99) < VOXEL
    on_sphere = np.abs(np.linalg.norm(V - [0, 0, 1.2], axis=1) - 0.25) < 0.005
    assert on_sphere.sum() > 500  # the sphere, not just the background
    gt = visible_samples(scene, INTR, poses, stride=3)
    q = mesh_accuracy_completeness(mesh, gt, threshold_m=2 * VOXEL)
    assert q.completeness > 0.95
    # colour was integrated: vertex colours follow the analytic texture
    from _geom_scenes import texture

    C = np.asarray(mesh.vertex_colors)
    assert C.shape == V.shape
    assert np.median(np.abs(C - texture(V))) < 0.05
    # the point cloud extraction lies on the surface as well
    pts, cols = from_open3d(fusion.extract_point_cloud(weight_threshold=0.5))
    assert len(pts) > 500 and cols is not None
    assert surface_distance(scene, pts).mean() < 0.1 * VOXEL


def test_depth_only_frames_and_explicit_pose():
    scene = [plane((0, 0, 0.8), (0, 0, 1))]
    T = look_at((0, 0, 0), (0, 0, 1))
    depth, _ = render(scene, INTR, T)
    fusion = Fusion(VOXEL, color=False, max_depth_m=1.5)
    assert fusion.integrate(DepthFrame(depth, INTR), cam2world=T)
    V = np.asarray(fusion.extract_mesh().vertices)
    assert len(V) > 100 and np.abs(V[:, 2] - 0.8).max() < 0.3 * VOXEL
    # a shifted pose moves the surface in the world
    T2 = T.copy()
    T2[:3, 3] = [0, 0, 0.5]
    f2 = Fusion(VOXEL, color=False, max_depth_m=1.5)
    f2.integrate_depth(depth, INTR, T2)
    V2 = np.asarray(f2.extract_mesh().vertices)
    assert np.abs(V2[:, 2] - 1.3).max() < 0.3 * VOXEL


def test_empty_and_all_invalid_frames():
    fusion = Fusion(VOXEL)
    assert len(fusion.extract_mesh().vertices) == 0
    assert len(fusion.extract_point_cloud().points) == 0
    nan = DepthFrame(np.full((72, 96), np.nan, np.float32), INTR)
    assert fusion.integrate(nan, cam2world=np.eye(4)) is False
    far = DepthFrame(np.full((72, 96), 50.0, np.float32), INTR)  # beyond max_depth_m
    assert fusion.integrate(far, cam2world=np.eye(4)) is False
    assert fusion.frames == 0 and fusion.frames_skipped == 2
    assert len(fusion.extract_mesh().vertices) == 0
    # one real frame, then a threshold nothing reaches: empty, not a crash
    depth = np.full((72, 96), 1.0, np.float32)
    fusion.integrate(RGBDFrame(depth, INTR, color=np.zeros((72, 96, 3), np.uint8)), np.eye(4))
    assert len(fusion.extract_mesh().vertices) > 0
    assert len(fusion.extract_mesh(weight_threshold=5.0).vertices) == 0
    assert len(fusion.extract_point_cloud(weight_threshold=5.0).points) == 0
    fusion.reset()
    assert fusion.frames == 0 and len(fusion.extract_mesh().vertices) == 0


def test_save_formats(tmp_path):
    scene = [plane((0, 0, 0.8), (0, 0.1, 1))]
    fusion = Fusion(VOXEL, max_depth_m=1.5)
    for f in _frames(scene, [look_at((0, 0, 0), (0, 0, 1))]):
        fusion.integrate(f)
    mesh_path = fusion.save(tmp_path / "mesh.ply")
    m = read_mesh(mesh_path)
    assert len(m.vertices) == len(fusion.extract_mesh().vertices) and m.has_vertex_colors()
    fusion.save(tmp_path / "cloud.pcd")
    pts, cols = read_ply(tmp_path / "cloud.pcd")
    assert len(pts) > 100 and cols is not None
    fusion.save(tmp_path / "grid.npz")
    import open3d as o3d

    grid = o3d.t.geometry.VoxelBlockGrid.load(str(tmp_path / "grid.npz"))
    assert grid.hashmap().size() == fusion.voxel_block_grid.hashmap().size()
    with pytest.raises(ParameterError, match="unknown output format"):
        fusion.save(tmp_path / "mesh.xyzw")
    with pytest.raises(DataError, match="mesh is empty"):
        Fusion(VOXEL).save(tmp_path / "empty.ply")


def test_bad_inputs():
    depth = np.ones((72, 96), np.float32)
    with pytest.raises(ParameterError, match="voxel_size"):
        Fusion(0)
    with pytest.raises(ParameterError, match="at least one voxel"):
        Fusion(0.01, truncation=0.001)
    with pytest.raises(ParameterError, match="min_depth_m < max_depth_m"):
        Fusion(0.01, min_depth_m=3.0, max_depth_m=2.0)
    with pytest.raises(ParameterError, match="block_resolution"):
        Fusion(0.01, block_resolution=1)
    with pytest.raises(ParameterError, match="block_count"):
        Fusion(0.01, block_count=0)
    with pytest.raises(ParameterError, match="weight_threshold"):
        Fusion(0.01, weight_threshold=-1)
    fusion = Fusion(0.01)
    with pytest.raises(ParameterError, match="no camera pose"):
        fusion.integrate(DepthFrame(depth, INTR))
    with pytest.raises(ParameterError, match="takes a DepthFrame"):
        fusion.integrate(depth, np.eye(4))
    with pytest.raises(ShapeError, match=r"shape \(4, 4\)"):
        fusion.integrate(DepthFrame(depth, INTR), np.eye(3))
    with pytest.raises(ParameterError, match="not a rigid transform"):
        fusion.integrate(DepthFrame(depth, INTR), 2 * np.eye(4))
    with pytest.raises(ParameterError, match="undistorted"):
        fusion.integrate_depth(depth, Intrinsics(96, 72, 90, 90, 47.5, 35.5, (0.1, 0, 0, 0)),
                               np.eye(4))
    with pytest.raises(ParameterError, match="Intrinsics"):
        fusion.integrate_depth(depth, None, np.eye(4))
    with pytest.raises(ShapeError, match="camera is 96x72"):
        fusion.integrate_depth(np.ones((10, 10), np.float32), INTR, np.eye(4))
    with pytest.raises(ShapeError, match="color"):
        fusion.integrate_depth(depth, INTR, np.eye(4), color=np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ParameterError, match="weight_threshold"):
        fusion.extract_mesh(weight_threshold=0)
