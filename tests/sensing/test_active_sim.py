"""ToF and structured light on the simulator's ground truth (small images; the full-size
targets are measured by benchmarks/bench_active.py)."""

from __future__ import annotations

import numpy as np
import pytest

import depthkit as dk
from depthkit.errors import ParameterError
from depthkit.sensing.structured_light import PatternSet, StructuredLightDecoder
from depthkit.sensing.tof import ToFDecoder, ToFRawFrame, decode_tof
from depthkit.sim.structured_light import make_projector_rig, render_structured_light
from depthkit.sim.tof import ToFSimParams, render_tof

pytest.importorskip("open3d")


@pytest.fixture(scope="module")
def scene():
    from depthkit.sim import make_scene

    return make_scene("tabletop", 0)


@pytest.fixture(scope="module")
def camera():
    from depthkit.sim import make_rig

    return make_rig((160, 120)).left


def test_tof_samples_recover_range_exactly_without_noise(scene, camera):
    raw = render_tof(scene, camera, scene.default_pose, seed=None)
    assert raw.samples.shape == (3, 3, 120, 160)
    dec = ToFDecoder(camera, raw.frequencies_hz, saturation=raw.saturation,
                     flying_pixel_threshold=0, undistort=False)
    out = dec.decode_full(raw)
    gt = raw.ground_truth.extras["range_m"]
    ok = np.isfinite(out.range_m)
    assert ok.mean() > 0.995
    np.testing.assert_allclose(out.range_m[ok], gt[ok], rtol=2e-5)
    np.testing.assert_allclose(out.depth.depth_m[ok], raw.ground_truth.extras["depth_raw_m"][ok],
                               rtol=2e-5)


def test_tof_meets_its_targets_on_the_tabletop(scene, camera):
    raw = render_tof(scene, camera, scene.default_pose, seed=5)
    dec = ToFDecoder(camera, raw.frequencies_hz, saturation=raw.saturation,
                     read_noise=ToFSimParams().read_noise)
    out = dec.decode_full(raw)
    gt = raw.ground_truth.depth_m
    z = out.depth.depth_m
    ok = np.isfinite(z) & (gt >= 0.5) & (gt <= 4.0)
    assert ok.sum() > 0.85 * np.sum((gt >= 0.5) & (gt <= 4.0))
    rel = np.abs(z[ok] - gt[ok]) / gt[ok]
    assert np.median(rel) <= 0.005
    # unwrapping errors, in the raw grid against the exact radial range
    r, gr = out.range_m, raw.ground_truth.extras["range_m"]
    v = np.isfinite(r)
    assert np.mean(np.abs(r[v] - gr[v]) > 0.25) <= 0.001
    assert np.all(np.isfinite(out.depth.confidence))
    # the one-shot function takes frequencies, camera and saturation from the raw frame
    one = decode_tof(raw, read_noise=ToFSimParams().read_noise)
    np.testing.assert_array_equal(one.depth_m, z)
    assert one.ground_truth is raw.ground_truth


def test_tof_supersampling_makes_flying_pixels_that_the_filter_removes(scene, camera):
    raw = render_tof(scene, camera, scene.default_pose, ToFSimParams(supersample=2), seed=None)
    gr = raw.ground_truth.extras["range_m"]
    base = dict(saturation=raw.saturation, undistort=False)
    off = ToFDecoder(camera, raw.frequencies_hz, flying_pixel_threshold=0, **base).decode_full(raw)
    on = ToFDecoder(camera, raw.frequencies_hz, **base).decode_full(raw)

    def n_bad(o):
        v = np.isfinite(o.depth.depth_m)
        return np.sum(np.abs(o.range_m[v] - gr[v]) > 0.05 * gr[v])

    assert n_bad(off) > 0
    assert n_bad(on) < 0.5 * n_bad(off)


@pytest.fixture(scope="module")
def sl_setup():
    from depthkit.sim import make_rig

    # 240x180: at 160x120 a hundredth of a projector pixel is already 0.05% of depth
    rig = make_projector_rig(make_rig((240, 180)).left)
    return rig, PatternSet(rig.right.width, rig.right.height, period=8, n_phase=8)


def test_structured_light_captures_decode_exactly_without_noise(scene, sl_setup):
    rig, pats = sl_setup
    frame = render_structured_light(scene, rig, pats, seed=None)
    assert frame.captures.shape == (len(pats), 180, 240)
    dec = StructuredLightDecoder(rig, pats, undistort=False)
    depth, d = dec.decode_full(frame)
    ex = frame.ground_truth.extras
    lit = ex["lit_raw"]
    err = np.abs(d.col - ex["proj_col"])[lit & d.valid]
    assert np.median(err) < 0.03 and np.percentile(err, 99) < 0.3
    assert d.valid[lit].mean() > 0.99
    assert not d.valid[~lit].any()
    gz = ex["depth_raw_m"]
    ok = np.isfinite(depth.depth_m)
    # 0.01 px of projector column is ~0.05% of depth at this tiny size (f ~ 170 px)
    assert np.median(np.abs(depth.depth_m[ok] - gz[ok]) / gz[ok]) < 1e-3


