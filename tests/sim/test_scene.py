"""Scenes, rays and solid textures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depthkit.errors import ParameterError
from depthkit.sim import SCENES, Scene, SceneObject, camera_rays, look_at, make_scene
from depthkit.sim.scene import box, quad
from depthkit.sim.textures import checker, value_noise
from depthkit.types import Intrinsics

SMALL = Intrinsics(80, 60, 60.0, 60.0, 39.5, 29.5)


@pytest.mark.parametrize("name, near, far", [("tabletop", 0.5, 2.6), ("room", 1.0, 6.5),
                                             ("corridor", 0.8, 14.0), ("board", 0.3, 4.5)])
def test_builtin_scenes_have_realistic_depths(name, near, far):
    scene = make_scene(name, seed=1)
    o, d = camera_rays(SMALL, scene.default_pose)
    hits = scene.raycast(o, d)
    t = hits["t_hit"]
    assert np.isfinite(t).mean() > 0.99                       # closed scenes: no holes
    assert near <= np.min(t) and np.max(t) <= far
    assert len(np.unique(hits["geometry_ids"])) >= 2          # several objects in view
    assert hits["rgb"].shape == (t.size, 3) and hits["rgb"].dtype == np.float32
    assert 0 <= hits["rgb"].min() and hits["rgb"].max() <= 1
    np.testing.assert_allclose(np.linalg.norm(hits["normals"], axis=1), 1, atol=1e-5)
    # normals face the camera
    assert np.all(np.einsum("ij,ij->i", hits["normals"], d) <= 1e-6)
    # hit points lie along the rays
    np.testing.assert_allclose(hits["points"], o + t[:, None] * d, atol=1e-5)


def test_scene_seed_reproducible_and_different():
    a, b, c = make_scene("tabletop", 3), make_scene("tabletop", 3), make_scene("tabletop", 4)
    o, d = camera_rays(SMALL, a.default_pose)
    ha, hb, hc = a.raycast(o, d), b.raycast(o, d), c.raycast(o, d)
    np.testing.assert_array_equal(ha["rgb"], hb["rgb"])
    np.testing.assert_array_equal(ha["t_hit"], hb["t_hit"])
    assert not np.array_equal(ha["t_hit"], hc["t_hit"])


def test_scene_errors():
    with pytest.raises(ParameterError, match="unknown scene 'kitchen'; choose one of tabletop"):
        make_scene("kitchen")
    with pytest.raises(ParameterError, match="non-negative integer"):
        make_scene("room", -1)
    scene = make_scene("board")
    with pytest.raises(ParameterError, match="differ in shape"):
        scene.raycast(np.zeros((3, 3)), np.zeros((2, 3)))
    with pytest.raises(ParameterError, match="unknown texture"):
        SceneObject("x", np.zeros((3, 3)), [[0, 1, 2]], texture="marble")
    with pytest.raises(ParameterError, match="'checker' texture needs board=.*missing world2board"):
        SceneObject("x", np.zeros((3, 3)), [[0, 1, 2]], texture="checker")
    with pytest.raises(ParameterError, match="must be 4x4"):
        camera_rays(SMALL, np.eye(3))
    with pytest.raises(ParameterError, match="same point"):
        look_at((0, 0, 0), (0, 0, 0))
    with pytest.raises(ParameterError, match="parallel to `up`"):
        look_at((0, 0, 0), (0, 0, 1))


def test_camera_rays_pinhole_and_distorted():
    T = look_at((1.0, 2.0, 3.0), (1.0, 5.0, 3.0))
    o, d = camera_rays(SMALL, T)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(o, np.broadcast_to([1, 2, 3], o.shape))
    # the principal point looks along +z of the camera (world +y here)
    centre = d.reshape(60, 80, 3)[29, 39]
    np.testing.assert_allclose(centre, [0, 1, 0], atol=1e-2)
    # distorted camera: rays re-project (cv2.projectPoints) onto their own pixel centres
    intr = Intrinsics(80, 60, 60.0, 61.0, 41.0, 28.0, (-0.2, 0.05, 0.001, -0.002, 0.0))
    o, d = camera_rays(intr, np.eye(4))
    uv, _ = cv2.projectPoints(d.astype(np.float64).reshape(-1, 1, 3), np.zeros(3), np.zeros(3),
                              intr.K, intr.D)
    v, u = np.mgrid[0:60, 0:80]
    np.testing.assert_allclose(uv.reshape(-1, 2), np.stack([u.ravel(), v.ravel()], 1), atol=1e-4)


def test_custom_scene_plane_depth_and_add_mesh():
    scene = Scene([SceneObject("wall", *quad((-5, 2, -5), (10, 0, 0), (0, 0, 10)))])
    T = look_at((0, 0, 0), (0, 1, 0))
    o, d = camera_rays(SMALL, T)
    hits = scene.raycast(o, d)
    np.testing.assert_allclose(hits["points"][:, 1], 2.0, atol=1e-5)
    np.testing.assert_allclose(hits["normals"], np.broadcast_to([0, -1, 0], d.shape), atol=1e-6)
    gid = scene.add_mesh(box((0.2, 0.2, 0.2), (0, 1, 0)), color=(1, 0, 0))
    hits = scene.raycast(o, d)
    centre = hits["geometry_ids"].reshape(60, 80)[30, 40]
    assert centre == gid
    assert hits["points"].reshape(60, 80, 3)[30, 40, 1] == pytest.approx(0.9, abs=1e-5)


def test_value_noise_range_determinism_and_filtering(rng):
    p = rng.uniform(-3, 3, (5000, 3))
    a = value_noise(p, 7)
    assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(a, value_noise(p, 7))
    assert np.abs(a - value_noise(p, 8)).mean() > 0.02           # another object, another noise
    assert 0.45 < a.mean() < 0.55
    # a footprint larger than every wavelength fades everything to the mean
    np.testing.assert_allclose(value_noise(p, 7, footprint=np.full(5000, 10.0)), 0.5, atol=1e-6)
    # continuity: nearby points have nearby values
    b = value_noise(p + 1e-5, 7)
    assert np.abs(a - b).max() < 0.01
    # ... also across the world planes x = 0, y = 0, z = 0 (lattice index sign change)
    x = np.linspace(-0.01, 0.01, 2001)
    for axis in range(3):
        q = np.full((x.size, 3), 0.37)
        q[:, axis] = x
        assert np.abs(np.diff(value_noise(q, 3))).max() < 0.005


def test_checker_pattern_and_filtering():
    # the first square (0..s, 0..s) is black, its neighbours white
    s = 0.04
    assert checker(0.02, 0.02, s) == 0 and checker(0.06, 0.02, s) == 1
    assert checker(0.06, 0.06, s) == 0
    # on an edge a wide footprint gives grey
    assert checker(0.04, 0.02, s, footprint=0.01) == pytest.approx(0.5)
    assert set(SCENES) == {"tabletop", "room", "corridor", "board"}


def test_docstring_examples_run():
    import doctest

    from depthkit.sim import board, render, rig, scene, trajectory

    for mod in (scene, render, rig, trajectory, board):
        assert doctest.testmod(mod).failed == 0, mod.__name__
