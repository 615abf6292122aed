"""Numba kernels of the SGM matcher (private: no validation; :mod:`depthkit.stereo.sgm` validates).

Stages and data layout
----------------------
1. ``_census_planes`` - census transform of one row of a uint8 or float32 image (window up
   to 9x7, borders replicated) into byte planes, 64 pixels at a time; ``_cost_row`` joins
   them into uint32 or uint64 strings.
2. ``_cost_row`` / ``cost_bt`` - uint8 matching cost ``C[y, x, d]`` (Hamming distance of census
   strings, optionally plus a truncated gradient difference, or Birchfield-Tomasi). Disparities
   whose right pixel falls outside the image get ``invalid_cost``. ``_cost_row`` computes a
   row's census strings (both images) and its costs together: no census images in memory. It
   runs inside the aggregation tasks below (``cost_census_rows`` runs it on its own for
   ``sgm.cost_volume``). The tests hold these against numpy references
   (``tests/stereo/reference.py``), as every stage.
3. ``aggregate_rows`` - SGM path aggregation in two sweeps that each carry several directions
   at once: the *forward* sweep walks rows top to bottom and, inside a row, columns left to
   right, carrying the left->right, top-left, top and top-right paths; the *backward* sweep is
   its mirror image (``_sweep_row`` is the one row routine of both). The horizontal path only
   needs the previous pixel; the other three only the previous row, kept in per-row int16
   buffers ``(2, 3, W + 2, D2)`` that stay in cache (padding columns hold zeros = "a path
   starts here", padding disparities hold a large sentinel so ``d - 1``/``d + 1`` need no
   branches). Path costs are int16 and the sum volume ``S`` is uint16.
   The two sweeps run at the same time on two threads without touching the same rows: phase 1
   has the forward sweep on the top half and the backward sweep on the bottom half (each
   computes its rows' costs and *stores* its sums); phase 2 swaps halves (each *adds*), and
   whichever sweep completes a row also runs the winner-takes-all on it while it is still in
   cache (left disparity with uniqueness and sub-pixel offset, and the right view's disparity
   by the diagonal search, so no second aggregation), then the post-processing of step 4.
   Memory: phase 2 computes its rows' census costs again, a few rows ahead, into a ring of
   rows that also serves the box fit, instead of reading a cost volume (1 byte per pixel x
   disparity) that phase 1 would have written; the WTA maps are one row per task. The peak is
   the sum volume, 2 bytes per pixel x disparity, plus the row buffers (12 x W x D bytes per
   task) and about 16 bytes per pixel of images and outputs. Computing the costs twice cost
   the balanced preset about 8 % of its time when it came (A/B in one process, with the two
   speed-ups it came with: the vector border pixels of the Hamming costs and the vector box
   fit); the byte-plane census since then took back about half of that. The cost volume
   stays for the Birchfield-Tomasi cost, 16 paths (the knight-move sweeps read
   the costs a third time) and the single pass with a box fit.
   16 paths add two sweeps of the eight knight-move paths (``aggregate_knight_rows``: from
   the previous row two columns away and from two rows back one column away, the latter in a
   ring of three row buffers), in the same two phases.
   ``single_pass_band`` (3 or 5 paths) goes down a band of rows once: per row its costs, the
   right->left path into a row of sums, then the left->right, top (and top diagonal) paths
   added, then the WTA and step 4, with no cost or sum volume. Its bands start their
   row-to-row paths a few rows early and are chosen from the image height alone.
4. ``_lr_row`` - the LR check, the box sub-pixel fit and the speckle filter's int16 copy of one
   row, run on each row right after its WTA. ``cv2.filterSpeckles`` then runs on bands of rows
   at once, ``speckle_seams`` repairs the regions that cross the bands' seams (the result
   equals one call on the whole image) and ``speckle_back`` marks the removed pixels.
   ``fill_occlusions`` / ``median3`` / ``fill_background``: the optional post-processing,
   rows in parallel.

Parallelism: the big kernels work on a range of rows and run as tasks on Python threads
(:mod:`._parallel`; they release the GIL) instead of ``prange`` loops. Numba compiles each
``prange`` loop as a further function and optimises every kernel it calls once more with it:
that cost about 5 s of first-call compilation per kernel, and the default preset's first call
went from 33 s to 12-16 s without them, at the same speed (``bench_stereo`` in separate
processes). The stages are fused so that a matcher call starts few parallel regions (each
start waits until every thread gets a core, several ms on the loaded 2-core benchmark
machine): two for the two-sweep path sets, one for the single pass.

Vectorisation (checked with ``<kernel>.inspect_asm()`` with caching off, AVX-512 Xeon, numba
0.68 / LLVM 20):

- The path updates are written in explicit ``<32 x i16>`` vectors (:mod:`._simd`): each pixel
  updates all its directions 32 disparities at a time as straight-line ``vpminsw`` /
  ``vpaddw`` / ``vpsubw`` code (about 15 instructions per direction and chunk), the lanes past
  ``D`` of the last chunk use masked loads and stores, and the minimum of each direction is
  one ``vphminposuw`` reduction. The auto-vectorised loops this replaced paid their set-up
  (trip counts, runtime alias checks between the path rows, scalar remainders) for every
  direction at every pixel; the explicit form took the two sweeps from 1.28x to 0.91x of
  OpenCV 3WAY's whole run time on teddy (one thread, same process).
- The horizontal path reads the previous pixel's path, stored an instant before. Loading it at
  the offsets ``d - 1`` and ``d + 1`` straddled two stores, which cannot be forwarded (a stall
  each); it is loaded where it was stored and the neighbours come from lane shifts
  (``vpermt2w``).
- What is left in the sweeps is per-pixel work (the limits of each direction, offsets, the
  reductions, stack traffic for lack of registers): at D = 64 about 40 % of the sweep time.
  Compiling ``_sweep_row`` once per direction set (its flags are ``literally`` arguments, so
  numba prunes the other branches) instead of testing them at run time took the 4-path
  aggregation to 0.80x and the 3-path one to 0.83-0.96x (A/B in one process). Precomputing
  the edge-adapted P2 per row, and unsigned indices throughout the pixel header, changed
  nothing.
- The WTA (``_wta_row``) first transposes a row of sums to disparity-major in 16 x 16 blocks
  (``transpose16``: LLVM lowers the four shuffle stages to 16 ``vpermt2w`` + 16
  ``vpunpck*qdq``), then walks 16 pixels at a time with the keys ``(cost << 16) | d`` in
  ``<16 x i32>``: per disparity about 13 instructions (``vpmovzxwd``, shift, or, a
  ``vpcmpleud`` lane mask for right pixels outside the image, masked ``vpminud``) give both
  the left keys and the right view's keys (the same disparity row read ``d`` columns
  further). The pixel-major WTA it replaced built the keys per pixel and scattered the right
  keys, whose vectors overlapped the previous pixel's stores (it visited the columns 16 apart
  to let them line up); it took 8.5 ms on 375 rows of 450 x 64 sums against 6.8 ms (then:
  transposition ~25 %, keys ~40 %, the per-pixel sub-pixel fit and stores the rest), and
  15.0 against 8.0 ms with the uniqueness test, which is one more vector pass here. The
  sub-pixel fit now runs on the same 16 lanes (``wta_finish16``, the winners' neighbouring
  sums gathered): 0.92x the WTA's time at D = 64, 0.78x at D = 16.
- The left-right check (``_lr_row``) runs 16 pixels at a time (``lr_check16``: the pixels'
  disparities and their right pixels ``floor(x - v)`` in vectors, the two right keys fetched
  with ``vpgatherqd``); as a per-pixel loop its data-dependent branches cost about 25 cycles a
  pixel. With the int16 copy it went from 2.0-3.8 to 0.4-1.2 ms on teddy (one thread), and
  the fast preset to 0.92x its time (A/B in one process). The truncated-cost test and the box
  sub-pixel fit follow as scalar passes over the pixels they concern.
- Compile time: a slice assignment (``o[:] = row``) pulls in numba's generic broadcasting
  code; in ``_lr_row`` it took the first call of the default matcher from 12 to 20 s. The
  kernels copy with loops.
- Slicing an array per pixel costs reference counting, and a signed index that might be
  negative gets wrap-around code, which turns contiguous loads into gathers
  (``vpextrq``/``vpinsrw``); the hot loops take flat arrays with uint64 offsets (every term
  uint64: numba turns ``uint64 + int64`` into float64, which also gives gathers).
- The census walks a row in groups of 64 pixels and keeps byte plane ``j`` of their strings
  (bits ``8 j .. 8 j + 7``) in one 512-bit register while its 8 compares are added in: per
  bit one ``vpcmpub`` (uint8 images; four ``vcmpltps`` for float32) into a mask register and
  a masked ``vpaddb``. The planes are then joined into one string per pixel (a vectorised
  loop). Its images carry replicated padding columns (``sgm.census_padded``), so no border
  cases remain. Census of teddy, both images (one thread): 9x7 1.4-1.7 ms with 16-pixel
  groups of uint32 strings (a shift and an or per bit), 0.6-0.9 ms as planes; 5x5 0.5-0.8
  against 0.3-0.55 ms. A Hamming loop on the planes themselves (a ``vpopcntb`` per plane and
  64 disparities) was slower than on the joined strings (1.1-1.3x the cost rows' time).
  Census strings of at most 32 bits (5x5 as in the fast preset, or the centre-symmetric
  9x7) are held in uint32.
  ``_cost_row`` computes 32 disparities at a time in explicit vectors (``vpopxor``:
  ``vpopcntd``/``vpopcntq``); the auto-vectorised per-pixel loop it replaced took about 2
  cycles per disparity.

Where the time goes (teddy 450 x 375, D = 64, fast preset, one thread, each stage added in
turn to a loop over the rows; two runs on the noisy benchmark machine): census costs 3.0-5.4
ms, right->left pass 2.8-3.5 ms, left->right + top 3.6-4.1 ms, WTA 4.5-5.9 ms, LR check and
int16 copy 2.6-3.8 ms (0.4-1.2 ms since it runs in vectors). ``cv2.filterSpeckles`` runs on
one band of rows per thread (``sgm._filter_speckles``; a parallel union-find in numba gave
the same regions but took twice as long as OpenCV's serial filter).
"""

