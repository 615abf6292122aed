"""Reconstruction quality: mesh accuracy and completeness, trajectory drift.

These compare a reconstruction with ground truth given as dense samples of the true surface
(the simulator's or an analytic scene's); distances use a k-d tree (scipy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_positive
from ..errors import DataError, ShapeError

__all__ = ["MeshQuality", "mesh_accuracy_completeness", "trajectory_drift"]


@dataclass(frozen=True)
class MeshQuality:
    """Accuracy (reconstruction -> truth) and completeness (truth -> reconstruction).

    accuracy_mean_m, accuracy_median_m : distances from reconstructed points to the nearest GT
    sample; completeness : fraction of GT samples with a reconstructed point within
    ``threshold_m``; n_points, n_gt : how many points were compared.
    """

    accuracy_mean_m: float
    accuracy_median_m: float
    completeness: float
    threshold_m: float
    n_points: int
    n_gt: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _points(a, name: str) -> np.ndarray:
    if hasattr(a, "vertices"):  # an Open3D TriangleMesh
        a = np.asarray(a.vertices)
    elif hasattr(a, "points") and not isinstance(a, np.ndarray):  # an Open3D PointCloud
        a = np.asarray(a.points)
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ShapeError(
            f"`{name}` must be (N, 3) points (or an Open3D mesh/cloud); got {arr.shape}."
        )
    arr = arr[np.all(np.isfinite(arr), axis=1)]
    return arr


def mesh_accuracy_completeness(mesh_points, gt_points, *, threshold_m: float,
                               max_distance_m: float | None = None) -> MeshQuality:
    """Score a reconstruction against dense samples of the true surface.

    Parameters
    ----------
    mesh_points : (N, 3) ndarray or Open3D TriangleMesh / PointCloud
        Reconstructed vertices or points (metres, world frame).
    gt_points : (M, 3) ndarray or Open3D geometry
        Samples of the ground-truth surface, denser than `threshold_m` (their spacing bounds
        how well point-to-sample distance approximates point-to-surface distance).
    threshold_m : float
        Completeness radius (e.g. 2 voxels).
    max_distance_m : float, optional
        Ignore reconstructed points farther than this from any GT sample when averaging
        accuracy (e.g. parts of the scene the GT samples do not cover).

    Returns
    -------
    MeshQuality
    """
    from scipy.spatial import cKDTree

    thr = check_positive(threshold_m, "threshold_m")
    P = _points(mesh_points, "mesh_points")
    G = _points(gt_points, "gt_points")
    if len(G) == 0:
        raise DataError("gt_points is empty; nothing to compare with.")
    if len(P) == 0:
        return MeshQuality(float("nan"), float("nan"), 0.0, thr, 0, len(G))
    d_acc, _ = cKDTree(G).query(P, k=1)
    if max_distance_m is not None:
        d_acc = d_acc[d_acc <= check_positive(max_distance_m, "max_distance_m")]
    d_comp, _ = cKDTree(P).query(G, k=1, distance_upper_bound=thr * 1.0001)
    acc_mean = float(np.mean(d_acc)) if len(d_acc) else float("nan")
    acc_med = float(np.median(d_acc)) if len(d_acc) else float("nan")
    return MeshQuality(acc_mean, acc_med, float(np.mean(d_comp <= thr)), thr, len(P), len(G))


def trajectory_drift(estimated, ground_truth) -> dict:
    """Final translation drift of an estimated trajectory relative to the truth.

    Both are sequences of 4x4 ``cam2world``; each is first expressed relative to its own first
    pose, so only the accumulated error counts.  Returns ``drift_m`` (distance between the two
    final positions), ``path_length_m`` (of the ground truth) and ``drift_ratio``.
    """
    E = np.asarray(estimated, dtype=np.float64)
    G = np.asarray(ground_truth, dtype=np.float64)
    if E.ndim != 3 or E.shape[1:] != (4, 4) or E.shape != G.shape:
        raise ShapeError(
            f"estimated and ground_truth must be (N, 4, 4) of the same N; got {E.shape} and "
            f"{G.shape}."
        )
    if len(E) < 2:
        raise DataError("a trajectory needs at least 2 poses to measure drift.")
    e_rel = np.linalg.inv(E[0]) @ E[-1]
    g_rel = np.linalg.inv(G[0]) @ G[-1]
    drift = float(np.linalg.norm(e_rel[:3, 3] - g_rel[:3, 3]))
    steps = np.linalg.norm(np.diff(G[:, :3, 3], axis=0), axis=1)
    length = float(steps.sum())
    return {"drift_m": drift, "path_length_m": length,
            "drift_ratio": drift / length if length > 0 else float("nan")}
