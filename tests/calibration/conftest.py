"""Calibration fixtures: the real calibration sets, and their calibration computed once."""

from __future__ import annotations

from pathlib import Path

import pytest

from depthkit.calibration import calibrate_stereo, load_board

OPENCV_SET = "calibration/opencv_stereo_chessboard_9x6"
PRIME_SET = "calibration/prime_stereo_chessboard_9x6"


@pytest.fixture(scope="session")
def opencv_files(shared_data) -> tuple[list[Path], list[Path]]:
    d = shared_data / OPENCV_SET
    left, right = sorted(d.glob("left*.jpg")), sorted(d.glob("right*.jpg"))
    assert len(left) == len(right) == 13
    return left, right


@pytest.fixture(scope="session")
def opencv_board(repo_root):
    return load_board(repo_root / "calib/boards/opencv_sample_9x6.yaml")


@pytest.fixture(scope="session")
def opencv_calibration(opencv_board, opencv_files):
    """depthkit's default stereo calibration of OpenCV's 13-pair set (computed once)."""
    left, right = opencv_files
    return calibrate_stereo(opencv_board, left, right, progress=False)


@pytest.fixture(scope="session")
def prime_files(shared_data) -> tuple[list[Path], list[Path]]:
    d = shared_data / PRIME_SET
    left, right = sorted(d.glob("chessboard*L.png")), sorted(d.glob("chessboard*R.png"))
    assert len(left) == len(right) == 10
    return left, right
