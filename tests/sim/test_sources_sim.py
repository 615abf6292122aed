"""The sim:// sources."""

from __future__ import annotations

import numpy as np
import pytest

import depthkit as dk
from depthkit.errors import ParameterError, SourceError
from depthkit.sources import sim as simsrc
from depthkit.types import RGBDFrame, StereoFrame


def test_sim_stereo_yields_frames_with_rig_and_ground_truth():
    with dk.open("sim://stereo?scene=tabletop&seed=1&size=96x72&frames=2&trajectory=orbit") as s:
        assert s.rig is not None and s.rig.is_rectified and s.rig.left.distortion
        frames = list(s)
    assert len(frames) == 2
    f0, f1 = frames
    assert isinstance(f0, StereoFrame) and not f0.rectified
    assert f0.left.shape == (72, 96, 3) and f0.rig is s.rig
    assert (f0.sequence, f1.sequence) == (0, 1)
    assert f1.timestamp_s == pytest.approx(1 / 30)
    gt = f0.ground_truth
    assert gt.disparity.shape == (72, 96) and gt.occlusion.dtype == bool
    assert not np.allclose(f0.ground_truth.pose, f1.ground_truth.pose)     # it moved
    assert s.info().frames == 2


def test_sim_stereo_rectified_noise_projector_options():
    uri = "sim://stereo?size=64x48&frames=1&rectified=1&noise=0&projector=1&gray=1&baseline=0.05"
    with dk.open(uri) as s:
        f = s.read()
        assert s.read() is None
    assert f.rectified and f.left.shape == (48, 64) and f.rig.left.distortion == ()
    assert f.rig is s.rig
    assert f.rig.baseline_m == pytest.approx(0.05)
    with dk.open(uri) as s:                                     # noise=0: reproducible exactly
        np.testing.assert_array_equal(s.read().left, f.left)


def test_sim_rgbd_yields_rgbd_frames():
    with dk.open("sim://rgbd?scene=room&size=64x48&frames=2&trajectory=walk"
                 "&depth_noise=0.01&seed=2") as s:
        frames = list(s)
        assert s.intrinsics.width == 64
    assert all(isinstance(f, RGBDFrame) for f in frames)
    f = frames[1]
    assert f.color.shape == (48, 64, 3) and f.pose is not None
    assert not np.array_equal(f.depth_m, f.ground_truth.depth_m)           # noisy depth


@pytest.mark.parametrize("uri, exc, match", [
    ("sim://lidar", SourceError, r"unknown simulated sensor 'lidar'.*sim://rgbd, sim://stereo"),
    ("sim://stereo?scene=kitchen", ParameterError, "unknown scene 'kitchen'; choose one of"),
    ("sim://stereo?size=20x10", ParameterError, "too small; the simulator needs at least 32x24"),
    ("sim://stereo?size=640", ParameterError, "bad value size='640'.*WIDTHxHEIGHT"),
    ("sim://stereo?colour=1", ParameterError, r"unknown parameter\(s\) colour.*accepts: baseline"),
    ("sim://stereo?rectified=maybe", ParameterError, "bad value rectified='maybe'"),
    ("sim://stereo?noise=-1", ParameterError, "bad value noise='-1'"),
    ("sim://stereo?frames=0", ParameterError, "frames must be >= 1"),
    ("sim://stereo?fps=0", ParameterError, "fps must be > 0"),
    ("sim://stereo?trajectory=fly", ParameterError, "unknown trajectory 'fly'"),
    ("sim://rgbd?hfov=2", ParameterError, r"hfov must be in \[10, 150\]"),
    ("sim://rgbd?rectified=1", ParameterError, r"unknown parameter\(s\) rectified"),
])
def test_sim_uri_errors(uri, exc, match):
    with pytest.raises(exc, match=match):
        dk.open(uri)


def test_sim_kinds_hook_accepts_new_kinds():
    calls = []

    def opener(parsed):
        p = parsed.params(simsrc.COMMON_PARAMS, simsrc.COMMON_DEFAULTS)
        scene, poses = simsrc.scene_and_poses(p)
        calls.append(scene.name)
        return simsrc.SimSource(parsed.uri, "test", len(poses), lambda i: None)

    simsrc.SIM_KINDS["test-kind"] = opener
    try:
        with dk.open("sim://test-kind?scene=board&frames=3") as s:
            assert len(s) == 3 and s.kind == "test"
        assert calls == ["board"]
    finally:
        del simsrc.SIM_KINDS["test-kind"]
    assert dk.sources.base.parse_size("320X240") == (320, 240)
