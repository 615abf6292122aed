"""Board detection on real and synthetic images, and the reasons for failures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from calib_synth import render_view, rodrigues

from depthkit.calibration import Board, detect
from depthkit.errors import ParameterError

K = np.array([[400.0, 0, 239.5], [0, 400.0, 179.5], [0, 0, 1]])
D = np.array([-0.2, 0.05, 0, 0, 0])


@pytest.fixture(scope="module")
def left01(opencv_files):
    return cv2.imread(str(opencv_files[0][0]), cv2.IMREAD_GRAYSCALE)


def test_real_image(left01, opencv_board):
    det = detect(opencv_board, left01, name="left01.jpg")
    assert det.found and det.reason == "found" and det.name == "left01.jpg"
    assert det.corners.shape == (54, 2) and det.corners.dtype == np.float32
    np.testing.assert_array_equal(det.ids, np.arange(54))
    assert 20 < det.spacing_px < 40
    # RGB and 16-bit inputs give the same corners
    rgb = np.dstack([left01] * 3)
    np.testing.assert_allclose(detect(opencv_board, rgb).corners, det.corners, atol=1e-3)
    u16 = left01.astype(np.uint16) * 257
    np.testing.assert_allclose(detect(opencv_board, u16).corners, det.corners, atol=0.05)


def test_synthetic_corners_are_accurate():
    b = Board.chessboard(9, 6, 0.03)
    R, t = rodrigues(0.3, -0.2, 0.1), np.array([-0.12, -0.08, 0.6])
    img = render_view(b, K, D, R, t, (480, 360))
    det = detect(b, img)
    proj, _ = cv2.projectPoints(b.object_points, cv2.Rodrigues(R)[0], t, K, D)
    err = np.linalg.norm(proj.reshape(-1, 2) - det.corners, axis=1)
    assert err.mean() < 0.1 and err.max() < 0.25


def test_charuco_partial_view():
    b = Board.charuco(7, 5, 0.04, 0.03)
    R, t = rodrigues(0.2, 0.25, 0.0), np.array([-0.12, -0.08, 0.45])
    img = render_view(b, K, D, R, t, (480, 360))
    full = detect(b, img)
    assert full.found and len(full.ids) >= 20
    half = img.copy()
    half[:, 240:] = 200  # hide the right half of the board
    part = detect(b, half)
    assert part.found and 6 <= len(part.ids) < len(full.ids)
    assert set(part.ids) <= set(full.ids)
    proj, _ = cv2.projectPoints(b.object_points[part.ids], cv2.Rodrigues(R)[0], t, K, D)
    assert np.median(np.linalg.norm(proj.reshape(-1, 2) - part.corners, axis=1)) < 0.2


def test_blank_image_low_contrast(opencv_board):
    det = detect(opencv_board, np.full((120, 160), 128, np.uint8), name="grey.png")
    assert not det.found and det.reason == "low contrast" and "contrast" in det.detail


def test_partial_chessboard(left01, opencv_board):
    cut = left01.copy()
    cut[:, 450:] = 255  # the board's right columns are no longer visible
    det = detect(opencv_board, cut)
    assert not det.found and det.reason == "partial"
    assert "9x6" in det.detail


def test_blurred_chessboard(left01, opencv_board):
    det = detect(opencv_board, cv2.GaussianBlur(left01, (0, 0), 9))
    assert not det.found and det.reason == "blurred", det.detail


def test_no_board(opencv_board, rng):
    noise = rng.integers(0, 256, (240, 320), dtype=np.uint8)
    det = detect(opencv_board, noise)
    assert not det.found and det.reason == "no board" and "inner-corner" in det.detail


def test_too_small(left01, opencv_board):
    tiny = cv2.resize(left01, None, fx=0.2, fy=0.2, interpolation=cv2.INTER_AREA)
    det = detect(opencv_board, tiny)
    assert not det.found and det.reason == "too small", det.detail


def test_bad_arguments(left01, opencv_board):
    with pytest.raises(TypeError, match="depthkit Board"):
        detect("board.yaml", left01)
    with pytest.raises(ParameterError, match="detector must be"):
        detect(opencv_board, left01, detector="magic")
