"""Every remaining bad-input path raises a clear depthkit error."""

from __future__ import annotations

import numpy as np
import pytest

from depthkit.apps.cli import main
from depthkit.calibration import (
    Board,
    Rectifier,
    calibrate_mono,
    load_board,
    load_rig,
    load_ros_camera_info,
    rectify_rig,
    save_rig,
    save_ros_camera_info,
)
from depthkit.errors import CalibrationError, FileFormatError, ParameterError, ShapeError
from depthkit.types import Intrinsics, StereoRig

ROS_OK = ("image_width: 64\nimage_height: 48\n"
          "camera_matrix: {rows: 3, cols: 3, data: [50, 0, 32, 0, 50, 24, 0, 0, 1]}\n"
          "distortion_model: plumb_bob\n"
          "distortion_coefficients: {rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}\n"
          "rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}\n"
          "projection_matrix: {rows: 3, cols: 4, "
          "data: [50, 0, 32, -5, 0, 50, 24, 0, 0, 0, 1, 0]}\n")


def test_board_constructor_errors(tmp_path):
    with pytest.raises(ParameterError, match="kind must be one of"):
        Board("circles", (4, 11), 0.02)
    with pytest.raises(ParameterError, match="two integers"):
        Board("chessboard", 9, 0.02)
    with pytest.raises(ParameterError, match="needs a ChArUco board"):
        Board.chessboard(9, 6, 0.02).cv_charuco_board()
    with pytest.raises(ParameterError, match="squares would be"):
        Board.chessboard(9, 6, 0.001).render(dpi=72)
    bad = tmp_path / "b.yaml"
    bad.write_text("type: chessboard\ninner_corners: [9, 6\n")
    with pytest.raises(FileFormatError, match="not valid YAML"):
        load_board(bad)
    bad.write_text("type: chessboard\ninner_corners: 9\nsquare_size: 0.02\n")
    with pytest.raises(FileFormatError, match="b.yaml"):
        load_board(bad)


def test_mono_errors(opencv_board, opencv_files):
    with pytest.raises(TypeError, match="depthkit Board"):
        calibrate_mono("board.yaml", opencv_files[0])
    with pytest.raises(CalibrationError, match=r"only 2 usable view\(s\) \(left01.jpg, "
                                               r"left02.jpg\) of 3"):
        calibrate_mono(opencv_board, list(opencv_files[0][:2]) + [np.zeros((480, 640), np.uint8)],
                       progress=False)


def _rig():
    cam = Intrinsics(64, 48, 50, 50, 32, 24)
    return StereoRig(cam, cam, np.eye(3), [-0.1, 0, 0])


def test_rectify_errors():
    with pytest.raises(ParameterError, match="rig must be a StereoRig"):
        rectify_rig("rig.yaml")
    with pytest.raises(ParameterError, match="rig must be a StereoRig"):
        Rectifier(None)
    with pytest.raises(ParameterError, match="alpha must be a number"):
        rectify_rig(_rig(), alpha="wide")
    odd = StereoRig(Intrinsics(64, 48, 50, 50, 32, 24), Intrinsics(80, 48, 50, 50, 40, 24),
                    np.eye(3), [-0.1, 0, 0])
    with pytest.raises(ShapeError, match="same image size to rectify"):
        rectify_rig(odd)


def test_rig_file_errors(tmp_path):
    with pytest.raises(ParameterError, match="rig must be a StereoRig"):
        save_rig({"K1": 1}, tmp_path / "r.yaml")
    with pytest.raises(ParameterError, match="rig must be a StereoRig"):
        save_ros_camera_info(None, tmp_path / "l.yaml", tmp_path / "r.yaml")
    p = tmp_path / "r.yaml"
    save_rig(_rig(), p)
    p.write_text(p.read_text().replace("model: pinhole", "model: kannala"))
    with pytest.raises(FileFormatError, match="model must be pinhole or fisheye"):
        load_rig(p)


@pytest.mark.parametrize("edit, match", [
    (lambda t: t + "]: [", "not valid YAML"),
    (lambda t: t.replace("data: [50, 0, 32, 0, 50, 24, 0, 0, 1]", "data: [1, 2]"),
     "bad 'camera_matrix'"),
    (lambda t: t.replace("plumb_bob", "fov"), "distortion_model 'fov' is not supported"),
    (lambda t: t.replace("image_width: 64", "image_width: 80"), "is 80x48"),
])
def test_ros_file_errors(tmp_path, edit, match):
    good, bad = tmp_path / "left.yaml", tmp_path / "right.yaml"
    good.write_text(ROS_OK)
    bad.write_text(edit(ROS_OK))
    with pytest.raises(FileFormatError, match=match):
        load_ros_camera_info(good, bad)


def test_cli_usage_errors(tmp_path, repo_root, capsys):
    assert main(["calibrate", "make-board", "-o", str(tmp_path / "b.png")]) == 1
    assert "usage: depthkit calibrate make-board" in capsys.readouterr().err
    rig = tmp_path / "rig.yaml"
    save_rig(_rig(), rig)
    (tmp_path / "L").mkdir()
    (tmp_path / "R").mkdir()
    assert main(["rectify", "--rig", str(rig), str(tmp_path / "L"), str(tmp_path / "R"),
                 "-o", str(tmp_path / "o")]) == 1
    assert "holds no images" in capsys.readouterr().err
    img = np.zeros((48, 64), np.uint8)
    import cv2

    for name in ("L/a.png", "L/b.png", "R/a.png"):
        cv2.imwrite(str(tmp_path / name), img)
    assert main(["rectify", "--rig", str(rig), str(tmp_path / "L"), str(tmp_path / "R"),
                 "-o", str(tmp_path / "o")]) == 1
    assert "2 left image(s) but 1 right image(s)" in capsys.readouterr().err
