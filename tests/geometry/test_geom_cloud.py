"""Point clouds: back-projection against analytic geometry, colours, frames, Open3D, files."""

import numpy as np
import pytest
from _geom_scenes import look_at, plane, render, sphere, surface_distance

from depthkit import DepthFrame, Intrinsics, RGBDFrame
from depthkit.errors import FileFormatError, ParameterError, ShapeError
from depthkit.geometry import (
    from_open3d,
    remove_outliers,
    save_pointcloud,
    to_open3d,
    to_pointcloud,
    voxel_downsample,
)
from depthkit.io import read_ply

INTR = Intrinsics(64, 48, 60.0, 60.0, 31.5, 23.5)


def test_points_lie_on_the_true_surface_in_world_frame():
    scene = [sphere((0.1, 0.0, 1.2), 0.25), plane((0, 0, 2.0), (0, 0.2, 1))]
    T = look_at((0.3, -0.1, 0.0), (0.1, 0.0, 1.2))
    depth, color = render(scene, INTR, T)
    depth[5:9, 5:9] = np.nan
    pts, cols = to_pointcloud(depth, INTR, color, cam2world=T)
    assert pts.dtype == np.float32 and cols.dtype == np.uint8
    assert len(pts) == np.isfinite(depth).sum() == len(cols)
    assert surface_distance(scene, pts).max() < 1e-5
    # camera frame: z equals the depth image
    pc, _ = to_pointcloud(depth, INTR)
    np.testing.assert_allclose(np.sort(pc[:, 2]), np.sort(depth[np.isfinite(depth)]))


def test_colors_grey_float_and_stride_and_max_depth():
    depth = np.full((48, 64), 2.0, np.float32)
    depth[0, 0] = 5.0
    grey = np.full((48, 64), 100, np.uint8)
    pts, cols = to_pointcloud(depth, INTR, grey, max_depth_m=3.0)
    assert len(pts) == 48 * 64 - 1 and (cols == 100).all() and cols.shape[1] == 3
    pts, cols = to_pointcloud(depth, INTR, np.full((48, 64, 3), 0.5, np.float32), stride=4)
    assert len(pts) == 12 * 16 and (cols == 128).all()
    pts, cols = to_pointcloud(depth, INTR, np.full((48, 64, 3), 65535, np.uint16))
    assert (cols == 255).all()


def test_distortion_is_undone():
    import cv2

    dist = (0.1, -0.05, 0.0, 0.0, 0.0)
    intr = Intrinsics(64, 48, 60.0, 60.0, 31.5, 23.5, dist)
    depth = np.full((48, 64), 1.5, np.float32)
    pts, _ = to_pointcloud(depth, intr)
    # re-projecting through the distortion model gives back the pixel grid
    uv, _ = cv2.projectPoints(pts.astype(np.float64), np.zeros(3), np.zeros(3), intr.K, intr.D)
    u, v = np.meshgrid(np.arange(64), np.arange(48))
    np.testing.assert_allclose(uv.reshape(-1, 2), np.stack([u.ravel(), v.ravel()], 1), atol=1e-3)


def test_empty_and_all_invalid():
    pts, cols = to_pointcloud(np.full((48, 64), np.nan, np.float32), INTR,
                              np.zeros((48, 64, 3), np.uint8))
    assert pts.shape == (0, 3) and cols.shape == (0, 3)
    p2, c2 = voxel_downsample(pts, cols, voxel_size=0.1)
    assert p2.shape == (0, 3) and c2.shape == (0, 3)
    assert len(to_open3d(pts).points) == 0


