"""Board files, object points and printable boards."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depthkit.calibration import Board, detect, load_board
from depthkit.errors import FileFormatError, ParameterError


def test_shipped_board_files(repo_root):
    boards = {p.stem: load_board(p) for p in (repo_root / "calib/boards").glob("*.yaml")}
    b = boards["opencv_sample_9x6"]
    assert (b.kind, b.pattern_size, b.square_size, b.units) == ("chessboard", (9, 6), 1.0, "unit")
    b = boards["chessboard_9x6_25mm"]
    assert (b.pattern_size, b.square_size, b.units) == ((9, 6), 0.025, "m")
    c = boards["charuco_7x5_40mm"]
    assert (c.kind, c.squares, c.pattern_size, c.marker_size, c.dictionary) == (
        "charuco", (7, 5), (6, 4), 0.03, "DICT_5X5_100")


def test_object_points_follow_opencv_order():
    b = Board.chessboard(4, 3, 0.5)
    p = b.object_points
    assert p.shape == (12, 3) and p.dtype == np.float32
    np.testing.assert_array_equal(p[:5], [[0, 0, 0], [0.5, 0, 0], [1, 0, 0], [1.5, 0, 0],
                                          [0, 0.5, 0]])
    # ChArUco ids number the inner corners the same way as OpenCV's CharucoBoard
    c = Board.charuco(5, 4, 0.04, 0.03)
    ref = np.asarray(c.cv_charuco_board().getChessboardCorners())
    np.testing.assert_allclose(c.object_points, ref - ref[0], atol=1e-6)


@pytest.mark.parametrize("text, match", [
    ("type: chessboard\nsquare_size: 0.02\n", r"missing key\(s\): inner_corners"),
    ("type: charuco\nsquares: [5, 4]\nsquare_size: 0.04\n",
     r"missing key\(s\): marker_size, dictionary"),
    ("inner_corners: [9, 6]\nsquare_size: 0.02\n", r"key 'type' must be"),
    ("type: chessboard\ninner_corners: [9, 6]\nsquare_size: -1\n", r"square_size"),
    ("type: charuco\nsquares: [5, 4]\nsquare_size: 0.04\nmarker_size: 0.03\n"
     "dictionary: DICT_NOPE\n", r"unknown ArUco dictionary"),
    ("- just\n- a list\n", r"mapping"),
])
def test_bad_board_files_name_file_and_keys(tmp_path, text, match):
    p = tmp_path / "myboard.yaml"
    p.write_text(text)
    with pytest.raises(FileFormatError, match=match) as e:
        load_board(p)
    assert "myboard.yaml" in str(e.value)


def test_missing_board_file(tmp_path):
    with pytest.raises(FileFormatError, match="board file not found"):
        load_board(tmp_path / "nope.yaml")


def test_bad_board_parameters():
    with pytest.raises(ParameterError, match="at least 2x2"):
        Board.chessboard(1, 6, 0.02)
    with pytest.raises(ParameterError, match="smaller than square_size"):
        Board.charuco(5, 4, 0.03, 0.04)
    with pytest.raises(ParameterError, match="units"):
        Board.chessboard(9, 6, 0.02, units="inch")


def test_render_has_true_scale():
    b = Board.chessboard(9, 6, 0.025, name="a4")
    img = b.render(dpi=60)  # 25 mm at 60 dpi = 59.06 px
    det = detect(b, img)
    assert det.found
    g = det.corners.reshape(6, 9, 2)
    pitch = np.linalg.norm(np.diff(g, axis=1), axis=2).mean()
    assert pitch == pytest.approx(0.025 / 0.0254 * 60, abs=0.3)


def test_render_charuco_detects_every_corner():
    b = Board.charuco(5, 4, 0.04, 0.03)
    det = detect(b, b.render(dpi=50))
    assert det.found and len(det.ids) == b.n_corners == 12


def test_render_unit_board_needs_square_px():
    b = Board.chessboard(9, 6, 1.0, units="unit")
    with pytest.raises(ParameterError, match="no physical size"):
        b.render()
    img = b.render(square_px=20)
    assert img.shape[1] == 20 * 10 + 2 * 20
    with pytest.raises(ParameterError, match="square_size in metres"):
        Board.chessboard(9, 6, 1.0).render(dpi=300)  # 1 m squares: would be huge
    assert cv2.countNonZero(255 - img) > 0
