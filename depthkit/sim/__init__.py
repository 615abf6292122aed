"""Simulator: ray-cast scenes that render stereo pairs and RGB-D frames with exact ground truth.

Building blocks (used by the ToF and structured-light renderers too):

* :func:`make_scene` (``tabletop``, ``room``, ``corridor``, ``board``) -> :class:`Scene`;
  ``scene.raycast(origins, directions)`` -> dict(``t_hit``, ``points``, ``normals``,
  ``geometry_ids``, ``rgb``, ``albedo``, ``shading``), colours from solid 3D textures.
* :func:`camera_rays` (pinhole, distortion honoured), :func:`look_at`, :func:`render_view`.
* :class:`SimRig` / :func:`make_rig` (stereo geometry + sensor model), :func:`render_stereo`,
  :func:`render_rgbd`, :func:`render_board_views` (chessboard or ChArUco, with GT corners),
  trajectories :func:`orbit`, :func:`walk`, :func:`make_trajectory`.

Open3D is imported on first use (``depthkit.sim`` itself imports light).
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Scene": "scene", "SceneObject": "scene", "make_scene": "scene", "SCENES": "scene",
    "camera_rays": "scene", "look_at": "scene", "board_scene": "scene",
    "SimRig": "rig", "make_rig": "rig",
    "render_view": "render", "render_stereo": "render", "render_rgbd": "render",
    "rig_poses": "render",
    "render_board_views": "board", "project_points": "board",
    "orbit": "trajectory", "walk": "trajectory", "make_trajectory": "trajectory",
    "value_noise": "textures",
    "render_tof": "tof", "ToFSimParams": "tof", "correlation_samples": "tof",
    "render_structured_light": "structured_light", "make_projector_rig": "structured_light",
    "SLSimParams": "structured_light",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"depthkit.sim.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'depthkit.sim' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
