"""``middlebury://DIR``, ``kitti://DIR``, ``eth3d://DIR``: benchmark scenes as stereo frames.

`DIR` is one scene folder or a root holding many (found with
:func:`depthkit.eval.datasets.find_scenes`).  Each scene becomes one rectified
:class:`~depthkit.types.StereoFrame` with :class:`~depthkit.types.GroundTruth` attached:
``disparity`` (float32 pixels, NaN = no GT), ``occlusion`` (True where a pixel has GT but is
occluded in the right view; None when the dataset has no mask), ``depth_m`` when the dataset
gives a focal length and baseline, and ``extras`` with the scene name, calibration and largest
disparity.  With a calibration the frame carries a rectified :class:`~depthkit.types.StereoRig`.

``middlebury://`` and ``eth3d://`` take the Middlebury 2001-2014 and ETH3D two-view layouts
(the latter two share one layout), ``kitti://`` takes KITTI 2015 ``training`` folders.
Parameter: ``scene=NAME`` keeps only the scene of that name.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import SourceError
from ..types import GroundTruth, Intrinsics, StereoFrame, StereoRig, _q_matrix
from .base import ParsedURI, Source, register

__all__ = ["DatasetSource", "scene_to_frame"]


def _rig(scene) -> StereoRig | None:
    c = scene.calib or {}
    if "focal_px" not in c or "baseline_m" not in c:
        return None
    h, w = scene.shape
    f, b = float(c["focal_px"]), float(c["baseline_m"])
    cx = float(c.get("cx_px", (w - 1) / 2.0))
    cy = float(c.get("cy_px", (h - 1) / 2.0))
    cx_r = cx + float(c.get("doffs_px", 0.0))
    intr = Intrinsics(w, h, f, f, cx, cy)
    right = Intrinsics(w, h, f, f, cx_r, cy)
    K1, K2 = intr.K, right.K
    P1 = np.hstack([K1, np.zeros((3, 1))])
    P2 = np.hstack([K2, np.zeros((3, 1))])
    P2[0, 3] = -f * b
    return StereoRig(intr, right, np.eye(3), np.array([-b, 0.0, 0.0]), np.eye(3), np.eye(3),
                     P1, P2, _q_matrix(f, cx, cy, cx_r, b))


def scene_to_frame(scene, sequence: int = 0) -> StereoFrame:
    """A :class:`StereoFrame` (rectified, ground truth attached) from a ``StereoScene``."""
    valid = np.isfinite(scene.disparity)
    occ = None if scene.nonoccluded is None else (valid & ~scene.nonoccluded)
    depth = None
    if scene.calib and "focal_px" in scene.calib and "baseline_m" in scene.calib:
        depth = scene.depth_m()
    gt = GroundTruth(depth_m=depth, disparity=scene.disparity, occlusion=occ,
                     extras={"name": scene.name, "calib": scene.calib,
                             "max_disparity": scene.max_disparity,
                             "source_dir": str(scene.source_dir)})
    return StereoFrame(scene.left, scene.right, timestamp_s=0.0, sequence=sequence,
                       rectified=True, rig=_rig(scene), ground_truth=gt)


class DatasetSource(Source):
    """The scenes of a benchmark folder, one rectified stereo frame each, with GT."""

    kind = "stereo"
    live = False

    def __init__(self, uri: str, scenes: list, *, scene: str | None = None):
        super().__init__(uri)
        self._scenes = scenes            # [(path, frame)], loaded lazily
        self._want = scene
        self._index = 0
        self._seq = 0
        self._rig = None

    def __len__(self) -> int:
        return len(self._scenes)

    @property
    def rig(self):
        return self._rig

    def _read(self, timeout: float):
        from ..eval.datasets import load_scene

        while self._index < len(self._scenes):
            path, frame = self._scenes[self._index]
            self._index += 1
            sc = load_scene(path, frame)
            if self._want is not None and sc.name != self._want:
                continue
            out = scene_to_frame(sc, self._seq)
            self._seq += 1
            self._rig = out.rig
            return out
        return None

    @property
    def seekable(self) -> bool:
        return self._want is None  # with a scene filter, indices would skip scenes

    def _frame_at(self, index: int):
        from ..eval.datasets import load_scene

        out = scene_to_frame(load_scene(*self._scenes[index]), index)
        self._rig = out.rig
        return out

    def _extra_info(self) -> dict:
        return {"scenes": len(self._scenes)}


def _opener(scheme: str):
    def _open(parsed: ParsedURI) -> DatasetSource:
        from ..eval.datasets import find_scenes

        p = parsed.params({"scene": str})
        if not parsed.target:
            raise SourceError(f"{scheme}:// needs a folder: {scheme}://DIR; got {parsed.uri!r}")
        root = os.path.expanduser(parsed.target)
        found = find_scenes(root)
        if scheme == "kitti":
            scenes = [(d, f) for d, f in found if f is not None]
        else:
            scenes = [(d, f) for d, f in found if f is None]
        if not scenes:
            kinds = {"kitti": "KITTI 2015 'training' frames",
                     "middlebury": "Middlebury scenes", "eth3d": "ETH3D two-view scenes"}
            raise SourceError(
                f"no {kinds[scheme]} under {root} (found {len(found)} scene(s) of other "
                f"layouts); check the folder or the scheme"
            )
        if "scene" in p:
            # the StereoScene.name rule: KITTI frames are kitti_<frame>, others the folder name
            names = [f"kitti_{f}" if f is not None else os.path.basename(os.path.normpath(d))
                     for d, f in scenes]
            if p["scene"] not in names:
                raise SourceError(
                    f"no scene {p['scene']!r} under {root}; scenes: {', '.join(names[:20])}")
            scenes = [s for s, n in zip(scenes, names) if n == p["scene"]]
        return DatasetSource(parsed.uri, scenes, scene=p.get("scene"))
    return _open


for _scheme in ("middlebury", "kitti", "eth3d"):
    register(_scheme, _opener(_scheme))