def test_structured_light_meets_its_targets_on_the_tabletop(scene, sl_setup):
    rig, pats = sl_setup
    frame = render_structured_light(scene, rig, pats, seed=3)
    ex = frame.ground_truth.extras
    # decoding, in the camera's raw pixel grid: lit pixels decoded, shadows invalid
    raw_depth, dec = StructuredLightDecoder(rig, pats, undistort=False).decode_full(frame)
    lit = ex["lit_raw"]
    assert dec.valid[lit].mean() >= 0.98
    assert not dec.valid[~lit].any()
    assert not np.isfinite(raw_depth.depth_m[~lit]).any()
    # depth in the undistorted camera (the default output) against its ground truth
    depth = StructuredLightDecoder(rig, pats).decode(frame)
    gt = frame.ground_truth.depth_m
    lit = ex["lit"] & np.isfinite(gt)
    z = depth.depth_m
    ok = lit & np.isfinite(z)
    assert ok.sum() >= 0.95 * lit.sum()        # resampling drops pixels straddling edges
    assert np.median(np.abs(z[ok] - gt[ok]) / gt[ok]) <= 0.001
    assert depth.intrinsics.distortion == ()


def test_sim_sources_yield_depth_or_raw_frames():
    with dk.open("sim://tof?size=64x48&frames=1&noise=0.5") as src:
        f = src.read()
        assert isinstance(f, dk.DepthFrame) and f.ground_truth is not None
        assert f.confidence is not None and src.kind == "tof"
    with dk.open("sim://tof?size=64x48&frames=1&raw=1&freqs=100,80&steps=4") as src:
        f = src.read()
        assert isinstance(f, ToFRawFrame) and f.samples.shape == (2, 4, 48, 64)
    with dk.open("sim://structured-light?size=64x48&frames=1&raw=1&axes=xy") as src:
        f = src.read()
        assert f.captures.shape[0] == len(src.patterns) and src.rig is not None
    with dk.open("sim://structured-light?size=96x72&frames=1") as src:
        f = src.read()
        assert isinstance(f, dk.DepthFrame) and np.isfinite(f.depth_m).mean() > 0.3
    with pytest.raises(ParameterError, match="accepts"):
        dk.open("sim://tof?bogus=1")
    with pytest.raises(ParameterError, match="noise must be >= 0"):
        dk.open("sim://structured-light?noise=-1")


def test_projector_calibration_on_simulated_board_views():
    """Decoded captures of a chessboard at six poses calibrate the projector: focal length
    within 0.5%, translation within 1 mm, rotation within 0.1 degree.  The camera corners are
    the true projections, so the test measures the local homographies and the calibration."""
    import cv2

    from depthkit.sensing.structured_light import calibrate_projector_camera, decode
    from depthkit.sim import look_at, make_rig
    from depthkit.sim.board import project_points
    from depthkit.sim.scene import board_scene
    from depthkit.sim.structured_light import SLSimParams

    cam = make_rig((240, 180)).left
    rig = make_projector_rig(cam, converge_m=0.6)
    pats = PatternSet(rig.right.width, rig.right.height, period=8, n_phase=4, axes="xy")
    sc = board_scene(0, cols=7, rows=5, square_m=0.04)
    b = sc.objects[0].board
    corners_w = b["corners_board"] @ b["board2world"][:3, :3].T + b["board2world"][:3, 3]
    centre = b["board2world"][:3, :3] @ [0.14, 0.1, 0] + b["board2world"][:3, 3]
    rng = np.random.default_rng(1)
    obj, cam_px, decoded = [], [], []
    for i in range(6):
        tilt, az = np.radians(rng.uniform(15, 35)), rng.uniform(0, 2 * np.pi)
        d = np.array([np.sin(tilt) * np.cos(az), -np.cos(tilt), np.sin(tilt) * np.sin(az)])
        pose = look_at(centre + d * rng.uniform(0.5, 0.65),
                       centre + rng.uniform(-0.03, 0.03, 3) * [1, 0, 1])
        frame = render_structured_light(sc, rig, pats, pose, SLSimParams(power=80), seed=i)
        obj.append(b["corners_board"].astype(np.float32))
        cam_px.append(project_points(corners_w, pose, cam))
        decoded.append(decode(frame, pats))
    est = calibrate_projector_camera(obj, cam_px, decoded, cam.size, rig.right.size,
                                     camera=cam, window=8)
    assert est.rms < 0.1
    assert est.right.fx == pytest.approx(rig.right.fx, rel=0.005)
    np.testing.assert_allclose(est.T, rig.T, atol=0.001)
    dr = cv2.Rodrigues(est.R @ np.asarray(rig.R).T)[0]
    assert np.degrees(np.linalg.norm(dr)) < 0.1
