"""Camera trajectories (lists of 4x4 ``cam2world`` poses) for simulated sequences."""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from .scene import Scene, look_at

__all__ = ["orbit", "walk", "make_trajectory", "TRAJECTORIES"]

TRAJECTORIES = ("static", "orbit", "walk")


def _check_n(n) -> int:
    if int(n) != n or n < 1:
        raise ParameterError(f"the number of poses must be a positive integer; got {n!r}.")
    return int(n)


def orbit(center, radius: float, height: float, n: int, *, arc_deg: float = 40.0,
          start_deg: float = -90.0, target=None) -> list[np.ndarray]:
    """Poses on a horizontal arc around `center` (z up), each looking at `target`.

    Parameters
    ----------
    center : (3,) array
        Centre of the circle, world metres.
    radius : float
        Horizontal distance from `center`, metres.
    height : float
        World z of the cameras.
    n : int
        Number of poses.
    arc_deg, start_deg : float
        The arc spans `arc_deg` degrees from `start_deg` (0 = the +x side of `center`).
    target : (3,) array, optional
        Where the cameras look (default `center`).

    Examples
    --------
    >>> poses = orbit((0, 0, 0), 2.0, 1.0, 3)
    >>> [round(float(p[0, 3]), 3) for p in poses]
    [0.0, 0.684, 1.286]
    """
    n = _check_n(n)
    if radius <= 0:
        raise ParameterError(f"orbit radius must be > 0; got {radius!r}.")
    c = np.asarray(center, np.float64)
    tgt = c if target is None else np.asarray(target, np.float64)
    angles = np.radians(start_deg + (np.linspace(0.0, arc_deg, n) if n > 1 else np.zeros(1)))
    return [look_at(c + [radius * np.cos(a), radius * np.sin(a), height - c[2]], tgt)
            for a in angles]


def walk(start_pose, n: int, *, step_m: float = 0.02, sway_m: float = 0.01,
         yaw_deg: float = 4.0) -> list[np.ndarray]:
    """Poses walking forward with a small sway, bob and look-around: a hand-held camera.

    Parameters
    ----------
    start_pose : (4, 4) array
        First pose; the walk goes along its viewing direction, kept level.
    n : int
        Number of poses.
    step_m : float
        Forward distance between poses.
    sway_m : float
        Sideways sway amplitude (vertical bob is 0.3 of it).
    yaw_deg : float
        Amplitude of the slow left-right look.
    """
    n = _check_n(n)
    T0 = np.asarray(start_pose, np.float64)
    fwd = T0[:3, 2].copy()
    fwd[2] = 0.0
    if np.linalg.norm(fwd) < 1e-9:
        raise ParameterError("walk: the start pose looks straight up or down.")
    fwd /= np.linalg.norm(fwd)
    side = np.cross(fwd, [0.0, 0.0, 1.0])
    poses = []
    for i in range(n):
        ph = 2 * np.pi * i / max(n, 8)
        eye = T0[:3, 3] + fwd * step_m * i + side * sway_m * np.sin(ph) \
            + np.array([0, 0, 0.3 * sway_m * np.sin(2 * ph)])
        yaw = np.radians(yaw_deg) * np.sin(ph)
        c, s = np.cos(yaw), np.sin(yaw)
        look = T0[:3, 2] @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1.0]])
        poses.append(look_at(eye, eye + look))
    return poses


def make_trajectory(scene: Scene, kind: str = "orbit", n: int = 10) -> list[np.ndarray]:
    """A trajectory suited to `scene`, starting near its default view.

    Parameters
    ----------
    scene : Scene
    kind : {"static", "orbit", "walk"}
        ``static``: the default pose n times; ``orbit``: a 30 degree arc around the point the
        default view looks at; ``walk``: forward (a tenth of the near depth per 10 poses).
    n : int
        Number of poses.
    """
    n = _check_n(n)
    if kind not in TRAJECTORIES:
        raise ParameterError(
            f"unknown trajectory {kind!r}; choose one of {', '.join(TRAJECTORIES)}.")
    T0 = scene.default_pose
    if kind == "static":
        return [T0.copy() for _ in range(n)]
    near, far = scene.depth_range
    if kind == "walk":
        return walk(T0, n, step_m=0.1 * near / max(n / 10, 1), sway_m=0.02 * near)
    # orbit about the point the default view looks at, at the "typical" distance
    d = 0.5 * (near + min(far, 3 * near))
    target = T0[:3, 3] + T0[:3, 2] * d
    off = T0[:3, 3] - target
    radius = float(np.hypot(off[0], off[1]))
    start = float(np.degrees(np.arctan2(off[1], off[0])))
    return orbit(target, radius, T0[2, 3], n, arc_deg=30.0, start_deg=start - 15.0)