from __future__ import annotations

import numpy as np
from numba import literally, njit, prange

from .._numba import CACHE, FASTMATH
from ._simd import (
    CENSUS_GROUP,
    CENSUS_LANES,
    LANES,
    box_fit16,
    bstore,
    bzero,
    census_bits,
    fstore_n,
    lr_check16,
    transpose16,
    ukey_min,
    ulanes,
    uload16,
    usecond_min,
    usplat,
    ustore,
    vadd,
    vhmin,
    vload,
    vload_n,
    vmin,
    vpopxor,
    vpopxor_grad,
    vshift_down,
    vshift_up,
    vsplat,
    vstore,
    vstore_n,
    vsub,
    wta_finish16,
)

BIG = 0x3FFF  # int16 sentinel for out-of-range disparities in the path buffers


# --------------------------------------------------------------------------------------------
# guide image


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def guide_u8(img):
    """``uint8(clip(img + 0.5, 0, 255))``: the grey image that steers the edge-adapted P2 (one
    serial pass; numpy took three, 2 ms on a KITTI frame)."""
    H, W = img.shape
    out = np.empty((H, W), np.uint8)
    for y in range(H):
        for x in range(W):
            v = min(max(img[y, x] + np.float32(0.5), np.float32(0.0)), np.float32(255.0))
            out[y, x] = np.uint8(np.int32(v))  # via int32: a direct float->uint8 is slower
    return out


