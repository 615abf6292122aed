"""Synthetic views of a calibration board through a known camera (for tests only).

Each output pixel is undistorted (cv2.undistortPoints), its ray intersected with the board plane,
and the board's printable image sampled there (2x supersampled), so distortion is exact.
"""

from __future__ import annotations

import cv2
import numpy as np

from depthkit.calibration import Board


def board_texture(board: Board, square_px: int = 40):
    img = board.render(square_px=square_px, dpi=300)
    margin = square_px  # render() uses one square of margin when square_px is given
    return img, margin


_TEX: dict = {}
_RAYS: dict = {}


def _rays(K, D, size, ss, fisheye=False):
    key = (K.tobytes(), D.tobytes(), size, ss, fisheye)
    if key not in _RAYS:
        w, h = size
        u, v = np.meshgrid((np.arange(w * ss) + 0.5) / ss - 0.5,
                           (np.arange(h * ss) + 0.5) / ss - 0.5)
        pts = np.stack([u.ravel(), v.ravel()], 1).reshape(-1, 1, 2).astype(np.float64)
        und = cv2.fisheye.undistortPoints if fisheye else cv2.undistortPoints
        _RAYS[key] = np.ascontiguousarray(und(pts, K, D).reshape(-1, 2).T)
    return _RAYS[key]


def rodrigues(rx, ry, rz) -> np.ndarray:
    return cv2.Rodrigues(np.array([rx, ry, rz], float))[0]


def render_view(board: Board, K, D, R_b2c, t_b2c, size, *, square_px: int = 40,
                ss: int = 2, noise: float = 0.0, rng=None, fisheye: bool = False) -> np.ndarray:
    """Grey uint8 image of `board` at pose (R_b2c, t_b2c) seen by camera (K, D)."""
    tex, margin = _TEX.get((board, square_px)) or _TEX.setdefault(
        (board, square_px), board_texture(board, square_px))
    w, h = size
    xy = _rays(np.asarray(K, float), np.asarray(D, float), size, ss, fisheye)
    H = np.column_stack([R_b2c[:, 0], R_b2c[:, 1], np.ravel(t_b2c)])
    Hi = np.linalg.inv(H)
    x, y = xy
    wz = Hi[2, 0] * x + Hi[2, 1] * y + Hi[2, 2]
    X = (Hi[0, 0] * x + Hi[0, 1] * y + Hi[0, 2]) / wz
    Y = (Hi[1, 0] * x + Hi[1, 1] * y + Hi[1, 2]) / wz
    ppu = square_px / board.square_size
    mx = (margin + square_px + X * ppu - 0.5).reshape(h * ss, w * ss).astype(np.float32)
    my = (margin + square_px + Y * ppu - 0.5).reshape(h * ss, w * ss).astype(np.float32)
    big = cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                    borderValue=255)
    img = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA) if ss > 1 else big
    img = (img.astype(np.float32) * 0.7 + 40)  # not pure black/white
    if noise:
        img += (rng or np.random.default_rng(0)).normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def board_poses(board: Board, n: int, distance: float, rng) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n` varied board poses (board -> left camera), board centre near the optical axis."""
    cols, rows = board.pattern_size
    centre = np.array([(cols - 1) / 2, (rows - 1) / 2, 0.0]) * board.square_size
    poses = []
    for _ in range(n):
        ang = rng.uniform(-0.45, 0.45, 3) * np.array([1, 1, 0.5])
        R = rodrigues(*ang)
        shift = rng.uniform(-0.25, 0.25, 2) * distance
        t = np.array([shift[0], shift[1], distance * rng.uniform(0.85, 1.2)]) - R @ centre
        poses.append((R, t))
    return poses


def render_stereo(board: Board, left_K, left_D, right_K, right_D, R, T, size, poses, **kw):
    """Left and right images of each pose (x_right = R x_left + T)."""
    L, Rr = [], []
    for Rb, tb in poses:
        L.append(render_view(board, left_K, left_D, Rb, tb, size, **kw))
        Rr.append(render_view(board, right_K, right_D, R @ Rb, R @ tb + np.ravel(T), size, **kw))
    return L, Rr
