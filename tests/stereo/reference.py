"""Plain-numpy reference implementations of every SGM stage (slow, obvious, for tests only).

They follow the definitions, not the kernels' data layout: census by explicit window shifts,
costs by broadcasting, each of the 4/8 aggregation paths separately in int64, WTA by argmin.
Integer stages must agree with the kernels exactly.
"""

from __future__ import annotations

import numpy as np

INVALID_KEY = 0xFFFFFFFF


def census_symmetric(img: np.ndarray, wh: int, ww: int) -> np.ndarray:
    """Centre-symmetric census (uint64): each window offset o before the centre (row by row)
    gives the bit I(p + o) < I(p - o); borders replicated."""
    H, W = img.shape
    ry, rx = wh // 2, ww // 2
    pad = np.pad(img, ((ry, ry), (rx, rx)), mode="edge")
    out = np.zeros((H, W), np.uint64)
    for dy in range(-ry, 1):
        for dx in range(-rx, rx + 1):
            if dy == 0 and dx == 0:
                return out
            a = pad[ry + dy:ry + dy + H, rx + dx:rx + dx + W]
            b = pad[ry - dy:ry - dy + H, rx - dx:rx - dx + W]
            out = (out << np.uint64(1)) | (a < b).astype(np.uint64)
    return out


def census(img: np.ndarray, wh: int, ww: int) -> np.ndarray:
    """Census bit strings (uint64), neighbour < centre, window row by row, borders replicated."""
    H, W = img.shape
    ry, rx = wh // 2, ww // 2
    pad = np.pad(img, ((ry, ry), (rx, rx)), mode="edge")
    out = np.zeros((H, W), np.uint64)
    for dy in range(-ry, ry + 1):
        for dx in range(-rx, rx + 1):
            if dy == 0 and dx == 0:
                continue
            nb = pad[ry + dy:ry + dy + H, rx + dx:rx + dx + W]
            out = (out << np.uint64(1)) | (nb < img).astype(np.uint64)
    return out


def _popcount(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.uint64)
    bytes_ = a.view(np.uint8).reshape(a.shape + (8,))
    return np.unpackbits(bytes_, axis=-1).sum(axis=-1).astype(np.int64)


def _right_index(W: int, D: int, min_disp: int):
    x = np.arange(W)[:, None]
    d = np.arange(D)[None, :]
    xr = x - min_disp - d
    valid = (xr >= 0) & (xr < W)
    return np.clip(xr, 0, W - 1), valid


def xgrad(img: np.ndarray) -> np.ndarray:
    """Horizontal gradient ``(I[x + 1] - I[x - 1]) / 2`` in float32, 0 in the border columns."""
    img = img.astype(np.float32)
    g = np.zeros_like(img)
    g[:, 1:-1] = (img[:, 2:] - img[:, :-2]) * np.float32(0.5)
    return g


def cost_census(cl, cr, D, min_disp, invalid, gl=None, gr=None, g_cap=0.0, g_weight=0.0):
    """uint8 cost volume: Hamming distance (+ truncated gradient difference), invalid outside."""
    H, W = cl.shape
    xr, valid = _right_index(W, D, min_disp)
    ham = _popcount(cl[:, :, None] ^ cr[:, xr])
    if g_weight > 0:
        t = np.minimum(np.abs(gl[:, :, None] - gr[:, xr]), np.float32(g_cap)) * np.float32(g_weight)
        v = np.minimum(ham.astype(np.float32) + t.astype(np.float32), np.float32(255.0))
        cost = v.astype(np.uint8)
    else:
        cost = ham.astype(np.uint8)
    cost[:, ~valid] = invalid
    return cost


def cost_bt(il, ir, D, min_disp, cap):
    """Birchfield-Tomasi cost (truncated to int, capped), `cap` outside the image."""
    H, W = il.shape

    def minmax(img):
        a = (img + np.roll(img, 1, axis=1)) * np.float32(0.5)
        a[:, 0] = img[:, 0]
        b = (img + np.roll(img, -1, axis=1)) * np.float32(0.5)
        b[:, -1] = img[:, -1]
        return np.minimum(img, np.minimum(a, b)), np.maximum(img, np.maximum(a, b))

    lol, hil = minmax(il)
    lor, hir = minmax(ir)
    xr, valid = _right_index(W, D, min_disp)
    a = il[:, :, None]
    b = ir[:, xr]
    d1 = np.maximum(0, np.maximum(a - hir[:, xr], lor[:, xr] - a))
    d2 = np.maximum(0, np.maximum(b - hil[:, :, None], lol[:, :, None] - b))
    cost = np.minimum(np.minimum(d1, d2), np.float32(cap)).astype(np.int64).astype(np.uint8)
    cost[:, ~valid] = cap
    return cost


def _directions(paths: int):
    """(dy, dx) of the previous pixel on each path: p - r."""
    if paths in (3, 5):  # single pass down the image: no path comes from below
        dirs = [(0, -1), (0, 1), (-1, 0)]
        return dirs + [(-1, -1), (-1, 1)] if paths == 5 else dirs
    dirs = [(0, -1), (0, 1), (-1, 0), (1, 0)]
    if paths >= 8:
        dirs += [(-1, -1), (-1, 1), (1, 1), (1, -1)]
    if paths == 16:
        dirs += [(-1, -2), (-1, 2), (-2, -1), (-2, 1), (1, 2), (1, -2), (2, 1), (2, -1)]
    return dirs


