"""Calibration: boards, detection, mono and stereo calibration, rectification, rig files.

>>> board = load_board("calib/boards/chessboard_9x6_25mm.yaml")        # doctest: +SKIP
>>> rig, report = calibrate_stereo(board, left_files, right_files)     # doctest: +SKIP
>>> save_rig(rig, "rig.yaml"); write_report(report, "report/")          # doctest: +SKIP
>>> frame = Rectifier(rig).rectify(left, right)                        # doctest: +SKIP
"""

from .boards import Board, load_board
from .calibrate import CalibrationReport, ViewResult, calibrate_mono, calibrate_stereo
from .detect import Detection, detect
from .rectify import Rectifier, rectify_rig
from .report import coverage_map, error_chart, write_report
from .rigfile import (
    load_rig,
    load_ros_camera_info,
    q_from_projections,
    save_rig,
    save_ros_camera_info,
)

__all__ = [
    "Board", "load_board", "Detection", "detect", "calibrate_mono", "calibrate_stereo",
    "CalibrationReport", "ViewResult", "rectify_rig", "Rectifier", "load_rig", "save_rig",
    "save_ros_camera_info", "load_ros_camera_info", "q_from_projections", "write_report",
    "error_chart", "coverage_map",
]
