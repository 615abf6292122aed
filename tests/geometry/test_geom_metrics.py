"""Reconstruction metrics on inputs with known answers."""

import numpy as np
import pytest

from depthkit.errors import DataError, ShapeError
from depthkit.geometry import mesh_accuracy_completeness, to_open3d, trajectory_drift


def _grid(n=101, z=0.0):
    u, v = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n))
    return np.stack([u.ravel(), v.ravel(), np.full(u.size, z)], 1)


def test_offset_plane_has_known_accuracy_and_completeness():
    gt = _grid(201)  # 5 mm spacing
    rec = _grid(101, z=0.004)
    q = mesh_accuracy_completeness(rec, gt, threshold_m=0.01)
    assert q.accuracy_mean_m == pytest.approx(0.004, abs=1e-9)
    assert q.accuracy_median_m == pytest.approx(0.004, abs=1e-9)
    assert q.completeness == 1.0 and q.n_points == len(rec) and q.n_gt == len(gt)
    # half of the plane missing -> about half complete
    half = rec[rec[:, 0] < 0.5]
    q2 = mesh_accuracy_completeness(half, gt, threshold_m=0.01)
    assert 0.49 < q2.completeness < 0.52
    # Open3D input and outlier exclusion
    far = np.vstack([rec, [[5.0, 5.0, 5.0]]])
    q3 = mesh_accuracy_completeness(to_open3d(far), gt, threshold_m=0.01, max_distance_m=0.1)
    assert q3.accuracy_mean_m == pytest.approx(0.004, abs=1e-9)
    assert set(q3.to_dict()) >= {"accuracy_mean_m", "completeness"}
    empty = mesh_accuracy_completeness(np.zeros((0, 3)), gt, threshold_m=0.01)
    assert empty.completeness == 0.0 and np.isnan(empty.accuracy_mean_m)


def test_trajectory_drift_known_values():
    gt = np.tile(np.eye(4), (5, 1, 1))
    gt[:, 0, 3] = np.arange(5) * 0.25  # 1 m along x
    est = gt.copy()
    est[-1, 1, 3] = 0.02
    d = trajectory_drift(est, gt)
    assert d["path_length_m"] == pytest.approx(1.0)
    assert d["drift_m"] == pytest.approx(0.02) and d["drift_ratio"] == pytest.approx(0.02)
    # a different world frame for the estimate does not matter
    W = np.eye(4)
    W[:3, 3] = [3, 4, 5]
    assert trajectory_drift(W @ est, gt)["drift_m"] == pytest.approx(0.02)


def test_bad_inputs():
    with pytest.raises(ShapeError, match=r"\(N, 3\)"):
        mesh_accuracy_completeness(np.zeros((3, 2)), np.zeros((3, 3)), threshold_m=1)
    with pytest.raises(DataError, match="gt_points is empty"):
        mesh_accuracy_completeness(np.zeros((3, 3)), np.zeros((0, 3)), threshold_m=1)
    with pytest.raises(ShapeError, match="same N"):
        trajectory_drift(np.tile(np.eye(4), (3, 1, 1)), np.tile(np.eye(4), (2, 1, 1)))
    with pytest.raises(DataError, match="at least 2"):
        trajectory_drift(np.eye(4)[None], np.eye(4)[None])
