"""Analytic ground-truth scenes for the geometry tests: planes and spheres, ray-cast in numpy.

Every scene is a list of primitives; :func:`render` gives exact z-depth and a smooth world-space
texture (so photometric odometry has gradients) for any pinhole camera and cam2world pose, and
:func:`surface_distance` gives the exact distance of points to the true surface.
"""

from __future__ import annotations

import numpy as np

from depthkit import Intrinsics


def plane(point, normal, extent=None):
    n = np.asarray(normal, float)
    return {"kind": "plane", "p": np.asarray(point, float), "n": n / np.linalg.norm(n),
            "extent": extent}


def sphere(center, radius):
    return {"kind": "sphere", "c": np.asarray(center, float), "r": float(radius)}


def room(half=1.5, height=2.5):
    """The inside of a box [-half, half]^2 x [0, height] plus a sphere (x right, y down... any)."""
    return [
        plane((0, 0, 0), (0, 0, 1)), plane((0, 0, height), (0, 0, -1)),
        plane((-half, 0, 0), (1, 0, 0)), plane((half, 0, 0), (-1, 0, 0)),
        plane((0, -half, 0), (0, 1, 0)), plane((0, half, 0), (0, -1, 0)),
        sphere((0.3, 0.2, 1.6), 0.35),
    ]


def look_at(eye, target, up=(0.0, -1.0, 0.0)):
    """cam2world of a camera at `eye` looking at `target` (OpenCV axes: x right, y down, z fwd)."""
    eye, target, up = (np.asarray(v, float) for v in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, -up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, y, z], axis=1)
    T[:3, 3] = eye
    return T


def texture(points):
    """Smooth RGB texture in [0, 1] as a function of world position."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    r = 0.5 + 0.25 * np.sin(9.0 * x + 2.0 * y) + 0.2 * np.sin(23.0 * z + 5.0 * x)
    g = 0.5 + 0.25 * np.sin(11.0 * y - 3.0 * z) + 0.2 * np.sin(17.0 * x + 7.0 * y)
    b = 0.5 + 0.25 * np.sin(13.0 * z + 4.0 * x) + 0.2 * np.sin(19.0 * y - 6.0 * z)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 1)


def render(scene, intr: Intrinsics, cam2world):
    """Return ``depth (H, W) float32 (NaN = no hit), color (H, W, 3) uint8``."""
    T = np.asarray(cam2world, float)
    u, v = np.meshgrid(np.arange(intr.width, dtype=float), np.arange(intr.height, dtype=float))
    d_cam = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u)], -1)
    d = d_cam @ T[:3, :3].T  # world direction whose camera z component is 1
    o = T[:3, 3]
    t_best = np.full(u.shape, np.inf)
    for prim in scene:
        if prim["kind"] == "plane":
            denom = d @ prim["n"]
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (prim["p"] - o) @ prim["n"] / denom
            t = np.where(np.abs(denom) > 1e-12, t, np.inf)
            if prim["extent"] is not None:
                hit = o + t[..., None] * d
                lo, hi = (np.asarray(e, float) for e in prim["extent"])
                inside = np.all((hit >= lo - 1e-9) & (hit <= hi + 1e-9), axis=-1)
                t = np.where(inside, t, np.inf)
        else:
            oc = o - prim["c"]
            a = np.sum(d * d, -1)
            b = 2 * d @ oc
            c = oc @ oc - prim["r"] ** 2
            disc = b * b - 4 * a * c
            sq = np.sqrt(np.maximum(disc, 0))
            t = np.where(disc >= 0, (-b - sq) / (2 * a), np.inf)
        t = np.where(t > 1e-6, t, np.inf)
        t_best = np.minimum(t_best, t)
    depth = np.where(np.isfinite(t_best), t_best, np.nan)
    hit = o + np.nan_to_num(depth)[..., None] * d
    color = (texture(hit) * 255).round().astype(np.uint8)
    return depth.astype(np.float32), color


def surface_distance(scene, points):
    """Unsigned distance of each point to the nearest primitive surface."""
    pts = np.asarray(points, float)
    best = np.full(len(pts), np.inf)
    for prim in scene:
        if prim["kind"] == "plane":
            dist = np.abs((pts - prim["p"]) @ prim["n"])
        else:
            dist = np.abs(np.linalg.norm(pts - prim["c"], axis=1) - prim["r"])
        best = np.minimum(best, dist)
    return best


def visible_samples(scene, intr: Intrinsics, poses, stride=2):
    """World points of the true surface seen by any of the views (GT samples)."""
    out = []
    for T in poses:
        depth, _ = render(scene, intr, T)
        u, v = np.meshgrid(np.arange(intr.width), np.arange(intr.height))
        sel = np.isfinite(depth)
        mask = np.zeros_like(sel)
        mask[::stride, ::stride] = True
        sel &= mask
        z = depth[sel].astype(float)
        x = (u[sel] - intr.cx) / intr.fx * z
        y = (v[sel] - intr.cy) / intr.fy * z
        P = np.stack([x, y, z], 1)
        out.append(P @ T[:3, :3].T + T[:3, 3])
    return np.concatenate(out)
