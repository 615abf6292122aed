"""RealSense-style filters on hand-built inputs with known answers."""

import numpy as np
import pytest

from depthkit import DepthFrame, Intrinsics, RGBDFrame
from depthkit.errors import ParameterError, ShapeError
from depthkit.geometry import (
    PostProcessor,
    TemporalFilter,
    decimate,
    fill_holes,
    from_disparity_domain,
    spatial_filter,
    threshold,
    to_disparity_domain,
    to_pointcloud,
)

INTR = Intrinsics(40, 30, 50.0, 50.0, 19.5, 14.5)


def test_decimation_values_and_intrinsics():
    img = np.arange(30 * 40, dtype=np.float32).reshape(30, 40)
    img[0, 0] = np.nan  # ignored, not propagated
    img[2:4, 2:4] = np.nan  # a whole block invalid -> NaN
    out, intr = decimate(img, INTR, factor=2)
    assert out.shape == (15, 20) and (intr.width, intr.height) == (20, 15)
    assert out[0, 0] == 40.0  # lower median of {1, 40, 41}
    assert np.isnan(out[1, 1])
    assert out[5, 7] == 415.0  # lower median of {414, 415, 454, 455}: a measured value
    assert (intr.fx, intr.fy) == (25.0, 25.0)
    assert (intr.cx, intr.cy) == (9.5, 7.0)
    # factor 4: mean of the valid values; 30 rows crop to 28
    out4, intr4 = decimate(img, INTR, factor=4)
    assert out4.shape == (7, 10) and intr4.height == 7
    assert out4[3, 5] == pytest.approx(img[12:16, 20:24].mean())


def test_decimated_plane_stays_on_the_plane():
    # a tilted plane z = 1 + 0.01 x: back-projection through the new intrinsics agrees
    u, v = np.meshgrid(np.arange(40), np.arange(30))
    x = (u - INTR.cx) / INTR.fx
    z = (1.0 / (1.0 - 0.01 * x)).astype(np.float32)  # ray hits plane z = 1 + 0.01 X
    small, intr = decimate(z, INTR, factor=2)
    pts, _ = to_pointcloud(small, intr)
    np.testing.assert_allclose(pts[:, 2], 1.0 + 0.01 * pts[:, 0], atol=2e-4)


def test_spatial_filter_smooths_noise_but_keeps_an_edge(rng):
    img = np.full((30, 40), 10.0, np.float32)
    img[:, 20:] = 30.0  # a step of 20 (disparity px)
    noisy = img + rng.normal(0, 0.3, img.shape).astype(np.float32)
    out = spatial_filter(noisy, alpha=0.5, delta=3.0, iterations=2)
    assert np.std(out[:, 2:18] - 10.0) < 0.5 * np.std(noisy[:, 2:18] - 10.0)
    # the edge stays sharp: columns beside it keep their own level
    assert abs(out[:, 19].mean() - 10.0) < 0.3 and abs(out[:, 20].mean() - 30.0) < 0.3
    # alpha = 1 changes nothing; NaN stays NaN and stops smoothing
    np.testing.assert_array_equal(spatial_filter(noisy, alpha=1.0), noisy)
    noisy[5, 5] = np.nan
    assert np.isnan(spatial_filter(noisy)[5, 5])


def test_temporal_filter_smooths_and_persists():
    tf = TemporalFilter(alpha=0.5, delta=5.0, persistence="2/4")
    a = np.full((2, 3), 10.0, np.float32)
    np.testing.assert_allclose(tf(a), 10.0)
    np.testing.assert_allclose(tf(a + 2.0), 11.0)  # 0.5 * 12 + 0.5 * 10
    np.testing.assert_allclose(tf(a + 20.0), 30.0)  # a jump above delta is taken as is
    hole = a.copy()
    hole[0, 0] = np.nan
    out = tf(hole)
    assert out[0, 0] == 30.0  # valid in 3 of the last 4 frames: keeps the last value
    tf2 = TemporalFilter(persistence="off")
    tf2(a)
    assert np.isnan(tf2(hole)[0, 0])
    # "2/3": only one valid frame before -> not enough
    tf3 = TemporalFilter(persistence="2/3")
    tf3(a)
    assert np.isnan(tf3(hole)[0, 0])
    tf3(a)
    tf3(a)
    assert tf3(hole)[0, 0] == 10.0
    # "always" (index 8) keeps it forever
    tf4 = TemporalFilter(persistence=8)
    tf4(a)
    for _ in range(10):
        assert tf4(hole)[0, 0] == 10.0
    tf4.reset()
    assert np.isnan(tf4(hole)[0, 0])


def test_hole_is_filled_farthest_nearest_left():
    img = np.full((6, 8), 2.0, np.float32)
    img[:, 4:] = 1.0  # near object on the right
    img[2:4, 3:5] = np.nan  # a hole across the edge
    far = fill_holes(img, "farthest")
    near = fill_holes(img, "nearest")
    assert np.isfinite(far).all() and np.isfinite(near).all()
    assert far[2, 4] == 2.0 and near[2, 4] == 1.0
    left = fill_holes(img, "left")
    assert left[2, 3] == 2.0 and left[2, 4] == 2.0
    # disparity domain: farthest is the smallest value
    disp = 1.0 / img
    assert fill_holes(disp, "farthest", domain="disparity")[2, 4] == 0.5
    # a hole at the top-left corner is filled by the backward pass
    img2 = np.full((5, 5), 3.0, np.float32)
    img2[:2, :2] = np.nan
    assert np.isfinite(fill_holes(img2)).all()
    # all-invalid stays invalid, without a crash
    assert np.isnan(fill_holes(np.full((4, 4), np.nan, np.float32))).all()


