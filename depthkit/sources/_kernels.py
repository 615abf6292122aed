"""numba kernels behind the RealSense depth/colour registration (no validation here).

Depth is float32 metres with NaN = none; ``R`` (3, 3) and ``T`` (3,) are float64 and map the
depth camera's frame to the colour camera's (``x_c = R @ x_d + T``).  Pinhole models only.
Serial on purpose: they run in librealsense's callback threads, one frame at a time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._numba import CACHE, FASTMATH


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, inline="always")
def _to_color(u, v, z, fx, fy, cx, cy, R, T):
    """Depth pixel ``(u, v)`` at depth `z` as a point in the colour camera's frame."""
    x = (u - cx) / fx * z
    y = (v - cy) / fy * z
    return (R[0, 0] * x + R[0, 1] * y + R[0, 2] * z + T[0],
            R[1, 0] * x + R[1, 1] * y + R[1, 2] * z + T[1],
            R[2, 0] * x + R[2, 1] * y + R[2, 2] * z + T[2])


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def sample_color(depth, fx, fy, cx, cy, R, T, cfx, cfy, ccx, ccy, color, out):
    """For every depth pixel, the colour pixel its 3-D point projects to (nearest); ``out``
    (H, W, C) must be zeroed, pixels without depth or outside the colour image stay 0."""
    h, w = depth.shape
    hc, wc, nc = color.shape
    for v in range(h):
        for u in range(w):
            z = depth[v, u]
            if not (z > 0):
                continue
            xc, yc, zc = _to_color(u, v, z, fx, fy, cx, cy, R, T)
            if not (zc > 0):
                continue
            iu = int(np.floor(cfx * xc / zc + ccx + 0.5))
            iv = int(np.floor(cfy * yc / zc + ccy + 0.5))
            if iu < 0 or iu >= wc or iv < 0 or iv >= hc:
                continue
            for c in range(nc):
                out[v, u, c] = color[iv, iu, c]


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def splat_depth(depth, fx, fy, cx, cy, R, T, cfx, cfy, ccx, ccy, s, out):
    """Re-project depth into the colour camera: each pixel covers an ``s x s`` block, the
    nearest surface wins.  ``out`` (Hc, Wc) must be filled with +inf; untouched pixels stay
    inf (the caller turns them into NaN)."""
    h, w = depth.shape
    hc, wc = out.shape
    half = (s - 1) / 2.0
    for v in range(h):
        for u in range(w):
            z = depth[v, u]
            if not (z > 0):
                continue
            xc, yc, zc = _to_color(u, v, z, fx, fy, cx, cy, R, T)
            if not (zc > 0):
                continue
            bu = int(np.floor(cfx * xc / zc + ccx - half + 0.5))
            bv = int(np.floor(cfy * yc / zc + ccy - half + 0.5))
            for dy in range(s):
                iv = bv + dy
                if iv < 0 or iv >= hc:
                    continue
                for dx in range(s):
                    iu = bu + dx
                    if iu < 0 or iu >= wc:
                        continue
                    if zc < out[iv, iu]:
                        out[iv, iu] = zc
