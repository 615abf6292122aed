"""RGB-D odometry on an analytic textured room, and trajectory files."""

import numpy as np
import pytest
from _geom_scenes import look_at, render, room

from depthkit import DepthFrame, Intrinsics, RGBDFrame
from depthkit.errors import DataError, FileFormatError, ParameterError
from depthkit.geometry import (
    Odometry,
    pose_to_tum,
    read_trajectory,
    trajectory_drift,
    tum_to_pose,
    write_trajectory,
)

INTR = Intrinsics(256, 192, 200.0, 200.0, 127.5, 95.5)


@pytest.fixture(scope="module")
def sequence():
    scene = room()
    gt = [look_at((-0.5 + 0.03 * i, 0.2 + 0.01 * i, 0.5), (0.3 + 0.02 * i, 0.3, 2.5))
          for i in range(8)]
    frames = []
    for i, T in enumerate(gt):
        depth, color = render(scene, INTR, T)
        frames.append(RGBDFrame(depth, INTR, timestamp_s=0.1 * i, sequence=i, color=color))
    return frames, gt


@pytest.mark.parametrize("method,backend", [("hybrid", "legacy"), ("point_to_plane", "tensor")])
def test_odometry_follows_ground_truth(sequence, method, backend):
    frames, gt = sequence
    odo = Odometry(method=method, backend=backend, max_depth_m=5.0, initial_pose=gt[0])
    for f in frames:
        odo.track(f)
    assert len(odo.poses) == len(gt) and odo.failures == 0
    np.testing.assert_allclose(odo.poses[0], gt[0])
    drift = trajectory_drift(odo.poses, gt)
    assert drift["path_length_m"] == pytest.approx(7 * np.sqrt(0.03**2 + 0.01**2), rel=1e-6)
    assert drift["drift_ratio"] < 0.03
    # each pose within 1 cm and 1.5 degrees of the truth (8 frames)
    for E, G in zip(odo.poses, gt):
        D = np.linalg.inv(G) @ E
        assert np.linalg.norm(D[:3, 3]) < 0.01
        assert np.degrees(np.arccos(np.clip((np.trace(D[:3, :3]) - 1) / 2, -1, 1))) < 1.5


def test_trajectory_written_and_read_back(sequence, tmp_path):
    frames, gt = sequence
    odo = Odometry(max_depth_m=5.0, backend="tensor")
    for f in frames[:3]:
        odo.track(f)
    path = odo.write_trajectory(tmp_path / "traj.txt")
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    assert len(lines) == 3 and len(lines[0].split()) == 8
    ts, poses = read_trajectory(path)
    np.testing.assert_allclose(ts, [0.0, 0.1, 0.2])
    np.testing.assert_allclose(poses, np.stack(odo.poses), atol=1e-7)
    odo.reset()
    assert odo.poses == [] and odo.failures == 0


def test_pose_formats(tmp_path, rng):
    from scipy.spatial.transform import Rotation

    poses = []
    for _ in range(4):
        T = np.eye(4)
        T[:3, :3] = Rotation.from_rotvec(rng.normal(0, 1, 3)).as_matrix()
        T[:3, 3] = rng.normal(0, 2, 3)
        poses.append(T)
    for T in poses:
        np.testing.assert_allclose(tum_to_pose(pose_to_tum(T)), T, atol=1e-12)
    write_trajectory(tmp_path / "a.txt", poses)
    ts, back = read_trajectory(tmp_path / "a.txt")
    np.testing.assert_allclose(ts, np.arange(4))
    np.testing.assert_allclose(back, np.stack(poses), atol=1e-8)
    # KITTI: 12 numbers a line
    np.savetxt(tmp_path / "k.txt", np.stack(poses)[:, :3, :].reshape(4, 12))
    np.testing.assert_allclose(read_trajectory(tmp_path / "k.txt")[1], np.stack(poses))
    np.save(tmp_path / "p.npy", np.stack(poses))
    np.testing.assert_allclose(read_trajectory(tmp_path / "p.npy")[1], np.stack(poses))


def test_depth_only_and_failure_handling():
    # a featureless flat wall: point-to-plane has no constraint along the wall but must not
    # crash; an all-invalid frame falls back to the previous motion
    depth = np.full((192, 256), 2.0, np.float32)
    odo = Odometry(method="point_to_plane", max_depth_m=5.0)
    odo.track(DepthFrame(depth, INTR))
    pose = odo.track(DepthFrame(np.full((192, 256), np.nan, np.float32), INTR))
    assert np.all(np.isfinite(pose)) and len(odo.poses) == 2


def test_bad_inputs(tmp_path):
    with pytest.raises(ParameterError, match="unknown odometry method"):
        Odometry(method="icp")
    with pytest.raises(ParameterError, match="backend must be"):
        Odometry(backend="gpu")
    with pytest.raises(ParameterError, match="depth_diff_max"):
        Odometry(depth_diff_max=0)
    from depthkit.errors import ShapeError

    with pytest.raises(ShapeError, match="initial_pose"):
        Odometry(initial_pose=np.eye(3))
    with pytest.raises(ParameterError, match="iterations"):
        Odometry(iterations=(0,))
    with pytest.raises(ParameterError, match="needs colour"):
        Odometry().track(DepthFrame(np.ones((192, 256), np.float32), INTR))
    with pytest.raises(ParameterError, match="takes a DepthFrame"):
        Odometry().track(np.ones((4, 4)))
    odo = Odometry(method="point_to_plane")
    odo.track(DepthFrame(np.ones((192, 256), np.float32), INTR))
    with pytest.raises(DataError, match="frame size changed"):
        odo.track(DepthFrame(np.ones((10, 10), np.float32), Intrinsics(10, 10, 9, 9, 4.5, 4.5)))
    with pytest.raises(FileFormatError, match="not found"):
        read_trajectory(tmp_path / "none.txt")
    (tmp_path / "bad.txt").write_text("1 2 3\n")
    with pytest.raises(FileFormatError, match="expected 8"):
        read_trajectory(tmp_path / "bad.txt")
    (tmp_path / "words.txt").write_text("a b c\n")
    with pytest.raises(FileFormatError, match="not a line of numbers"):
        read_trajectory(tmp_path / "words.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(FileFormatError, match="no poses"):
        read_trajectory(tmp_path / "empty.txt")
    np.save(tmp_path / "bad.npy", np.zeros((3, 3)))
    with pytest.raises(FileFormatError, match="expected \\(N, 4, 4\\)"):
        read_trajectory(tmp_path / "bad.npy")
    with pytest.raises(ParameterError, match="timestamps"):
        write_trajectory(tmp_path / "x.txt", [np.eye(4)], [0.0, 1.0])
