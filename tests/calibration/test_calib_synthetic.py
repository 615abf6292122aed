"""Stereo calibration and rectification against synthetic rigs with known parameters."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from calib_synth import board_poses, render_stereo, rodrigues

from depthkit.calibration import Board, Rectifier, calibrate_mono, calibrate_stereo, rectify_rig
from depthkit.errors import ParameterError, ShapeError
from depthkit.types import Intrinsics, StereoRig

SIZE = (480, 360)
K1 = np.array([[410.0, 0, 236.0], [0, 409.0, 182.0], [0, 0, 1]])
K2 = np.array([[405.0, 0, 244.0], [0, 406.0, 177.0], [0, 0, 1]])
D1 = np.array([-0.15, 0.04, 0.001, -0.0005, 0.0])
D2 = np.array([-0.12, 0.02, -0.0008, 0.0004, 0.0])


def _rig(R, T):
    return StereoRig(Intrinsics.from_K(K1, *SIZE, D1), Intrinsics.from_K(K2, *SIZE, D2), R, T)


def _points(n=200, seed=3):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(-0.3, 0.3, n), rng.uniform(-0.2, 0.2, n),
                            rng.uniform(0.6, 2.0, n)])


def _rectified_points(rig, X):
    """Project 3D points (left frame) into both raw cameras, then rectify the pixel positions."""
    out = []
    for cam, Rr, P, Xc in ((rig.left, rig.R1, rig.P1, X),
                           (rig.right, rig.R2, rig.P2, X @ rig.R.T + rig.T)):
        px, _ = cv2.projectPoints(Xc, np.zeros(3), np.zeros(3), cam.K, cam.D)
        out.append(cv2.undistortPoints(px, cam.K, cam.D, R=Rr, P=P).reshape(-1, 2))
    return out


@pytest.mark.parametrize("vertical", [False, True])
def test_rectify_rig_aligns_rows_or_columns(vertical):
    R = rodrigues(0.01, -0.02, 0.015)
    T = np.array([0.004, -0.12, 0.002]) if vertical else np.array([-0.12, 0.003, 0.002])
    rig = rectify_rig(_rig(R, T), alpha=0.0)
    assert rig.is_rectified and rig.is_vertical == vertical
    pl, pr = _rectified_points(rig, _points())
    same, disp = (0, 1) if vertical else (1, 0)
    np.testing.assert_allclose(pl[:, same], pr[:, same], atol=1e-6)
    d = pl[:, disp] - pr[:, disp]
    assert np.all(np.abs(d) > 1) and (np.all(d > 0) or np.all(d < 0))
    # depth from the rectified disparity matches the true depth (Z in the rectified frame)
    X = _points()
    z = (X @ rig.R1.T)[:, 2]
    np.testing.assert_allclose(rig.focal_px * rig.baseline_m / np.abs(d), z, rtol=1e-6)
    with pytest.raises(ParameterError, match="alpha must be in"):
        rectify_rig(rig, alpha=1.5)


@pytest.fixture(scope="module")
def synthetic_chessboard_set():
    board = Board.chessboard(9, 6, 0.03)
    R, T = rodrigues(0.01, -0.03, 0.005), np.array([-0.08, 0.002, 0.001])
    poses = board_poses(board, 9, 0.65, np.random.default_rng(7))
    left, right = render_stereo(board, K1, D1, K2, D2, R, T, SIZE, poses)
    return board, R, T, left, right


def test_stereo_calibration_recovers_the_rig(synthetic_chessboard_set):
    board, R, T, left, right = synthetic_chessboard_set
    rig, report = calibrate_stereo(board, left, right, progress=False)
    assert report.rms < 0.2 and len(report.used_views) == 9
    for cam, K in ((rig.left, K1), (rig.right, K2)):
        np.testing.assert_allclose([cam.fx, cam.fy], [K[0, 0], K[1, 1]], rtol=0.01)
        np.testing.assert_allclose([cam.cx, cam.cy], [K[0, 2], K[1, 2]], atol=3)
    assert rig.baseline_m == pytest.approx(np.linalg.norm(T), rel=0.01)
    np.testing.assert_allclose(rig.T / rig.baseline_m, T / np.linalg.norm(T), atol=0.02)
    ang = np.degrees(np.linalg.norm(cv2.Rodrigues(rig.R @ R.T)[0]))
    assert ang < 0.5  # couples with the principal points (3 px at f = 410 px is 0.4 deg)
    # the rectified images have row-aligned corners
    rect = Rectifier(rig)
    diffs = []
    for a, b in zip(left, right):
        f = rect.rectify(a, b)
        da = cv2.findChessboardCorners(np.asarray(f.left), (9, 6))[1]
        db = cv2.findChessboardCorners(np.asarray(f.right), (9, 6))[1]
        if da is not None and db is not None:
            diffs.append(np.abs(da[:, 0, 1] - db[:, 0, 1]))
    assert len(diffs) >= 7 and np.median(np.concatenate(diffs)) < 0.15


def test_mono_calibration(synthetic_chessboard_set):
    board, _, _, left, _ = synthetic_chessboard_set
    intr, report = calibrate_mono(board, left, progress=False)
    np.testing.assert_allclose([intr.fx, intr.fy], [K1[0, 0], K1[1, 1]], rtol=0.01)
    assert report.kind == "mono" and report.rms < 0.2 and "RMS reprojection" in report.summary()
    assert len(report.views) == 9
    with pytest.raises(ParameterError, match="no images"):
        calibrate_mono(board, [], progress=False)


def test_outlier_pair_is_rejected_with_reason(synthetic_chessboard_set):
    board, _, _, left, right = synthetic_chessboard_set
    # pair 2's right image belongs to pair 5: its stereo error is huge
    right = list(right)
    right[2] = right[5]
    rig, report = calibrate_stereo(board, left, right, progress=False)
    assert not report.views[2].used
    assert "rejected (stereo)" in report.views[2].note
    assert len(report.rejected) == 1 and "x median" in report.rejected[0]
    assert "left[2]" in report.rejected[0]
    assert rig.baseline_m == pytest.approx(0.08, rel=0.02)
    # without rejection the bad pair stays and spoils the fit
    _, rep2 = calibrate_stereo(board, left, right, reject_outliers=False, progress=False)
    assert rep2.views[2].used and rep2.rms > 3 * report.rms


def test_charuco_vertical_rig():
    board = Board.charuco(7, 5, 0.04, 0.03)
    R, T = rodrigues(-0.01, 0.01, 0.01), np.array([0.002, -0.07, 0.001])
    poses = board_poses(board, 7, 0.55, np.random.default_rng(11))
    left, right = render_stereo(board, K1, D1, K2, D2, R, T, SIZE, poses)
    rig, report = calibrate_stereo(board, left, right, progress=False)
    assert rig.is_vertical
    assert rig.baseline_m == pytest.approx(0.07, rel=0.02)
    np.testing.assert_allclose(rig.left.fx, K1[0, 0], rtol=0.02)
    # rectified: corresponding corners share a column
    rect = Rectifier(rig)
    f = rect.rectify(left[0], right[0])
    from depthkit.calibration import detect

    a, b = detect(board, np.asarray(f.left)), detect(board, np.asarray(f.right))
    common, ia, ib = np.intersect1d(a.ids, b.ids, return_indices=True)
    assert len(common) >= 10
    assert np.median(np.abs(a.corners[ia, 0] - b.corners[ib, 0])) < 0.3


def test_rectifier_maps_reused_and_roi(synthetic_chessboard_set):
    board, R, T, left, right = synthetic_chessboard_set
    rig = _rig(R, T)
    rect = Rectifier(rig, alpha=0.0)
    m1 = rect.maps("left")[0]
    f1 = rect.rectify(left[0], right[0], timestamp_s=1.5, sequence=4)
    f2 = rect.rectify(left[1], right[1])
    assert rect.maps("left")[0].base is m1.base  # the same tables, not recomputed
    assert f1.rectified and f1.rig is rect.rig and f1.rig.is_rectified
    assert (f1.timestamp_s, f1.sequence) == (1.5, 4) and f2.left.shape == left[1].shape
    x, y, w, h = rect.roi
    assert w > 0.9 * SIZE[0] and h > 0.9 * SIZE[1]  # alpha 0: nearly all valid
    wide = Rectifier(rig, alpha=1.0)
    assert wide.roi[2] * wide.roi[3] < w * h  # alpha 1 keeps black borders
    # colour frames rectify per channel; a raw StereoFrame keeps its time
    rgb = np.dstack([left[0]] * 3)
    assert rect.rectify(rgb, rgb).left.shape == (*SIZE[::-1], 3)
    # a rectified rig is used as is; rectify_frame refuses rectified frames
    assert Rectifier(rect.rig).rig is rect.rig
    with pytest.raises(ParameterError, match="already rectified"):
        rect.rectify_frame(f1)
    with pytest.raises(ShapeError, match="same shape"):
        rect.rectify(left[0], rgb)
    with pytest.raises(ShapeError, match="camera is 480x360"):
        rect.rectify(left[0][:100], right[0][:100])
    with pytest.raises(ParameterError, match="which must be"):
        rect.maps("middle")


def test_fisheye_rig(tmp_path):
    from depthkit.calibration import (
        detect,
        load_rig,
        load_ros_camera_info,
        save_rig,
        save_ros_camera_info,
    )

    board = Board.chessboard(9, 6, 0.03)
    Kf1 = np.array([[200.0, 0, 238], [0, 200.5, 181], [0, 0, 1]])
    Kf2 = np.array([[202.0, 0, 243], [0, 201.5, 178], [0, 0, 1]])
    Df1, Df2 = np.array([0.05, -0.01, 0.003, -0.001]), np.array([0.04, -0.008, 0.002, -0.0005])
    R, T = rodrigues(0.01, -0.02, 0.005), np.array([-0.08, 0.002, 0.001])
    poses = board_poses(board, 8, 0.35, np.random.default_rng(5))
    left, right = render_stereo(board, Kf1, Df1, Kf2, Df2, R, T, SIZE, poses, fisheye=True)
    rig, report = calibrate_stereo(board, left, right, model="fisheye", progress=False)
    assert rig.left.model == rig.right.model == "fisheye" and len(rig.left.distortion) == 4
    assert "fisheye" in report.summary() and report.rms < 0.2
    np.testing.assert_allclose([rig.left.fx, rig.right.fx], [200.0, 202.0], rtol=0.01)
    assert rig.baseline_m == pytest.approx(0.08, rel=0.01)
    f = Rectifier(rig).rectify(left[0], right[0])
    a, b = detect(board, np.asarray(f.left)), detect(board, np.asarray(f.right))
    assert np.median(np.abs(a.corners[:, 1] - b.corners[:, 1])) < 0.15
    # the model survives the rig file and ROS (equidistant) round trips
    save_rig(rig, tmp_path / "fish.yaml")
    back = load_rig(tmp_path / "fish.yaml")
    assert back.left.model == "fisheye"
    np.testing.assert_allclose(back.left.D, rig.left.D)
    save_ros_camera_info(rig, tmp_path / "l.yaml", tmp_path / "r.yaml")
    assert "distortion_model: equidistant" in (tmp_path / "l.yaml").read_text()
    assert load_ros_camera_info(tmp_path / "l.yaml", tmp_path / "r.yaml").right.model == "fisheye"
    with pytest.raises(ParameterError, match="pinhole model only"):
        calibrate_stereo(board, left, right, model="fisheye", rational=True)
    with pytest.raises(ParameterError, match="model must be"):
        calibrate_mono(board, left, model="kannala")
