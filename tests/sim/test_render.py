"""Stereo and RGB-D rendering against exact geometry."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depthkit.errors import ParameterError
from depthkit.sim import (
    Scene,
    SceneObject,
    SimRig,
    look_at,
    make_rig,
    make_scene,
    render_rgbd,
    render_stereo,
    render_view,
)
from depthkit.sim.board import project_points
from depthkit.sim.scene import quad
from depthkit.types import Intrinsics, StereoRig


@pytest.fixture(scope="module")
def tabletop():
    return make_scene("tabletop", seed=2)


@pytest.fixture(scope="module")
def rig320():
    return SimRig.default((320, 240))


def _gray(img):
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img


def test_make_rig_is_rectified_and_imperfect():
    st = make_rig((320, 240), baseline_m=0.1)
    assert st.is_rectified and st.baseline_m == pytest.approx(0.1)
    assert st.left.distortion[0] < 0 and st.right.distortion                  # distorted
    angle = np.degrees(np.arccos((np.trace(st.R) - 1) / 2))
    assert 0.2 < angle < 2                                                    # small rotation
    assert st.left.fx != st.right.fx and st.left.cx != st.right.cx
    assert st.T[0] < 0                                                        # right of left
    assert make_rig((320, 240), seed=1).left.fx != st.left.fx                # jitter by seed


def test_rig_errors():
    with pytest.raises(ParameterError, match="too small; the simulator needs at least 32x24"):
        make_rig((16, 12))
    with pytest.raises(ParameterError, match="size must be"):
        make_rig("640x480")
    with pytest.raises(ParameterError, match="too large"):
        make_rig((5000, 4000))
    with pytest.raises(ParameterError, match="hfov_deg"):
        make_rig((320, 240), hfov_deg=5)
    with pytest.raises(ParameterError, match="baseline_m"):
        make_rig((320, 240), baseline_m=0)
    intr = Intrinsics(64, 48, 50, 50, 32, 24)
    unrect = StereoRig(intr, intr, np.eye(3), [-0.1, 0, 0])
    with pytest.raises(ParameterError, match="rectified StereoRig"):
        SimRig(unrect)
    st = make_rig((64, 48))
    with pytest.raises(ParameterError, match="exposure"):
        SimRig(st, exposure=(1.0, 0.0))
    with pytest.raises(ParameterError, match="full_well"):
        SimRig(st, full_well=0)
    with pytest.raises(ParameterError, match="read_noise"):
        SimRig(st, read_noise=-1)
    with pytest.raises(ParameterError, match="must be a depthkit.sim.SimRig"):
        render_stereo(make_scene("board"), st)
    with pytest.raises(ParameterError, match="finite 4x4"):
        render_stereo(make_scene("board"), SimRig(st), np.eye(3))
    with pytest.raises(ParameterError, match="depth_noise"):
        render_rgbd(make_scene("board"), intr, depth_noise=-1)


def test_rectified_gt_disparity_is_fB_over_Z():
    """GT disparity = f·B/Z, and (x, y, d) triangulates (through Q) onto the true surface."""
    wall_y = 2.3
    scene = Scene([SceneObject("wall", *quad((-9, wall_y, -9), (18, 0, 0), (0, 0, 18))),
                   SceneObject("wall2", *quad((-9, 9, -9), (18, -6, 0), (0, 0, 18)))])
    rig = SimRig.default((160, 120), baseline_m=0.1)
    pose = look_at((0.1, 0.0, 0.2), (0.3, 1.0, 0.1))
    for rectified in (False, True):
        fr = render_stereo(scene, rig, pose, rectified=rectified, noise=False)
        gt = fr.ground_truth
        st = rig.stereo
        f, b = st.P1[0, 0], abs(st.P2[0, 3]) / st.P1[0, 0]
        assert b == pytest.approx(0.1, rel=1e-9)
        assert np.isfinite(gt.disparity).all()
        np.testing.assert_allclose(gt.disparity * gt.depth_m, f * b, rtol=1e-5)
        # reproject through the rig's Q into the rectified-left frame, then to the world
        xyz = cv2.reprojectImageTo3D(gt.disparity, st.Q).reshape(-1, 3).astype(np.float64)
        world = xyz @ gt.pose[:3, :3].T + gt.pose[:3, 3]
        ids = render_view(scene, rig.rectified.left, gt.pose, texture=False)["geometry_ids"]
        w1 = ids.ravel() == 0
        assert w1.mean() > 0.2
        np.testing.assert_allclose(world[w1, 1], wall_y, atol=1e-4)
        np.testing.assert_allclose(gt.depth_m.ravel(), xyz[:, 2], rtol=1e-5)
        assert gt.pose[:3, 3] == pytest.approx(pose[:3, 3])
        assert fr.rectified is rectified
        assert fr.rig.is_rectified
        assert fr.left.dtype == np.uint8 and fr.left.shape == (120, 160, 3)


def test_3d_point_lands_on_same_texture_in_both_raw_views(tabletop):
    rig = SimRig.default((320, 240)).ideal()
    fr = render_stereo(tabletop, rig, rectified=False, noise=False)
    gt = fr.ground_truth
    st = fr.rig
    # surface points seen by both cameras, away from depth edges
    z = gt.depth_m
    edge = cv2.dilate((np.abs(cv2.Laplacian(z, cv2.CV_32F)) > 0.01).astype(np.uint8),
                      np.ones((5, 5), np.uint8)).astype(bool)
    ok = ~gt.occlusion & ~edge
    rng = np.random.default_rng(0)
    ys, xs = np.nonzero(ok)
    pick = rng.choice(len(ys), 400, replace=False)
    ri = rig.rectified.left
    zz = z[ys[pick], xs[pick]].astype(np.float64)
    cam = np.stack([(xs[pick] - ri.cx) / ri.fx * zz, (ys[pick] - ri.cy) / ri.fy * zz, zz], 1)
    world = cam @ gt.pose[:3, :3].T + gt.pose[:3, 3]
    from depthkit.sim.render import rig_poses

    poses = rig_poses(st, gt.extras["pose_left"])
    uvl = project_points(world, poses["left"], st.left).astype(np.float32)
    uvr = project_points(world, poses["right"], st.right).astype(np.float32)
    inside = np.all((uvl > 2) & (uvl < [317, 237]) & (uvr > 2) & (uvr < [317, 237]), axis=1)
    assert inside.mean() > 0.9

    def sample(img, uv):
        uv = np.ascontiguousarray(uv, dtype=np.float32)
        return cv2.remap(img.astype(np.float32), uv[:, :1].copy(), uv[:, 1:].copy(),
                         cv2.INTER_LINEAR).ravel()

    gl, gr = _gray(fr.left), _gray(fr.right)
    a, b = sample(gl, uvl[inside]), sample(gr, uvr[inside])
    diff = np.abs(a - b)
    assert np.median(diff) < 1.0 and np.percentile(diff, 90) < 4.0        # grey levels
    # control: the same comparison one texture-grain away (3 px) is much worse
    shifted = np.abs(a - sample(gr, uvr[inside] + [3, 0]))
    assert np.median(shifted) > 3 * max(np.median(diff), 0.5)


def test_same_seed_bit_identical_other_seed_differs():
    rig = SimRig.default((96, 72))
    a = render_stereo(make_scene("room", 5), rig, seed=3)
    b = render_stereo(make_scene("room", 5), rig, seed=3)
    np.testing.assert_array_equal(a.left, b.left)
    np.testing.assert_array_equal(a.right, b.right)
    np.testing.assert_array_equal(a.ground_truth.disparity, b.ground_truth.disparity)
    c = render_stereo(make_scene("room", 5), rig, seed=4)                 # other noise
    assert not np.array_equal(a.left, c.left)
    d = render_stereo(make_scene("room", 6), rig, seed=3)                 # other scene
    assert np.abs(a.left.astype(int) - d.left).mean() > 5
    e = render_stereo(make_scene("room", 5), rig, noise=False)
    f = render_stereo(make_scene("room", 5), rig, noise=False, seed=9)
    np.testing.assert_array_equal(e.left, f.left)                         # no noise, no seed
    assert 0.5 < np.abs(a.left.astype(int) - e.left).mean() < 5            # noise is mild


def test_occlusion_mask_matches_right_view(tabletop, rig320):
    fr = render_stereo(tabletop, rig320, rectified=True, noise=False)
    gt = fr.ground_truth
    occ, d, z = gt.occlusion, gt.disparity, gt.depth_m
    assert 0.01 < occ.mean() < 0.3
    # depth of the rectified right view, sampled where each left pixel should land
    from depthkit.sim.render import rig_poses

    zr = render_view(tabletop, rig320.rectified.right,
                     rig_poses(rig320.stereo, gt.extras["pose_left"])["rect_right"],
                     texture=False)["depth"]
    h, w = z.shape
    ys, xs = np.mgrid[0:h, 0:w]
    xr = np.rint(xs - d).astype(int)
    inside = (xr >= 0) & (xr < w)
    assert occ[~inside & np.isfinite(d)].all()                # leaves the right image: occluded
    zs = np.full_like(z, np.nan)
    zs[inside] = zr[ys[inside], xr[inside]]
    rel = (zs - z) / z
    vis = ~occ & inside
    assert np.mean(np.abs(rel[vis]) < 0.01) > 0.97           # visible: right view sees it
    hidden = occ & inside
    assert hidden.sum() > 50
    assert np.mean(rel[hidden] < -0.01) > 0.8                # occluded: something is in front
    # the rectified path (right-view test + casts where unsure) equals the raw path's exact
    # ray cast from the right camera for every pixel
    raw = render_stereo(tabletop, rig320, rectified=False, noise=False).ground_truth
    np.testing.assert_array_equal(raw.occlusion, occ)
    np.testing.assert_array_equal(raw.disparity, d)


@pytest.mark.parametrize("rectified", [True, False])
def test_opencv_sgbm_agrees_with_gt(tabletop, rig320, rectified):
    """A consistent renderer: OpenCV's SGBM on the (rectified) pair recovers GT disparity."""
    fr = render_stereo(tabletop, rig320, rectified=rectified, seed=1)
    gl, gr = _gray(fr.left), _gray(fr.right)
    if not rectified:
        st = fr.rig
        maps = [cv2.initUndistortRectifyMap(c.K, c.D, R, P, c.size, cv2.CV_32FC1)
                for c, R, P in ((st.left, st.R1, st.P1), (st.right, st.R2, st.P2))]
        gl = cv2.remap(gl, *maps[0], cv2.INTER_LINEAR)
        gr = cv2.remap(gr, *maps[1], cv2.INTER_LINEAR)
    sgbm = cv2.StereoSGBM_create(0, 48, 5, P1=8 * 25, P2=32 * 25, uniquenessRatio=5,
                                 disp12MaxDiff=1)
    disp = sgbm.compute(gl, gr).astype(np.float32) / 16
    disp[disp < 0] = np.nan
    gt = fr.ground_truth
    m = np.isfinite(disp) & np.isfinite(gt.disparity) & ~gt.occlusion
    assert m.mean() > 0.6
    err = np.abs(disp - gt.disparity)[m]
    assert np.median(err) < 1.0
    assert np.mean(err > 3) < 0.1


