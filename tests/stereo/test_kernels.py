"""Each SGM stage against the plain-numpy reference (integer stages exactly equal)."""

from __future__ import annotations

import numpy as np
import pytest

from depthkit.errors import ParameterError
from depthkit.stereo import SGMParams
from depthkit.stereo import _kernels as K
from depthkit.stereo import sgm as S

from . import reference as ref


def _pair(rng, h=11, w=23, levels=256):
    a = rng.integers(0, levels, (h, w)).astype(np.float32)
    b = rng.integers(0, levels, (h, w)).astype(np.float32)
    return a, b


@pytest.mark.parametrize("min_disp", [0, 3, -2])
@pytest.mark.parametrize("cost", ["census", "census_grad", "bt"])
# widths: part of one group of 64 census pixels, and several with a part (D over one group)
@pytest.mark.parametrize(("w", "D"), [(23, 7), (150, 70)])
def test_cost_volume_matches_reference(rng, min_disp, cost, w, D):
    a, b = _pair(rng, w=w)
    p = SGMParams(num_disparities=D, min_disparity=min_disp, cost=cost)
    got = S.cost_volume(a, b, p)
    ww, wh = p.census_window
    if cost == "bt":
        want = ref.cost_bt(a, b, D, min_disp, p.bt_cap)
    else:
        cl, cr = ref.census(a, wh, ww), ref.census(b, wh, ww)
        if cost == "census":
            want = ref.cost_census(cl, cr, D, min_disp, ww * wh - 1)
        else:
            gl, gr = ref.xgrad(a), ref.xgrad(b)
            inv = min(255, ww * wh - 1 + int(p.gradient_cap * p.gradient_weight))
            want = ref.cost_census(cl, cr, D, min_disp, inv, gl, gr, np.float32(p.gradient_cap),
                                   np.float32(p.gradient_weight))
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("paths", [4, 8, 16])
@pytest.mark.parametrize("p2_adapt", [0.0, 10.0])
# (6, 37, 9): wider than 2 x 16 columns, so the WTA visits them in its interleaved order;
# D = 40 and 64: whole vector chunks (with and without a partial one)
@pytest.mark.parametrize("shape", [(9, 13, 7), (8, 5, 16), (1 + 6, 10, 1), (6, 37, 9),
                                   (5, 45, 40), (4, 70, 64)])
def test_aggregation_and_wta_match_reference(rng, paths, p2_adapt, shape):
    H, W, D = shape
    C = rng.integers(0, 64, (H, W, D)).astype(np.uint8)
    guide = rng.integers(0, 256, (H, W)).astype(np.uint8)
    p = SGMParams(num_disparities=D, paths=paths, p2_adapt=p2_adapt, P1=7, P2=90,
                  uniqueness_ratio=10)
    lut = S.p2_table(p)
    dint, dsub, rkey, Sv = S.aggregate(C, guide, p)
    np.testing.assert_array_equal(Sv, ref.aggregate(C, guide, lut, p.P1, paths))
    rint, rsub, rkeys = ref.wta(Sv, 0, p.uniqueness_ratio, p.subpixel)
    np.testing.assert_array_equal(dint, rint)
    np.testing.assert_allclose(dsub, rsub, rtol=0, atol=1e-5, equal_nan=True)
    np.testing.assert_array_equal(rkey, rkeys)


@pytest.mark.parametrize("paths", [3, 5])
@pytest.mark.parametrize("shape", [(9, 13, 7), (12, 37, 16), (7, 10, 1), (10, 41, 35),
                                   (6, 70, 64)])
