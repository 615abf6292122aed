"""Disparity <-> depth: exact values, round trip, invalid handling, uncertainty, bad input."""

import numpy as np
import pytest

from depthkit import Intrinsics, StereoRig
from depthkit.errors import ParameterError, ShapeError
from depthkit.geometry import depth_to_disparity, disparity_to_depth, stereo_constants

INTR = Intrinsics(48, 32, 500.0, 500.0, 23.5, 15.5)


def test_known_values_and_invalid_become_nan():
    d = np.array([[50.0, 25.0, 0.0, -3.0, np.nan, np.inf]], np.float32)
    z = disparity_to_depth(d, focal_px=500.0, baseline_m=0.1)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[0, :2], [1.0, 2.0], rtol=1e-6)
    assert np.isnan(z[0, 2:]).all()  # zero, negative, NaN, inf: never a huge number


def test_round_trip_with_rig_and_q(rng):
    rig = StereoRig.rectified_pair(INTR, 0.08)
    z = rng.uniform(0.3, 5.0, (32, 48)).astype(np.float32)
    z[3, 4] = np.nan
    for kw in ({"rig": rig}, {"Q": rig.Q}, {"focal_px": 500.0, "baseline_m": 0.08}):
        d = depth_to_disparity(z, **kw)
        np.testing.assert_allclose(d[0, 0], 500.0 * 0.08 / z[0, 0], rtol=1e-5)
        back = disparity_to_depth(d, **kw)
        np.testing.assert_allclose(back, z, rtol=1e-5)
        assert np.isnan(back[3, 4]) and np.isnan(d[3, 4])


def test_q_and_rig_agree_with_disparity_offset():
    # a rig whose rectified principal points differ: Z = f B / (d - (cx_l - cx_r))
    rig = StereoRig.rectified_pair(INTR, 0.1)
    P2 = rig.P2.copy()
    P2[0, 2] -= 4.0  # cx_right = cx_left - 4 -> offset +4 px
    from depthkit.types import _q_matrix

    Q = _q_matrix(500.0, INTR.cx, INTR.cy, INTR.cx - 4.0, 0.1)
    rig2 = rig.with_rectification(rig.R1, rig.R2, rig.P1, P2, Q)
    f, b, d0 = stereo_constants(rig2)
    assert (f, d0) == (500.0, 4.0)
    np.testing.assert_allclose(stereo_constants(Q=Q), (f, b, d0))
    d = np.array([[54.0, 4.0, 3.0]], np.float32)
    z = disparity_to_depth(d, rig2)
    np.testing.assert_allclose(z[0, 0], 1.0, rtol=1e-6)
    assert np.isnan(z[0, 1:]).all()
    np.testing.assert_allclose(disparity_to_depth(d, Q=Q), z, rtol=1e-6)


def test_sigma_follows_z_squared():
    d = np.array([[50.0, 10.0, np.nan]], np.float32)
    z, s = disparity_to_depth(d, focal_px=500, baseline_m=0.1, return_sigma=True,
                              disparity_sigma=0.5)
    np.testing.assert_allclose(s[0, :2], z[0, :2] ** 2 / 50.0 * 0.5, rtol=1e-6)
    assert np.isnan(s[0, 2])
    sig = np.full(d.shape, 1.0, np.float32)
    _, s2 = disparity_to_depth(d, focal_px=500, baseline_m=0.1, return_sigma=True,
                               disparity_sigma=sig)
    np.testing.assert_allclose(s2[0, 1], 25.0 / 50.0, rtol=1e-6)


def test_bad_inputs():
    d = np.ones((4, 4), np.float32)
    with pytest.raises(ParameterError, match="exactly one way"):
        disparity_to_depth(d)
    with pytest.raises(ParameterError, match="exactly one way"):
        disparity_to_depth(d, StereoRig.rectified_pair(INTR, 0.1), focal_px=1.0, baseline_m=1.0)
    with pytest.raises(ParameterError, match="go together"):
        disparity_to_depth(d, focal_px=500.0)
    with pytest.raises(ParameterError, match="baseline_m` must be > 0"):
        disparity_to_depth(d, focal_px=500.0, baseline_m=-1)
    with pytest.raises(ParameterError, match="must be a depthkit.StereoRig"):
        disparity_to_depth(d, "rig")
    with pytest.raises(ParameterError, match="not rectified"):
        disparity_to_depth(d, StereoRig(INTR, INTR, np.eye(3), [-0.1, 0, 0]))
    with pytest.raises(ParameterError, match="not a stereoRectify"):
        disparity_to_depth(d, Q=np.eye(4))
    with pytest.raises(ParameterError, match="disparity_offset_px must be finite"):
        disparity_to_depth(d, focal_px=1, baseline_m=1, disparity_offset_px=np.nan)
    with pytest.raises(ShapeError, match="dtype"):
        disparity_to_depth(np.ones((4, 4), np.uint8), focal_px=1, baseline_m=1)
    with pytest.raises(ShapeError, match=r"\(H, W\)"):
        disparity_to_depth(np.ones((4, 4, 3), np.float32), focal_px=1, baseline_m=1)
    with pytest.raises(ShapeError, match="disparity_sigma"):
        disparity_to_depth(d, focal_px=1, baseline_m=1, return_sigma=True,
                           disparity_sigma=np.ones(3))
    with pytest.raises(ParameterError, match="disparity_sigma must be >= 0"):
        disparity_to_depth(d, focal_px=1, baseline_m=1, return_sigma=True, disparity_sigma=-1)
