"""Bad calibration input, the report files, and the calibrate / rectify commands."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from depthkit.apps.cli import main
from depthkit.calibration import calibrate_stereo, load_rig, write_report
from depthkit.errors import CalibrationError, ParameterError, ShapeError
from depthkit.io import read_image


def _read(paths):
    return [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths]


def test_no_board_in_any_image(opencv_board):
    blank = [np.full((120, 160), v, np.uint8) for v in (10, 128, 240)]
    with pytest.raises(CalibrationError, match=r"no board found in any of the 6 images "
                                               r"\(low contrast: left\[0\], left\[1\]"):
        calibrate_stereo(opencv_board, blank, blank, progress=False)


def test_left_right_lengths_differ(opencv_board, opencv_files):
    left, right = opencv_files
    with pytest.raises(ParameterError, match=r"13 left, 12 right; unmatched left image\(s\): "
                                             r"left14.jpg"):
        calibrate_stereo(opencv_board, left, right[:12], progress=False)


def test_image_sizes_differ(opencv_board, opencv_files):
    left, right = _read(opencv_files[0][:3]), _read(opencv_files[1][:3])
    right[1] = cv2.resize(right[1], (320, 240))
    with pytest.raises(ShapeError, match=r"left\[0\] is 640x480 but right\[1\] is 320x240"):
        calibrate_stereo(opencv_board, left, right, progress=False)


def test_fewer_than_three_usable_pairs(opencv_board, opencv_files):
    left, right = list(opencv_files[0][:4]), list(opencv_files[1][:4])
    left[0], right[3] = opencv_files[0][0].parent / "missing.png", None
    grey = np.full((480, 640), 128, np.uint8)
    left = [grey] + _read(left[1:])
    right = _read(right[:3]) + [grey]
    with pytest.raises(CalibrationError, match=r"only 2 usable pair\(s\) of 4.*low contrast"):
        calibrate_stereo(opencv_board, left, right, progress=False)


def test_bad_options(opencv_board):
    img = [np.zeros((10, 10), np.uint8)] * 3
    with pytest.raises(ParameterError, match="outlier_factor must be > 1"):
        calibrate_stereo(opencv_board, img, img, outlier_factor=0.5)
    with pytest.raises(ParameterError, match="at least 3 views"):
        calibrate_stereo(opencv_board, img, img, min_pairs=2)
    with pytest.raises(ParameterError, match="no images"):
        calibrate_stereo(opencv_board, [], [])


def test_report_files(tmp_path, opencv_calibration):
    rig, report = opencv_calibration
    paths = write_report(report, tmp_path / "rep")
    bars, heat = read_image(paths["errors"]), read_image(paths["coverage"])
    assert bars.ndim == 3 and bars.shape[1] >= 13 * 38
    # one panel per camera, each the image size
    assert heat.shape[0] == 480 and heat.shape[1] == 2 * 640 + 8
    assert np.ptp(heat) > 100 and np.ptp(bars) > 100
    summary = paths["summary"].read_text()
    assert f"{report.rms:.4f}" in summary and "baseline" in summary
    data = json.loads(paths["json"].read_text())
    assert data["rms"] == pytest.approx(report.rms) and len(data["views"]) == 13


def test_cli_calibrate_and_rectify(tmp_path, repo_root, opencv_files, capsys):
    d = opencv_files[0][0].parent
    rig_path = tmp_path / "rig.yaml"
    rc = main(["calibrate", "--board", str(repo_root / "calib/boards/opencv_sample_9x6.yaml"),
               "--left", str(d / "left0*.jpg"), "--right", str(d / "right0*.jpg"),
               "-o", str(rig_path), "--report", str(tmp_path / "rep"), "--json",
               "--no-progress", "--ros", str(tmp_path / "l.yaml"), str(tmp_path / "r.yaml")])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pairs"] == 9 and out["rms"] < 0.3
    rig = load_rig(rig_path)
    assert rig.is_rectified and rig.rms == pytest.approx(out["rms"])
    assert (tmp_path / "rep/errors.png").is_file() and (tmp_path / "l.yaml").is_file()
    # rectify two folders of pairs
    for side in ("left", "right"):
        (tmp_path / side).mkdir()
        for i in ("01", "02"):
            shutil.copy(d / f"{side}{i}.jpg", tmp_path / side)
    rc = main(["rectify", "--rig", str(rig_path), str(tmp_path / "left"),
               str(tmp_path / "right"), "-o", str(tmp_path / "rect"), "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pairs"] == 2 and summary["roi"][2] > 600
    a = read_image(tmp_path / "rect/left/left02.png")
    b = read_image(tmp_path / "rect/right/right02.png")
    assert a.shape == b.shape == (480, 640)
    ca = cv2.findChessboardCorners(a, (9, 6))[1].reshape(-1, 2)
    cb = cv2.findChessboardCorners(b, (9, 6))[1].reshape(-1, 2)
    if np.dot(ca[-1] - ca[0], cb[-1] - cb[0]) < 0:
        cb = cb[::-1]
    assert np.median(np.abs(ca[:, 1] - cb[:, 1])) < 0.5
    assert load_rig(tmp_path / "rect/rig_rectified.yaml").is_rectified
    # single files work too
    assert main(["rectify", "--rig", str(rig_path), str(d / "left03.jpg"),
                 str(d / "right03.jpg"), "-o", str(tmp_path / "one")]) == 0
    assert (tmp_path / "one/left/left03.png").is_file()


def test_cli_make_board(tmp_path, repo_root, capsys):
    out = tmp_path / "board.png"
    rc = main(["calibrate", "make-board", str(repo_root / "calib/boards/chessboard_9x6_25mm.yaml"),
               "-o", str(out), "--dpi", "72"])
    assert rc == 0 and read_image(out).shape[1] > 10 * 0.025 / 0.0254 * 72
    rc = main(["calibrate", "make-board", str(repo_root / "calib/boards/opencv_sample_9x6.yaml"),
               "-o", str(out)])
    assert rc == 1 and "--square-px" in capsys.readouterr().err


def test_cli_errors(tmp_path, repo_root, opencv_files, capsys):
    board = str(repo_root / "calib/boards/opencv_sample_9x6.yaml")
    assert main(["calibrate", "-o", str(tmp_path / "r.yaml")]) == 1
    assert "needs --board, --left, --right" in capsys.readouterr().err
    assert main(["calibrate", "--board", board, "--left", str(tmp_path / "x*.png"), "--right",
                 "y.png", "-o", str(tmp_path / "r.yaml")]) == 1
    assert "matches no files" in capsys.readouterr().err
    assert main(["calibrate", "frobnicate", "-o", "x"]) == 1
    assert "unknown calibrate action" in capsys.readouterr().err
    d = opencv_files[0][0].parent
    assert main(["rectify", "--rig", str(tmp_path / "none.yaml"), str(d / "left01.jpg"),
                 str(d / "right01.jpg"), "-o", str(tmp_path)]) == 1
    assert "rig file not found" in capsys.readouterr().err
