"""Simulated calibration captures: a chessboard seen by the stereo rig at random poses."""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from ..types import StereoFrame
from .render import render_stereo
from .rig import SimRig
from .scene import board_scene, look_at

__all__ = ["render_board_views", "project_points"]


def project_points(points_world, cam2world, intrinsics) -> np.ndarray:
    """Pixel coordinates of world points in a (distorted) camera (``cv2.projectPoints``).

    Parameters
    ----------
    points_world : (N, 3) array
    cam2world : (4, 4) array
    intrinsics : Intrinsics

    Returns
    -------
    (N, 2) float64 array of pixel coordinates (pixel centres at integers).
    """
    import cv2

    w2c = np.linalg.inv(np.asarray(cam2world, np.float64))
    rvec = cv2.Rodrigues(w2c[:3, :3])[0]
    uv, _ = cv2.projectPoints(np.asarray(points_world, np.float64).reshape(-1, 1, 3), rvec,
                              w2c[:3, 3], intrinsics.K, intrinsics.D)
    return uv.reshape(-1, 2)


def render_board_views(n: int = 12, seed: int = 0, board=(9, 6, 0.04), *, rig: SimRig | None = None,
                       size=(640, 480), noise: bool = True, distance=(0.45, 0.9),
                       max_tilt_deg: float = 35.0, margin_px: float = 12.0,
                       charuco=None) -> list[StereoFrame]:
    """Raw (distorted) stereo views of a chessboard at random poses, for calibration.

    Parameters
    ----------
    n : int
        Number of views.
    seed : int
        Poses and noise.
    board : (cols, rows, square_m)
        Squares across and down and the square size; OpenCV's pattern size (inner corners) is
        ``(cols - 1, rows - 1)``.
    rig : SimRig, optional
        Default ``SimRig.default(size)``; its ``stereo`` rig is the truth to calibrate against.
    size : (width, height)
        Image size when `rig` is not given.
    noise : bool
        Sensor noise on the images.
    distance : (near, far)
        Range of camera-to-board distances, metres.
    max_tilt_deg : float
        Largest angle between the board normal and the viewing direction.
    margin_px : float
        Every inner corner lies at least this far inside both images.
    charuco : (marker_m, dictionary) or None
        Print OpenCV's ChArUco board of the same squares instead of a chessboard, e.g.
        ``(0.03, "DICT_4X4_50")``; corner k is ChArUco corner id k.

    Returns
    -------
    list of StereoFrame (``rectified=False``), each with ``ground_truth.extras``:
    ``corners_left``/``corners_right`` ((K, 2) float64 true corner pixels, OpenCV order),
    ``object_points`` ((K, 3) float32 corners in the board frame, metres), ``board2left``
    (4x4 board pose in the raw left camera frame), ``pattern_size`` and ``square_m``.
    """
    if int(n) != n or n < 1:
        raise ParameterError(f"n must be a positive integer; got {n!r}.")
    try:
        cols, rows, square = int(board[0]), int(board[1]), float(board[2])
    except (TypeError, ValueError, IndexError):
        raise ParameterError(f"board must be (cols, rows, square_m); got {board!r}.") from None
    if cols < 3 or rows < 3 or not square > 0:
        raise ParameterError(
            f"board needs at least 3x3 squares and square_m > 0; got {board!r}.")
    rig = SimRig.default(size) if rig is None else rig
    st = rig.stereo
    scene = board_scene(seed, cols=cols, rows=rows, square_m=square, charuco=charuco)
    b = scene.objects[0].board
    obj = b["corners_board"]
    corners_w = obj @ b["board2world"][:3, :3].T + b["board2world"][:3, 3]
    centre = b["board2world"][:3, :3] @ [cols * square / 2, rows * square / 2, 0] \
        + b["board2world"][:3, 3]
    # right camera pose relative to the left one
    right2left = np.eye(4)
    right2left[:3, :3] = np.asarray(st.R).T
    right2left[:3, 3] = -np.asarray(st.R).T @ np.asarray(st.T)
    rng = np.random.default_rng([int(seed), 5])
    frames = []
    scale = max(cols, rows) * square / 0.36  # the distances suit a 0.36 m board
    for i in range(int(n)):
        for _ in range(500):
            tilt = np.radians(rng.uniform(0, max_tilt_deg))
            az = rng.uniform(0, 2 * np.pi)
            # direction from the board to the camera: around the board normal (-y)
            d = np.array([np.sin(tilt) * np.cos(az), -np.cos(tilt), np.sin(tilt) * np.sin(az)])
            eye = centre + d * rng.uniform(*distance) * scale
            tgt = centre + rng.uniform(-0.12, 0.12, 3) * scale * np.array([1, 0, 1])
            pose = look_at(eye, tgt)
            roll = np.radians(rng.uniform(-20, 20))
            c, s = np.cos(roll), np.sin(roll)
            rz = np.eye(4)
            rz[:2, :2] = [[c, -s], [s, c]]
            pose = pose @ rz
            uvl = project_points(corners_w, pose, st.left)
            uvr = project_points(corners_w, pose @ right2left, st.right)
            if _inside(uvl, st.left, margin_px) and _inside(uvr, st.right, margin_px):
                break
        else:
            raise ParameterError(
                "could not place the board inside both views; use a smaller board or a larger "
                "distance range.")
        fr = render_stereo(scene, rig, pose, rectified=False, noise=noise, seed=seed, sequence=i)
        gt = fr.ground_truth
        gt.extras.update({
            "corners_left": uvl, "corners_right": uvr,
            "object_points": obj.astype(np.float32),
            "board2left": np.linalg.inv(pose) @ b["board2world"],
            "pattern_size": (cols - 1, rows - 1), "square_m": square,
            "board_kind": "chessboard" if charuco is None else "charuco",
        })
        frames.append(fr)
    return frames


def _inside(uv, intr, margin) -> bool:
    return bool(np.all((uv[:, 0] >= margin) & (uv[:, 0] <= intr.width - 1 - margin)
                       & (uv[:, 1] >= margin) & (uv[:, 1] <= intr.height - 1 - margin)))