# --------------------------------------------------------------------------------------------
# matching cost


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _fill_invalid(o, dlo, dhi, inv):
    D = o.shape[0]
    for d in range(0, min(dlo, D)):
        o[d] = inv
    for d in range(max(dhi, 0), D):
        o[d] = inv


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _census_planes(img, y, wh, ww, sym, nbits, planes, o0, step):
    """Row `y`'s census strings as byte planes: bit `k` of pixel `x`'s string is bit ``k % 8``
    of ``planes[k // 8, o0 + step * x]`` with `step` 1 or -1 (reversed, so that the Hamming
    loop reads the right row forward); lanes past the width get garbage, and each plane
    needs room for whole groups of CENSUS_GROUP pixels (before ``o0`` when reversed).

    `img` is the uint8 or float32 image with its columns padded (``sgm.census_padded``:
    ``ww // 2`` replicated columns on the left, ``ww // 2 + CENSUS_GROUP`` on the right).
    CENSUS_GROUP pixels at a time, each bit is one compare of two vectors into a mask
    register (``vpcmpub`` for uint8) and a masked byte add of the bit into its plane (the
    bits are distinct, so adding is or-ing): about 2 instructions per bit for 64 pixels,
    where strings in 32-bit lanes took 4 per bit for 16 pixels. With `sym`, the
    centre-symmetric census: each neighbour before the centre (row by row) is compared with
    its mirror image through the centre, ``I(p + o) < I(p - o)``, which gives half the bits
    (31 for 9x7) from half the comparisons (Spangenberg et al., "Large scale semi-global
    matching on the CPU", IV 2014).
    """
    H, Wp = img.shape
    ry = wh // 2
    rx = ww // 2
    W = Wp - 2 * rx - CENSUS_GROUP
    # flat offsets of the two pixels of each bit: neighbour, and the centre or the mirror
    offa = np.empty(nbits, np.uint64)
    offb = np.empty(nbits, np.uint64)
    k = 0
    for dy in range(-ry, ry + 1):
        if sym and dy > 0:
            break
        yy = min(max(y + dy, 0), H - 1)
        ym = min(max(y - dy, 0), H - 1) if sym else y
        for dx in range(-rx, rx + 1):
            if dy == 0 and dx == 0:
                if sym:
                    break  # the mirrors of the rest were compared already
                continue
            offa[k] = np.uint64(yy * Wp + rx + dx)
            offb[k] = np.uint64(ym * Wp + rx - dx if sym else ym * Wp + rx)
            k += 1
    flat = img.reshape(-1)
    pf = planes.reshape(-1)
    stride = planes.shape[1]
    for x0 in range(0, W, CENSUS_GROUP):
        xu = np.uint64(x0)
        for j in range((nbits + 7) // 8):
            acc = bzero()
            for b in range(min(8, nbits - 8 * j)):
                acc = census_bits(acc, flat, offa[8 * j + b] + xu, offb[8 * j + b] + xu,
                                  np.uint8(1 << b))
            if step < 0:
                bstore(pf, np.uint64(j * stride + o0 - x0 - (CENSUS_GROUP - 1)), acc, True)
            else:
                bstore(pf, np.uint64(j * stride + o0 + x0), acc, False)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _xgrad_row(img, y, rx, W, out, o0, step):
    """Horizontal gradient ``(I[x + 1] - I[x - 1]) / 2`` of row `y` (0 in the first and last
    column) of the padded image `img` (`rx` padding columns on the left) into
    ``out[o0 + step * x]``, in float32 as the reference computes it."""
    row = img[y]
    half = np.float32(0.5)
    for x in range(W):
        g = np.float32(0.0)
        if 0 < x < W - 1:
            g = (np.float32(row[rx + x + 1]) - np.float32(row[rx + x - 1])) * half
        out[o0 + step * x] = g


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _cost_row(job, y, orow):
    """Row `y` of the census cost into `orow` (W, D): both images' census strings of that row
    (:func:`_census_planes`, joined into uint32 or uint64 strings), then their Hamming
    distances (plus the gradient term).

    ``job`` is ``(imgl, imgr, wh, ww, min_disp, D, g_cap, g_weight, invalid_cost,
    symmetric)`` (see ``sgm.census_job``). The gradients of the gradient term are taken from
    the row of the padded images here (:func:`_xgrad_row`), not kept as images.
    """
    imgl, imgr, wh, ww, min_disp, D, g_cap, g_weight, invalid_cost, sym = job
    W = orow.shape[0]
    G = CENSUS_GROUP
    inv = np.uint8(invalid_cost)
    use_g = g_weight > 0.0
    nbits = (wh * ww - 1) // 2 if sym else wh * ww - 1
    npl = (nbits + 7) // 8
    short = nbits <= 32  # census strings fit in uint32
    nfull = D // LANES
    tail = D - nfull * LANES
    # the right row reversed, with room on both sides so that every disparity's lane reads
    # inside: pixels near the borders take the vector path too, and their disparities whose
    # right pixel is outside are overwritten with the invalid cost after it (the room holds
    # garbage)
    pad = max(0, -min_disp)
    nr = pad + W + max(0, min_disp + D)
    # byte planes (the right one reversed, with G more in front for the reversed stores of
    # the last group), then joined: plane j is byte j of the strings
    left = np.empty((npl, -(-W // G) * G), np.uint8)
    right = np.empty((npl, G + nr), np.uint8)
    one = np.int64(1)  # variables, not literals: one compiled version for both calls
    _census_planes(imgl, y, wh, ww, sym, nbits, left, one - one, one)
    _census_planes(imgr, y, wh, ww, sym, nbits, right, G + pad + W - 1, -one)
    if short:
        cl32 = np.zeros(W, np.uint32)
        crow32 = np.zeros(nr, np.uint32)
        for j in range(npl):
            sh = np.uint32(8 * j)
            for x in range(W):
                cl32[x] |= np.uint32(left[j, x]) << sh
            for i in range(nr):
                crow32[i] |= np.uint32(right[j, G + i]) << sh
        cl = np.empty(0, np.uint64)
        crow = np.empty(0, np.uint64)
    else:
        cl = np.zeros(W, np.uint64)
        crow = np.zeros(nr, np.uint64)
        for j in range(npl):
            sh = np.uint64(8 * j)
            for x in range(W):
                cl[x] |= np.uint64(left[j, x]) << sh
            for i in range(nr):
                crow[i] |= np.uint64(right[j, G + i]) << sh
        cl32 = np.empty(0, np.uint32)
        crow32 = np.empty(0, np.uint32)
    # the gradients: the left row's, and the right row's reversed and indexed like crow
    gl = np.zeros(W if use_g else 0, np.float32)
    grow = np.zeros(nr if use_g else 0, np.float32)
    if use_g:
        _xgrad_row(imgl, y, ww // 2, W, gl, one - one, one)
        _xgrad_row(imgr, y, ww // 2, W, grow, pad + W - 1, -one)
    orowf = orow.reshape(-1)
    # LANES disparities at a time in explicit vectors (vpopcntd / vpopcntq): the
    # auto-vectorised per-pixel loop paid its set-up at every pixel (2 cycles per disparity),
    # and the scalar loop it had at the borders took as long as the vectors
    for x in range(W):
        jo = np.uint64(pad + W - 1 - x + min_disp)
        of = np.uint64(x * D)
        gx = gl[x] if use_g else np.float32(0.0)
        for k in range(nfull + (1 if tail > 0 else 0)):
            ko = np.uint64(k * LANES)
            n = LANES if k < nfull else tail
            if use_g:
                if short:
                    v = vpopxor_grad(crow32, jo + ko, cl32[x], grow, gx, g_cap, g_weight, n)
                else:
                    v = vpopxor_grad(crow, jo + ko, cl[x], grow, gx, g_cap, g_weight, n)
            elif short:
                v = vpopxor(crow32, jo + ko, cl32[x], n)
            else:
                v = vpopxor(crow, jo + ko, cl[x], n)
            if k < nfull:
                vstore(orowf, of + ko, v)
            else:
                vstore_n(orowf, of + ko, v, tail)
        # disparities whose right pixel is outside the image
        dlo = min(max(0, x - min_disp - (W - 1)), D)
        dhi = max(min(D, x - min_disp + 1), dlo)
        if dlo > 0 or dhi < D:
            _fill_invalid(orow[x], dlo, dhi, inv)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def cost_census_rows(job, out, y0, y1):
    """The census costs of rows ``y0 .. y1 - 1`` of `out` (:func:`_cost_row`; one task of
    :func:`depthkit.stereo._parallel.run_tasks`).

    Each row's census strings are only needed by that row's costs, so they are computed into
    per-row buffers (the same values, computed once): no census images in memory, and the
    strings are in cache when the costs read them.
    """
    for y in range(y0, y1):
        _cost_row(job, y, out[y])


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def bt_minmax(img):
    """Per-pixel min and max of the pixel and its half-way interpolants to each side (BT)."""
    H, W = img.shape
    lo = np.empty((H, W), np.float32)
    hi = np.empty((H, W), np.float32)
    for y in prange(H):
        for x in range(W):
            c = img[y, x]
            a = (c + img[y, max(x - 1, 0)]) * np.float32(0.5)
            b = (c + img[y, min(x + 1, W - 1)]) * np.float32(0.5)
            lo[y, x] = min(c, min(a, b))
            hi[y, x] = max(c, max(a, b))
    return lo, hi


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _bt_row(o, a, la, ha, seg, loseg, hiseg, cap, n):
    zero = np.float32(0.0)
    for k in range(n):
        b = seg[k]
        d1 = max(zero, max(a - hiseg[k], loseg[k] - a))
        d2 = max(zero, max(b - ha, la - b))
        o[k] = np.uint8(min(min(d1, d2), cap))


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def cost_bt(il, ir_rev, lol, hil, lor_rev, hir_rev, min_disp, D, cap, invalid_cost, out):
    """Birchfield-Tomasi dissimilarity ``min(d(L->R), d(R->L))``, truncated and capped at `cap`.

    The right-image arrays are row-reversed, so the disparity loop reads forward.
    """
    H, W = il.shape
    inv = np.uint8(invalid_cost)
    fcap = np.float32(cap)
    for y in prange(H):
        for x in range(W):
            o = out[y, x]
            dlo = min(max(0, x - min_disp - (W - 1)), D)
            dhi = max(min(D, x - min_disp + 1), dlo)
            _fill_invalid(o, dlo, dhi, inv)
            n = dhi - dlo
            if n <= 0:
                continue
            j0 = W - 1 - x + min_disp + dlo
            _bt_row(o[dlo:dhi], il[y, x], lol[y, x], hil[y, x], ir_rev[y, j0:j0 + n],
                    lor_rev[y, j0:j0 + n], hir_rev[y, j0:j0 + n], fcap, n)


# --------------------------------------------------------------------------------------------
# aggregation


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _wta_row(Sr, min_disp, uniq, subpix, dint, dsub, rkey, scratch):
    """Winner-takes-all on one row ``Sr`` (W, D) of final sums.

    ``dint[x]`` gets the integer index (or -1 when not unique), ``dsub[x]`` the sub-pixel
    disparity, and ``rkey[W - 1 - xr]`` (x-reversed) the packed ``(cost << 16) | d`` minimum
    for the right view (over the left pixels ``x = xr + min_disp + d``).

    The sums are first transposed to disparity-major (16 x 16 blocks, :func:`transpose16`), so
    that for each disparity 16 neighbouring pixels are one vector: the left keys, the right
    keys (the same disparity row, read `d` columns further) and the uniqueness test's second
    best are then straight vertical minimums across pixels, with a lane mask for disparities
    whose right pixel lies outside the image; the winners' sub-pixel fits follow in the same
    vectors (:func:`wta_finish16`, the neighbouring sums gathered). In the pixel-major layout
    the right keys were a scatter whose vectors overlapped the previous pixel's stores at an
    offset of one.
    """
    W, D = Sr.shape
    T, keys = scratch
    TW = T.shape[1]
    lp = max(0, -min_disp)
    Sf = Sr.reshape(-1)
    Tf = T.reshape(-1)
    Du = np.uint64(D)
    TWu = np.uint64(TW)
    # T[d, lp + x] = Sr[x, d]
    nxb = W // 16
    for xb in range(nxb):
        x0 = xb * 16
        for d0 in range(0, D, 16):
            nr = min(16, D - d0)
            if (x0 + 15) * D + d0 + 16 <= W * D:
                transpose16(Sf, np.uint64(x0 * D + d0), Du, Tf, np.uint64(d0 * TW + lp + x0),
                            TWu, nr)
            else:  # the block would read past the row
                for i in range(16):
                    for r in range(nr):
                        T[d0 + r, lp + x0 + i] = Sr[x0 + i, d0 + r]
    for x in range(nxb * 16, W):
        for d in range(D):
            T[d, lp + x] = Sr[x, d]
    lim = np.uint32(W - 1)
    mx = np.uint32(0xFFFFFFFF)
    for x0 in range(0, W, CENSUS_LANES):
        # left pixel x = x0 + lane: right pixel x - min_disp - d in [0, W)
        tl = ulanes(np.uint32(x0 - min_disp), 1)
        # right pixel xr = x0 + lane: left pixel xr + min_disp + d in [0, W)
        tr = ulanes(np.uint32(W - 1 - min_disp - x0), -1)
        ol = np.uint64(lp + x0)
        orr = np.uint64(lp + x0 + min_disp)
        best = usplat(mx)
        rb = usplat(mx)
        for d in range(D):
            du = np.uint64(d) * TWu
            best = ukey_min(best, uload16(Tf, du + ol), np.uint32(d), tl, lim)
            rb = ukey_min(rb, uload16(Tf, du + orr + np.uint64(d)), np.uint32(d), tr, lim)
        ustore(keys, np.uint64(x0), rb)
        sec = best
        if uniq > 0:
            sec = usplat(np.uint32(0xFFFF))
            for d in range(D):
                sec = usecond_min(sec, uload16(Tf, np.uint64(d) * TWu + ol), np.uint32(d), tl,
                                  lim, best)
        wta_finish16(best, sec, Tf, lp + x0, TW, x0, min(CENSUS_LANES, W - x0), W, D, min_disp,
                     uniq, subpix, dint, dsub, 0)
    for xr in range(W):
        rkey[W - 1 - xr] = keys[xr]

@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _vstep(lm, l0, lp, c, p1v, limv, mprevv):
    """One SGM path update on LANES disparities: ``C + min(L[d], L[d+-1] + P1, min L + P2) - min L``
    from the previous pixel's path at ``d - 1`` (`lm`), ``d`` (`l0`) and ``d + 1`` (`lp`)."""
    t = vmin(vadd(vmin(lm, lp), p1v), limv)
    return vsub(vadd(c, vmin(l0, t)), mprevv)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _vpath(pf, po, c, p1v, limv, mprevv):
    """:func:`_vstep` with the previous path read from ``pf[po : po + LANES + 2]`` (``po + 1`` is
    the chunk's first disparity): three overlapping loads. For a path row written long before
    (the previous image row); the horizontal path, written one pixel earlier, would stall on
    store forwarding and shifts lanes instead (see :func:`_sweep_row`)."""
    one = np.uint64(1)
    return _vstep(vload(pf, po), vload(pf, po + one), vload(pf, po + one + one), c, p1v, limv,
                  mprevv)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _sweep_row(Cf, Sf, g, gp, p2lut, P1, s, Lbuf, Mbuf, par, hbuf, horiz, vert, diag, sums):
    """The paths of one row, walked in column direction `s` (+1 left to right, -1 back).

    Directions: the horizontal path from the side the walk starts on (``horiz``), and from the
    previous row (``gp`` its guide, ``Lbuf[par]`` its paths) the vertical path (``vert``) and the
    two diagonals (``diag``); every pixel updates all of them at once, LANES disparities at a time
    (see :mod:`._simd`). ``sums``: 0 stores their sum into the row's sums ``Sf``, 1 adds it, 2
    leaves ``Sf`` alone (only the row-to-row paths move on: the warm-up rows of
    :func:`single_pass_band`). The flags are compile-time constants (``literally``): each
    direction set is compiled once, without the branches of the others, which kept values alive
    through the pixel loop and made it spill registers.

    Path rows are int16 with a stride ``D2 = LANES * ceil(D / LANES) + 2``: entry 0 and the entries
    past ``D`` hold the sentinel ``BIG`` (so the loads at ``d - 1`` and ``d + 1`` need no
    branches). The lanes past ``D`` of the last chunk get the cost ``BIG`` and so stay above
    every real path value: they never win a minimum and act as the sentinel for ``d = D - 1``.
    """
    literally(horiz)
    literally(vert)
    literally(diag)
    D2 = Lbuf.shape[3]
    W = g.shape[0]
    D = Cf.shape[0] // W
    nfull = D // LANES
    tail = D - nfull * LANES
    nchunk = nfull + (1 if tail > 0 else 0)
    p1v = vsplat(np.int16(P1))
    bigv = vsplat(np.int16(BIG))
    hf = hbuf.reshape(-1)
    plane = (W + 2) * D2  # one direction's path row in Lbuf[par]
    Lpf = Lbuf[par].reshape(-1)  # (3, W + 2, D2): previous row
    Lcf = Lbuf[1 - par].reshape(-1)  # current row
    Mp = Mbuf[par]
    Mc = Mbuf[1 - par]
    hmin = np.int16(0)
    for d in range(D):
        hbuf[0, d + 1] = 0
    zero = vsplat(np.int16(0))
    for i in range(W):
        x = i if s > 0 else W - 1 - i
        xi = x + 1
        gx = np.int64(g[x])
        xq = min(max(x - s, 0), W - 1)
        limh = vsplat(np.int16(hmin + p2lut[abs(gx - np.int64(g[xq]))]))
        hminv = vsplat(hmin)
        mvp = Mp[1, xi]
        limv = vsplat(np.int16(mvp + p2lut[abs(gx - np.int64(gp[x]))]))
        mvpv = vsplat(mvp)
        xb = min(max(x + s, 0), W - 1)
        map_ = Mp[0, xi - s]
        mbp = Mp[2, xi + s]
        lima = vsplat(np.int16(map_ + p2lut[abs(gx - np.int64(gp[xq]))]))
        limb = vsplat(np.int16(mbp + p2lut[abs(gx - np.int64(gp[xb]))]))
        mapv = vsplat(map_)
        mbpv = vsplat(mbp)
        hpo = np.uint64((i & 1) * D2)
        hco = np.uint64(((i + 1) & 1) * D2 + 1)
        vo = np.uint64(plane + xi * D2)
        apo = np.uint64((xi - s) * D2)
        aco = np.uint64(xi * D2 + 1)
        bpo = np.uint64(2 * plane + (xi + s) * D2)
        bco = np.uint64(2 * plane + xi * D2 + 1)
        co = np.uint64(x * D)
        mh = bigv
        mv = bigv
        ma = bigv
        mb = bigv
        hlast = bigv
        hnext = vload(hf, hpo + np.uint64(1))
        for k in range(nchunk):
            ko = np.uint64(k * LANES)
            full = k < nfull
            if full:
                c = vload(Cf, co + ko)
            else:
                c = vload_n(Cf, co + ko, tail, np.int16(BIG))
            acc = zero
            if horiz:
                # the previous pixel's chunks were stored just before: load each where it was
                # stored (store forwarding works) and shift lanes for d - 1 and d + 1 instead
                # of loading at an offset, which stalled
                h0 = hnext
                hnext = vload(hf, hpo + ko + np.uint64(LANES + 1)) if k + 1 < nchunk else bigv
                vh = _vstep(vshift_up(hlast, h0), h0, vshift_down(h0, hnext), c, p1v, limh,
                            hminv)
                hlast = h0
                vstore(hf, hco + ko, vh)
                mh = vmin(mh, vh)
                acc = vh
            if vert:
                vv = _vpath(Lpf, vo + ko, c, p1v, limv, mvpv)
                vstore(Lcf, vo + ko + np.uint64(1), vv)
                mv = vmin(mv, vv)
                acc = vadd(acc, vv)
            if diag:
                va = _vpath(Lpf, apo + ko, c, p1v, lima, mapv)
                vstore(Lcf, aco + ko, va)
                ma = vmin(ma, va)
                vb = _vpath(Lpf, bpo + ko, c, p1v, limb, mbpv)
                vstore(Lcf, bco + ko, vb)
                mb = vmin(mb, vb)
                acc = vadd(acc, vadd(va, vb))
            if sums == 2:
                continue
            if full:
                if sums == 1:
                    acc = vadd(acc, vload(Sf, co + ko))
                vstore(Sf, co + ko, acc)
            else:
                if sums == 1:
                    acc = vadd(acc, vload_n(Sf, co + ko, tail, np.int16(0)))
                vstore_n(Sf, co + ko, acc, tail)
        hmin = vhmin(mh)
        if vert:
            Mc[1, xi] = vhmin(mv)
        if diag:
            Mc[0, xi] = vhmin(ma)
            Mc[2, xi] = vhmin(mb)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _finish_row(C, y, Sr, wta, post, scratch):
    """The WTA of a completed row of sums `Sr` (:func:`_wta_row`; ``wta`` is ``(min_disp, uniq,
    subpix, dint, dsub, rkey)``), then, when ``post = (max_diff, rad, mode, out, fixed,
    invalid, trunc_max)`` has an output with rows, the LR check and what follows it
    (:func:`_lr_row`; `C` holds the costs: the volume, or a ring of rows around `y`).

    The WTA maps hold row `y` in row ``y % rows``: maps of the image's height keep every row,
    a task's one-row maps only the row being finished, which is all the LR check reads.
    """
    min_disp, uniq, subpix, dint, dsub, rkey = wta
    wy = y % dint.shape[0]
    _wta_row(Sr, min_disp, uniq, subpix, dint[wy], dsub[wy], rkey[wy], scratch)
    max_diff, rad, mode, out, fixed, invalid, trunc_max = post
    if out.shape[0] > 0:
        _lr_row(C, y, wy, dint, dsub, rkey, min_disp, max_diff, rad, mode, out, fixed,
                invalid, trunc_max)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def aggregate_rows(C, job, S, guide, p2lut, P1, ya, yb, step, Lbuf, Mbuf, hbuf, diag, store,
                   finalize, wta, post, scratch):
    """One sweep over rows ``ya, ya+step, ..., yb-step`` (step is +1 forward or -1 backward).

    Forward carries left->right, top-left, top and top-right, backward the mirrored four (with
    ``diag`` False only the horizontal and the vertical path), each row walked in the sweep's
    column direction (:func:`_sweep_row`; ``Lbuf, Mbuf, hbuf`` its path buffers, see
    :func:`depthkit.stereo.sgm.sweep_buffers`). ``store``: the first half of a sweep, which
    computes each row's matching cost from the census ``job`` into ``C`` first (when ``job``'s
    images have the image's size; :func:`_cost_row`) and stores its sums into ``S``. Otherwise
    the sums are added, and with ``finalize`` that completes the row: the WTA and the
    post-processing follow (:func:`_finish_row`; ``scratch`` is the task's
    :func:`depthkit.stereo.sgm.wta_scratch`). :func:`depthkit.stereo.sgm.aggregate` runs the
    two sweeps as two tasks in two phases.

    With fewer rows than the image, `C` is the task's ring of cost rows (row `y` in
    ``C[y % R]``, :func:`depthkit.stereo.sgm.cost_ring`) and both halves compute their rows'
    costs from the ``job``: the second one ``(R - 1) // 2`` rows ahead of its paths, so the
    rows around a finished row are there for its post-processing. Computing the costs twice
    instead of keeping a volume saves 1 byte per pixel x disparity.
    """
    H = guide.shape[0]
    R = C.shape[0]
    ring = R != H
    make_cost = ring or (store and job[0].shape[0] == H)
    ahead = (R - 1) // 2 if (ring and finalize) else 0
    if ring:
        for yc in range(ya - ahead * step, ya + ahead * step, step):  # the rows before ya's
            if yc >= 0 and yc < H:
                _cost_row(job, yc, C[yc % R])
    sums = 0 if store else 1
    for y in range(ya, yb, step):
        if make_cost:
            yc = y + ahead * step
            if yc >= 0 and yc < H:
                _cost_row(job, yc, C[yc % R])
        yp = y - step
        gp = guide[yp] if (yp >= 0 and yp < H) else guide[y]
        Cf = C[y % R].reshape(-1)
        Sf = S[y].reshape(-1)
        par = (y * step) & 1
        if diag:
            _sweep_row(Cf, Sf, guide[y], gp, p2lut, P1, step, Lbuf, Mbuf, par, hbuf, True, True,
                       True, sums)
        else:
            _sweep_row(Cf, Sf, guide[y], gp, p2lut, P1, step, Lbuf, Mbuf, par, hbuf, True, True,
                       False, sums)
        if finalize:
            _finish_row(C, y, S[y], wta, post, scratch)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _knight_row(Cf, Sf, g, gp, gpp, p2lut, P1, s, Lab, Mab, par, Lcd, Mcd, rp, rc):
    """The four knight-move paths of one row (the other half of 16 paths), walked in column
    direction `s`, their sum added into the row's sums ``Sf``.

    Seen from a forward sweep (``s = +1``, rows top to bottom) they come from the previous row
    at ``x - 2`` and ``x + 2`` (``Lab[par]``, minimums ``Mab[par]``, guide row ``gp``) and from
    two rows back at ``x - 1`` and ``x + 1`` (``Lcd[rp]``, ``Mcd[rp]``, guide row ``gpp``); the
    backward sweep mirrors them. This row's paths go to ``Lab[1 - par]`` and ``Lcd[rc]`` (a ring
    of three rows). Buffers as in :func:`_sweep_row` with two padding columns on each side
    (:func:`depthkit.stereo.sgm.knight_buffers`).
    """
    D2 = Lab.shape[3]
    W = g.shape[0]
    D = Cf.shape[0] // W
    nfull = D // LANES
    tail = D - nfull * LANES
    nchunk = nfull + (1 if tail > 0 else 0)
    p1v = vsplat(np.int16(P1))
    bigv = vsplat(np.int16(BIG))
    plane = (W + 4) * D2
    Lp = Lab[par].reshape(-1)
    Lc = Lab[1 - par].reshape(-1)
    Rp = Lcd[rp].reshape(-1)
    Rc = Lcd[rc].reshape(-1)
    Mp = Mab[par]
    Mc = Mab[1 - par]
    Np = Mcd[rp]
    Nc = Mcd[rc]
    for i in range(W):
        x = i if s > 0 else W - 1 - i
        xi = x + 2
        gx = np.int64(g[x])
        xa = min(max(x - 2 * s, 0), W - 1)
        xb = min(max(x + 2 * s, 0), W - 1)
        xc = min(max(x - s, 0), W - 1)
        xd = min(max(x + s, 0), W - 1)
        ma = Mp[0, xi - 2 * s]
        mb = Mp[1, xi + 2 * s]
        mc = Np[0, xi - s]
        md = Np[1, xi + s]
        lima = vsplat(np.int16(ma + p2lut[abs(gx - np.int64(gp[xa]))]))
        limb = vsplat(np.int16(mb + p2lut[abs(gx - np.int64(gp[xb]))]))
        limc = vsplat(np.int16(mc + p2lut[abs(gx - np.int64(gpp[xc]))]))
        limd = vsplat(np.int16(md + p2lut[abs(gx - np.int64(gpp[xd]))]))
        mav = vsplat(ma)
        mbv = vsplat(mb)
        mcv = vsplat(mc)
        mdv = vsplat(md)
        apo = np.uint64((xi - 2 * s) * D2)
        bpo = np.uint64(plane + (xi + 2 * s) * D2)
        cpo = np.uint64((xi - s) * D2)
        dpo = np.uint64(plane + (xi + s) * D2)
        aco = np.uint64(xi * D2 + 1)
        bco = np.uint64(plane + xi * D2 + 1)
        co = np.uint64(x * D)
        na = bigv
        nb = bigv
        nc = bigv
        nd = bigv
        for k in range(nchunk):
            ko = np.uint64(k * LANES)
            full = k < nfull
            if full:
                c = vload(Cf, co + ko)
            else:
                c = vload_n(Cf, co + ko, tail, np.int16(BIG))
            va = _vpath(Lp, apo + ko, c, p1v, lima, mav)
            vstore(Lc, aco + ko, va)
            na = vmin(na, va)
            vb = _vpath(Lp, bpo + ko, c, p1v, limb, mbv)
            vstore(Lc, bco + ko, vb)
            nb = vmin(nb, vb)
            vc = _vpath(Rp, cpo + ko, c, p1v, limc, mcv)
            vstore(Rc, aco + ko, vc)
            nc = vmin(nc, vc)
            vd = _vpath(Rp, dpo + ko, c, p1v, limd, mdv)
            vstore(Rc, bco + ko, vd)
            nd = vmin(nd, vd)
            acc = vadd(vadd(va, vb), vadd(vc, vd))
            if full:
                vstore(Sf, co + ko, vadd(acc, vload(Sf, co + ko)))
            else:
                vstore_n(Sf, co + ko, vadd(acc, vload_n(Sf, co + ko, tail, np.int16(0))), tail)
        Mc[0, xi] = vhmin(na)
        Mc[1, xi] = vhmin(nb)
        Nc[0, xi] = vhmin(nc)
        Nc[1, xi] = vhmin(nd)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def aggregate_knight_rows(C, S, guide, p2lut, P1, ya, yb, step, Lab, Mab, Lcd, Mcd, finalize,
                          wta, post, scratch):
    """One sweep of the knight-move paths (:func:`_knight_row`) over rows ``ya, ya+step, ...,
    yb-step``, adding into ``S``; with ``finalize`` the WTA and the post-processing follow on
    each row (:func:`_finish_row`). The 16-path aggregation runs these sweeps after the 8-path
    ones, in the same two phases."""
    H = C.shape[0]
    for y in range(ya, yb, step):
        yp = y - step
        ypp = y - 2 * step
        g = guide[y]
        gp = guide[yp] if (yp >= 0 and yp < H) else g
        gpp = guide[ypp] if (ypp >= 0 and ypp < H) else g
        t = y * step
        _knight_row(C[y].reshape(-1), S[y].reshape(-1), g, gp, gpp, p2lut, P1, step, Lab, Mab,
                    t & 1, Lcd, Mcd, (t - 2) % 3, t % 3)
        if finalize:
            _finish_row(C, y, S[y], wta, post, scratch)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def single_pass_band(C, job, guide, p2lut, P1, diag, y0, y1, warmup, Lbuf, Mbuf, hbuf, Srow,
                     crow, wta, post, scratch):
    """3 or 5 paths (``diag``) in one pass down rows ``y0 .. y1 - 1``, with no sum volume.

    Each row takes the right->left horizontal path first (its sums stored into the row buffer
    ``Srow``), then the left->right, top and, with ``diag``, the top-left and top-right paths
    (added), and the WTA and post-processing on the finished row (:func:`_finish_row`; as
    OpenCV's single-pass modes). The row-to-row
    paths start `warmup` rows above `y0` (no sums, no WTA there), so they have settled where the
    band begins; :func:`depthkit.stereo.sgm.aggregate` runs the bands as parallel tasks.

    The matching cost comes from the volume `C`, or, when `C` has no rows, is computed row by
    row from the census ``job`` (:func:`_cost_row`, into ``crow``) just before its paths: no
    cost volume at all, and each cost row is still in cache when the paths read it.
    ``scratch`` is the task's :func:`depthkit.stereo.sgm.wta_scratch`.
    """
    H, W = guide.shape
    stream = C.shape[0] != H
    D = Srow.shape[0] // W
    ys = max(0, y0 - warmup)
    for y in range(ys, y1):
        g = guide[y]
        gp = guide[y - 1] if y > ys else g
        if stream:
            _cost_row(job, y, crow)
            Cf = crow.reshape(-1)
        else:
            Cf = C[y].reshape(-1)
        par = (y - ys) & 1
        if y < y0:
            if diag:
                _sweep_row(Cf, Srow, g, gp, p2lut, P1, 1, Lbuf, Mbuf, par, hbuf, False, True,
                           True, 2)
            else:
                _sweep_row(Cf, Srow, g, gp, p2lut, P1, 1, Lbuf, Mbuf, par, hbuf, False, True,
                           False, 2)
            continue
        _sweep_row(Cf, Srow, g, g, p2lut, P1, -1, Lbuf, Mbuf, 0, hbuf, True, False, False, 0)
        if diag:
            _sweep_row(Cf, Srow, g, gp, p2lut, P1, 1, Lbuf, Mbuf, par, hbuf, True, True, True, 1)
        else:
            _sweep_row(Cf, Srow, g, gp, p2lut, P1, 1, Lbuf, Mbuf, par, hbuf, True, True, False,
                       1)
        if stream:
            _finish_row(crow.reshape(1, W, D), y, Srow.reshape(W, D), wta, post, scratch)
        else:
            _finish_row(C, y, Srow.reshape(W, D), wta, post, scratch)


# --------------------------------------------------------------------------------------------
# post-processing


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, inline="always")
def _fit_offset(a, m, c, mode):
    """Sub-pixel offset of a minimum `m` between costs `a` (at ``d - 1``) and `c` (``d + 1``):
    a parabola (`mode` 1) or a symmetric V (2), clipped to +-0.5."""
    off = 0.0
    if mode == 1:
        den = a + c - 2 * m
        if den > 0:
            off = (a - c) / (2.0 * den)
    else:
        den = a - m if c < a else c - m
        if den > 0:
            off = 0.5 * (a - c) / den
    if off > 0.5:
        off = 0.5
    elif off < -0.5:
        off = -0.5
    return off


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, inline="always")
def _box_fit(C, y0, y1, x0, x1, d, mode):
    """Sub-pixel offset of winner `d` from the matching cost summed over rows ``y0:y1`` and
    columns ``x0:x1`` at ``d - 1, d, d + 1``: a parabola (`mode` 1) or a symmetric V (2),
    clipped to +-0.5. Row ``yy`` of the costs is ``C[yy % R]`` (a volume or a ring of rows)."""
    a = 0
    m = 0
    c = 0
    R = C.shape[0]
    for yy in range(y0, y1):
        Cy = C[yy % R]
        for xx in range(x0, x1):
            a += np.int64(Cy[xx, d - 1])
            m += np.int64(Cy[xx, d])
            c += np.int64(Cy[xx, d + 1])
    return _fit_offset(a, m, c, mode)


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _lr_row(C, y, wy, dint, dsub, rkey, min_disp, max_diff, rad, mode, out, fixed, invalid,
            trunc_max):
    """Row `y` (row `wy` of the WTA maps): the left-right check against the right view's keys
    (a pixel stays if either right pixel next to ``x - disparity`` has a key within
    `max_diff`; negative switches it off), then the sub-pixel fit on the raw costs summed over
    a ``2 rad + 1`` box (``rad > 0``; 3 x 3 boxes 16 pixels at a time, :func:`box_fit16`),
    then the int16 1/16-pixel copy of :func:`speckle_fixed` (when ``fixed`` has rows), into
    ``out[y]``.

    It needs only row `y` of the WTA outputs (`rkey` x-reversed, as :func:`_wta_row` stores
    it) and rows ``y - rad .. y + rad`` of the costs, so the aggregation runs it on each row as
    soon as the row's WTA is done, while the row is still in cache (``post`` of
    :func:`aggregate_rows`). `C` is the cost volume or a ring of ``R`` rows around `y` (row
    ``yy`` in ``C[yy % R]``).

    Where the disparity range runs off the right image (``x - min_disp < D - 1``) the true
    match may lie outside it, and the winner is only the best of the wrong candidates: there,
    with ``trunc_max > 0``, a winner whose mean matching cost over its 3x3 box exceeds
    ``trunc_max`` is invalid (before the sub-pixel fit). The single pass keeps one row of
    costs (``R = 1``), so its box is 1x3.
    """
    H, W = out.shape
    R = C.shape[0]
    D = C.shape[2]
    # the costs' rows around y: all in a volume, (R - 1) // 2 either side in a ring
    reach = H if R == H else (R - 1) // 2
    o = out[y]
    di = dint[wy]
    # in passes: the check 16 pixels at a time (the right keys gathered), then the cost tests
    # on the pixels they concern, then the int16 copy (a straight loop: it vectorises)
    if max_diff >= 0:
        row = np.uint64(wy * W)
        orow = np.uint64(y * W)
        of = out.reshape(-1)
        df = dint.reshape(-1)
        sf = dsub.reshape(-1)
        kf = rkey.reshape(-1)
        for x0 in range(0, W, CENSUS_LANES):
            n = min(CENSUS_LANES, W - x0)
            fstore_n(of, orow + np.uint64(x0), lr_check16(df, sf, kf, row, x0, n, W, max_diff),
                     n)
    else:
        ds = dsub[wy]
        for x in range(W):
            o[x] = ds[x]
    if trunc_max > 0.0:
        # box pixels whose right pixel at this disparity is outside hold the "no match" cost,
        # not a measured one: left out
        ya = max(y - min(reach, 1), 0)
        yb = min(y + min(reach, 1) + 1, H)
        for x in range(min(W, D - 1 + min_disp)):
            d = np.int64(di[x])
            if d < 0 or np.isnan(o[x]):
                continue
            tot = 0
            n = 0
            for yy in range(ya, yb):
                Cy = C[yy % R]
                for xx in range(max(x - 1, min_disp + d, 0), min(x + 2, W)):
                    tot += np.int64(Cy[xx, d])
                    n += 1
            if tot > trunc_max * n:
                o[x] = np.float32(np.nan)
    if rad > 0:
        Cf = C.reshape(-1)
        y0 = max(y - rad, 0)
        y1 = min(y + rad + 1, H)
        # 3x3 boxes inside the image 16 pixels at a time (box_fit16: 32-bit gathers, every
        # pixel fitted and the invalid ones left out below): the scalar loop, whose branches
        # were mispredicted at every invalid pixel, took twice as long; the pixels left over
        # take the general loop
        xv = 1
        offs = np.empty(W, np.float64)
        if rad == 1 and 0 < y < H - 1 and D > 2:
            r0 = np.uint64((y - 1) % R * W * D)
            r1 = np.uint64(y % R * W * D)
            r2 = np.uint64((y + 1) % R * W * D)
            wrow = np.uint64(wy * W)
            while xv + CENSUS_LANES <= W - 2:
                box_fit16(Cf, r0, r1, r2, dint.reshape(-1), wrow, np.uint64(xv), D, mode, offs)
                xv += CENSUS_LANES
        for x in range(W):
            d = np.int64(di[x])
            if d <= 0 or d >= D - 1 or np.isnan(o[x]):
                continue
            if 0 < x < xv:
                off = offs[x]
            else:
                off = _box_fit(C, y0, y1, max(x - rad, 0), min(x + rad + 1, W), d, mode)
            o[x] = np.float32(min_disp + d + off)
    if fixed.shape[0] > 0:
        f = fixed[y]
        s16 = np.float32(16.0)
        lim = np.float32(32767.0)
        for x in range(W):
            v = o[x]
            q = np.int16(min(max(np.rint((v if v == v else np.float32(0.0)) * s16), -lim), lim))
            f[x] = invalid if v != v else q


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, inline="always")
def _speckle_edge(a, b, invalid, max_diff):
    """Whether two 4-neighbours are in one speckle region (``cv2.filterSpeckles``'s rule)."""
    return a != invalid and b != invalid and abs(np.int64(a) - np.int64(b)) <= max_diff


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _speckle_region(orig, y, x, invalid, max_diff, limit, ya, yb, mark, stack):
    """Pixels of the region of ``(y, x)`` in `orig` within rows ``ya .. yb - 1``, found by a
    flood fill that stops after `limit` pixels: their flat indices in ``stack[:n]`` (marked
    1 in `mark`; the caller clears them) and ``n``."""
    H, W = orig.shape
    stack[0] = y * W + x
    mark[y, x] = 1
    n = 1
    i = 0
    while i < n and n < limit:
        q = stack[i]
        i += 1
        qy = q // W
        qx = q - qy * W
        v = orig[qy, qx]
        for k in range(4):
            ny, nx = qy, qx
            if k == 0:
                nx -= 1
            elif k == 1:
                nx += 1
            elif k == 2:
                ny -= 1
            else:
                ny += 1
            if ny < ya or ny >= yb or nx < 0 or nx >= W or mark[ny, nx] != 0:
                continue
            if _speckle_edge(v, orig[ny, nx], invalid, max_diff) and n < limit:
                mark[ny, nx] = 1
                stack[n] = ny * W + nx
                n += 1
    return n


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def speckle_seams(orig, work, seams, invalid, max_size, max_diff):
    """Make ``cv2.filterSpeckles`` run on bands of rows exact: `work` is `orig` filtered band by
    band (bands split at the rows in `seams`), and regions that reach across a seam were judged
    by their part in one band only. A part that was removed though its whole region has more
    than `max_size` pixels is put back from `orig` (in place).

    Every such part has a neighbour across a seam in the same region. Where that neighbour was
    kept, the region is large; where it was removed too, a flood fill over the whole image
    (stopped after ``max_size + 1`` pixels) decides. Parts are at most `max_size` pixels, so the
    work is small next to the filter's.
    """
    H, W = orig.shape
    mark = np.zeros((H, W), np.uint8)
    stack = np.empty(max_size + 2, np.int64)
    top = np.int64(0)  # not a literal 0, which would compile _speckle_region a second time
    for s in seams:
        for x in range(W):
            a = orig[s - 1, x]
            b = orig[s, x]
            if not _speckle_edge(a, b, invalid, max_diff):
                continue
            gone_a = work[s - 1, x] == invalid
            gone_b = work[s, x] == invalid
            if not (gone_a or gone_b):
                continue
            if gone_a and gone_b:
                n = _speckle_region(orig, s, x, invalid, max_diff, max_size + 1, top, H, mark,
                                    stack)
                for i in range(n):
                    q = stack[i]
                    mark[q // W, q - (q // W) * W] = 0
                if n <= max_size:
                    continue  # the whole region is small: rightly removed
            # the region is large: put back the removed parts on both sides of the seam
            for yy in (s - 1, s):
                if work[yy, x] != invalid:
                    continue
                ya, yb = _band_of(seams, yy, H)
                # the removed part has at most max_size pixels (the band's filter saw all of it)
                n = _speckle_region(orig, yy, x, invalid, max_diff, max_size + 1, ya, yb, mark,
                                    stack)
                for i in range(n):
                    q = stack[i]
                    qy = q // W
                    qx = q - qy * W
                    work[qy, qx] = orig[qy, qx]
                    mark[qy, qx] = 0


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def _band_of(seams, y, H):
    """Rows ``(ya, yb)`` of the band that holds row `y` (bands split at the rows in `seams`)."""
    ya = 0
    yb = H
    for s in seams:
        if s <= y:
            ya = s
        elif s < yb:
            yb = s
    return ya, yb


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True)
def speckle_back(disp, fixed, invalid):
    """``disp`` gets NaN where ``fixed == invalid`` (in place; serial: a trivial pass that a
    parallel region only slowed down on the loaded benchmark machine)."""
    H, W = disp.shape
    for y in range(H):
        for x in range(W):
            if fixed[y, x] == invalid:
                disp[y, x] = np.nan


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def speckle_fixed(disp, fixed, invalid, back):
    """Both conversions around ``cv2.filterSpeckles`` in one kernel (numpy took 4 passes).

    ``back`` False: ``fixed = int16(clip(rint(16 disp), +-32767))``, `invalid` where NaN.
    ``back`` True: ``disp`` gets NaN where ``fixed == invalid`` (in place).
    """
    H, W = disp.shape
    s16 = np.float32(16.0)
    lim = np.float32(32767.0)
    for y in prange(H):
        for x in range(W):
            if back:
                if fixed[y, x] == invalid:
                    disp[y, x] = np.nan
            else:
                v = disp[y, x]
                if np.isnan(v):
                    fixed[y, x] = invalid
                else:
                    fixed[y, x] = np.int16(min(max(np.rint(v * s16), -lim), lim))


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def median3(disp):
    """3x3 median over the valid (non-NaN) neighbours of each valid pixel."""
    H, W = disp.shape
    out = disp.copy()
    for y in prange(H):
        buf = np.empty(9, np.float32)
        for x in range(W):
            if np.isnan(disp[y, x]):
                continue
            n = 0
            for yy in range(max(y - 1, 0), min(y + 2, H)):
                for xx in range(max(x - 1, 0), min(x + 2, W)):
                    v = disp[yy, xx]
                    if not np.isnan(v):
                        # insertion sort
                        j = n
                        while j > 0 and buf[j - 1] > v:
                            buf[j] = buf[j - 1]
                            j -= 1
                        buf[j] = v
                        n += 1
            if n % 2 == 1:
                out[y, x] = buf[n // 2]
            else:
                out[y, x] = np.float32(0.5) * (buf[n // 2 - 1] + buf[n // 2])
    return out


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def fill_occlusions(disp, slack, lo):
    """Fill the half-occluded gaps that the left-right check leaves, with the background.

    In the left view the pixels hidden from the right camera form a gap just left of a
    foreground edge, as wide as the disparity jump across it. A gap of invalid pixels whose right
    end is nearer (larger disparity) than its left end and whose width lies between
    ``lo * jump - slack`` and ``jump + slack`` is filled with the left (background) value; any
    other gap stays invalid.
    """
    H, W = disp.shape
    out = disp.copy()
    for y in prange(H):
        x = 0
        while x < W:
            if not np.isnan(disp[y, x]):
                x += 1
                continue
            x0 = x
            while x < W and np.isnan(disp[y, x]):
                x += 1
            if x0 == 0 or x >= W:
                continue
            left = disp[y, x0 - 1]
            right = disp[y, x]
            jump = right - left
            if jump > 0 and lo * jump - slack <= (x - x0) <= jump + slack:
                for k in range(x0, x):
                    out[y, k] = left
    return out


@njit(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
def fill_background(disp):
    """Fill each invalid run of a row with the smaller (farther) valid disparity at its ends."""
    H, W = disp.shape
    out = disp.copy()
    for y in prange(H):
        x = 0
        while x < W:
            if not np.isnan(disp[y, x]):
                x += 1
                continue
            x0 = x
            while x < W and np.isnan(disp[y, x]):
                x += 1
            left = disp[y, x0 - 1] if x0 > 0 else np.nan
            right = disp[y, x] if x < W else np.nan
            if np.isnan(left):
                v = right
            elif np.isnan(right):
                v = left
            else:
                v = min(left, right)
            for k in range(x0, x):
                out[y, k] = v
    return out
