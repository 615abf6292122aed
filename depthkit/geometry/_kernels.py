"""numba kernels behind depthkit.geometry.filters (no validation here; NaN = invalid).

Every kernel takes C-contiguous float32 arrays and plain scalars and writes into a preallocated
output (or in place, where the name says so).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._numba import CACHE, FASTMATH


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def decimate(src, factor, use_median, out):
    """Block ``factor x factor`` -> one pixel: median (small blocks) or mean of valid values."""
    oh, ow = out.shape
    for oy in prange(oh):
        buf = np.empty(factor * factor, np.float32)
        for ox in range(ow):
            n = 0
            s = 0.0
            for dy in range(factor):
                for dx in range(factor):
                    v = src[oy * factor + dy, ox * factor + dx]
                    if v == v:  # not NaN
                        buf[n] = v
                        n += 1
                        s += v
            if n == 0:
                out[oy, ox] = np.nan
            elif use_median:
                vals = np.sort(buf[:n])
                if n % 2 == 1:
                    out[oy, ox] = vals[n // 2]
                else:
                    # lower median: an actual measurement, never a blend across an edge
                    out[oy, ox] = vals[n // 2 - 1]
            else:
                out[oy, ox] = s / n


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _recursive_line(a, alpha, delta):
    """One forward and one backward edge-preserving exponential pass over a 1-D view."""
    n = a.shape[0]
    prev = np.nan
    for i in range(n):
        v = a[i]
        if v == v:
            if prev == prev and abs(v - prev) < delta:
                v = alpha * v + (1.0 - alpha) * prev
                a[i] = v
            prev = v
        else:
            prev = np.nan
    prev = np.nan
    for i in range(n - 1, -1, -1):
        v = a[i]
        if v == v:
            if prev == prev and abs(v - prev) < delta:
                v = alpha * v + (1.0 - alpha) * prev
                a[i] = v
            prev = v
        else:
            prev = np.nan


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def spatial_inplace(img, alpha, delta, iterations):
    """Domain-transform style recursive filter (rows, then columns), `iterations` times."""
    h, w = img.shape
    for _ in range(iterations):
        for y in prange(h):
            _recursive_line(img[y], alpha, delta)
        for x in prange(w):
            col = np.empty(h, np.float32)
            for y in range(h):
                col[y] = img[y, x]
            _recursive_line(col, alpha, delta)
            for y in range(h):
                img[y, x] = col[y]


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def temporal(cur, prev, history, alpha, delta, persist_n, persist_k, out):
    """Exponential temporal filter with validity persistence.

    `prev` is the last filtered value per pixel (updated in place), `history` a uint8 bit mask
    of validity in the previous 8 frames (bit 0 = the previous frame; updated in place).
    An invalid pixel keeps ``prev`` when at least `persist_k` of the last `persist_n` frames
    were valid.
    """
    h, w = cur.shape
    mask = (1 << persist_n) - 1
    for y in prange(h):
        for x in range(w):
            c = cur[y, x]
            p = prev[y, x]
            hist = history[y, x]
            if c == c:
                if p == p and abs(c - p) < delta:
                    c = alpha * c + (1.0 - alpha) * p
                out[y, x] = c
                prev[y, x] = c
                valid = 1
            else:
                bits = hist & mask
                cnt = 0
                while bits:
                    cnt += bits & 1
                    bits >>= 1
                if p == p and cnt >= persist_k:
                    out[y, x] = p
                else:
                    out[y, x] = np.nan
                valid = 0
            history[y, x] = ((hist << 1) | valid) & 0xFF


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _pick(a, b, mode):
    """Combine two candidates (NaN = none): mode 0 left-only, 1 max, 2 min."""
    if a != a:
        return b
    if b != b:
        return a
    if mode == 1:
        return a if a > b else b
    return a if a < b else b


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def fill_holes(src, mode, out):
    """Fill NaN pixels from their neighbours in two raster passes (forward, then backward).

    mode 0: from the left only (RealSense ``fill_from_left``); 1: the largest neighbour value;
    2: the smallest.  The forward pass sees filled left/up neighbours and original right/down
    ones; the backward pass fills what is left the other way round.
    """
    h, w = src.shape
    for y in range(h):
        for x in range(w):
            out[y, x] = src[y, x]
    for y in range(h):
        for x in range(w):
            if out[y, x] == out[y, x]:
                continue
            c = np.nan
            if x > 0:
                c = out[y, x - 1]
            if mode != 0:
                if y > 0:
                    c = _pick(c, out[y - 1, x], mode)
                if x + 1 < w:
                    c = _pick(c, out[y, x + 1], mode)
                if y + 1 < h:
                    c = _pick(c, out[y + 1, x], mode)
            out[y, x] = c
    if mode == 0:
        return
    for y in range(h - 1, -1, -1):
        for x in range(w - 1, -1, -1):
            if out[y, x] == out[y, x]:
                continue
            c = np.nan
            if x + 1 < w:
                c = out[y, x + 1]
            if y + 1 < h:
                c = _pick(c, out[y + 1, x], mode)
            if x > 0:
                c = _pick(c, out[y, x - 1], mode)
            if y > 0:
                c = _pick(c, out[y - 1, x], mode)
            out[y, x] = c


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def depth_to_u16(depth, lo, hi, scale, out, row_valid):
    """Metres -> uint16 steps of ``1/scale`` m; outside ``[lo, hi]`` or NaN -> 0.

    ``row_valid[y]`` receives the number of valid pixels of row y.  Serial on purpose: it
    takes well under a millisecond, and numba's threads would contend with Open3D's OpenMP
    threads that integrate right after.
    """
    h, w = depth.shape
    for y in range(h):
        n = 0
        for x in range(w):
            z = depth[y, x]
            if z >= lo and z <= hi:  # False for NaN
                out[y, x] = np.uint16(z * scale + 0.5)
                n += 1
            else:
                out[y, x] = 0
        row_valid[y] = n
