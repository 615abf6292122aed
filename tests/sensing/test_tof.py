"""CW-ToF decoding: correlation model, unwrapping, geometry, filters, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from depthkit.errors import ParameterError, ShapeError
from depthkit.sensing import tof
from depthkit.sensing.tof import C_LIGHT, ToFDecoder, ToFRawFrame, decode_tof, unambiguous_range
from depthkit.sim.tof import ToFSimParams, correlation_samples
from depthkit.types import Intrinsics

F3 = (80e6, 16e6, 120e6)
DIST = (-0.12, 0.04, 0.0005, -0.0003, 0.0)


def _intr(w=64, h=48, distortion=()):
    f = 0.5 * w / np.tan(np.radians(35))
    return Intrinsics(w, h, f, f, (w - 1) / 2 + 1.5, (h - 1) / 2 - 1.0, distortion)


def _ramp(h=48, w=64, lo=0.3, hi=15.0):
    return np.linspace(lo, hi, h * w).reshape(h, w)


@pytest.mark.parametrize("n", [3, 4, 5, 8])
def test_phase_amplitude_inverts_the_correlation_model(n, rng):
    phi = rng.uniform(0, 2 * np.pi, (5, 7))
    A = rng.uniform(1, 50, (5, 7))
    B = A + rng.uniform(0, 100, (5, 7))
    k = np.arange(n)[:, None, None]
    S = B + A * np.cos(phi + 2 * np.pi * k / n)
    p, a, b = tof.phase_amplitude(S)
    dp = np.angle(np.exp(1j * (p - phi)))
    np.testing.assert_allclose(dp, 0, atol=1e-10)
    np.testing.assert_allclose(a, A, rtol=1e-10)
    np.testing.assert_allclose(b, B, rtol=1e-10)


def test_simulated_samples_follow_the_model():
    r = _ramp(4, 5, 0.5, 3.0)
    S = correlation_samples(r, np.full(r.shape, 100.0), 30.0, F3, 4, contrast=0.5)
    for m, f in enumerate(F3):
        k = np.arange(4)[:, None, None]
        expect = 130.0 + 50.0 * np.cos(4 * np.pi * f * r / C_LIGHT + 2 * np.pi * k / 4)
        np.testing.assert_allclose(S[m], expect, rtol=1e-5)


def test_unambiguous_range_of_frequency_sets():
    assert unambiguous_range(F3) == pytest.approx(C_LIGHT / (2 * 8e6))
    # the Kinect set reaches far beyond its highest frequency alone (the issue asks >= 4x)
    assert unambiguous_range(F3) >= 4 * C_LIGHT / (2 * 120e6)
    assert unambiguous_range((100e6, 80e6)) == pytest.approx(C_LIGHT / (2 * 20e6))


@pytest.mark.parametrize("freqs", [F3, (100e6, 80e6), (100e6, 80e6, 60e6, 25e6)])
def test_noise_free_samples_decode_exactly_beyond_single_frequency_range(freqs):
    amb = unambiguous_range(freqs)
    r = _ramp(lo=0.3, hi=0.98 * amb)
    S = correlation_samples(r, 2e5 / np.maximum(r, 1) ** 2, 100.0, freqs, 3)
    dec = ToFDecoder(_intr(), freqs, undistort=False, flying_pixel_threshold=0)
    out = dec.decode_full(S)
    assert np.all(out.status == 0)
    np.testing.assert_allclose(out.range_m, r, atol=2e-5 * r.max())
    # most of these ranges are beyond what the highest frequency alone can tell apart
    assert np.mean(r > C_LIGHT / (2 * max(freqs))) > 0.5


def test_unwrap_function_matches_phases():
    r = _ramp(6, 8, 0.4, 17.0)
    phases = np.stack([np.mod(4 * np.pi * f * r / C_LIGHT, 2 * np.pi) for f in F3])
    got, status = tof.unwrap(phases, F3)
    assert np.all(status == 0)
    np.testing.assert_allclose(got, r, atol=1e-4)
    with pytest.raises(ShapeError, match="phase maps but"):
        tof.unwrap(phases[:2], F3)
    with pytest.raises(ParameterError, match="phase_sigma must be > 0"):
        tof.unwrap(phases, F3, phase_sigma=0.0)


def test_heavy_noise_gives_invalid_pixels_not_wrong_ones():
    r = _ramp(60, 80, 0.5, 12.0)
    rng = np.random.default_rng(3)
    for power in (40000.0, 3000.0, 500.0):
        S = correlation_samples(r, power * 0.5 / r**2, 800.0, F3, 3, rng=rng, read_noise=10.0)
        out = ToFDecoder(_intr(80, 60), F3, read_noise=10.0, undistort=False,
                         flying_pixel_threshold=0).decode_full(S)
        valid = np.isfinite(out.range_m)
        wrong = np.abs(out.range_m[valid] - r[valid]) > 0.25
        assert wrong.mean() <= 1e-3, (power, wrong.mean())
        assert valid.mean() > (0.9 if power > 10000 else 0.02)
        assert np.all(np.isin(out.status[~valid], (2, 3, 4, 5)))


def test_radial_to_z_on_a_fronto_parallel_plane():
    intr = _intr(distortion=DIST)
    rz = tof.ray_z_table(intr)
    z = 2.5
    r = z / rz
    np.testing.assert_allclose(tof.radial_to_z(r, intr), z, rtol=1e-6)
    assert rz.max() <= 1.0 and rz.min() > 0.5
    with pytest.raises(ShapeError, match="the camera is"):
        tof.radial_to_z(r[:-1], intr)


def test_decoder_undistorts_a_plane():
    intr = _intr(distortion=DIST)
    z = 1.7
    r = z / tof.ray_z_table(intr)
    S = correlation_samples(r, np.full(r.shape, 3000.0), 200.0, F3, 3)
    frame = ToFDecoder(intr, F3).decode(S)
    assert frame.intrinsics.distortion == ()
    d = frame.depth_m
    assert np.isfinite(d).mean() > 0.9
    np.testing.assert_allclose(d[np.isfinite(d)], z, rtol=1e-4)
    raw = ToFDecoder(intr, F3, undistort=False).decode(S)
    assert raw.intrinsics.distortion == intr.distortion
    assert np.all(np.isfinite(raw.depth_m))


def test_decoder_matches_its_public_building_blocks(rng):
    # the decoder fuses the flying-pixel filter, confidence and undistortion into its own
    # kernels; they must give what the public functions give, step by step
    intr = _intr(80, 60, distortion=DIST)
    z = np.where(np.arange(80)[None, :] < 40, 1.2, 2.9) * np.ones((60, 1))
    z[:, 40] = 2.0                     # a column of mixed pixels at the edge
    r = z / tof.ray_z_table(intr)
    S = correlation_samples(r, np.full(r.shape, 3000.0), 200.0, F3, 3, rng=rng, read_noise=3.0)
    raw = ToFDecoder(intr, F3, undistort=False, flying_pixel_threshold=0).decode_full(S)
    out = ToFDecoder(intr, F3).decode_full(S)
    z_raw = raw.depth.depth_m
    filt = tof.filter_flying_pixels(z_raw, 0.03)
    expect, _ = tof.undistort_depth(filt, intr)
    got = out.depth.depth_m
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expect))
    np.testing.assert_allclose(got[np.isfinite(got)], expect[np.isfinite(expect)], rtol=1e-6)
    dropped = np.isnan(filt) & np.isfinite(z_raw)
    assert dropped.any() and np.all(out.status[dropped] == 6)
    assert np.all(out.status[~dropped] == raw.status[~dropped])
    conf = out.depth.confidence
    assert np.all(conf[np.isnan(got)] == 0) and np.all((conf[np.isfinite(got)] > 0.5)
                                                      & (conf[np.isfinite(got)] <= 1))


def test_flying_pixel_filter_removes_mixed_pixels_only():
    d = np.full((20, 30), 1.0, np.float32)
    d[:, 15:] = 3.0
    d[:, 14] = 2.0                     # a column of mixed pixels at the edge
    d[5, 5] = 1.6                      # a speck
    d[10, 20] = np.nan
    out = tof.filter_flying_pixels(d, 0.05)
    assert np.all(np.isnan(out[:, 14]))
    assert np.isnan(out[5, 5])
    keep = np.ones_like(d, bool)
    keep[:, 14] = False
    keep[5, 5] = False
    keep[10, 20] = False
    np.testing.assert_array_equal(out[keep], d[keep])
    # a tilted plane is not an edge
    ramp = np.tile(np.linspace(1.0, 1.3, 30, dtype=np.float32), (20, 1))
    np.testing.assert_array_equal(tof.filter_flying_pixels(ramp, 0.03), ramp)
    with pytest.raises(ParameterError, match="rel_threshold"):
        tof.filter_flying_pixels(d, 0.0)


def test_joint_bilateral_smooths_keeps_edges_and_nan_does_not_spread(rng):
    d = np.where(np.arange(40)[None, :] < 20, 1.0, 2.0) * np.ones((30, 1))
    noisy = (d + rng.normal(0, 0.005, d.shape)).astype(np.float32)
    noisy[10:12, 5:7] = np.nan
    guide = np.where(d < 1.5, 100.0, 300.0).astype(np.float32)
    out = tof.joint_bilateral(noisy, guide, radius=2)
    assert np.array_equal(np.isnan(out), np.isnan(noisy))
    ok = np.isfinite(out)
    assert np.std((out - d)[ok]) < 0.6 * np.std((noisy - d)[ok])
    assert np.max(np.abs(out - d)[ok]) < 0.05          # no blur across the 1 m step
    with pytest.raises(ShapeError, match="guide has shape"):
        tof.joint_bilateral(noisy, guide[:-1])


def test_smoothing_option_and_confidence():
    r = _ramp(lo=0.5, hi=4.0)
    S = correlation_samples(r, 20000 / r**2, 500.0, F3, 3, rng=np.random.default_rng(1))
    plain = ToFDecoder(_intr(), F3, undistort=False).decode(S)
    smooth = ToFDecoder(_intr(), F3, undistort=False, smoothing=True).decode(S)
    assert np.all(np.isfinite(smooth.depth_m) == np.isfinite(plain.depth_m))
    assert plain.confidence.min() >= 0 and plain.confidence.max() <= 1
    assert np.all(plain.confidence[np.isfinite(plain.depth_m)] > 0)


def test_saturated_zero_amplitude_and_nan_regions_are_invalid_locally():
    r = np.full((24, 32), 2.0)
    S = correlation_samples(r, np.full(r.shape, 3000.0), 200.0, F3, 3)
    S[:, :, :4, :4] = 65000.0                # saturated
    S[:, :, 10:14, 10:14] = 500.0            # zero amplitude (flat samples)
    S[0, 1, 20, 20] = np.nan                 # a broken sample
    out = ToFDecoder(_intr(32, 24), F3, saturation=60000.0, undistort=False).decode_full(S)
    d = out.depth.depth_m
    smooth = ToFDecoder(_intr(32, 24), F3, saturation=60000.0, smoothing=True).decode(S)
    assert np.isfinite(smooth.depth_m).mean() > 0.8
    assert np.all(out.status[:4, :4] == 1)
    assert np.all(out.status[10:14, 10:14] == 2)
    assert out.status[20, 20] == 1
    bad = np.zeros(r.shape, bool)
    bad[:4, :4] = bad[10:14, 10:14] = True
    bad[20, 20] = True
    assert np.all(np.isnan(d[bad]))
    np.testing.assert_allclose(d[~bad], 2.0 * tof.ray_z_table(_intr(32, 24))[~bad], rtol=1e-4)
    # integer input saturates at the dtype maximum unless told otherwise
    S16 = np.clip(np.nan_to_num(S), 0, 65535).astype(np.uint16)
    S16[:, :, :4, :4] = 65535
    out16 = ToFDecoder(_intr(32, 24), F3, undistort=False).decode_full(S16)
    assert np.all(out16.status[:4, :4] == 1)


def test_bad_input_raises_clear_errors():
    intr = _intr(32, 24)
    dec = ToFDecoder(intr, F3)
    good = np.zeros((3, 3, 24, 32), np.float32)
    with pytest.raises(ShapeError, match="at least 3 phase steps"):
        dec.decode(good[:, :2])
    with pytest.raises(ShapeError, match="hold 2 frequencies"):
        dec.decode(good[:2])
    with pytest.raises(ShapeError, match="but the camera is"):
        dec.decode(good[..., :-1])
    with pytest.raises(ShapeError, match=r"must be \(M, N, H, W\)"):
        dec.decode(good[0])
    with pytest.raises(ShapeError, match="numpy array"):
        dec.decode([1, 2, 3])
    with pytest.raises(ShapeError, match="N >= 3"):
        tof.phase_amplitude(np.zeros((2, 4, 4)))
    with pytest.raises(ParameterError, match="exceeds the unambiguous range"):
        ToFDecoder(intr, (120e6,), max_range_m=2.0)
    with pytest.raises(ParameterError, match="must differ"):
        ToFDecoder(intr, (80e6, 80e6))
    with pytest.raises(ParameterError, match="1 to 4 modulation"):
        ToFDecoder(intr, ())
    with pytest.raises(ParameterError, match="must be > 0 Hz"):
        ToFDecoder(intr, (-1.0, 2e6))
    with pytest.raises(ParameterError, match="amplitude_threshold"):
        ToFDecoder(intr, F3, amplitude_threshold=-1)
    with pytest.raises(ParameterError, match="min_margin"):
        ToFDecoder(intr, F3, min_margin=-1)
    with pytest.raises(ParameterError, match="read_noise > 0"):
        ToFDecoder(intr, F3, gain=None)
    with pytest.raises(ParameterError, match="flying_pixel_threshold"):
        ToFDecoder(intr, F3, flying_pixel_threshold=-0.1)
    with pytest.raises(ShapeError, match="frequencies_hz were given"):
        ToFRawFrame(good, (80e6,), intr)
    with pytest.raises(ParameterError, match="needs frequencies_hz and intrinsics"):
        decode_tof(good)
    with pytest.raises(ParameterError, match="n_steps"):
        ToFSimParams(n_steps=2)


def test_single_frequency_is_limited_to_its_own_range():
    r = _ramp(lo=0.2, hi=1.2)
    S = correlation_samples(r, np.full(r.shape, 4000.0), 100.0, (120e6,), 4)
    out = ToFDecoder(_intr(), (120e6,), undistort=False).decode_full(S)
    np.testing.assert_allclose(out.range_m, r, atol=1e-4)


def test_crt_candidate_filter_agrees_with_the_full_search():
    r = _ramp(60, 80, 0.4, 18.0)
    S = correlation_samples(r, 4e4 / np.maximum(r, 1) ** 2, 800.0, F3, 3,
                            rng=np.random.default_rng(7), read_noise=10.0)
    fast = ToFDecoder(_intr(80, 60), F3, undistort=False, flying_pixel_threshold=0)
    full = ToFDecoder(_intr(80, 60), F3, undistort=False, flying_pixel_threshold=0)
    assert fast._crt[2] == 3                  # 80/120 MHz = 2/3: a third of the candidates
    full._crt = (0, 0, 0, 0)
    a, b = fast.decode_full(S), full.decode_full(S)
    both = np.isfinite(a.range_m) & np.isfinite(b.range_m)
    assert both.sum() >= 0.99 * np.isfinite(b.range_m).sum()
    np.testing.assert_allclose(a.range_m[both], b.range_m[both], rtol=1e-6)


def test_fast_phase_matches_atan2(rng):
    from depthkit.sensing._kernels import phase_of

    pts = list(rng.normal(size=(2000, 2))) + [(0.0, 1.0), (1.0, 0.0), (0.0, -1.0), (-1.0, 0.0),
                                              (1e-30, -1.0), (-1e-30, -1.0), (-1.0, -1.0)]
    for y, x in pts:
        p = phase_of(y, x)
        assert 0.0 <= p < 2 * np.pi
        d = np.angle(np.exp(1j * (p - np.arctan2(y, x))))
        assert abs(d) < 1e-9
    assert phase_of(0.0, 0.0) == 0.0