def aggregate_path(C, guide, p2lut, P1, dy, dx) -> np.ndarray:
    """One SGM path (previous pixel at offset (dy, dx)), int64 (H, W, D)."""
    H, W, D = C.shape
    Ci = C.astype(np.int64)
    L = np.zeros((H, W, D), np.int64)
    g = guide.astype(np.int64)
    ys = range(H) if dy <= 0 else range(H - 1, -1, -1)
    xs = range(W) if dx <= 0 else range(W - 1, -1, -1)
    big = 1 << 40
    for y in ys:
        for x in xs:
            py, px = y + dy, x + dx
            if not (0 <= py < H and 0 <= px < W):
                L[y, x] = Ci[y, x]
                continue
            prev = L[py, px]
            m = prev.min()
            p2 = int(p2lut[abs(g[y, x] - g[py, px])])
            lm = np.concatenate(([big], prev[:-1]))
            lp = np.concatenate((prev[1:], [big]))
            best = np.minimum(np.minimum(prev, np.minimum(lm, lp) + P1), m + p2)
            L[y, x] = Ci[y, x] + best - m
    return L


def aggregate(C, guide, p2lut, P1, paths) -> np.ndarray:
    """Sum of all paths as uint16."""
    S = sum(aggregate_path(C, guide, p2lut, P1, dy, dx) for dy, dx in _directions(paths))
    assert S.max() < 2**16
    return S.astype(np.uint16)


def wta(S, min_disp, uniq, subpix):
    """(dint, dsub, rkey): left winner (-1 not unique), sub-pixel disparity, right keys."""
    H, W, D = S.shape
    xr, valid = _right_index(W, D, min_disp)
    dint = np.full((H, W), -1, np.int64)
    dsub = np.full((H, W), np.nan, np.float32)
    rkey = np.full((H, W), INVALID_KEY, np.uint64)
    for y in range(H):
        for x in range(W):
            ds = np.flatnonzero(valid[x])
            if ds.size == 0:
                continue
            s = S[y, x].astype(np.int64)
            for d in ds:
                rkey[y, xr[x, d]] = min(rkey[y, xr[x, d]], (int(s[d]) << 16) | int(d))
            vals = s[ds]
            bd = int(ds[np.argmin(vals)])
            bs = int(s[bd])
            far = ds[np.abs(ds - bd) > 1]
            if uniq > 0 and far.size and s[far].min() * (100 - uniq) < bs * 100:
                continue
            dint[y, x] = bd
            off = 0.0
            if ds[0] < bd < ds[-1]:
                a, b, c = float(s[bd - 1]), float(bs), float(s[bd + 1])
                if subpix == "parabola" and a + c - 2 * b > 0:
                    off = (a - c) / (2 * (a + c - 2 * b))
                elif subpix == "equiangular":
                    den = a - b if c < a else c - b
                    if den > 0:
                        off = 0.5 * (a - c) / den
            dsub[y, x] = min_disp + bd + off
    return dint, dsub, rkey.astype(np.uint32)


def lr_check(dint, dsub, rkey, max_diff):
    """Drop pixels where both right pixels around ``x - dsub`` disagree by more than max_diff."""
    H, W = dint.shape
    out = dsub.copy()
    for y in range(H):
        for x in range(W):
            d = int(dint[y, x])
            if d < 0:
                continue
            x0 = int(np.floor(x - float(dsub[y, x])))
            agree = False
            for xr in (x0, x0 + 1):
                if 0 <= xr < W and rkey[y, xr] != INVALID_KEY:
                    if abs((int(rkey[y, xr]) & 0xFFFF) - d) <= max_diff:
                        agree = True
            if not agree:
                out[y, x] = np.nan
    return out


def refine_subpixel(C, dint, disp, min_disp, rad, mode):
    """Equiangular/parabola fit on the raw cost summed over a (2 rad + 1)^2 box (clipped)."""
    H, W, D = C.shape
    out = disp.copy()
    Ci = C.astype(np.int64)
    for y in range(H):
        for x in range(W):
            b = int(dint[y, x])
            if b <= 0 or b >= D - 1 or np.isnan(disp[y, x]):
                continue
            box = Ci[max(y - rad, 0):y + rad + 1, max(x - rad, 0):x + rad + 1]
            a, m, c = (int(box[:, :, k].sum()) for k in (b - 1, b, b + 1))
            off = 0.0
            if mode == "parabola" and a + c - 2 * m > 0:
                off = (a - c) / (2.0 * (a + c - 2 * m))
            elif mode == "equiangular":
                den = a - m if c < a else c - m
                if den > 0:
                    off = 0.5 * (a - c) / den
            out[y, x] = min_disp + b + min(max(off, -0.5), 0.5)
    return out


def fill_occlusions(disp, slack, lo):
    """Fill invalid runs whose right end is nearer and whose width is within
    ``[lo * jump - slack, jump + slack]``."""
    out = disp.copy()
    H, W = disp.shape
    for y in range(H):
        inval = np.isnan(disp[y])
        x = 0
        while x < W:
            if not inval[x]:
                x += 1
                continue
            x0 = x
            while x < W and inval[x]:
                x += 1
            if x0 > 0 and x < W:
                left, right = disp[y, x0 - 1], disp[y, x]
                jump = right - left
                if jump > 0 and lo * jump - slack <= x - x0 <= jump + slack:
                    out[y, x0:x] = left
    return out
