"""``sim://`` sources: simulated sensors with exact ground truth on every frame.

``sim://stereo?scene=tabletop&seed=1&size=640x480&frames=10&rectified=0&noise=1&projector=0``
``&trajectory=static&baseline=0.08&gray=0&fps=30`` yields :class:`~depthkit.types.StereoFrame`
(raw distorted views by default, ``rectified=1`` for row-aligned ideal views);
``sim://rgbd?scene=room&trajectory=orbit&depth_noise=0.002`` yields
:class:`~depthkit.types.RGBDFrame`.

Other kinds register themselves in :data:`SIM_KINDS` (kind -> opener taking a
:class:`~depthkit.sources.base.ParsedURI`); ``depthkit.sim.tof`` and
``depthkit.sim.structured_light`` are imported here when they exist.  Openers can reuse
:data:`COMMON_PARAMS`, :data:`COMMON_DEFAULTS`, :func:`scene_and_poses` and :class:`SimSource`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from ..errors import ParameterError, SourceError
from ..types import Intrinsics, StereoRig
from .base import ParsedURI, Source, nonneg_float, parse_bool, parse_size, register

log = logging.getLogger(__name__)

__all__ = ["SIM_KINDS", "COMMON_PARAMS", "COMMON_DEFAULTS", "SimSource", "scene_and_poses"]


#: Query parameters every ``sim://`` kind accepts (name -> converter).
COMMON_PARAMS: dict[str, Callable[[str], object]] = {
    "scene": str, "seed": int, "size": parse_size, "frames": int, "trajectory": str,
    "fps": float,
}
COMMON_DEFAULTS = {"scene": "tabletop", "seed": 0, "size": (640, 480), "frames": 10,
                   "trajectory": "static", "fps": 30.0}


def scene_and_poses(params: dict):
    """Validate the common parameters; return ``(scene, poses)`` (poses: list of cam2world)."""
    from ..sim.rig import _check_size
    from ..sim.scene import make_scene
    from ..sim.trajectory import make_trajectory

    _check_size(params["size"])
    if params["frames"] < 1:
        raise ParameterError(f"frames must be >= 1; got {params['frames']}.")
    if not params["fps"] > 0:
        raise ParameterError(f"fps must be > 0; got {params['fps']}.")
    scene = make_scene(params["scene"], params["seed"])
    return scene, make_trajectory(scene, params["trajectory"], params["frames"])


class SimSource(Source):
    """A finite sequence of simulated frames, rendered on demand by ``render(index)``."""

    live = False

    def __init__(self, uri: str, kind: str, n_frames: int, render: Callable[[int], object], *,
                 rig: StereoRig | None = None, intrinsics: Intrinsics | None = None):
        super().__init__(uri)
        self.kind = kind
        self._n = int(n_frames)
        self._render = render
        self._rig = rig
        self._intr = intrinsics
        self._i = 0

    def _read(self, timeout: float):
        if self._i >= self._n:
            return None
        frame = self._render(self._i)
        self._i += 1
        return frame

    def _frame_at(self, index: int):
        return self._render(index)

    def __len__(self) -> int:
        return self._n

    @property
    def rig(self) -> StereoRig | None:
        return self._rig

    @property
    def intrinsics(self) -> Intrinsics | None:
        return self._intr if self._intr is not None else super().intrinsics


def _open_stereo(parsed: ParsedURI) -> Source:
    from ..sim.render import render_stereo
    from ..sim.rig import SimRig

    p = parsed.params({**COMMON_PARAMS, "rectified": parse_bool, "noise": nonneg_float,
                       "projector": parse_bool, "baseline": float, "gray": parse_bool},
                      {**COMMON_DEFAULTS, "rectified": False, "noise": 1.0, "projector": False,
                       "baseline": 0.08, "gray": False})
    scene, poses = scene_and_poses(p)
    kw = {"projector": p["projector"], "gray": p["gray"]}
    noise = p["noise"]
    if noise > 0:
        kw["read_noise"] = 1.5 * noise
        kw["full_well"] = 4000.0 / noise**2
    rig = SimRig.default(p["size"], baseline_m=p["baseline"], **kw)
    out_rig = rig.rectified if p["rectified"] else rig.stereo

    def render(i):
        return render_stereo(scene, rig, poses[i], rectified=p["rectified"], noise=noise > 0,
                             seed=p["seed"], sequence=i, timestamp_s=i / p["fps"])

    return SimSource(parsed.uri, "stereo", len(poses), render, rig=out_rig)


def _open_rgbd(parsed: ParsedURI) -> Source:
    from ..sim.render import render_rgbd

    p = parsed.params({**COMMON_PARAMS, "noise": nonneg_float, "depth_noise": nonneg_float,
                       "hfov": float},
                      {**COMMON_DEFAULTS, "noise": 1.0, "depth_noise": 0.0, "hfov": 70.0})
    scene, poses = scene_and_poses(p)
    w, h = p["size"]
    if not 10 <= p["hfov"] <= 150:
        raise ParameterError(f"hfov must be in [10, 150] degrees; got {p['hfov']}.")
    import math

    f = 0.5 * w / math.tan(math.radians(p["hfov"]) / 2)
    intr = Intrinsics(w, h, f, f, (w - 1) / 2, (h - 1) / 2)

    def render(i):
        return render_rgbd(scene, intr, poses[i], depth_noise=p["depth_noise"],
                           noise=p["noise"] > 0, seed=p["seed"], sequence=i,
                           timestamp_s=i / p["fps"])

    return SimSource(parsed.uri, "rgbd", len(poses), render, intrinsics=intr)


#: kind -> opener; other modules add theirs (``SIM_KINDS["tof"] = open_tof``).
SIM_KINDS: dict[str, Callable[[ParsedURI], Source]] = {"stereo": _open_stereo,
                                                       "rgbd": _open_rgbd}


def _open(parsed: ParsedURI) -> Source:
    kind = parsed.target.strip("/").lower()
    opener = SIM_KINDS.get(kind)
    if opener is None:
        raise SourceError(
            f"unknown simulated sensor {kind!r} in {parsed.uri!r}; sim:// offers: "
            f"{', '.join('sim://' + k for k in sorted(SIM_KINDS))}")
    return opener(parsed)


register("sim", _open)

for _mod in ("depthkit.sim.tof", "depthkit.sim.structured_light"):
    try:
        importlib.import_module(_mod)
    except ModuleNotFoundError as exc:  # the module is optional; its own errors are not
        if exc.name != _mod:
            raise