def test_single_pass_aggregation_matches_reference(rng, paths, shape):
    H, W, D = shape
    C = rng.integers(0, 64, (H, W, D)).astype(np.uint8)
    guide = rng.integers(0, 256, (H, W)).astype(np.uint8)
    p = SGMParams(num_disparities=D, paths=paths, p2_adapt=10.0, P1=7, P2=90,
                  uniqueness_ratio=10)
    lut = S.p2_table(p)
    rint, rsub, rkeys = ref.wta(ref.aggregate(C, guide, lut, p.P1, paths), 0,
                                p.uniqueness_ratio, p.subpixel)

    def run(nbands, warmup):
        dint = np.empty((H, W), np.int16)
        dsub = np.empty((H, W), np.float32)
        rkey = np.empty((H, W), np.uint32)
        S.single_pass(C, S.census_job(S._NO_IMAGE, S._NO_IMAGE, p), guide, p, nbands, warmup,
                      (dint, dsub, rkey), S._NO_POST)
        return dint, dsub, np.ascontiguousarray(rkey[:, ::-1])

    # one band, or bands whose warm-up reaches the top: exactly the reference
    for nbands, warmup in ((1, 0), (3, H)):
        dint, dsub, rkey = run(nbands, warmup)
        np.testing.assert_array_equal(dint, rint)
        np.testing.assert_allclose(dsub, rsub, rtol=0, atol=1e-5, equal_nan=True)
        np.testing.assert_array_equal(rkey, rkeys)
    # a short warm-up changes at most the rows just below a band's top
    dint, _, _ = run(2, 1)
    np.testing.assert_array_equal(dint[: H // 2], rint[: H // 2])
    # the matcher's own choice of bands does not depend on the thread count
    got = S.aggregate(C, guide, p)
    assert got[3] is None
    np.testing.assert_array_equal(got[0], run(S.single_pass_bands(H), S.SINGLE_PASS_WARMUP)[0])


@pytest.mark.parametrize(("cost", "D", "min_disp", "paths"),
                         [("census", 40, 0, 5), ("census_grad", 21, 2, 3), ("census", 40, 0, 4),
                          ("census_grad", 21, 2, 8), ("census", 33, -1, 16)])
def test_costs_computed_inside_the_aggregation_equal_the_volume(rng, cost, D, min_disp, paths):
    """Costs computed row by row inside the single pass (no volume), or by the first phase of
    the two sweeps (into the volume) == the cost volume computed first."""
    a, b = _pair(rng, h=301, w=97, levels=40)  # tall enough for several bands
    p = SGMParams(num_disparities=D, min_disparity=min_disp, cost=cost, paths=paths)
    guide = K.guide_u8(a)
    C = S.cost_volume(a, b, p)
    want = S.aggregate(C, guide, p)
    single = paths in (3, 5)
    C2 = np.empty((0, 0, 0) if single else C.shape, np.uint8)
    got = S.aggregate(C2, guide, p, job=S.census_job(a, b, p))
    assert S.single_pass_bands(301) > 1
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    if not single:
        np.testing.assert_array_equal(C2, C)


@pytest.mark.parametrize("min_disp", [0, 4, -3])
@pytest.mark.parametrize("subpix", ["parabola", "equiangular", "none"])
def test_wta_with_disparity_offset_matches_reference(rng, min_disp, subpix):
    H, W, D = 6, 17, 9
    C = rng.integers(0, 40, (H, W, D)).astype(np.uint8)
    guide = np.zeros((H, W), np.uint8)
    p = SGMParams(num_disparities=D, min_disparity=min_disp, subpixel=subpix, uniqueness_ratio=0)
    dint, dsub, rkey, Sv = S.aggregate(C, guide, p)
    rint, rsub, rkeys = ref.wta(Sv, min_disp, 0, subpix)
    np.testing.assert_array_equal(dint, rint)
    np.testing.assert_allclose(dsub, rsub, rtol=0, atol=1e-5, equal_nan=True)
    np.testing.assert_array_equal(rkey, rkeys)


# widths and disparity counts around the 16 x 16 transposition blocks of the WTA: a partial
# block of pixels, a partial block of disparities, and one that ends at the row's last element
@pytest.mark.parametrize(("W", "D", "min_disp", "uniq"),
                         [(32, 9, 0, 0), (33, 16, -3, 10), (16, 35, 2, 0), (48, 20, -5, 15),
                          (21, 1, 0, 10)])
def test_wta_row_matches_reference(rng, W, D, min_disp, uniq):
    """K._wta_row (transposed to disparity-major, 16 pixels at a time) == the numpy WTA, with
    sums up to the largest that 8 paths reach."""
    H = 3
    Sv = rng.integers(0, 58041, (H, W, D)).astype(np.uint16)
    Sv[1] = rng.integers(0, 6, (W, D))  # many ties
    dint = np.empty((H, W), np.int16)
    dsub = np.empty((H, W), np.float32)
    rkey = np.empty((H, W), np.uint32)
    scratch = S.wta_scratch(W, D, min_disp)
    for y in range(H):
        K._wta_row(Sv[y], min_disp, uniq, 1, dint[y], dsub[y], rkey[y], scratch)
    rint, rsub, rkeys = ref.wta(Sv, min_disp, uniq, "parabola")
    np.testing.assert_array_equal(dint, rint)
    np.testing.assert_allclose(dsub, rsub, rtol=0, atol=1e-5, equal_nan=True)
    np.testing.assert_array_equal(rkey[:, ::-1], rkeys)


_INVALID = np.int16(-48)


def _post(C, guide, p, max_diff, rad, code, fixed_shape=(0, 0), inv=_INVALID):
    """The disparity (and int16 copy) from the post-processing in the aggregation tasks."""
    H, W = guide.shape
    out = np.full((H, W), -7.0, np.float32)
    fixed = np.zeros(fixed_shape, np.int16)
    S._aggregate(C, guide, p, None, None, (max_diff, rad, code, out, fixed, inv, 0.0))
    return out, fixed


@pytest.mark.parametrize("paths", [4, 3])
@pytest.mark.parametrize("max_diff", [0, 1, 3])
# widths: a whole block of 16 pixels and a part of one (lr_check16), a part only, two whole
@pytest.mark.parametrize("W", [21, 9, 32])
def test_lr_check_matches_reference(rng, paths, max_diff, W):
    H, D = 7, 8
    C = rng.integers(0, 40, (H, W, D)).astype(np.uint8)
    guide = np.zeros((H, W), np.uint8)
    p = SGMParams(num_disparities=D, uniqueness_ratio=0, paths=paths)
    dint, dsub, rkey, _ = S.aggregate(C, guide, p)
    got, _ = _post(C, guide, p, max_diff, 0, 2)
    want = ref.lr_check(dint, dsub, rkey, max_diff)
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got).sum() > np.isnan(dsub).sum()  # the check did drop something


def test_median_and_fill_kernels():
    d = np.array([[1, 2, np.nan, 9, 4],
                  [1, 2, 3, np.nan, np.nan],
                  [np.nan, 5, 6, 7, 8]], np.float32)
    m = K.median3(d)
    assert np.array_equal(np.isnan(m), np.isnan(d))  # invalid stays invalid
    # (0, 0): valid neighbours 1, 2, 1, 2 -> median 1.5
    assert m[0, 0] == pytest.approx(1.5)
    assert m[1, 1] == pytest.approx(np.median([1, 2, 1, 2, 3, 5, 6]))
    f = K.fill_background(d)
    assert not np.isnan(f).any()
    assert f[0, 2] == 2  # min(2, 9): the farther side
    assert f[1, 3] == 3 and f[1, 4] == 3  # run to the border takes the one valid end
    assert f[2, 0] == 5


@pytest.mark.parametrize(("mode", "code"), [("parabola", 1), ("equiangular", 2)])
@pytest.mark.parametrize("rad", [0, 1, 2])
def test_refine_subpixel_matches_reference(rng, mode, code, rad):
    """The box fit on the raw costs (3x3 inside the image, clipped boxes at its borders)."""
    H, W, D = 7, 12, 6
    C = rng.integers(0, 60, (H, W, D)).astype(np.uint8)
    guide = rng.integers(0, 256, (H, W)).astype(np.uint8)
    p = SGMParams(num_disparities=D, min_disparity=2, uniqueness_ratio=10, subpixel=mode)
    dint, dsub, _, _ = S.aggregate(C, guide, p)
    got, _ = _post(C, guide, p, -1, rad, code)
    want = dsub if rad == 0 else ref.refine_subpixel(C, dint, dsub, 2, rad, mode)
    np.testing.assert_allclose(got, want, atol=1e-5, equal_nan=True)
    assert np.isnan(got).any() and (dint > 0).sum() > H * W // 2


def test_fill_occlusions_matches_reference(rng):
    d = rng.uniform(0, 20, (9, 40)).astype(np.float32)
    d[rng.random(d.shape) < 0.3] = np.nan
    d[2, 5:9] = np.nan
    d[2, 4], d[2, 9] = 3.0, 9.0  # gap of 4 left of a 6-px jump: filled with 3
    d[3, 5:15] = np.nan
    d[3, 4], d[3, 15] = 3.0, 9.0  # gap of 10: too wide, stays
    d[4, 5:6] = np.nan
    d[4, 4], d[4, 6] = 3.0, 19.0  # gap of 1 at a 16-px jump: too narrow, stays
    got = K.fill_occlusions(d, 1.0, 0.5)
    np.testing.assert_array_equal(got, ref.fill_occlusions(d, 1.0, 0.5))
    assert np.all(got[2, 5:9] == 3.0) and np.isnan(got[3, 5:15]).all() and np.isnan(got[4, 5])


@pytest.mark.parametrize("min_disp", [0, -5])
def test_remove_speckles_matches_numpy(rng, min_disp):
    """The numba conversions around cv2.filterSpeckles equal the plain-numpy formulation."""
    import cv2

    disp = (rng.random((40, 57)) * 30 + min_disp).astype(np.float32)
    disp[rng.random(disp.shape) < 0.2] = np.nan
    disp[:12, :15] = min_disp + 3.0  # a large flat region survives
    disp[20:23, 30:33] = min_disp + 25.0  # a 9-pixel speckle among noise goes
    inv = np.int16((min_disp - 1) * 16)
    fixed = np.where(np.isnan(disp), inv, np.clip(np.rint(disp * 16), -32767, 32767))
    fixed = fixed.astype(np.int16)
    cv2.filterSpeckles(fixed, int(inv), 20, 32.0)
    want = disp.copy()
    want[fixed == inv] = np.nan
    got = S.remove_speckles(disp, 20, 2.0, min_disp)
    np.testing.assert_array_equal(got, want)
    assert not np.isnan(got[:12, :15]).any() and np.isnan(got[20:23, 30:33]).all()


def test_speckle_filter_in_bands_equals_one_call(rng):
    """cv2.filterSpeckles on bands of rows plus the seam repair (K.speckle_seams) removes
    exactly what one call on the whole image removes, whatever the number of bands; the bands
    alone would not."""
    import cv2

    inv = np.int16(-16)
    naive_differs = 0
    for _ in range(60):
        H, W = (int(v) for v in rng.integers(6, 50, 2))
        blocks = rng.integers(0, 4, (H // 4 + 1, W // 4 + 1)).astype(np.float32) * 3
        d = np.kron(blocks, np.ones((4, 4), np.float32))[:H, :W] + rng.random((H, W)) * 2.5
        d[rng.random((H, W)) < rng.random() * 0.4] = np.nan
        d = d.astype(np.float32)
        fixed = np.empty((H, W), np.int16)
        K.speckle_fixed(d, fixed, inv, False)
        max_size = int(rng.integers(2, 40))
        want = d.copy()
        S._filter_speckles(want, fixed.copy(), inv, max_size, 2.0, bands=1)
        for bands in (2, 3, 7):
            got = d.copy()
            S._filter_speckles(got, fixed.copy(), inv, max_size, 2.0, bands=bands)
            np.testing.assert_array_equal(got, want)
            naive = fixed.copy()
            for y0, y1 in S.row_ranges(H, bands):
                cv2.filterSpeckles(naive[y0:y1], int(inv), max_size, 32)
            naive_differs += int(((naive == inv) != np.isnan(want)).any())
    assert naive_differs > 10  # the seams mattered in many of these cases


def test_speckle_seams_keep_a_large_region_split_into_small_parts():
    """A 'U' of 111 pixels whose arms (36 pixels each) lie in the upper band and whose base
    (39) in the lower one: with max_size 40 the bands alone remove every part, the repaired
    result keeps the whole region, and a 9-pixel speckle on the seam still goes."""
    import cv2

    inv = np.int16(-16)
    d = np.full((24, 20), np.nan, np.float32)
    d[0:12, 2:5] = 5.0   # left arm, rows 0-11
    d[0:12, 12:15] = 5.0  # right arm
    d[12:15, 2:15] = 5.0  # base, rows 12-14
    d[10:13, 17:20] = 9.0  # small speckle across the seam at row 12
    fixed = np.empty(d.shape, np.int16)
    K.speckle_fixed(d, fixed, inv, False)
    naive = fixed.copy()
    for y0, y1 in S.row_ranges(24, 2):
        cv2.filterSpeckles(naive[y0:y1], int(inv), 40, 16)
    assert (naive == inv).all()
    got = d.copy()
    S._filter_speckles(got, fixed.copy(), inv, 40, 1.0, bands=2)
    assert not np.isnan(got[0:15, 2:5]).any() and not np.isnan(got[12:15, 2:15]).any()
    assert np.isnan(got[10:13, 17:20]).all()
    want = d.copy()
    S._filter_speckles(want, fixed.copy(), inv, 40, 1.0, bands=1)
    np.testing.assert_array_equal(got, want)


# D = 9, 32 and 45: a partial vector chunk only, whole chunks only, both
@pytest.mark.parametrize(("win", "min_disp", "cost", "D"),
                         [((9, 7), 0, "census", 9), ((5, 5), 3, "census_grad", 9),
                          ((3, 3), -2, "census", 9), ((9, 7), 30, "census", 9),
                          ((9, 7), 2, "census", 45), ((5, 5), -1, "census", 32),
                          ((5, 5), 0, "census", 45), ((7, 9), 1, "census", 9)])
def test_census_costs_match_reference(rng, win, min_disp, cost, D):
    """The census costs computed row by row (cost_census_rows) == the numpy census transform
    and Hamming costs (few grey levels: many ties, so the census's strict '<' matters)."""
    a, b = _pair(rng, h=13, w=97, levels=6)
    ww, wh = win
    p = SGMParams(num_disparities=D, min_disparity=min_disp, cost=cost, census_window=win)
    got = S.cost_volume(a, b, p)
    cl, cr = ref.census(a, wh, ww), ref.census(b, wh, ww)
    if cost == "census_grad":
        inv = min(255, ww * wh - 1 + int(p.gradient_cap * p.gradient_weight))
        want = ref.cost_census(cl, cr, D, min_disp, inv, ref.xgrad(a), ref.xgrad(b),
                               np.float32(p.gradient_cap), np.float32(p.gradient_weight))
    else:
        want = ref.cost_census(cl, cr, D, min_disp, ww * wh - 1)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(("win", "D", "min_disp", "cost"),
                         [((9, 7), 40, 0, "census"), ((5, 5), 7, -2, "census"),
                          ((7, 9), 33, 3, "census_grad")])
def test_symmetric_census_cost_matches_reference(rng, win, D, min_disp, cost):
    a, b = _pair(rng, h=13, w=67, levels=6)
    ww, wh = win
    p = SGMParams(num_disparities=D, min_disparity=min_disp, cost=cost, census_window=win,
                  census_symmetric=True)
    got = S.cost_volume(a, b, p)
    nbits = (ww * wh - 1) // 2
    cl, cr = ref.census_symmetric(a, wh, ww), ref.census_symmetric(b, wh, ww)
    assert int(cl.max()).bit_length() <= nbits
    if cost == "census":
        want = ref.cost_census(cl, cr, D, min_disp, nbits)
    else:
        inv = min(255, nbits + int(p.gradient_cap * p.gradient_weight))
        want = ref.cost_census(cl, cr, D, min_disp, inv, ref.xgrad(a), ref.xgrad(b),
                               np.float32(p.gradient_cap), np.float32(p.gradient_weight))
    np.testing.assert_array_equal(got, want)



@pytest.mark.parametrize("cost", ["census", "census_grad"])
@pytest.mark.parametrize(("window", "sym"), [((5, 5), False), ((9, 7), False), ((9, 7), True),
                                             ((7, 3), False)])
def test_census_of_uint8_images_equals_float(rng, window, sym, cost):
    """uint8 images keep their dtype in the census job (a quarter of float32's memory) and
    give the costs of the same values in float32 (unsigned byte compares; the gradients of
    census_grad in float32 either way)."""
    a, b = _pair(rng, h=13, w=45)
    a[0, :4] = [0, 255, 128, 127]
    p = SGMParams(num_disparities=11, min_disparity=-2, census_window=window,
                  census_symmetric=sym, cost=cost)
    job = S.census_job(a.astype(np.uint8), b.astype(np.uint8), p)
    assert job[0].dtype == np.uint8 and job[1].dtype == np.uint8
    np.testing.assert_array_equal(S.cost_volume(a.astype(np.uint8), b.astype(np.uint8), p),
                                  S.cost_volume(a, b, p))


@pytest.mark.parametrize("paths", [4, 5])
@pytest.mark.parametrize(("max_diff", "rad", "code"), [(1, 1, 2), (0, 2, 1), (-1, 1, 2), (2, 0, 1)])
def test_post_processing_matches_reference(rng, paths, max_diff, rad, code):
    """The post-processing in the aggregation tasks (K._lr_row) == the LR check, then the box
    sub-pixel fit (numpy references), then speckle_fixed's int16 copy."""
    H, W, D = 9, 26, 8
    C = rng.integers(0, 40, (H, W, D)).astype(np.uint8)
    guide = rng.integers(0, 256, (H, W)).astype(np.uint8)
    p = SGMParams(num_disparities=D, min_disparity=-2, uniqueness_ratio=10, paths=paths)
    dint, dsub, rkey, _ = S.aggregate(C, guide, p)
    want = ref.lr_check(dint, dsub, rkey, max_diff) if max_diff >= 0 else dsub
    if rad > 0:
        mode = {1: "parabola", 2: "equiangular"}[code]
        want = ref.refine_subpixel(C, dint, want, -2, rad, mode)
    inv = _INVALID
    want_fixed = np.empty((H, W), np.int16)
    K.speckle_fixed(want, want_fixed, inv, False)
    for fixed_shape in ((H, W), (0, 0)):
        got, fixed = _post(C, guide, p, max_diff, rad, code, fixed_shape, inv)
        np.testing.assert_allclose(got, want, atol=1e-5, equal_nan=True)
        if fixed_shape[0]:
            np.testing.assert_array_equal(fixed, want_fixed)
    assert np.isnan(got).any() and not np.isnan(got).all()



@pytest.mark.parametrize(("paths", "H", "rad", "trunc"),
                         [(4, 40, 1, 0.5), (8, 17, 2, 0.3), (4, 3, 1, 0.5), (8, 5, 2, 0.0),
                          (4, 12, 0, 0.4), (8, 2, 0, 0.5)])
def test_costs_in_rings_equal_the_volume(rng, paths, H, rad, trunc):
    """The two sweeps with no cost volume (each task computes its rows' costs into a ring, the
    second phase ahead of its paths) give the WTA and the post-processing (box fit over
    ``2 rad + 1`` rows, truncated-cost test over 3) of the volume, also for images no taller
    than the ring."""
    a, b = _pair(rng, h=H, w=37, levels=30)
    p = SGMParams(num_disparities=12, min_disparity=-1, paths=paths, census_window=(3, 1),
                  uniqueness_ratio=5)
    guide = K.guide_u8(a)
    C = S.cost_volume(a, b, p)
    outs = []
    for vol, job in ((C, None), (None, S.census_job(a, b, p))):
        out = np.full((H, 37), -7.0, np.float32)
        post = (1, rad, 1, out, np.zeros((0, 0), np.int16), _INVALID,
                float(trunc * job[8]) if job else float(trunc * S.census_job(a, b, p)[8]))
        outs.append((*S._aggregate(vol, guide, p, None, job, post)[:3], out))
    for g, w in zip(outs[1], outs[0]):
        np.testing.assert_array_equal(g, w)
    assert np.isfinite(outs[0][3]).any()
    with pytest.raises(ParameterError, match="16 paths"):
        S.aggregate(None, guide, SGMParams(num_disparities=12, paths=16),
                    job=S.census_job(a, b, p))


@pytest.mark.parametrize("paths", [3, 4])
def test_truncated_cost_test_matches_reference(rng, paths):
    """Winners where the disparity range runs off the right image are dropped when their mean
    cost over the box (3x3 from the rows around, 1x3 in the single pass, which keeps one row
    of costs) exceeds the bound; pixels whose right pixel is outside are left out of the
    box."""
    H, W, D, min_disp = 14, 40, 12, -1
    a, b = _pair(rng, h=H, w=W, levels=30)
    p = SGMParams(num_disparities=D, min_disparity=min_disp, paths=paths,
                  census_window=(3, 1), uniqueness_ratio=0, subpixel="none")
    guide = K.guide_u8(a)
    job = S.census_job(a, b, p)
    C = S.cost_volume(a, b, p)
    trunc_max = 0.35 * job[8]
    dint, dsub, _, _ = S.aggregate(C, guide, p)
    want = dsub.copy()
    rows = 0 if paths == 3 else 1
    for y in range(H):
        for x in range(min(W, D - 1 + min_disp)):
            d = int(dint[y, x])
            if d < 0:
                continue
            box = C[max(y - rows, 0):y + rows + 1, max(x - 1, min_disp + d, 0):x + 2, d]
            if box.sum() > trunc_max * box.size:
                want[y, x] = np.nan
    out = np.full((H, W), -7.0, np.float32)
    S._aggregate(None, guide, p, None, job,
                 (-1, 0, 0, out, np.zeros((0, 0), np.int16), _INVALID, trunc_max))
    np.testing.assert_array_equal(out, want)
    assert np.isnan(want[:, :D]).sum() > np.isnan(dsub[:, :D]).sum()  # the test dropped some

def test_guide_matches_numpy(rng):
    img = (rng.random((9, 31)) * 300 - 20).astype(np.float32)
    img[0, :3] = [254.5, -0.4, 0.49]
    np.testing.assert_array_equal(K.guide_u8(img), np.clip(img + 0.5, 0, 255).astype(np.uint8))
