"""`depthkit fuse` and fuse_source on a registered analytic source (no simulator needed)."""

import json

import numpy as np
import pytest
from _geom_scenes import look_at, plane, render, sphere, surface_distance

from depthkit import GroundTruth, Intrinsics, RGBDFrame, StereoFrame, StereoRig
from depthkit.apps.cli import main
from depthkit.errors import DataError, ParameterError
from depthkit.geometry import (
    STEREO_SPATIAL,
    fuse_source,
    read_trajectory,
    spatial_filter,
    write_trajectory,
)
from depthkit.io import read_mesh
from depthkit.sources.base import Source, register

INTR = Intrinsics(96, 72, 90.0, 90.0, 47.5, 35.5)
SCENE = [sphere((0.0, 0.0, 1.2), 0.25), plane((0, 0, 1.9), (0, 0, 1))]
POSES = [look_at((x, 0.0, 0.0), (0.0, 0.0, 1.2)) for x in (-0.06, -0.03, 0.0, 0.03)]


class _AnalyticSource(Source):
    kind = "rgbd"

    def __init__(self, uri, with_pose):
        super().__init__(uri)
        self._i = 0
        self._with_pose = with_pose

    def _read(self, timeout):
        if self._i >= len(POSES):
            return None
        T = POSES[self._i]
        depth, color = render(SCENE, INTR, T)
        f = RGBDFrame(depth, INTR, timestamp_s=0.5 * self._i, sequence=self._i, color=color,
                      pose=T if self._with_pose else None)
        self._i += 1
        return f

    @property
    def intrinsics(self):
        return INTR


register("geomtest", lambda p: _AnalyticSource(p.uri, p.target != "noposes"))


def _check_mesh(path, tol=0.003):
    V = np.asarray(read_mesh(path).vertices)
    assert len(V) > 500
    assert surface_distance(SCENE, V).mean() < tol
    return V