def test_open3d_round_trip_downsample_and_outliers(rng):
    pts = rng.uniform(0, 1, (2000, 3)).astype(np.float32)
    cols = rng.integers(0, 256, (2000, 3), dtype=np.uint8)
    pc = to_open3d(pts, cols)
    p, c = from_open3d(pc)
    np.testing.assert_allclose(p, pts, atol=1e-6)
    np.testing.assert_array_equal(c, cols)
    p2, c2 = voxel_downsample(pts, cols, voxel_size=0.25)
    assert 27 < len(p2) <= 125 and c2.shape == p2.shape  # cells of 0.25 m over a 1 m cube
    out = voxel_downsample(pc, voxel_size=0.25)
    assert len(out.points) == len(p2)
    # a far outlier is removed, the dense cloud stays
    noisy = np.vstack([pts, [[10.0, 10.0, 10.0]]]).astype(np.float32)
    kept, _ = remove_outliers(noisy, nb_neighbors=10, std_ratio=2.0)
    assert kept.max() < 1.5 and len(kept) > 1900


def test_frame_to_open3d_uses_pose_and_color():
    depth = np.full((48, 64), 2.0, np.float32)
    T = np.eye(4)
    T[:3, 3] = [1, 2, 3]
    f = RGBDFrame(depth, INTR, color=np.full((48, 64, 3), 255, np.uint8), pose=T)
    pc = to_open3d(f)
    P = np.asarray(pc.points)
    np.testing.assert_allclose(P[:, 2], 5.0)
    assert np.allclose(np.asarray(pc.colors), 1.0)
    assert len(to_open3d(DepthFrame(depth, INTR)).points) == 48 * 64
    # RGBDFrame.point_cloud() (types.py) goes through to_pointcloud
    pts, cols = f.point_cloud()
    np.testing.assert_allclose(pts[:, 2], 5.0, rtol=1e-6)


@pytest.mark.parametrize("suffix", ["ply", "pcd"])
def test_save_and_read_back(tmp_path, rng, suffix):
    pts = rng.uniform(-1, 1, (500, 3)).astype(np.float32)
    cols = rng.integers(0, 256, (500, 3), dtype=np.uint8)
    path = tmp_path / f"cloud.{suffix}"
    save_pointcloud(path, pts, cols)
    p, c = read_ply(path)
    np.testing.assert_allclose(p, pts, atol=1e-6)
    np.testing.assert_array_equal(c, cols)
    save_pointcloud(tmp_path / "again.ply", to_open3d(pts))
    assert len(read_ply(tmp_path / "again.ply")[0]) == 500


def test_bad_inputs(tmp_path):
    depth = np.ones((48, 64), np.float32)
    with pytest.raises(ShapeError, match="camera is 64x48"):
        to_pointcloud(np.ones((10, 10), np.float32), INTR)
    with pytest.raises(ParameterError, match="Intrinsics"):
        to_pointcloud(depth, (60, 60, 32, 24))
    with pytest.raises(ParameterError, match="stride"):
        to_pointcloud(depth, INTR, stride=0)
    with pytest.raises(ShapeError, match="color"):
        to_pointcloud(depth, INTR, np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ShapeError, match=r"\(N, 3\)"):
        to_open3d(np.zeros((5, 2)))
    with pytest.raises(ShapeError, match="colors must be"):
        to_open3d(np.zeros((5, 3)), np.zeros((4, 3), np.uint8))
    with pytest.raises(ParameterError, match="voxel_size"):
        voxel_downsample(np.zeros((5, 3)), voxel_size=0)
    with pytest.raises(ParameterError, match="nb_neighbors"):
        remove_outliers(np.zeros((5, 3)), nb_neighbors=0)
    with pytest.raises(ParameterError, match="std_ratio"):
        remove_outliers(np.zeros((5, 3)), std_ratio=0)
    with pytest.raises(ParameterError, match=r"\.ply or \.pcd"):
        save_pointcloud(tmp_path / "x.txt", np.zeros((5, 3)))
    with pytest.raises(FileFormatError, match="not found"):
        read_ply(tmp_path / "missing.ply")
    with pytest.raises(ShapeError, match="dtype"):
        from depthkit.geometry.cloud import colors_to_uint8

        colors_to_uint8(np.zeros((2, 2), np.int32))
