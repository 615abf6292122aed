"""Simulated chessboard views calibrate back to the true rig."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depthkit.errors import ParameterError
from depthkit.sim import SimRig, render_board_views


def _detect(gray, pattern, truth):
    ok, c = cv2.findChessboardCorners(gray, pattern)
    if not ok:
        return None
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
    c = cv2.cornerSubPix(gray, c, (4, 4), (-1, -1), crit).reshape(-1, 2)
    if np.linalg.norm(c[0] - truth[0]) > np.linalg.norm(c[0] - truth[-1]):
        c = c[::-1].copy()                                    # OpenCV may start at either end
    return c


@pytest.fixture(scope="module")
def views():
    rig = SimRig.default((320, 240))
    return rig, render_board_views(10, seed=3, rig=rig, board=(9, 6, 0.04))


def test_board_views_ground_truth_corners(views):
    rig, frames = views
    assert len(frames) == 10
    errs = []
    for fr in frames:
        ex = fr.ground_truth.extras
        assert ex["pattern_size"] == (8, 5) and ex["object_points"].shape == (40, 3)
        assert not fr.rectified and fr.rig is rig.stereo
        for img, key in ((fr.left, "corners_left"), (fr.right, "corners_right")):
            c = _detect(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), ex["pattern_size"], ex[key])
            assert c is not None
            errs.append(np.abs(c - ex[key]).max())
        # board2left maps the board's corners onto the GT corner pixels
        b2l = ex["board2left"]
        p = ex["object_points"] @ b2l[:3, :3].T + b2l[:3, 3]
        uv, _ = cv2.projectPoints(p.astype(np.float64), np.zeros(3), np.zeros(3),
                                  rig.stereo.left.K, rig.stereo.left.D)
        np.testing.assert_allclose(uv.reshape(-1, 2), ex["corners_left"], atol=1e-6)
    assert max(errs) < 0.5                                    # detector agrees with GT corners


def test_ten_board_views_calibrate_focal_and_baseline_within_half_percent(views):
    rig, frames = views
    st = rig.stereo
    obj, il, ir = [], [], []
    for fr in frames:
        ex = fr.ground_truth.extras
        obj.append(ex["object_points"])
        il.append(_detect(cv2.cvtColor(fr.left, cv2.COLOR_RGB2GRAY), ex["pattern_size"],
                          ex["corners_left"]).astype(np.float32))
        ir.append(_detect(cv2.cvtColor(fr.right, cv2.COLOR_RGB2GRAY), ex["pattern_size"],
                          ex["corners_right"]).astype(np.float32))
    size = st.left.size
    _, K1, D1, _, _ = cv2.calibrateCamera(obj, il, size, None, None)
    _, K2, D2, _, _ = cv2.calibrateCamera(obj, ir, size, None, None)
    rms, K1, D1, K2, D2, R, T, _, _ = cv2.stereoCalibrate(
        obj, il, ir, K1, D1, K2, D2, size, flags=cv2.CALIB_USE_INTRINSIC_GUESS)
    assert rms < 0.3
    assert K1[0, 0] == pytest.approx(st.left.fx, rel=0.005)
    assert K2[0, 0] == pytest.approx(st.right.fx, rel=0.005)
    assert np.linalg.norm(T) == pytest.approx(st.baseline_m, rel=0.005)


def test_board_view_errors():
    with pytest.raises(ParameterError, match="positive integer"):
        render_board_views(0)
    with pytest.raises(ParameterError, match=r"board must be \(cols, rows, square_m\)"):
        render_board_views(1, board=(9, 6))
    with pytest.raises(ParameterError, match="at least 3x3"):
        render_board_views(1, board=(2, 6, 0.04))
    with pytest.raises(ParameterError, match="could not place the board"):
        render_board_views(1, size=(64, 48), distance=(0.1, 0.11))


def test_charuco_board_views_decode_to_ground_truth_corners():
    d = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    detector = cv2.aruco.CharucoDetector(cv2.aruco.CharucoBoard((5, 4), 0.06, 0.045, d))
    frames = render_board_views(2, seed=1, board=(5, 4, 0.06), size=(320, 240),
                                charuco=(0.045, "DICT_4X4_50"))
    for fr in frames:
        ex = fr.ground_truth.extras
        assert ex["board_kind"] == "charuco"
        for img, key in ((fr.left, "corners_left"), (fr.right, "corners_right")):
            corners, ids, _, _ = detector.detectBoard(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
            assert ids is not None and len(ids) >= 10
            err = np.abs(corners.reshape(-1, 2) - ex[key][ids.ravel()])
            assert err.max() < 0.5                            # id k sits at GT corner k


def test_charuco_errors():
    with pytest.raises(ParameterError, match=r"charuco must be \(marker_m, dictionary\)"):
        render_board_views(1, charuco=0.03)
    with pytest.raises(ParameterError, match="unknown ArUco dictionary"):
        render_board_views(1, charuco=(0.03, "DICT_9X9_1"))
    with pytest.raises(ParameterError, match=r"marker_m must be in \(0, square_m\)"):
        render_board_views(1, charuco=(0.05, "DICT_4X4_50"))
