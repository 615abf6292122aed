"""middlebury://, kitti://, eth3d:// on the shared data, checked against the dataset readers."""

from __future__ import annotations

import numpy as np
import pytest

import depthkit as dk
from depthkit.errors import FileFormatError, SourceError
from depthkit.eval.datasets import load_scene


def test_middlebury_scenes_with_ground_truth(shared_data):
    root = shared_data / "middlebury2001"
    with dk.open(f"middlebury://{root}") as src:
        assert len(src) == 2
        frames = list(src)
    assert [f.ground_truth.extras["name"] for f in frames] == ["tsukuba", "venus"]
    f = frames[0]
    ref = load_scene(root / "tsukuba")
    assert f.rectified and f.sequence == 0 and f.left.shape == (288, 384, 3)
    assert np.array_equal(f.left, ref.left) and np.array_equal(f.right, ref.right)
    gt = f.ground_truth
    assert np.array_equal(gt.disparity, ref.disparity, equal_nan=True)
    assert np.nanmax(gt.disparity) == 14.0                   # 8-bit GT / 16
    # occlusion: pixels with GT that the non-occluded mask leaves out
    assert np.array_equal(gt.occlusion, np.isfinite(ref.disparity) & ~ref.nonoccluded)
    assert 0.01 < gt.occlusion.mean() < 0.05
    assert f.rig is None and gt.depth_m is None              # Middlebury 2001 has no calib


def test_middlebury_scene_filter(shared_data):
    with dk.open(f"middlebury://{shared_data}/middlebury2003?scene=teddy") as src:
        frames = list(src)
    assert len(frames) == 1 and frames[0].ground_truth.extras["name"] == "teddy"
    with pytest.raises(SourceError, match="no scene 'nope'.*cones, teddy"):
        dk.open(f"middlebury://{shared_data}/middlebury2003?scene=nope")


def test_kitti_frame(shared_data):
    with dk.open(f"kitti://{shared_data}/kitti2015") as src:
        f = src.read()
        assert src.read() is None
    gt = f.ground_truth
    assert gt.extras["name"] == "kitti_000046" and f.left.shape == (375, 1242, 3)
    assert 0.10 < np.isfinite(gt.disparity).mean() < 0.14     # sparse LiDAR GT, about 12 %
    assert gt.occlusion is None


def test_eth3d_with_calibration(shared_data):
    with dk.open(f"eth3d://{shared_data}/eth3d_twoview/playground") as src:
        f = src.read()
    ref = load_scene(shared_data / "eth3d_twoview" / "playground")
    c = ref.calib
    assert f.rig is not None and f.rig.is_rectified
    assert f.rig.baseline_m == pytest.approx(c["baseline_m"])
    assert f.rig.focal_px == pytest.approx(c["focal_px"])
    assert f.rig.disparity_offset_px == pytest.approx(-c["doffs_px"])
    d = f.ground_truth.depth_m
    ok = np.isfinite(d)
    assert ok.mean() > 0.3
    # Z = f B / (d + doffs)
    z = c["focal_px"] * c["baseline_m"] / (f.ground_truth.disparity[ok] + c["doffs_px"])
    assert np.allclose(d[ok], z, rtol=1e-5)


def test_dataset_errors(shared_data, tmp_path):
    with pytest.raises(SourceError, match="no KITTI 2015 'training' frames"):
        dk.open(f"kitti://{shared_data}/middlebury2001")
    with pytest.raises(SourceError, match="no Middlebury scenes"):
        dk.open(f"middlebury://{shared_data}/kitti2015")
    with pytest.raises(FileFormatError, match="dataset folder not found"):
        dk.open(f"eth3d://{tmp_path}/missing")
    with pytest.raises(SourceError, match="needs a folder"):
        dk.open("kitti://")