def test_cli_fuse_with_source_poses(tmp_path, capsys):
    out = tmp_path / "mesh.ply"
    rc = main(["fuse", "geomtest://poses", "-o", str(out), "--voxel", "0.01", "--json",
               "--no-progress", "--max-frames", "3"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 3 and summary["vertices"] > 500 and summary["out"] == str(out)
    _check_mesh(out)


def test_cli_fuse_with_pose_file_and_odometry(tmp_path, capsys):
    poses = tmp_path / "poses.txt"
    write_trajectory(poses, POSES)
    out = tmp_path / "a.ply"
    assert main(["fuse", "geomtest://noposes", "-o", str(out), "--voxel", "0.01",
                 "--poses", str(poses), "--no-progress"]) == 0
    assert "frames fused" in capsys.readouterr().err
    _check_mesh(out)
    # odometry: the first camera is the world; the trajectory is written beside the mesh
    out2 = tmp_path / "b.ply"
    assert main(["fuse", "geomtest://noposes", "-o", str(out2), "--voxel", "0.01",
                 "--odometry", "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    ts, est = read_trajectory(summary["trajectory"])
    np.testing.assert_allclose(ts, [0.0, 0.5, 1.0, 1.5])
    rel_gt = [np.linalg.inv(POSES[0]) @ T for T in POSES]
    for E, G in zip(est, rel_gt):
        # 96x72 images of a sphere: a plumbing check (accuracy: test_odometry.py)
        assert np.linalg.norm(E[:3, 3] - G[:3, 3]) < 0.04
    V = np.asarray(read_mesh(out2).vertices) @ POSES[0][:3, :3].T + POSES[0][:3, 3]
    assert surface_distance(SCENE, V).mean() < 0.03


def test_cli_fuse_errors(tmp_path, capsys):
    assert main(["fuse", "geomtest://noposes", "-o", str(tmp_path / "x.ply"),
                 "--no-progress"]) == 1
    assert "carry no pose" in capsys.readouterr().err
    short = tmp_path / "short.txt"
    write_trajectory(short, POSES[:2])
    assert main(["fuse", "geomtest://noposes", "-o", str(tmp_path / "x.ply"), "--poses",
                 str(short), "--no-progress"]) == 1
    assert "has 2 poses" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["fuse", "geomtest://x", "-o", "x.ply", "--odometry", "--poses", "p.txt"])
    assert exc.value.code == 2
    with pytest.raises(ParameterError, match="not both"):
        fuse_source("geomtest://x", poses="p.txt", odometry=True)
    with pytest.raises(ParameterError, match="max_frames"):
        fuse_source("geomtest://x", max_frames=0)


def _stereo_frame(rectified=True):
    rng = np.random.default_rng(3)
    w, h, d = 96, 72, 12
    right = rng.integers(0, 256, (h, w + d), dtype=np.uint8)
    left = right[:, :w].copy()
    right = right[:, d:d + w].copy()  # left(x) = right(x - d): constant disparity d
    rig = StereoRig.rectified_pair(INTR, 0.1)
    gt = GroundTruth(pose=np.eye(4))
    return StereoFrame(left, right, rectified=rectified, rig=rig, ground_truth=gt), 90.0 * 0.1 / d


def test_stereo_frames_go_through_sgm():
    import functools

    import depthkit as dk

    frame, z = _stereo_frame()
    rgbd = dk.Pipeline(matcher=dk.SGM(num_disparities=32)).process(frame)
    assert isinstance(rgbd, RGBDFrame) and rgbd.pose is not None
    valid = np.isfinite(rgbd.depth_m)
    assert valid.mean() > 0.5
    assert np.median(rgbd.depth_m[valid]) == pytest.approx(z, rel=0.01)
    assert rgbd.color.shape == (72, 96)
    # the spatial filter (disparity domain) keeps the plane and does not add invalid pixels
    smooth = dk.Pipeline(matcher=dk.SGM(num_disparities=32),
                         disparity_filter=functools.partial(spatial_filter, **STEREO_SPATIAL)
                         ).process(frame)
    assert np.isfinite(smooth.depth_m).sum() == valid.sum()
    assert np.median(smooth.depth_m[valid]) == pytest.approx(z, rel=0.01)
    assert np.std(smooth.depth_m[valid]) <= np.std(rgbd.depth_m[valid]) + 1e-6
    raw, _ = _stereo_frame(rectified=False)  # a rectified rig, but raw frames: rectified first
    assert np.isfinite(dk.Pipeline(matcher=dk.SGM(num_disparities=32)).process(raw).depth_m).any()


def test_fuse_source_returns_fusion_and_rejects_other_frames(tmp_path):
    summary, fusion = fuse_source("geomtest://poses", voxel_size=0.01, return_fusion=True,
                                  progress=False, trajectory_out=tmp_path / "t.txt")
    assert summary["out"] is None and fusion.frames == 4
    assert len(read_trajectory(tmp_path / "t.txt")[1]) == 4

    class _Bad(_AnalyticSource):
        def _read(self, timeout):
            return None if self._i else np.zeros(3)

    register("geombad", lambda p: _Bad(p.uri, True))
    with pytest.raises(DataError, match="fusion needs depth"):
        fuse_source("geombad://x", progress=False)

    class _Empty(_AnalyticSource):
        def _read(self, timeout):
            return None

    register("geomempty", lambda p: _Empty(p.uri, True))
    with pytest.raises(DataError, match="no frames"):
        fuse_source("geomempty://x", progress=False)


def test_fuse_source_matches_and_rectifies_stereo_frames(tmp_path):
    class _Stereo(_AnalyticSource):
        kind = "stereo"

        def _read(self, timeout):
            if self._i >= 2:
                return None
            self._i += 1
            return _stereo_frame(rectified=self._with_pose)[0]

    register("geomstereo", lambda p: _Stereo(p.uri, p.target == "rectified"))
    _, z = _stereo_frame()
    for target in ("rectified", "raw"):  # raw frames are rectified with their rig first
        summary, fusion = fuse_source(f"geomstereo://{target}", voxel_size=0.01, progress=False,
                                      sgm={"num_disparities": 32}, return_fusion=True)
        assert summary["frames"] == 2 and fusion.frames == 2
        V = np.asarray(fusion.extract_mesh().vertices)
        assert len(V) > 100 and np.median(np.abs(V[:, 2] - z)) < 0.01
