"""Trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from depthkit.errors import ParameterError
from depthkit.sim import make_scene, orbit, walk
from depthkit.sim.trajectory import make_trajectory


def _is_rigid(T):
    return np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-9) and \
        np.isclose(np.linalg.det(T[:3, :3]), 1.0)


def test_orbit_circles_and_looks_at_target():
    c = np.array([1.0, 2.0, 0.5])
    poses = orbit(c, 1.5, 1.2, 7, arc_deg=90)
    assert len(poses) == 7
    for T in poses:
        assert _is_rigid(T)
        assert np.hypot(*(T[:2, 3] - c[:2])) == pytest.approx(1.5)
        assert T[2, 3] == pytest.approx(1.2)
        to_c = (c - T[:3, 3]) / np.linalg.norm(c - T[:3, 3])
        np.testing.assert_allclose(T[:3, 2], to_c, atol=1e-9)      # optical axis at the centre
    step = [np.linalg.norm(a[:3, 3] - b[:3, 3]) for a, b in zip(poses, poses[1:])]
    np.testing.assert_allclose(step, step[0], rtol=1e-9)           # even spacing


def test_walk_is_smooth_and_forward():
    start = make_scene("corridor").default_pose
    poses = walk(start, 12, step_m=0.05)
    assert all(_is_rigid(T) for T in poses)
    fwd = start[:3, 2] * [1, 1, 0]
    fwd /= np.linalg.norm(fwd)
    prog = [(T[:3, 3] - start[:3, 3]) @ fwd for T in poses]
    np.testing.assert_allclose(prog, 0.05 * np.arange(12), atol=1e-9)
    steps = [np.linalg.norm(a[:3, 3] - b[:3, 3]) for a, b in zip(poses, poses[1:])]
    assert max(steps) < 0.07


def test_make_trajectory_kinds_and_errors():
    scene = make_scene("tabletop")
    st = make_trajectory(scene, "static", 3)
    assert all(np.array_equal(T, scene.default_pose) for T in st)
    orb = make_trajectory(scene, "orbit", 5)
    assert not np.allclose(orb[0], orb[-1])
    assert len(make_trajectory(scene, "walk", 4)) == 4
    with pytest.raises(ParameterError, match="unknown trajectory 'fly'; choose one of static"):
        make_trajectory(scene, "fly", 3)
    with pytest.raises(ParameterError, match="positive integer"):
        make_trajectory(scene, "orbit", 0)
    with pytest.raises(ParameterError, match="radius"):
        orbit((0, 0, 0), 0, 1, 3)
    with pytest.raises(ParameterError, match="straight up or down"):
        walk(np.diag([1.0, -1.0, -1.0, 1.0]), 3)              # optical axis = world -z
