"""Numba kernels for active sensing (ToF decode and unwrapping, depth filters, SL decode).

Kernels assume valid, contiguous input (the public wrappers in ``tof.py`` and
``structured_light.py`` check it) and mark invalid pixels with NaN.  They never read globals
that change at run time.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .._numba import CACHE, FASTMATH

TWO_PI = 2.0 * math.pi
C_LIGHT = 299_792_458.0


_ROWS = 8                           # rows per parallel work item of tof_decode
# atan(a) = a P(a^2) on [0, 1]: least-squares fit of degree 11 in a^2 (Chebyshev nodes),
# |error| < 3e-11 rad
_AT0 = 0.9999999993492386
_AT1 = -0.33333326328166324
_AT2 = 0.19999775015135585
_AT3 = -0.1428232910589891
_AT4 = 0.11082189267140756
_AT5 = -0.08935083493810472
_AT6 = 0.07127291173385798
_AT7 = -0.05224398495364675
_AT8 = 0.031930161907560935
_AT9 = -0.014509000450218577
_AT10 = 0.004208758872598049
_AT11 = -0.0005729366245012566


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, inline="always")
def phase_of(y, x):
    """``atan2(y, x)`` in [0, 2 pi), to about 3e-11 rad, much faster than libm's ``atan2``.

    Octant symmetry reduces to ``atan(a)``, ``0 <= a <= 1``, which a polynomial in ``a^2``
    gives.  One division and no branches (only selects), so loops over pixels vectorise.
    """
    ax = abs(x)
    ay = abs(y)
    mx = max(ax, ay)
    a = min(ax, ay) / (mx if mx > 0.0 else 1.0)
    s = a * a
    r = a * (_AT0 + s * (_AT1 + s * (_AT2 + s * (_AT3 + s * (_AT4 + s * (_AT5 + s * (
        _AT6 + s * (_AT7 + s * (_AT8 + s * (_AT9 + s * (_AT10 + s * _AT11)))))))))))
    r = 0.5 * math.pi - r if ay > ax else r
    r = math.pi - r if x < 0.0 else r
    r = TWO_PI - r if y < 0.0 else r
    return r - TWO_PI if r >= TWO_PI else r


# ------------------------------------------------------------------------------------------
# ToF
# ------------------------------------------------------------------------------------------
@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def tof_decode(raw, freqs, ref, n_max, max_range, cos_t, sin_t, amp_min, saturation,
               inv_gain, read_var, max_chi2, min_margin, crt_sec, crt_p, crt_q, crt_inv, ray_z,
               out_range, out_z, out_amp, out_int, out_phase, out_chi2, out_margin, out_status):
    """Phase, amplitude and offset per frequency, then unwrapping by integer search.

    ``raw`` (M, N, H, W) float32 samples ``S_k = B + A cos(phi + 2 pi k / N)``.  Each phase
    gets a noise variance ``(B * inv_gain + read_var) * 2 / (N A^2)`` (shot + read noise).  For
    each wrap count ``n`` of the reference (highest) frequency the other frequencies' wrap
    counts are rounded to agree, the range is the inverse-variance weighted least-squares fit
    and the cost its chi-square.  Accepted: best chi-square <= ``max_chi2`` and runner-up at
    least ``min_margin`` above it.  With ``crt_q > 1`` only the reference wrap counts that
    agree with frequency ``crt_sec`` are tried: with ``f_sec / f_ref = crt_p / crt_q`` (lowest
    terms) the integer ``K = round((crt_q phi_sec - crt_p phi_ref) / 2 pi)`` fixes
    ``n_ref = K crt_p^-1 (mod crt_q)`` (Chinese remainder theorem); the neighbouring integer
    on the side of the rounding is tried too, so the runner-up is among the candidates.  A
    pixel whose true wrap is skipped has a large chi-square and is rejected, not mis-assigned.
    ``out_status``: 0 valid, 1 saturated, 2 low amplitude,
    3 inconsistent phases, 4 ambiguous, 5 out of range.

    Speed: blocks of rows run in parallel; within a row each stage is a branch-free loop over
    the pixels (so LLVM vectorises it): sums and phases, per-pixel search terms, then one
    loop over the row per candidate wrap count, keeping the best and runner-up per pixel.
    """
    M, N, H, W = raw.shape
    k_m = np.empty(M)
    for m in range(M):
        k_m[m] = 4.0 * math.pi * freqs[m] / C_LIGHT
    order = np.empty(M, np.int64)
    order[0] = ref
    j = 1
    for m in range(M):
        if m != ref:
            order[j] = m
            j += 1
    # k and k / 2 pi of the reference and of up to three other frequencies (0 when absent)
    k_r = k_m[ref]
    k1 = k_m[order[1]] if M > 1 else 0.0
    k2 = k_m[order[2]] if M > 2 else 0.0
    k3 = k_m[order[3]] if M > 3 else 0.0
    c1 = k1 / TWO_PI
    c2 = k2 / TWO_PI
    c3 = k3 / TWO_PI
    inv_k_ref = 1.0 / k_r
    h1 = 1.0 if M > 1 else 0.0
    h2 = 1.0 if M > 2 else 0.0
    h3 = 1.0 if M > 3 else 0.0
    inv_q = 1.0 / crt_q if crt_q > 1 else 1.0     # x / q never near an integer: x + 0.5
    o_1 = order[1] if M > 1 else 0
    o_2 = order[2] if M > 2 else 0
    o_3 = order[3] if M > 3 else 0
    n_pass = 2 if crt_q > 1 else 1      # (CRT) the neighbouring integer too, for the margin
    step = crt_q if crt_q > 1 else 1
    n_per = n_max // step + 1
    two_n = 2.0 / N
    n_blk = (H + _ROWS - 1) // _ROWS
    for blk in prange(n_blk):
        # row buffers, allocated once per block of rows
        sc = np.empty(W)
        si = np.empty(W)
        sb = np.empty(W)
        bad = np.empty(W, np.bool_)
        amin = np.empty(W)
        isum = np.empty(W)
        phi = np.empty((M, W))
        wt = np.empty((M, W))
        tm = np.empty((12, W))
        nst = np.zeros((2, W))
        best = np.empty(W)
        second = np.empty(W)
        best_r = np.empty(W)
        for v in range(blk * _ROWS, min(H, (blk + 1) * _ROWS)):
            # pass 1, loops over the row: sums, amplitude, phase, weight per frequency
            bad[:] = False
            amin[:] = 1e30
            isum[:] = 0.0
            for m in range(M):
                sc[:] = 0.0
                si[:] = 0.0
                sb[:] = 0.0
                for k in range(N):
                    ck = cos_t[k]
                    sk = sin_t[k]
                    for u in range(W):
                        s = raw[m, k, v, u]
                        # clipped, or NaN / inf (no short-circuit: keeps the loop vectorisable)
                        bad[u] = bad[u] | (s >= saturation) | (s != s) | (s <= -1e30)
                        sc[u] += s * ck
                        si[u] += s * sk
                        sb[u] += s
                for u in range(W):
                    a = two_n * math.sqrt(sc[u] * sc[u] + si[u] * si[u])
                    p = phase_of(-si[u], sc[u])
                    b = sb[u] / N
                    var = (max(b, 0.0) * inv_gain + read_var) * two_n
                    wt[m, u] = a * a / (var if var > 0.0 else 1e-12)   # select, no branch
                    phi[m, u] = p
                    out_phase[m, v, u] = p
                    isum[u] += b
                    amin[u] = min(amin[u], a)
            # pass 2: per pixel terms of the search (reference frequency first, up to three
            # others; missing ones have zero weight and phase, so they add nothing)
            for u in range(W):
                # (unconditional loads times 0/1 flags: a branch-free, vectorisable loop)
                p_r = phi[ref, u]
                w_r = wt[ref, u]
                p1 = phi[o_1, u] * h1
                w1 = wt[o_1, u] * h1
                p2 = phi[o_2, u] * h2
                w2 = wt[o_2, u] * h2
                p3 = phi[o_3, u] * h3
                w3 = wt[o_3, u] * h3
                tm[0, u] = p_r
                tm[1, u] = w_r
                tm[2, u] = p1
                tm[3, u] = w1
                tm[4, u] = p1 / TWO_PI - 0.5
                tm[5, u] = p2
                tm[6, u] = w2
                tm[7, u] = p2 / TWO_PI - 0.5
                tm[8, u] = p3
                tm[9, u] = w3
                tm[10, u] = p3 / TWO_PI - 0.5
                tm[11, u] = 1.0 / (w_r * k_r * k_r + w1 * k1 * k1 + w2 * k2 * k2 + w3 * k3 * k3)
                # first candidate wrap count of the reference: 0, or (CRT) the smallest one that
                # agrees with the second frequency's wrap-difference integer and its neighbour
                # on the side of the rounding (integers held exactly in floats)
                if crt_q > 1:
                    dd = (crt_q * phi[crt_sec, u] - crt_p * p_r) / TWO_PI
                    kk = np.floor(dd + 0.5)
                    kc = kk + 1.0 if dd - kk > 0 else kk - 1.0
                    x = kk * crt_inv
                    nst[0, u] = x - crt_q * np.floor((x + 0.5) * inv_q)
                    x = kc * crt_inv
                    nst[1, u] = x - crt_q * np.floor((x + 0.5) * inv_q)
                else:
                    nst[0, u] = 0.0
                best[u] = 1e300
                second[u] = 1e300
                best_r[u] = 0.0
            # pass 3, vectorisable over the row: each candidate wrap count of the reference; the
            # others are rounded to agree, weighted LS range r = sum(w k pm) / sum(w k^2) and
            # chi-square sum(w (pm - k r)^2) = sum(w pm^2) - r sum(w k pm)
            # (the fourth frequency's terms only when there is one)
            for ps in range(n_pass):
                for i in range(n_per):
                    if M > 3:
                        for u in range(W):
                            n = nst[ps, u] + i * step
                            p0 = tm[0, u] + TWO_PI * n
                            r0 = p0 * inv_k_ref
                            q1 = tm[2, u] + TWO_PI * np.floor(c1 * r0 - tm[4, u])
                            q2 = tm[5, u] + TWO_PI * np.floor(c2 * r0 - tm[7, u])
                            q3 = tm[8, u] + TWO_PI * np.floor(c3 * r0 - tm[10, u])
                            w_r = tm[1, u]
                            w1 = tm[3, u]
                            w2 = tm[6, u]
                            w3 = tm[9, u]
                            num = (w_r * k_r * p0 + w1 * k1 * q1 + w2 * k2 * q2
                                   + w3 * k3 * q3)
                            sq = w_r * p0 * p0 + w1 * q1 * q1 + w2 * q2 * q2 + w3 * q3 * q3
                            r = num * tm[11, u]
                            cost = max(sq - r * num, 0.0)
                            cost = cost if n <= n_max else 1e300   # past the last one
                            b0 = best[u]
                            second[u] = min(second[u], max(b0, cost))
                            best_r[u] = r if cost < b0 else best_r[u]
                            best[u] = min(b0, cost)
                    else:
                        for u in range(W):
                            n = nst[ps, u] + i * step
                            p0 = tm[0, u] + TWO_PI * n
                            r0 = p0 * inv_k_ref
                            q1 = tm[2, u] + TWO_PI * np.floor(c1 * r0 - tm[4, u])
                            q2 = tm[5, u] + TWO_PI * np.floor(c2 * r0 - tm[7, u])
                            w_r = tm[1, u]
                            w1 = tm[3, u]
                            w2 = tm[6, u]
                            num = w_r * k_r * p0 + w1 * k1 * q1 + w2 * k2 * q2
                            sq = w_r * p0 * p0 + w1 * q1 * q1 + w2 * q2 * q2
                            r = num * tm[11, u]
                            cost = max(sq - r * num, 0.0)
                            cost = cost if n <= n_max else 1e300   # past the last one
                            b0 = best[u]
                            second[u] = min(second[u], max(b0, cost))
                            best_r[u] = r if cost < b0 else best_r[u]
                            best[u] = min(b0, cost)
            # pass 4, per pixel: the verdict
            for u in range(W):
                am = amin[u]
                out_amp[v, u] = am
                out_int[v, u] = isum[u] / M
                out_range[v, u] = np.nan
                out_z[v, u] = np.nan
                out_chi2[v, u] = np.nan
                out_margin[v, u] = 0.0
                if bad[u]:
                    out_status[v, u] = 1
                    continue
                if not (am >= amp_min) or am <= 0.0:
                    out_status[v, u] = 2
                    continue
                bst = best[u]
                out_chi2[v, u] = bst
                margin = min(second[u] - bst, 1e30)
                out_margin[v, u] = margin if M > 1 else 0.0
                if bst > max_chi2:
                    out_status[v, u] = 3
                    continue
                if M > 1 and margin < min_margin:
                    out_status[v, u] = 4
                    continue
                br = best_r[u]
                if br <= 0.0 or br > max_range:
                    out_status[v, u] = 5
                    continue
                out_status[v, u] = 0
                out_range[v, u] = br
                out_z[v, u] = br * ray_z[v, u]


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, inline="always")
def _is_flying(depth, v, u, z, thr):
    """The test of :func:`flying_pixels` for one valid pixel, with bounds checks."""
    H, W = depth.shape
    for d in range(4):
        dv = 0 if d == 0 else 1
        du = 1 if d == 0 else (0 if d == 1 else (1 if d == 2 else -1))
        va = v - dv
        ua = u - du
        vb = v + dv
        ub = u + du
        if va < 0 or vb >= H or ua < 0 or ua >= W or ub < 0 or ub >= W:
            continue
        # NaN neighbours fail every comparison
        da = z - depth[va, ua]
        db = z - depth[vb, ub]
        if da * db < 0.0 and abs(da) > thr and abs(db) > thr:
            return True
    n_valid = 0
    n_near = 0
    for j in range(-1, 2):
        for i in range(-1, 2):
            vv = v + j
            uu = u + i
            if (i == 0 and j == 0) or vv < 0 or vv >= H or uu < 0 or uu >= W:
                continue
            q = depth[vv, uu]
            n_valid += q == q
            n_near += abs(q - z) <= thr
    return n_valid >= 2 and n_near == 0


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, inline="always")
def _flying_at(depth, v, u, z, thr):
    """The test of :func:`flying_pixels` for the valid pixel (v, u) of depth z.

    Interior pixels take a branch-free path (noise makes the tests' outcomes unpredictable);
    NaN neighbours fail every comparison, so they count as neither far nor near."""
    H, W = depth.shape
    if not (0 < v < H - 1 and 0 < u < W - 1):
        return _is_flying(depth, v, u, z, thr)
    # directions (0, 1), (1, 0), (1, 1), (1, -1): z strictly between, far from both
    l = z - depth[v, u - 1]
    r = z - depth[v, u + 1]
    t = z - depth[v - 1, u]
    b = z - depth[v + 1, u]
    tl = z - depth[v - 1, u - 1]
    br = z - depth[v + 1, u + 1]
    tr = z - depth[v - 1, u + 1]
    bl = z - depth[v + 1, u - 1]
    fly = (((l * r < 0.0) & (abs(l) > thr) & (abs(r) > thr))
           | ((t * b < 0.0) & (abs(t) > thr) & (abs(b) > thr))
           | ((tl * br < 0.0) & (abs(tl) > thr) & (abs(br) > thr))
           | ((tr * bl < 0.0) & (abs(tr) > thr) & (abs(bl) > thr)))
    # isolated: >= 2 valid neighbours (d == d is False for NaN), none within thr
    n_valid = ((l == l) + (r == r) + (t == t) + (b == b) + (tl == tl) + (br == br)
               + (tr == tr) + (bl == bl))
    n_near = ((abs(l) <= thr) + (abs(r) <= thr) + (abs(t) <= thr) + (abs(b) <= thr)
              + (abs(tl) <= thr) + (abs(br) <= thr) + (abs(tr) <= thr) + (abs(bl) <= thr))
    return fly | ((n_valid >= 2) & (n_near == 0))


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def flying_pixels(depth, rel_thresh, out):
    """Drop pixels that lie strictly between two opposite neighbours far from both sides
    (mixed pixels), and isolated pixels whose valid neighbours are all far."""
    H, W = depth.shape
    for v in prange(H):
        for u in range(W):
            z = depth[v, u]
            out[v, u] = z
            if z == z and _flying_at(depth, v, u, z, rel_thresh * z):
                out[v, u] = np.nan


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def tof_finish(depth, rel_thresh, score, conf_c, status, out, out_conf):
    """:func:`flying_pixels` (when ``rel_thresh > 0``; dropped pixels get status 6) and the
    confidence ``score / (score + conf_c)`` of the pixels left (0 elsewhere), in one pass."""
    H, W = depth.shape
    for v in prange(H):
        for u in range(W):
            z = depth[v, u]
            if z == z and rel_thresh > 0.0 and _flying_at(depth, v, u, z, rel_thresh * z):
                z = np.nan
                status[v, u] = 6
            out[v, u] = z
            g = score[v, u]
            out_conf[v, u] = g / (g + conf_c) if z == z else 0.0


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def joint_bilateral(depth, guide, radius, sigma_s, sigma_g, rel_gate, out):
    """Smooth valid depth with weights from distance and guide (amplitude) similarity;
    neighbours farther than ``rel_gate * z`` in depth (another surface) and invalid ones are
    skipped, so NaNs never spread and edges stay sharp."""
    H, W = depth.shape
    inv_s = 1.0 / (2.0 * sigma_s * sigma_s)
    inv_g = 1.0 / (2.0 * sigma_g * sigma_g)
    for v in prange(H):
        for u in range(W):
            z = depth[v, u]
            if not (z == z):
                out[v, u] = np.nan
                continue
            g0 = guide[v, u]
            gate = rel_gate * z
            acc = 0.0
            wsum = 0.0
            for j in range(-radius, radius + 1):
                vv = v + j
                if vv < 0 or vv >= H:
                    continue
                for i in range(-radius, radius + 1):
                    uu = u + i
                    if uu < 0 or uu >= W:
                        continue
                    q = depth[vv, uu]
                    if not (q == q) or abs(q - z) > gate:
                        continue
                    dg = guide[vv, uu] - g0
                    w = math.exp(-(i * i + j * j) * inv_s - dg * dg * inv_g)
                    acc += w * q
                    wsum += w
            out[v, u] = acc / wsum


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, inline="always")
def _remap_at(depth, x, y, rel_gate):
    """(value, row, column of the nearest source pixel) of :func:`remap_depth` at (x, y);
    row -1 outside the image."""
    Hs, Ws = depth.shape
    if not (x >= -0.5 and y >= -0.5 and x <= Ws - 0.5 and y <= Hs - 0.5):
        return np.nan, -1, -1
    xn = min(max(int(math.floor(x + 0.5)), 0), Ws - 1)
    yn = min(max(int(math.floor(y + 0.5)), 0), Hs - 1)
    x0 = int(math.floor(x))
    y0 = int(math.floor(y))
    fx = x - x0
    fy = y - y0
    if x0 >= 0 and y0 >= 0 and x0 + 1 < Ws and y0 + 1 < Hs:
        a = depth[y0, x0]
        b = depth[y0, x0 + 1]
        c = depth[y0 + 1, x0]
        d = depth[y0 + 1, x0 + 1]
        if a == a and b == b and c == c and d == d:
            lo = min(min(a, b), min(c, d))
            hi = max(max(a, b), max(c, d))
            spread = hi - lo
            if spread <= rel_gate * lo or (
                    spread <= 4.0 * rel_gate * lo
                    and abs(a + d - b - c) <= 0.25 * rel_gate * lo):
                # one surface (or a tilted plane: bilinear-consistent corners)
                return ((a * (1 - fx) + b * fx) * (1 - fy)
                        + (c * (1 - fx) + d * fx) * fy), yn, xn
            # else: a depth edge; which side this ray sees is unknown -> NaN
            return np.nan, yn, xn
    return depth[yn, xn], yn, xn


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def remap_depth(depth, map_x, map_y, rel_gate, out):
    """Resample depth at (map_x, map_y): bilinear where the four neighbours are valid and
    within ``rel_gate`` of each other (one surface) or up to four times that apart but
    consistent with a tilted plane; NaN where they straddle a depth edge; the nearest pixel
    where some are invalid; NaN outside."""
    H, W = out.shape
    for v in prange(H):
        for u in range(W):
            out[v, u] = _remap_at(depth, map_x[v, u], map_y[v, u], rel_gate)[0]


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def remap_depth_conf(depth, conf, map_x, map_y, rel_gate, out, out_conf):
    """:func:`remap_depth`, and `conf` at the nearest source pixel where the result is valid
    (0 elsewhere), in one pass."""
    H, W = out.shape
    for v in prange(H):
        for u in range(W):
            z, yn, xn = _remap_at(depth, map_x[v, u], map_y[v, u], rel_gate)
            out[v, u] = z
            out_conf[v, u] = conf[yn, xn] if z == z else 0.0


# ------------------------------------------------------------------------------------------
# Structured light
# ------------------------------------------------------------------------------------------
@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def sl_decode_axis(imgs, gray_idx, inv_idx, phase_idx, cos_t, sin_t, white, black,
                   period, n_cells, cell_width, min_contrast, min_modulation, saturation, size,
                   out_coord, out_mod):
    """Projector coordinate per camera pixel along one axis.

    Gray code (pattern vs its inverse) gives the cell (``cell_width = period / 2`` pixels);
    the period index is the one that puts ``k * period + phase position`` nearest the cell's
    centre (this corrects off-by-one-period errors at boundaries).  NaN where the white/black
    contrast is below ``min_contrast`` (shadow), a phase image is saturated, the mean
    pattern/inverse difference or the sinusoid's amplitude is below ``min_modulation`` of the
    contrast (``out_mod`` holds the smaller ratio), or the result falls outside its Gray cell
    by more than a quarter cell (a wrong Gray bit).
    """
    H, W = white.shape
    nb = gray_idx.shape[0]
    N = phase_idx.shape[0]
    for v in prange(H):
        for u in range(W):
            out_coord[v, u] = np.nan
            out_mod[v, u] = 0.0
            contrast = float(white[v, u]) - float(black[v, u])
            if not (contrast >= min_contrast):
                continue
            g = 0
            gsum = 0.0
            for b in range(nb):
                p = float(imgs[gray_idx[b], v, u])
                q = float(imgs[inv_idx[b], v, u])
                g = (g << 1) | (1 if p > q else 0)
                gsum += abs(p - q)
            gmod = gsum / (nb * contrast)     # ~1 when the stripes are crisp
            out_mod[v, u] = gmod
            if gmod < min_modulation:         # washed-out stripes (interreflection, blur)
                continue
            cell = g
            shift = g >> 1
            while shift > 0:
                cell ^= shift
                shift >>= 1
            if cell >= n_cells:
                continue
            sc = 0.0
            si = 0.0
            sat = False
            for k in range(N):
                s = float(imgs[phase_idx[k], v, u])
                if s >= saturation:
                    sat = True
                sc += s * cos_t[k]
                si += s * sin_t[k]
            if sat:
                continue
            mod = 2.0 / N * math.sqrt(sc * sc + si * si)
            out_mod[v, u] = min(gmod, 2.0 * mod / contrast)
            if 2.0 * mod < min_modulation * contrast or mod <= 0.0:
                continue
            phi = phase_of(-si, sc)
            frac = phi / TWO_PI * period
            centre = (cell + 0.5) * cell_width - 0.5
            kk = math.floor((centre - frac) / period + 0.5)
            x = kk * period + frac
            if abs(x - centre) > 0.75 * cell_width:
                continue
            if x < -0.5 or x > size - 0.5:
                continue
            out_coord[v, u] = x


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def sl_triangulate_plane(col, rays, R, T, fx, cx, out):
    """z of the intersection of each camera ray with its projector column's plane
    ``n . (R x + T) = 0``, ``n = (1, 0, -(col - cx) / fx)``; NaN where undecided."""
    H, W = col.shape
    for v in prange(H):
        for u in range(W):
            c = col[v, u]
            out[v, u] = np.nan
            if not (c == c):
                continue
            n2 = -(c - cx) / fx
            dx = rays[v, u, 0]
            dy = rays[v, u, 1]
            dz = rays[v, u, 2]
            # n . (R d) and n . T
            rd0 = R[0, 0] * dx + R[0, 1] * dy + R[0, 2] * dz
            rd2 = R[2, 0] * dx + R[2, 1] * dy + R[2, 2] * dz
            den = rd0 + n2 * rd2
            num = -(T[0] + n2 * T[2])
            if den == 0.0:
                continue
            t = num / den
            if t > 0.0:
                out[v, u] = t * dz


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def sl_triangulate_rays(xn, yn, rays, R, T, out):
    """z of the midpoint between each camera ray and the projector ray through normalised
    projector coordinates (xn, yn); NaN where undecided."""
    H, W = xn.shape
    c0 = -(R[0, 0] * T[0] + R[1, 0] * T[1] + R[2, 0] * T[2])
    c1 = -(R[0, 1] * T[0] + R[1, 1] * T[1] + R[2, 1] * T[2])
    c2 = -(R[0, 2] * T[0] + R[1, 2] * T[1] + R[2, 2] * T[2])
    for v in prange(H):
        for u in range(W):
            x = xn[v, u]
            y = yn[v, u]
            out[v, u] = np.nan
            if not (x == x) or not (y == y):
                continue
            # projector ray direction in the camera frame: R^T (x, y, 1)
            e0 = R[0, 0] * x + R[1, 0] * y + R[2, 0]
            e1 = R[0, 1] * x + R[1, 1] * y + R[2, 1]
            e2 = R[0, 2] * x + R[1, 2] * y + R[2, 2]
            ne = math.sqrt(e0 * e0 + e1 * e1 + e2 * e2)
            e0 /= ne
            e1 /= ne
            e2 /= ne
            d0 = rays[v, u, 0]
            d1 = rays[v, u, 1]
            d2 = rays[v, u, 2]
            b = d0 * e0 + d1 * e1 + d2 * e2
            dd = d0 * c0 + d1 * c1 + d2 * c2
            ee = e0 * c0 + e1 * c1 + e2 * c2
            den = 1.0 - b * b
            if den <= 1e-12:
                continue
            t = (dd - b * ee) / den
            s = (b * dd - ee) / den
            if t > 0.0 and s > 0.0:
                # midpoint of the two closest points
                out[v, u] = 0.5 * (t * d2 + c2 + s * e2)
