"""Structured light: patterns, decoding, triangulation, calibration, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from depthkit.errors import CalibrationError, ParameterError, ShapeError
from depthkit.sensing import structured_light as sl
from depthkit.sensing.structured_light import PatternSet, SLCaptureFrame, decode
from depthkit.types import Intrinsics, StereoRig


def _project_identity(pats: PatternSet, scale=1.0, offset=0.0):
    """Captures of a camera that sees the projector image 1:1 (column j at camera column j)."""
    imgs = pats.images().astype(np.float32)
    return np.clip(np.rint(offset + scale * imgs), 0, 255).astype(np.uint8)


def test_patterns_are_complete_and_complementary():
    p = PatternSet(100, 40, period=8, n_phase=4, axes="xy")
    imgs = p.images()
    assert imgs.dtype == np.uint8 and imgs.shape == (len(p), 40, 100)
    assert len(p) == 2 + 2 * p.n_bits("x") + 4 + 2 * p.n_bits("y") + 4
    assert np.all(imgs[p.index("white")] == 255) and np.all(imgs[p.index("black")] == 0)
    for ax in "xy":
        for b in range(p.n_bits(ax)):
            g = imgs[p.index(f"{ax}_gray{b}")].astype(int)
            inv = imgs[p.index(f"{ax}_gray{b}_inv")].astype(int)
            assert np.all(g + inv == 255)
    # neighbouring Gray cells differ in exactly one bit
    bits = np.stack([imgs[p.index(f"x_gray{b}"), 0] > 0 for b in range(p.n_bits("x"))])
    cells = bits[:, ::p.cell_width]
    assert np.all(np.sum(cells[:, 1:] != cells[:, :-1], axis=0) == 1)


@pytest.mark.parametrize("period,n_phase", [(8, 4), (16, 3), (12, 6)])
def test_patterns_decode_to_their_own_columns_and_rows(period, n_phase):
    p = PatternSet(203, 61, period=period, n_phase=n_phase, axes="xy")
    caps = _project_identity(p, scale=0.8, offset=20)
    d = decode(caps, p)
    jj, ii = np.meshgrid(np.arange(203), np.arange(61))
    assert np.all(d.valid)
    # uint8 patterns: sub-pixel exact up to the sinusoid's quantisation
    assert np.max(np.abs(d.col - jj)) < 0.05
    assert np.max(np.abs(d.row - ii)) < 0.05


def test_period_boundary_errors_are_corrected():
    """Gray code and phase that disagree by up to a quarter of a Gray cell (blur, misalignment)
    still give the right column: the period index follows the Gray cell's centre."""
    p = PatternSet(160, 16, period=16, n_phase=4)
    imgs = 10 + 0.9 * p.images().astype(np.float32)    # no clipped (255) samples
    names = p.names
    shift = 2                                     # Gray code shifted by 2 px vs the phase
    for b in range(p.n_bits("x")):
        for suffix in ("", "_inv"):
            i = names.index(f"x_gray{b}{suffix}")
            imgs[i] = np.roll(imgs[i], shift, axis=1)
    d = decode(imgs.astype(np.uint8), p)
    j = np.arange(160)
    ok = j >= shift                               # np.roll wraps the first columns
    assert np.max(np.abs(d.col[0, ok] - j[ok])) < 0.05
    # without the correction, rounding the phase inside the shifted cells would be a period off
    cells = (j - shift) // p.cell_width
    naive = (cells // 2) * p.period + np.mod(j, p.period)
    assert np.any(np.abs(naive[ok] - j[ok]) >= p.period)


def test_shadow_low_contrast_and_saturation_are_invalid():
    p = PatternSet(64, 16, period=8, n_phase=4)
    caps = _project_identity(p, scale=0.6, offset=10).astype(np.float32)
    caps[:, :, :10] = 40.0                        # shadow: every pattern looks the same
    caps[p.index("x_phase1"), :, 30:34] = 255     # clipped phase image
    caps8 = caps.astype(np.uint8)
    d = decode(caps8, p)
    assert np.all(np.isnan(d.col[:, :10])) and np.all(d.shadow[:, :10])
    assert np.all(np.isnan(d.col[:, 30:34]))
    assert np.all(np.isfinite(d.col[:, 12:28]))
    assert np.all(np.isfinite(d.contrast)) and np.all(np.isfinite(d.modulation))
    # washed-out stripes (a quarter of their contrast left): low modulation, invalid
    washed = caps.copy()
    mid = 0.5 * (washed[0] + washed[1])
    washed[2:] = mid + 0.2 * (washed[2:] - mid)
    dw = decode(np.rint(washed).astype(np.uint8), p)
    assert np.all(np.isnan(dw.col)) and np.all(dw.modulation[:, 12:28] < 0.25)
    # NaN in float captures invalidates only that pixel
    capsf = caps.copy()
    capsf[p.index("x_phase2"), 5, 20] = np.nan
    df = decode(capsf, p, saturation=255.0)
    assert np.isnan(df.col[5, 20]) and np.isfinite(df.col[5, 21])


def test_bad_input_raises():
    p = PatternSet(64, 16)
    caps = _project_identity(p)
    with pytest.raises(ShapeError, match="capture every pattern"):
        decode(caps[:-1], p)
    with pytest.raises(ShapeError, match="same size"):
        decode([c for c in caps[:-1]] + [caps[-1][:, :-1]], p)
    with pytest.raises(ShapeError, match=r"\(K, H, W\) stack"):
        decode(caps[0], p)
    with pytest.raises(ShapeError, match="uint8, uint16 or float32"):
        decode(caps.astype(np.int32), p)
    with pytest.raises(ParameterError, match="min_modulation"):
        decode(caps, p, min_modulation=1.5)
    with pytest.raises(ParameterError, match="even integer"):
        PatternSet(64, 16, period=7)
    with pytest.raises(ParameterError, match="n_phase"):
        PatternSet(64, 16, n_phase=2)
    with pytest.raises(ParameterError, match="axes"):
        PatternSet(64, 16, axes="z")
    with pytest.raises(ParameterError, match="integer >= 8"):
        PatternSet(4, 16)
    with pytest.raises(ShapeError, match="captures for"):
        SLCaptureFrame(caps[:-1], p)
    with pytest.raises(ParameterError, match="frame's own pattern set"):
        decode(SLCaptureFrame(caps, p), PatternSet(64, 16, n_phase=3))


# ------------------------------------------------------------------------------------------
# geometry: an analytic plane seen by a camera and a projector
# ------------------------------------------------------------------------------------------
def _rig(distortion=()):
    cam = Intrinsics(120, 90, 110.0, 110.0, 60.5, 44.0, distortion)
    proj = Intrinsics(160, 120, 150.0, 150.0, 79.5, 59.5)
    a = np.radians(8)
    R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    C = np.array([0.12, 0.01, 0.0])
    return StereoRig(cam, proj, R, -R @ C)


def _plane_maps(rig, n, d0, board_pose=None):
    """Exact projector (col, row) and z of every camera pixel for the plane n.x = d0."""
    rays = sl.camera_rays_cam(rig.left)
    t = d0 / (rays @ n)
    X = rays * t[..., None]
    Xp = X @ np.asarray(rig.R).T + rig.T
    col = rig.right.fx * Xp[..., 0] / Xp[..., 2] + rig.right.cx
    row = rig.right.fy * Xp[..., 1] / Xp[..., 2] + rig.right.cy
    return col.astype(np.float32), row.astype(np.float32), X[..., 2]


def test_triangulation_recovers_a_plane_with_columns_or_rays():
    rig = _rig(distortion=(-0.1, 0.02, 0, 0, 0))
    n = np.array([0.1, -0.2, 1.0])
    n /= np.linalg.norm(n)
    col, row, z = _plane_maps(rig, n, 1.3)
    dec = sl.SLDecoded(col, row, np.ones_like(col), np.ones_like(col), np.zeros(col.shape, bool))
    z_col = sl.triangulate(dec, rig, use_rows=False)
    z_ray = sl.triangulate(dec, rig)
    np.testing.assert_allclose(z_col, z, rtol=1e-5)
    np.testing.assert_allclose(z_ray, z, rtol=1e-5)
    dec.col[3, 4] = np.nan
    assert np.isnan(sl.triangulate(dec, rig)[3, 4])
    bad = StereoRig(rig.left, Intrinsics(160, 120, 150.0, 150.0, 79.5, 59.5, (0.1, 0, 0, 0)),
                    rig.R, rig.T)
    with pytest.raises(ParameterError, match="decode rows"):
        sl.triangulate(dec, bad, use_rows=False)
    with pytest.raises(ParameterError, match="axes='xy'"):
        sl.triangulate(sl.SLDecoded(col, None, col, col, col > 0), rig, use_rows=True)


def _board_views(rig, n_views=8, seed=0):
    rng = np.random.default_rng(seed)
    jj, ii = np.mgrid[0:5, 0:7]
    obj = np.stack([ii.ravel() * 0.03, jj.ravel() * 0.03, np.zeros(ii.size)], 1)
    out = []
    for _ in range(n_views):
        import cv2

        rvec = rng.uniform(-0.35, 0.35, 3)
        Rb = cv2.Rodrigues(rvec)[0]
        tb = np.array([-0.09, -0.06, 0]) @ Rb.T + [rng.uniform(-0.05, 0.05),
                                                     rng.uniform(-0.03, 0.03),
                                                     rng.uniform(0.55, 0.75)]
        n = Rb[:, 2]
        col, row, _ = _plane_maps(rig, n, n @ tb)
        X = obj @ Rb.T + tb
        cam_px = cv2.projectPoints(X, np.zeros(3), np.zeros(3), rig.left.K, rig.left.D)[0]
        # the board covers a region around its corners only
        hh, ww = rig.left.shape
        vv, uu = np.mgrid[0:hh, 0:ww]
        lo, hi = cam_px.reshape(-1, 2).min(0) - 12, cam_px.reshape(-1, 2).max(0) + 12
        on = (uu >= lo[0]) & (uu <= hi[0]) & (vv >= lo[1]) & (vv <= hi[1])
        col[~on] = np.nan
        row[~on] = np.nan
        col += rng.normal(0, 0.05, col.shape).astype(np.float32)
        row += rng.normal(0, 0.05, row.shape).astype(np.float32)
        dec = sl.SLDecoded(col, row, np.ones_like(col), np.ones_like(col), ~on)
        out.append((obj.astype(np.float32), cam_px.reshape(-1, 2).astype(np.float32), dec))
    return out


def test_projector_camera_calibration_from_board_views():
    rig = _rig()
    views = _board_views(rig)
    obj, cam, dec = zip(*views)
    est = sl.calibrate_projector_camera(obj, cam, dec, rig.left.size, rig.right.size,
                                        window=10, camera=rig.left)
    assert est.rms < 0.2
    assert est.right.fx == pytest.approx(rig.right.fx, rel=0.01)
    assert est.right.cx == pytest.approx(rig.right.cx, abs=2.0)
    np.testing.assert_allclose(est.T, rig.T, atol=0.003)
    np.testing.assert_allclose(est.R, rig.R, atol=0.005)
    with pytest.raises(CalibrationError, match="at least 3"):
        sl.calibrate_projector_camera(obj[:2], cam[:2], dec[:2], rig.left.size, rig.right.size)
    with pytest.raises(ParameterError, match="one entry per view"):
        sl.calibrate_projector_camera(obj, cam[:3], dec, rig.left.size, rig.right.size)


def test_decoder_checks_the_projector_size():
    rig = _rig()
    with pytest.raises(ShapeError, match="the patterns are"):
        sl.StructuredLightDecoder(rig, PatternSet(100, 100))
    with pytest.raises(ParameterError, match="PatternSet"):
        sl.StructuredLightDecoder(rig, "gray")