def test_threshold_and_domain():
    z = np.array([[0.05, 0.5, 2.0, 9.0, np.nan, -1.0]], np.float32)
    t = threshold(z, 0.1, 4.0)
    np.testing.assert_array_equal(np.isfinite(t), [[False, True, True, False, False, False]])
    d = to_disparity_domain(z, 50.0 * 0.05)
    np.testing.assert_allclose(d[0, 1], 5.0)
    np.testing.assert_allclose(from_disparity_domain(d, 2.5)[0, :4], z[0, :4], rtol=1e-6)
    assert np.isnan(d[0, 4:]).all()


def test_post_processor_chain(rng):
    depth = np.full((30, 40), 1.0, np.float32) + rng.normal(0, 0.005, (30, 40)).astype(np.float32)
    depth[10:12, 10:12] = np.nan
    color = np.full((30, 40, 3), 90, np.uint8)
    f = RGBDFrame(depth, INTR, color=color, disparity=np.ones((30, 40), np.float32))
    pp = PostProcessor(decimation=2, min_m=0.2, max_m=3.0, hole_filling="farthest")
    out = pp(f)
    assert isinstance(out, RGBDFrame) and out.depth_m.shape == (15, 20)
    assert out.intrinsics.fx == 25.0 and out.color.shape == (15, 20, 3) and out.disparity is None
    assert (out.color == 90).all()
    assert np.isfinite(out.depth_m).all()
    assert np.nanstd(out.depth_m) < np.nanstd(depth)
    pp2 = PostProcessor(decimation=1, spatial=False, temporal={"alpha": 0.5, "delta": 100.0})
    g = DepthFrame(np.full((30, 40), 2.0, np.float32), INTR)
    pp2(g)
    np.testing.assert_allclose(pp2(DepthFrame(np.full((30, 40), 1.0, np.float32), INTR)).depth_m,
                               1.0 / (0.5 / 1.0 + 0.5 / 2.0), rtol=1e-5)  # averaged disparity
    pp2.reset()
    np.testing.assert_allclose(pp2(g).depth_m, 2.0, rtol=1e-6)
    # an all-invalid frame passes through without crashing
    empty = pp(DepthFrame(np.full((30, 40), np.nan, np.float32), INTR))
    assert np.isnan(empty.depth_m).all()


def test_bad_inputs():
    img = np.ones((30, 40), np.float32)
    with pytest.raises(ParameterError, match="factor must be an integer"):
        decimate(img, INTR, factor=0)
    with pytest.raises(ParameterError, match="larger than the image"):
        decimate(np.ones((3, 3), np.float32), Intrinsics(3, 3, 5, 5, 1, 1), factor=4)
    with pytest.raises(ParameterError, match="Intrinsics"):
        decimate(img, None)
    with pytest.raises(ShapeError, match="camera is 40x30"):
        decimate(np.ones((8, 8), np.float32), INTR)
    with pytest.raises(ShapeError, match="dtype"):
        spatial_filter(np.ones((4, 4), np.uint16))
    with pytest.raises(ParameterError, match="alpha"):
        spatial_filter(img, alpha=0.0)
    with pytest.raises(ParameterError, match="delta"):
        spatial_filter(img, delta=-1)
    with pytest.raises(ParameterError, match="iterations"):
        spatial_filter(img, iterations=9)
    with pytest.raises(ParameterError, match="unknown persistence"):
        TemporalFilter(persistence="3/4")
    with pytest.raises(ParameterError, match="index must be 0-8"):
        TemporalFilter(persistence=9)
    tf = TemporalFilter()
    tf(img)
    with pytest.raises(ParameterError, match="frame size changed"):
        tf(np.ones((5, 5), np.float32))
    with pytest.raises(ParameterError, match="unknown hole-filling mode"):
        fill_holes(img, "random")
    with pytest.raises(ParameterError, match="domain must be"):
        fill_holes(img, domain="metres")
    with pytest.raises(ParameterError, match="min_m < max_m"):
        threshold(img, 3.0, 1.0)
    with pytest.raises(ParameterError, match="scale"):
        to_disparity_domain(img, 0)
    with pytest.raises(ParameterError, match="decimation"):
        PostProcessor(decimation=0)
    with pytest.raises(ParameterError, match="unknown hole-filling mode"):
        PostProcessor(hole_filling="x")
    with pytest.raises(ParameterError, match="min_m < max_m"):
        PostProcessor(min_m=2, max_m=1)
    with pytest.raises(ParameterError, match="alpha"):
        PostProcessor(spatial={"alpha": 2})
    with pytest.raises(ParameterError, match="takes a DepthFrame"):
        PostProcessor()(img)
