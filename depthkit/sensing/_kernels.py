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


_TAN_PI_12 = 0.2679491924311227     # tan(pi / 12)
_SQRT3 = 1.7320508075688772


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, inline="always")
def phase_of(y, x):
    """``atan2(y, x)`` in [0, 2 pi), to about 1e-10 rad, faster than libm's ``atan2``.

    Range reduction to ``|a| <= tan(pi/12)`` (octant symmetry, then the pi/6 addition
    formula) and the odd Taylor series to ``a^13``.
    """
    ax = abs(x)
    ay = abs(y)
    if ax >= ay:
        if ax == 0.0:
            return 0.0
        a = ay / ax
        swap = False
    else:
        a = ax / ay
        swap = True
    off = 0.0
    if a > _TAN_PI_12:
        a = (a * _SQRT3 - 1.0) / (a + _SQRT3)
        off = math.pi / 6.0
    s = a * a
    r = a * (1.0 + s * (-1.0 / 3.0 + s * (0.2 + s * (-1.0 / 7.0 + s * (1.0 / 9.0 + s * (
        -1.0 / 11.0 + s * (1.0 / 13.0)))))))
    r += off
    if swap:
        r = 0.5 * math.pi - r
    if x < 0.0:
        r = math.pi - r
    if y < 0.0:
        r = TWO_PI - r
    if r >= TWO_PI:
        r -= TWO_PI
    return r


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
    ko = np.empty(M)
    kr = np.empty(M)
    for j in range(M):
        ko[j] = k_m[order[j]]
        kr[j] = k_m[order[j]] / TWO_PI
    inv_k_ref = 1.0 / k_m[ref]
    for v in prange(H):
        phi = np.empty(M)
        wt = np.empty(M)
        wk = np.empty(M)
        off = np.empty(M)
        ph_o = np.empty(M)
        wt_o = np.empty(M)
        for u in range(W):
            sat = False
            amin = 1e30
            isum = 0.0
            for m in range(M):
                si = 0.0
                sc = 0.0
                sb = 0.0
                for k in range(N):
                    s = raw[m, k, v, u]
                    if not (s < saturation and s > -1e30):   # clipped, or NaN / inf
                        sat = True
                    sc += s * cos_t[k]
                    si += s * sin_t[k]
                    sb += s
                a = 2.0 / N * math.sqrt(sc * sc + si * si)
                p = phase_of(-si, sc)
                b = sb / N
                phi[m] = p
                var = (max(b, 0.0) * inv_gain + read_var) * 2.0 / N
                wt[m] = a * a / var if var > 0.0 else a * a * 1e12
                out_phase[m, v, u] = p
                isum += b
                if a < amin:
                    amin = a
            out_amp[v, u] = amin
            out_int[v, u] = isum / M
            out_range[v, u] = np.nan
            out_z[v, u] = np.nan
            out_chi2[v, u] = np.nan
            out_margin[v, u] = 0.0
            if sat:
                out_status[v, u] = 1
                continue
            if not (amin >= amp_min) or amin <= 0.0:
                out_status[v, u] = 2
                continue
            # reference frequency first: order[0] == ref
            wk2 = 0.0
            for j in range(M):
                m = order[j]
                wk[j] = wt[m] * k_m[m]
                wk2 += wk[j] * k_m[m]
                off[j] = phi[m] / TWO_PI - 0.5
                ph_o[j] = phi[m]
                wt_o[j] = wt[m]
            inv_wk2 = 1.0 / wk2
            best = 1e300
            second = 1e300
            best_r = 0.0
            # candidate wrap counts of the reference frequency: all of them, or (CRT) only
            # those agreeing with the second frequency's wrap-difference integer
            n_pass = 1
            step = 1
            n_start = 0
            frac = 0.0
            kk = 0.0
            if crt_q > 1:
                dd = (crt_q * phi[crt_sec] - crt_p * phi[ref]) / TWO_PI
                kk = math.floor(dd + 0.5)
                frac = dd - kk
                step = crt_q
                n_pass = 2      # the nearer neighbouring integer too (for the margin test)
            for ps in range(n_pass):
                if crt_q > 1:
                    kc = int(kk) if ps == 0 else (int(kk) + 1 if frac > 0 else int(kk) - 1)
                    n_start = ((kc * crt_inv) % crt_q + crt_q) % crt_q
                for n in range(n_start, n_max + 1, step):
                    # unwrapped phases pm_j; weighted LS range r = sum(w k pm) / sum(w k^2);
                    # chi-square sum(w (pm - k r)^2) = sum(w pm^2) - r sum(w k pm)
                    p0 = ph_o[0] + TWO_PI * n
                    r0 = p0 * inv_k_ref
                    num = wk[0] * p0
                    sq = wt_o[0] * p0 * p0
                    for j in range(1, M):
                        pj = ph_o[j] + TWO_PI * math.floor(kr[j] * r0 - off[j])
                        num += wk[j] * pj
                        sq += wt_o[j] * pj * pj
                    r = num * inv_wk2
                    cost = max(sq - r * num, 0.0)
                    if cost < best:
                        second = best
                        best = cost
                        best_r = r
                    elif cost < second:
                        second = cost
            out_chi2[v, u] = best
            margin = min(second - best, 1e30)
            out_margin[v, u] = margin if M > 1 else 0.0
            if best > max_chi2:
                out_status[v, u] = 3
                continue
            if M > 1 and margin < min_margin:
                out_status[v, u] = 4
                continue
            if best_r <= 0.0 or best_r > max_range:
                out_status[v, u] = 5
                continue
            out_status[v, u] = 0
            out_range[v, u] = best_r
            out_z[v, u] = best_r * ray_z[v, u]


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def flying_pixels(depth, rel_thresh, out):
    """Drop pixels that lie strictly between two opposite neighbours far from both sides
    (mixed pixels), and isolated pixels whose valid neighbours are all far."""
    H, W = depth.shape
    dv = (0, 1, 1, 1)
    du = (1, 0, 1, -1)
    for v in prange(H):
        for u in range(W):
            z = depth[v, u]
            out[v, u] = z
            if not (z == z):
                continue
            thr = rel_thresh * z
            flying = False
            for d in range(4):
                va = v - dv[d]
                ua = u - du[d]
                vb = v + dv[d]
                ub = u + du[d]
                if va < 0 or vb >= H or ua < 0 or ua >= W or ub < 0 or ub >= W:
                    continue
                a = depth[va, ua]
                b = depth[vb, ub]
                if not (a == a) or not (b == b):
                    continue
                da = z - a
                db = z - b
                if da * db < 0.0 and abs(da) > thr and abs(db) > thr:
                    flying = True
                    break
            if not flying:
                n_valid = 0
                n_near = 0
                for j in range(-1, 2):
                    for i in range(-1, 2):
                        if i == 0 and j == 0:
                            continue
                        vv = v + j
                        uu = u + i
                        if vv < 0 or vv >= H or uu < 0 or uu >= W:
                            continue
                        q = depth[vv, uu]
                        if q == q:
                            n_valid += 1
                            if abs(q - z) <= thr:
                                n_near += 1
                if n_valid >= 2 and n_near == 0:
                    flying = True
            if flying:
                out[v, u] = np.nan


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


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def remap_depth(depth, map_x, map_y, rel_gate, out):
    """Resample depth at (map_x, map_y): bilinear where the four neighbours are valid and
    within ``rel_gate`` of each other (one surface) or up to four times that apart but
    consistent with a tilted plane; NaN where they straddle a depth edge; the nearest pixel
    where some are invalid; NaN outside."""
    H, W = out.shape
    Hs, Ws = depth.shape
    for v in prange(H):
        for u in range(W):
            x = map_x[v, u]
            y = map_y[v, u]
            out[v, u] = np.nan
            if not (x >= -0.5 and y >= -0.5 and x <= Ws - 0.5 and y <= Hs - 0.5):
                continue
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
                        out[v, u] = ((a * (1 - fx) + b * fx) * (1 - fy)
                                     + (c * (1 - fx) + d * fx) * fy)
                    # else: a depth edge; which side this ray sees is unknown -> NaN
                    continue
            xn = min(max(int(math.floor(x + 0.5)), 0), Ws - 1)
            yn = min(max(int(math.floor(y + 0.5)), 0), Hs - 1)
            out[v, u] = depth[yn, xn]


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
