"""The rectification accuracy measure of issue 5, usable from tests and as a script.

Rectify every pair, detect the chessboard again in the rectified images with a fixed, independent
detector (OpenCV's classic ``findChessboardCorners`` + ``cornerSubPix`` 11x11, as in OpenCV's
stereo_calib sample) and compare the rows (columns for a vertical rig) of matching corners.

    python tests/calibration/calib_rowcheck.py   # prints depthkit's numbers and plain OpenCV's
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

PATTERN = (9, 6)
OPENCV_SET = "calibration/opencv_stereo_chessboard_9x6"


def classic_corners(gray: np.ndarray, pattern=PATTERN, win: int = 11):
    ok, c = cv2.findChessboardCorners(
        gray, pattern, cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE)
    if not ok:
        return None
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.001)
    return cv2.cornerSubPix(gray, c, (win, win), (-1, -1), crit).reshape(-1, 2)


def row_differences(rectifier, left_images, right_images, detector=classic_corners):
    """|row_left - row_right| of every corner found in both rectified views, and the pair count."""
    diffs, pairs = [], 0
    axis = 0 if rectifier.rig.is_vertical else 1
    for a, b in zip(left_images, right_images):
        f = rectifier.rectify(a, b)
        ca, cb = detector(np.asarray(f.left)), detector(np.asarray(f.right))
        if ca is None or cb is None:
            continue
        if np.dot(ca[-1] - ca[0], cb[-1] - cb[0]) < 0:
            cb = cb[::-1]
        diffs.append(np.abs(ca[:, axis] - cb[:, axis]))
        pairs += 1
    return np.concatenate(diffs), pairs


def opencv_plain_rig(left_images, right_images):
    """OpenCV called plainly: classic corners, calibrateCamera per camera, stereoCalibrate with
    fixed intrinsics, stereoRectify alpha 0 (the issue's reference)."""
    import depthkit as dk
    from depthkit.calibration import rectify_rig

    obj = np.zeros((PATTERN[0] * PATTERN[1], 3), np.float32)
    obj[:, :2] = np.mgrid[0:PATTERN[0], 0:PATTERN[1]].T.reshape(-1, 2)
    cl, cr = [], []
    for a, b in zip(left_images, right_images):
        ca, cb = classic_corners(a), classic_corners(b)
        if ca is None or cb is None:
            continue
        if np.dot(ca[-1] - ca[0], cb[-1] - cb[0]) < 0:
            cb = cb[::-1]
        cl.append(ca.reshape(-1, 1, 2))
        cr.append(cb.reshape(-1, 1, 2))
    size = left_images[0].shape[::-1]
    op = [obj] * len(cl)
    _, K1, D1, _, _ = cv2.calibrateCamera(op, cl, size, None, None)
    _, K2, D2, _, _ = cv2.calibrateCamera(op, cr, size, None, None)
    rms, K1, D1, K2, D2, R, T, _, _ = cv2.stereoCalibrate(
        op, cl, cr, K1, D1, K2, D2, size, flags=cv2.CALIB_FIX_INTRINSIC)
    w, h = size
    rig = dk.StereoRig(dk.Intrinsics.from_K(K1, w, h, D1.ravel()),
                       dk.Intrinsics.from_K(K2, w, h, D2.ravel()), R, T.ravel(), rms=rms)
    return rectify_rig(rig, 0.0)


def main(data_root: Path) -> None:
    from depthkit.calibration import Rectifier, calibrate_stereo, detect, load_board

    d = data_root / OPENCV_SET
    lf, rf = sorted(d.glob("left*.jpg")), sorted(d.glob("right*.jpg"))
    left = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in lf]
    right = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in rf]
    board = load_board(Path(__file__).resolve().parents[2] / "calib/boards/opencv_sample_9x6.yaml")

    def dk_detector(img):
        det = detect(board, img)
        return det.corners if det.found else None

    plain = opencv_plain_rig(left, right)
    rig, report = calibrate_stereo(board, lf, rf, progress=False)
    for label, r in (("plain OpenCV", plain), ("depthkit defaults", rig)):
        rect = Rectifier(r)
        for mlabel, det in (("classic+cornerSubPix 11", classic_corners),
                            ("depthkit detect", dk_detector)):
            dd, n = row_differences(rect, left, right, det)
            print(f"{label:18s} stereo RMS {r.rms:.3f} px | measured with {mlabel:24s}: {n} pairs, "
                  f"{len(dd)} corners, median {np.median(dd):.3f} px, "
                  f"p95 {np.percentile(dd, 95):.3f} px, max {dd.max():.3f} px")
    print(f"depthkit rejected views: {report.rejected or 'none'}")


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[3] / "shared/data"
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    main(root)
