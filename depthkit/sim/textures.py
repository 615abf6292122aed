"""Solid procedural textures: colour evaluated at the 3D hit point, so every view agrees.

A texture is a function of the world position (and of the object), never of the view, except
for an optional *footprint* (pixel size in metres at the point) that fades detail finer than
about two pixels to its mean, so that images do not alias (aliasing would differ between the two
cameras of a stereo pair and hurt matching).
"""

from __future__ import annotations

import numpy as np

from . import _kernels

__all__ = ["value_noise", "checker", "NOISE_OCTAVES"]

#: Octaves of the fine surface texture: (frequency 1/m, weight).  Wavelengths 20 cm .. 2.5 mm:
#: enough detail for stereo matching at 640x480 from 0.5 to 6 m.
NOISE_OCTAVES = ((5.0, 1.0), (13.0, 0.9), (31.0, 0.8), (73.0, 0.75), (170.0, 0.7), (400.0, 0.7))
#: Octaves of the slow colour variation within an object.
TINT_OCTAVES = ((1.5, 1.0), (4.0, 0.6))


def value_noise(points, seeds, *, octaves=NOISE_OCTAVES, footprint=None) -> np.ndarray:
    """Multi-octave 3D value noise.

    Parameters
    ----------
    points : (N, 3) float array
        World positions, metres.
    seeds : int or (N,) int array
        Texture seed per point (one per object).
    octaves : sequence of (frequency, weight)
        Frequencies in cycles per metre.
    footprint : (N,) float array or None
        Pixel size at each point, metres; None or 0 = unfiltered.

    Returns
    -------
    (N,) float32 ndarray in [0, 1], mean about 0.5.
    """
    p = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
    n = p.shape[0]
    s = np.ascontiguousarray(np.broadcast_to(np.asarray(seeds, dtype=np.int64), (n,)))
    fp = (np.zeros(n) if footprint is None
          else np.ascontiguousarray(np.broadcast_to(np.asarray(footprint, np.float64), (n,))))
    oc = np.asarray(octaves, dtype=np.float64).reshape(-1, 2)
    out = np.empty(n, dtype=np.float32)
    if n:
        _kernels.value_noise(p, s, np.ascontiguousarray(oc[:, 0]), np.ascontiguousarray(oc[:, 1]),
                             fp, out)
    return out


def checker(u, v, square, *, footprint=None) -> np.ndarray:
    """Box-filtered chessboard in board coordinates: 1 on white, 0 on black squares.

    The square at ``0 <= u < square, 0 <= v < square`` is black.  The chessboard is the product
    of two square waves, so filtering each with a box of width `footprint` filters it exactly.
    """
    u = np.asarray(u, np.float64) / square
    v = np.asarray(v, np.float64) / square
    fp = 1e-9 if footprint is None else np.maximum(np.asarray(footprint, np.float64) / square, 1e-9)

    def wave(x):
        a = np.mod(x, 2.0)
        sign = np.where(a < 1.0, 1.0, -1.0)
        frac = np.mod(x, 1.0)
        dist = np.minimum(frac, 1.0 - frac)  # distance to the nearest edge, in squares
        return sign * np.clip(2.0 * dist / fp, 0.0, 1.0)

    return (0.5 - 0.5 * wave(u) * wave(v)).astype(np.float32)
