"""The simulator's fast paths give exactly what the plain ones give.

Split ray casts (several threads), block-wise vectorised texture noise and the exposure with
the shading folded in are speed-ups only: the images must not change.
"""

from __future__ import annotations

import numpy as np

from depthkit.sim import SimRig, _kernels, camera_rays, make_scene, render_stereo, textures
from depthkit.sim import scene as scene_mod
from depthkit.sim.render import _expose, _radiance, expose, render_view
from depthkit.types import Intrinsics

SMALL = Intrinsics(96, 72, 70.0, 70.0, 47.5, 35.5)


def test_split_cast_equals_single_cast(monkeypatch):
    scene = make_scene("tabletop", seed=2)
    o, d = camera_rays(SMALL, scene.default_pose)
    one = scene.raycast(o, d, pixel_angle_rad=1 / SMALL.fx)
    monkeypatch.setattr(scene_mod, "CAST_SPLIT_MIN_RAYS", 500)
    monkeypatch.setattr(scene_mod, "_cast_threads", lambda: 3)   # split even on one core
    split = scene.raycast(o, d, pixel_angle_rad=1 / SMALL.fx)
    assert sorted(one) == sorted(split)
    for key in one:
        np.testing.assert_array_equal(one[key], split[key], err_msg=key)
    assert np.isfinite(one["t_hit"]).all()


def test_block_noise_equals_pointwise_noise(rng):
    n = 3000
    p = rng.uniform(-2, 2, (n, 3))
    seeds = rng.integers(0, 2**31 - 1, n)
    # footprints from none to coarse: octaves fully on, fading, off (whole blocks and mixed)
    fp = np.concatenate([np.zeros(500), rng.uniform(1e-4, 0.05, 2000), np.full(500, 0.2)])
    oc = np.asarray(textures.NOISE_OCTAVES, np.float64)
    fr, amp = np.ascontiguousarray(oc[:, 0]), np.ascontiguousarray(oc[:, 1])
    want = textures.value_noise(p, seeds, footprint=fp)
    for lo, hi in [(0, 500), (500, 2500), (2500, 3000), (400, 700), (0, 3000)]:
        m = hi - lo
        got = np.empty(m)
        _kernels._octaves_block(*(np.ascontiguousarray(p[lo:hi, c]) for c in range(3)),
                                np.ascontiguousarray(seeds[lo:hi], np.int64), fp[lo:hi].copy(),
                                m, fr, amp, got)
        np.testing.assert_array_equal(got.astype(np.float32), want[lo:hi])


def test_scene_texture_is_the_documented_noise():
    scene = make_scene("room", seed=1)
    o, d = camera_rays(SMALL, scene.default_pose)
    pa = 1 / SMALL.fx
    h = scene.raycast(o, d, pixel_angle_rad=pa)
    g = h["geometry_ids"]
    sel = np.flatnonzero((g >= 0) & (scene._kind[np.maximum(g, 0)] == 0))
    assert sel.size > 0.9 * g.size
    p, s = h["points"][sel], scene._seeds[g[sel]]
    fine = textures.value_noise(p, s, footprint=h["t_hit"][sel].astype(np.float64) * pa)
    tint = textures.value_noise(p, s + 77, octaves=textures.TINT_OCTAVES)
    fine = np.clip(0.5 + (fine - 0.5) * scene_mod.FINE_GAIN, 0, 1)
    tint = np.clip(0.5 + (tint - 0.5) * scene_mod.TINT_GAIN, 0, 1)[:, None]
    c1, c2 = scene._c1[g[sel]], scene._c2[g[sel]]
    want = np.clip((c1 * (1 - tint) + c2 * tint) * (0.2 + 0.8 * fine)[:, None], 0, 1)
    np.testing.assert_allclose(h["rgb"][sel], want, atol=2e-6)   # value_noise rounds to f32
    np.testing.assert_allclose(h["albedo"][sel], want.mean(1), atol=2e-6)


def test_folded_shading_exposure_equals_expose():
    scene = make_scene("tabletop", seed=1)
    rig = SimRig.default((SMALL.width, SMALL.height))
    view = render_view(scene, SMALL, scene.default_pose)
    for key in (None, [5, 0, 1, 11]):
        a = expose(_radiance(view, False), rig, 1, SMALL, key)
        b = _expose(view["rgb"], view["shading"], rig, 1, SMALL, key)
        np.testing.assert_array_equal(a, b)


def test_stereo_render_same_with_one_or_more_threads(monkeypatch):
    scene = make_scene("corridor", seed=1)
    rig = SimRig.default((SMALL.width, SMALL.height))
    a = render_stereo(scene, rig, rectified=True, seed=4)
    monkeypatch.setattr(scene_mod, "CAST_SPLIT_MIN_RAYS", 700)
    monkeypatch.setattr(scene_mod, "_cast_threads", lambda: 4)
    b = render_stereo(scene, rig, rectified=True, seed=4)
    np.testing.assert_array_equal(a.left, b.left)
    np.testing.assert_array_equal(a.right, b.right)
    np.testing.assert_array_equal(a.ground_truth.occlusion, b.ground_truth.occlusion)
