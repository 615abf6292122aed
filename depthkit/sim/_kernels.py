"""Numba kernels of the simulator: hashed 3D value noise (solid textures).

Kernels assume valid, C-contiguous input and do no validation (see ``textures.py``).
Only the heavy per-pixel kernels (texture noise) run in parallel; the light ones are serial,
which is faster than waking threads on a busy machine.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._numba import CACHE, FASTMATH

# lattice hash: a linear combination of the coordinates, then the splitmix64 finaliser
# (constants, never tuned at run time)
_HX = np.uint64(0x9E3779B97F4A7C15)
_HY = np.uint64(0xC2B2AE3D27D4EB4F)
_HZ = np.uint64(0x165667B19E3779F9)
_HS = np.uint64(0xD6E8FEB86659FD93)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, inline="always")
def _mix01(h):
    """splitmix64 finaliser -> float in [0, 1)."""
    h ^= h >> np.uint64(31)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(33)
    return float(np.int64(h >> np.uint64(11))) * (1.0 / 9007199254740992.0)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, inline="always")
def _fade(t):
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _noise1(x, y, z, seed):
    fx = np.floor(x)
    fy = np.floor(y)
    fz = np.floor(z)
    ix = np.int64(fx)
    iy = np.int64(fy)
    iz = np.int64(fz)
    tx = _fade(x - fx)
    ty = _fade(y - fy)
    tz = _fade(z - fz)
    # offset so the lattice indices are positive: h(ix + 1) == h(ix) + _HX holds everywhere
    # (masking negatives would break it at 0 and leave seams along the world planes)
    h = (np.uint64(ix + 2147483648) * _HX + np.uint64(iy + 2147483648) * _HY
         + np.uint64(iz + 2147483648) * _HZ + np.uint64(seed) * _HS)
    c000 = _mix01(h)
    c100 = _mix01(h + _HX)
    c010 = _mix01(h + _HY)
    c110 = _mix01(h + _HX + _HY)
    c001 = _mix01(h + _HZ)
    c101 = _mix01(h + _HX + _HZ)
    c011 = _mix01(h + _HY + _HZ)
    c111 = _mix01(h + _HX + _HY + _HZ)
    x00 = c000 + tx * (c100 - c000)
    x10 = c010 + tx * (c110 - c010)
    x01 = c001 + tx * (c101 - c001)
    x11 = c011 + tx * (c111 - c011)
    y0 = x00 + ty * (x10 - x00)
    y1 = x01 + ty * (x11 - x01)
    return y0 + tz * (y1 - y0)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def value_noise(points, seeds, freqs, amps, footprint, out):
    """Multi-octave value noise at `points` (N, 3) float64 -> `out` (N,) float32 in [0, 1].

    ``seeds`` (N,) int64 per point (object texture seed); ``freqs``/``amps`` (K,) float64 octave
    frequencies (1/m) and weights; ``footprint`` (N,) float64 pixel size in metres at the point
    (0 = no filtering): octaves finer than ~2 pixels fade to their mean (0.5) so that no view
    aliases the texture.
    """
    n = points.shape[0]
    k = freqs.shape[0]
    total = 0.0
    for j in range(k):
        total += amps[j]
    for i in prange(n):
        s = seeds[i]
        fp = footprint[i]
        acc = 0.0
        for j in range(k):
            f = freqs[j]
            w = 1.0
            if fp > 0.0:
                w = (1.0 / (f * fp) - 2.0) * 0.5
                if w <= 0.0:
                    acc += amps[j] * 0.5
                    continue
                if w > 1.0:
                    w = 1.0
            v = _noise1(points[i, 0] * f + 0.37 * j, points[i, 1] * f - 0.71 * j,
                        points[i, 2] * f + 0.13 * j, s * 7919 + j)
            acc += amps[j] * (w * v + (1.0 - w) * 0.5)
        out[i] = acc / total


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def make_rays(dirs_cam, rot, origin, rays):
    """Camera-frame unit directions (N, 3) float64 -> world rays (N, 6) float32 (o, R @ d)."""
    n = dirs_cam.shape[0]
    for i in range(n):
        x = dirs_cam[i, 0]
        y = dirs_cam[i, 1]
        z = dirs_cam[i, 2]
        rays[i, 0] = origin[0]
        rays[i, 1] = origin[1]
        rays[i, 2] = origin[2]
        for r in range(3):
            rays[i, 3 + r] = rot[r, 0] * x + rot[r, 1] * y + rot[r, 2] * z


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _octaves(x, y, z, seed, freqs, amps, fp):
    acc = 0.0
    total = 0.0
    for j in range(freqs.shape[0]):
        f = freqs[j]
        total += amps[j]
        w = 1.0
        if fp > 0.0:
            w = (1.0 / (f * fp) - 2.0) * 0.5
            if w <= 0.0:
                acc += amps[j] * 0.5
                continue
            if w > 1.0:
                w = 1.0
        v = _noise1(x * f + 0.37 * j, y * f - 0.71 * j, z * f + 0.13 * j, seed * 7919 + j)
        acc += amps[j] * (w * v + (1.0 - w) * 0.5)
    return acc / total


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, inline="always")
def _noise1_inl(x, y, z, seed):
    """:func:`_noise1` inlined into the caller, so that a loop over points vectorises."""
    fx = np.floor(x)
    fy = np.floor(y)
    fz = np.floor(z)
    ix = np.int64(fx)
    iy = np.int64(fy)
    iz = np.int64(fz)
    tx = _fade(x - fx)
    ty = _fade(y - fy)
    tz = _fade(z - fz)
    h = (np.uint64(ix + 2147483648) * _HX + np.uint64(iy + 2147483648) * _HY
         + np.uint64(iz + 2147483648) * _HZ + np.uint64(seed) * _HS)
    c000 = _mix01(h)
    c100 = _mix01(h + _HX)
    c010 = _mix01(h + _HY)
    c110 = _mix01(h + _HX + _HY)
    c001 = _mix01(h + _HZ)
    c101 = _mix01(h + _HX + _HZ)
    c011 = _mix01(h + _HY + _HZ)
    c111 = _mix01(h + _HX + _HY + _HZ)
    x00 = c000 + tx * (c100 - c000)
    x10 = c010 + tx * (c110 - c010)
    x01 = c001 + tx * (c101 - c001)
    x11 = c011 + tx * (c111 - c011)
    y0 = x00 + ty * (x10 - x00)
    y1 = x01 + ty * (x11 - x01)
    return y0 + tz * (y1 - y0)


# error_model="numpy": no zero-division checks in the loop (they stop it from vectorising;
# footprints are > 0 wherever they divide)
@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, error_model="numpy")
def _octave_add(px, py, pz, seed, fp, m, f, a, j, out):
    """out[:m] += a * (octave j of the noise at frequency f, faded by the footprint)."""
    ox = 0.37 * j
    oy = 0.71 * j
    oz = 0.13 * j
    for i in range(m):
        q = fp[i]
        w = (1.0 / (f * q) - 2.0) * 0.5
        w = min(max(w, 0.0), 1.0)
        w = w if q > 0.0 else 1.0
        v = _noise1_inl(px[i] * f + ox, py[i] * f - oy, pz[i] * f + oz, seed[i] * 7919 + j)
        out[i] += a * (w * v + (1.0 - w) * 0.5)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, error_model="numpy")
def _octaves_block(px, py, pz, seed, fp, m, freqs, amps, out):
    """:func:`_octaves` for m points at once (octave by octave, so that the loop over points
    vectorises); an octave faded out at every point is not evaluated."""
    qmin = np.inf
    for i in range(m):
        qmin = min(qmin, fp[i])
    total = 0.0
    for i in range(m):
        out[i] = 0.0
    for j in range(freqs.shape[0]):
        f = freqs[j]
        total += amps[j]
        # w falls with the footprint, so the smallest one decides whether any point needs it
        if qmin > 0.0 and (1.0 / (f * qmin) - 2.0) * 0.5 <= 0.0:
            for i in range(m):
                out[i] += amps[j] * 0.5
            continue
        _octave_add(px, py, pz, seed, fp, m, f, amps[j], j, out)
    for i in range(m):
        out[i] = out[i] / total


#: Pixels per block of :func:`shade_hits` (texture noise is evaluated block by block).
_BLOCK = 512


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def shade_hits(rays, t, gid_raw, prim_normals, light, ambient, kind, seeds, c1, c2,
               freqs, amps, tfreqs, tamps, fine_gain, tint_gain, pixel_angle, do_texture,
               points, normals, gid, shading, rgb, albedo):
    """Everything per hit after the ray cast, in one pass.

    rays (N, 6) f32; t (N,) f32 (inf = miss); gid_raw (N,) u32; prim_normals (N, 3) f32;
    light (3,) f64 unit; kind/seeds/c1/c2 per geometry (0 = noise, 1 = checker, 2 = plain);
    pixel_angle (N,) f64 (0 = no anti-aliasing).  Writes points (N, 3) f64 (NaN on a miss),
    normals (N, 3) f32 facing the ray, gid (N,) i32 (-1 on a miss), shading (N,) f32 and, if
    do_texture, rgb (N, 3) f32 and albedo (N,) f32 (their mean); checker objects are left at 0
    for the caller.  Runs in blocks of pixels: geometry per pixel, then the noise of the
    block's noise-textured hits octave by octave (vectorised).
    """
    n = t.shape[0]
    nb = (n + _BLOCK - 1) // _BLOCK
    for b in prange(nb):
        lo = b * _BLOCK
        hi = min(n, lo + _BLOCK)
        # noise-textured hits of this block, packed
        sel = np.empty(_BLOCK, np.int64)
        qx = np.empty(_BLOCK, np.float64)
        qy = np.empty(_BLOCK, np.float64)
        qz = np.empty(_BLOCK, np.float64)
        qs = np.empty(_BLOCK, np.int64)
        qf = np.empty(_BLOCK, np.float64)
        m = 0
        for i in range(lo, hi):
            ti = t[i]
            if not np.isfinite(ti):
                gid[i] = -1
                shading[i] = 0.0
                for c in range(3):
                    points[i, c] = np.nan
                    normals[i, c] = 0.0
                    if do_texture:
                        rgb[i, c] = 0.0
                if do_texture:
                    albedo[i] = 0.0
                continue
            g = np.int64(gid_raw[i])
            gid[i] = g
            nx = prim_normals[i, 0]
            ny = prim_normals[i, 1]
            nz = prim_normals[i, 2]
            if nx * rays[i, 3] + ny * rays[i, 4] + nz * rays[i, 5] > 0:
                nx = -nx
                ny = -ny
                nz = -nz
            normals[i, 0] = nx
            normals[i, 1] = ny
            normals[i, 2] = nz
            lam = nx * light[0] + ny * light[1] + nz * light[2]
            if lam < 0.0:
                lam = 0.0
            shading[i] = ambient + (1.0 - ambient) * lam
            px = np.float64(rays[i, 0]) + np.float64(ti) * rays[i, 3]
            py = np.float64(rays[i, 1]) + np.float64(ti) * rays[i, 4]
            pz = np.float64(rays[i, 2]) + np.float64(ti) * rays[i, 5]
            points[i, 0] = px
            points[i, 1] = py
            points[i, 2] = pz
            if not do_texture:
                continue
            k = kind[g]
            if k == 2:
                acc = 0.0
                for c in range(3):
                    rgb[i, c] = c1[g, c]
                    acc += c1[g, c]
                albedo[i] = acc / 3.0
            elif k == 0:
                sel[m] = i
                qx[m] = px
                qy[m] = py
                qz[m] = pz
                qs[m] = seeds[g]
                qf[m] = ti * pixel_angle[i]
                m += 1
            else:
                for c in range(3):
                    rgb[i, c] = 0.0
                albedo[i] = 0.0
        if m == 0:
            continue
        fine = np.empty(m, np.float64)
        _octaves_block(qx, qy, qz, qs, qf, m, freqs, amps, fine)
        for r in range(m):
            qs[r] += 77
            qf[r] = 0.0
        tint = np.empty(m, np.float64)
        _octaves_block(qx, qy, qz, qs, qf, m, tfreqs, tamps, tint)
        for r in range(m):
            i = sel[r]
            g = np.int64(gid_raw[i])
            fv = 0.5 + (fine[r] - 0.5) * fine_gain
            fv = min(max(fv, 0.0), 1.0)
            tv = 0.5 + (tint[r] - 0.5) * tint_gain
            tv = min(max(tv, 0.0), 1.0)
            a = 0.2 + 0.8 * fv
            acc = 0.0
            for c in range(3):
                v = (c1[g, c] * (1.0 - tv) + c2[g, c] * tv) * a
                v = min(max(v, 0.0), 1.0)
                rgb[i, c] = v
                acc += v
            albedo[i] = acc / 3.0


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def visibility_rays(points, center, w2c, fx, fy, cx, cy, width, height, rays, dist):
    """Rays from `center` (3,) to each world point (N, 3) f64 (NaN = none) for a visibility
    test against a pinhole view (`w2c` 3x4, fx, fy, cx, cy, size).  Writes rays (N, 6) f32 and
    dist (N,) f64: the distance to the point, or -1 where the point is missing or projects
    outside the view (then it is not visible whatever the cast finds)."""
    n = points.shape[0]
    for i in range(n):
        px = points[i, 0]
        py = points[i, 1]
        pz = points[i, 2]
        rays[i, 0] = center[0]
        rays[i, 1] = center[1]
        rays[i, 2] = center[2]
        if not np.isfinite(px):
            rays[i, 3] = 0.0
            rays[i, 4] = 0.0
            rays[i, 5] = 1.0
            dist[i] = -1.0
            continue
        dx = px - center[0]
        dy = py - center[1]
        dz = pz - center[2]
        d = np.sqrt(dx * dx + dy * dy + dz * dz)
        rays[i, 3] = dx / d
        rays[i, 4] = dy / d
        rays[i, 5] = dz / d
        qx = w2c[0, 0] * px + w2c[0, 1] * py + w2c[0, 2] * pz + w2c[0, 3]
        qy = w2c[1, 0] * px + w2c[1, 1] * py + w2c[1, 2] * pz + w2c[1, 3]
        qz = w2c[2, 0] * px + w2c[2, 1] * py + w2c[2, 2] * pz + w2c[2, 3]
        ok = qz > 0.0
        if ok:
            u = fx * qx / qz + cx
            v = fy * qy / qz + cy
            ok = (u >= -0.5) and (u <= width - 0.5) and (v >= -0.5) and (v <= height - 0.5)
        dist[i] = d if ok else -1.0


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def view_maps(t, dz, normals_world, rot, depth, normals_cam):
    """z-depth (N,) f32 (NaN on a miss) from ray lengths `t` and the camera-frame z of each unit
    ray `dz`; normals rotated into the camera frame (``rot`` = cam2world rotation)."""
    n = t.shape[0]
    for i in range(n):
        ti = t[i]
        depth[i] = ti * dz[i] if np.isfinite(ti) else np.nan
        x = normals_world[i, 0]
        y = normals_world[i, 1]
        z = normals_world[i, 2]
        for r in range(3):
            normals_cam[i, r] = rot[0, r] * x + rot[1, r] * y + rot[2, r] * z


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def expose(radiance, shading, vignette, gain, k_shot, read_var, noise, seed, out):
    """Sensor model: radiance (N, C) f32 -> out (N, C) uint8.

    ``grey = gain * vignette[i] * (radiance * shading[i])`` (the product in float32, as numpy
    forms it; shading (N,) or (1,) = none; vignette (N,) or (1,) = none), plus, if `noise`,
    noise of variance ``k_shot * grey + read_var`` (shot + read; near-Gaussian, the sum of four
    uniforms) from a counter-based generator keyed on (seed, pixel, channel), so results do not
    depend on the thread count.
    """
    n = radiance.shape[0]
    nc = radiance.shape[1]
    nv = vignette.shape[0]
    shaded = shading.shape[0] == n
    m16 = np.uint64(0xFFFF)
    for i in range(n):
        v = vignette[i] if nv == n else vignette[0]
        for c in range(nc):
            r = radiance[i, c] * shading[i] if shaded else radiance[i, c]
            g = gain * v * r
            if noise:
                var = k_shot * max(g, 0.0) + read_var
                # sum of four 16-bit uniforms (Irwin-Hall): near-Gaussian, one hash
                h = np.uint64(i * 4 + c) * _HX + np.uint64(seed) * _HS
                h ^= h >> np.uint64(31)
                h *= np.uint64(0xBF58476D1CE4E5B9)
                h ^= h >> np.uint64(27)
                h *= np.uint64(0x94D049BB133111EB)
                h ^= h >> np.uint64(33)
                u = (float(h & m16) + float((h >> np.uint64(16)) & m16)
                     + float((h >> np.uint64(32)) & m16) + float(h >> np.uint64(48)))
                z = (u * (1.0 / 65536.0) - 2.0) * 1.7320508075688772  # mean 0, variance 1
                g += np.sqrt(var) * z
            g = np.floor(g + 0.5)
            if g < 0.0:
                g = 0.0
            elif g > 255.0:
                g = 255.0
            out[i, c] = np.uint8(g)


# serial twin of shade_hits for light work (no texture, small images): waking threads costs
# more than it saves there, above all on a busy machine
shade_hits_serial = njit(cache=CACHE, fastmath=FASTMATH, nogil=True)(shade_hits.py_func)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def occlusion_from_right(z, disp, gid, z_right, gid_right, rel_tol, out):
    """Classify rectified-left pixels by the rectified right view's depth (same rows, same z
    axis): out = 0 visible, 1 hidden or outside the right view, 2 undecided (ask a ray cast).

    Visible: both right pixels around ``x - d`` show the same object with depths bracketing z.
    Hidden: both show another object, nearer than z.  Anything else (edges, self-occlusion,
    grazing surfaces) is 2.
    """
    h, w = z.shape
    for y in range(h):
        for x in range(w):
            zi = z[y, x]
            if not np.isfinite(zi):
                out[y, x] = 1
                continue
            xr = x - disp[y, x]
            if xr < -0.5 or xr > w - 0.5:
                out[y, x] = 1
                continue
            x0 = int(np.floor(xr))
            x1 = x0 + 1
            if x0 < 0 or x1 > w - 1:                 # within half a pixel of the border
                out[y, x] = 2
                continue
            a = z_right[y, x0]
            b = z_right[y, x1]
            tol = rel_tol * zi
            if not (np.isfinite(a) and np.isfinite(b)):
                out[y, x] = 2
            elif (a < zi - tol and b < zi - tol and gid_right[y, x0] != gid[y, x]
                  and gid_right[y, x1] != gid[y, x]):
                out[y, x] = 1
            elif (gid_right[y, x0] == gid[y, x] and gid_right[y, x1] == gid[y, x]
                  and min(a, b) <= zi + tol and max(a, b) >= zi - tol):
                out[y, x] = 0
            else:
                out[y, x] = 2


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def projector_rays(points, center, w2p, fx, fy, cx, cy, rays, dist, u, v):
    """For each world point (N, 3) f64 (NaN = none): the ray from the projector `center`,
    its length `dist` (-1 = none) and its pattern coordinates `u`, `v` (f32; -1e6 = none)."""
    n = points.shape[0]
    for i in range(n):
        px = points[i, 0]
        py = points[i, 1]
        pz = points[i, 2]
        rays[i, 0] = center[0]
        rays[i, 1] = center[1]
        rays[i, 2] = center[2]
        u[i] = -1e6
        v[i] = -1e6
        dist[i] = -1.0
        if not np.isfinite(px):
            rays[i, 3] = 0.0
            rays[i, 4] = 0.0
            rays[i, 5] = 1.0
            continue
        dx = px - center[0]
        dy = py - center[1]
        dz = pz - center[2]
        d = np.sqrt(dx * dx + dy * dy + dz * dz)
        rays[i, 3] = dx / d
        rays[i, 4] = dy / d
        rays[i, 5] = dz / d
        qx = w2p[0, 0] * px + w2p[0, 1] * py + w2p[0, 2] * pz + w2p[0, 3]
        qy = w2p[1, 0] * px + w2p[1, 1] * py + w2p[1, 2] * pz + w2p[1, 3]
        qz = w2p[2, 0] * px + w2p[2, 1] * py + w2p[2, 2] * pz + w2p[2, 3]
        if qz > 1e-6:
            u[i] = fx * qx / qz + cx
            v[i] = fy * qy / qz + cy
            dist[i] = d


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def projector_light(pattern, t, dist, rays, normals, albedo, power, out):
    """Irradiance of the dots (N,) f32: ``power * pattern * albedo * cos / r^2`` where the point
    is the first surface the projector ray meets (else 0: a projector shadow)."""
    n = t.shape[0]
    for i in range(n):
        d = dist[i]
        out[i] = 0.0
        if d <= 0.0 or t[i] < d - (1e-3 + 1e-4 * d):
            continue
        c = -(normals[i, 0] * rays[i, 3] + normals[i, 1] * rays[i, 4]
              + normals[i, 2] * rays[i, 5])
        if c <= 0.0:
            continue
        r = max(d, 0.05)
        out[i] = power * pattern[i] * albedo[i] * c / (r * r)