def test_projector_adds_dots_and_gray_images(tabletop):
    base = SimRig.default((160, 120), gray=True)
    from dataclasses import replace

    a = render_stereo(tabletop, base.ideal(), rectified=True, noise=False)
    b = render_stereo(tabletop, replace(base.ideal(), projector=True), rectified=True,
                      noise=False)
    assert a.left.shape == (120, 160) and a.left.dtype == np.uint8
    diff = b.left.astype(int) - a.left
    assert diff.min() >= 0 and diff.max() > 20                 # dots only add light
    bright = diff > 0.3 * diff.max()
    assert 0.01 < bright.mean() < 0.3                           # a sparse pattern of dots
    np.testing.assert_array_equal(a.ground_truth.disparity, b.ground_truth.disparity)


def test_raw_views_have_extras_and_raw_depth(tabletop):
    rig = SimRig.default((96, 72))
    fr = render_stereo(tabletop, rig, rectified=False, noise=False)
    ex = fr.ground_truth.extras
    assert ex["depth_left_m"].shape == (72, 96)
    assert ex["baseline_m"] == pytest.approx(0.08)
    assert fr.rig is rig.stereo
    # the raw left depth equals the view rendered through the raw left camera
    v = render_view(tabletop, rig.stereo.left, ex["pose_left"], texture=False)
    np.testing.assert_array_equal(v["depth"], ex["depth_left_m"])


def test_render_rgbd_depth_and_noise():
    scene = make_scene("room", 1)
    intr = Intrinsics(96, 72, 70.0, 70.0, 47.5, 35.5)
    a = render_rgbd(scene, intr)
    assert a.color.shape == (72, 96, 3) and a.depth_m.dtype == np.float32
    np.testing.assert_array_equal(a.depth_m, a.ground_truth.depth_m)
    assert np.nanmin(a.depth_m) > 0.5 and np.nanmax(a.depth_m) < 7
    b = render_rgbd(scene, intr, depth_noise=0.01, seed=2)
    err = (b.depth_m - b.ground_truth.depth_m) / b.ground_truth.depth_m ** 2
    assert np.nanstd(err) == pytest.approx(0.01, rel=0.15)
    np.testing.assert_array_equal(a.pose, scene.default_pose)
    # a point cloud from the frame lies on the scene surfaces (depth consistent with rays)
    v = render_view(scene, intr, scene.default_pose, texture=False)
    np.testing.assert_allclose(np.linalg.norm(v["points"] - scene.default_pose[:3, 3], axis=2),
                               v["range"], rtol=1e-5)
