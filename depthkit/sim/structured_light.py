"""Simulated structured-light scanner: camera captures of projected patterns, with ground truth.

A pinhole projector (no lens distortion) sits beside the camera, toed in towards the scene,
and shows each image of a :class:`~depthkit.sensing.structured_light.PatternSet`.  A camera
pixel whose ray hits a surface point ``X`` (albedo ``rho``) records, in grey levels::

    I = gain * rho * (ambient + power * p(u_p, v_p) / 255 * cos_p / d_p^2 * lit)

``p`` is the pattern sampled bilinearly at ``X``'s projector coordinates (a slightly defocused
projector), ``d_p`` and ``cos_p`` distance and incidence from the projector, ``lit`` False
where ``X`` is hidden from the projector (projector shadow) or outside its image.  Then shot
noise (variance ``I * 255 / full_well``), read noise, rounding and clipping to uint8.
Interreflections are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ..sensing.structured_light import PatternSet, SLCaptureFrame
from ..types import GroundTruth, Intrinsics, StereoRig

__all__ = ["SLSimParams", "make_projector_rig", "render_structured_light",
           "open_structured_light"]


@dataclass(frozen=True)
class SLSimParams:
    """Projector and camera model of the simulated scanner (module docstring has the model).

    ``power``: grey levels from a white pattern on a white surface facing the projector at
    1 m; ``ambient``: grey levels of a white surface from ambient light alone.
    """

    power: float = 300.0
    ambient: float = 10.0
    gain: float = 1.0
    full_well: float = 6000.0
    read_noise: float = 0.8
    noise: float = 1.0

    def __post_init__(self):
        for name in ("power", "gain", "full_well"):
            if not getattr(self, name) > 0:
                raise ParameterError(f"SLSimParams.{name} must be > 0; got "
                                     f"{getattr(self, name)!r}.")
        for name in ("ambient", "read_noise", "noise"):
            if not getattr(self, name) >= 0:
                raise ParameterError(f"SLSimParams.{name} must be >= 0; got "
                                     f"{getattr(self, name)!r}.")


def make_projector_rig(camera: Intrinsics, *, projector_size=None, hfov_deg: float = 60.0,
                       baseline_m: float = 0.15, converge_m: float = 1.2) -> StereoRig:
    """Camera plus a projector `baseline_m` to its right, toed in to cross the camera's axis at
    `converge_m`.  Returns ``StereoRig(camera, projector, R, T)`` with ``x_p = R x_c + T``.

    ``projector_size`` defaults to 1.25 x the camera size (e.g. 800x600 for 640x480).
    """
    if projector_size is None:
        projector_size = (round(camera.width * 1.25), round(camera.height * 1.25))
    pw, ph = (int(x) for x in projector_size)
    if not 10 <= hfov_deg <= 150:
        raise ParameterError(f"hfov_deg must be in [10, 150]; got {hfov_deg!r}.")
    if not baseline_m > 0 or not converge_m > 0:
        raise ParameterError("baseline_m and converge_m must be > 0.")
    f = 0.5 * pw / np.tan(np.radians(hfov_deg) / 2)
    proj = Intrinsics(pw, ph, f, f, (pw - 1) / 2, (ph - 1) / 2)
    c = np.array([baseline_m, 0.0, 0.0])
    zp = np.array([0.0, 0.0, converge_m]) - c
    zp /= np.linalg.norm(zp)
    xp = np.cross([0.0, 1.0, 0.0], zp)
    xp /= np.linalg.norm(xp)
    yp = np.cross(zp, xp)
    p2c = np.stack([xp, yp, zp], axis=1)
    R = p2c.T
    T = -R @ c
    return StereoRig(camera, proj, R, T)


def _remap(img: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=0.0)


def render_structured_light(scene, rig: StereoRig, patterns: PatternSet, cam2world=None,
                            params: SLSimParams | None = None, *, seed: int | None = 0,
                            timestamp_s: float = 0.0, sequence: int = 0) -> SLCaptureFrame:
    """Render the camera's capture of every pattern, with ground truth.

    Parameters
    ----------
    scene : depthkit.sim.Scene
    rig : StereoRig
        Camera (``left``, may be distorted) and projector (``right``, pinhole), e.g. from
        :func:`make_projector_rig`.
    patterns : PatternSet
        Must match the projector's size.
    cam2world : (4, 4) array, optional
        Camera pose (default ``scene.default_pose``).
    seed : int or None
        Noise seed; ``None`` renders noise-free captures.

    Returns
    -------
    SLCaptureFrame
        ``ground_truth.depth_m``: z-depth in the *undistorted* camera (what the decoder outputs
        by default).  ``extras``: ``depth_raw_m`` (raw grid), ``proj_col``/``proj_row``
        (exact projector coordinates, raw grid, NaN where unlit), ``lit_raw`` (raw grid) and
        ``lit`` (undistorted grid): surface seen by the projector, inside its image.
    """
    from .render import render_view

    cam, proj = rig.left, rig.right
    if proj.distortion and any(proj.distortion):
        raise ParameterError("the simulated projector is a pinhole; give it no distortion.")
    if (patterns.width, patterns.height) != proj.size:
        raise ParameterError(
            f"patterns are {patterns.width}x{patterns.height} but the projector is "
            f"{proj.width}x{proj.height}."
        )
    p = params or SLSimParams()
    T = scene.default_pose if cam2world is None else np.asarray(cam2world, np.float64)
    if T.shape != (4, 4):
        raise ParameterError(f"cam2world must be 4x4; got {T.shape}.")
    h, w = cam.shape
    view = render_view(scene, cam, T)
    pts = view["points"].reshape(-1, 3)
    hit = np.isfinite(pts[:, 0])
    # projector pose in the world
    R, t = np.asarray(rig.R), np.asarray(rig.T)
    cam2proj = np.eye(4)
    cam2proj[:3, :3], cam2proj[:3, 3] = R, t
    proj2world = T @ np.linalg.inv(cam2proj)
    w2p = np.linalg.inv(proj2world)
    q = pts @ w2p[:3, :3].T + w2p[:3, 3]
    zq = q[:, 2]
    front = hit & (zq > 1e-6)
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(front, proj.fx * q[:, 0] / zq + proj.cx, np.nan)
        vp = np.where(front, proj.fy * q[:, 1] / zq + proj.cy, np.nan)
    inside = front & (up >= 0) & (up <= proj.width - 1) & (vp >= 0) & (vp <= proj.height - 1)
    cpos = proj2world[:3, 3]
    dvec = np.where(hit[:, None], pts - cpos, 1.0)
    dist = np.linalg.norm(dvec, axis=1)
    dirs = dvec / dist[:, None]
    lit = np.zeros(h * w, bool)
    idx = np.flatnonzero(inside)
    if idx.size:
        th = scene.raycast(np.broadcast_to(cpos, (idx.size, 3)), dirs[idx], texture=False)
        lit[idx] = th["t_hit"] >= dist[idx] - (1e-3 + 1e-4 * dist[idx])
    nw = view["normals"].reshape(-1, 3) @ T[:3, :3].T
    cos_p = np.clip(-np.einsum("ij,ij->i", nw, dirs), 0.0, 1.0)
    rho = np.where(hit, view["albedo"].reshape(-1), 0.0)
    irr = np.where(lit, p.power * cos_p / np.maximum(dist, 0.05) ** 2, 0.0)
    base = (p.gain * rho * p.ambient).reshape(h, w).astype(np.float32)
    scale = (p.gain * rho * irr / 255.0).reshape(h, w).astype(np.float32)
    mx = np.where(np.isfinite(up), up, -10.0).reshape(h, w).astype(np.float32)
    my = np.where(np.isfinite(vp), vp, -10.0).reshape(h, w).astype(np.float32)
    rng = None if seed is None else np.random.default_rng([int(seed), int(sequence), 17])
    imgs = patterns.images()
    caps = np.empty((len(imgs), h, w), np.uint8)
    k = np.float32(255.0 / p.full_well)
    for i, pat in enumerate(imgs):
        img = base + scale * _remap(pat.astype(np.float32), mx, my)
        if rng is not None and p.noise > 0:
            sd = p.noise * np.sqrt(np.maximum(img, 0) * k + p.read_noise ** 2)
            img = img + sd * rng.standard_normal(img.shape, dtype=np.float32)
        caps[i] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    # ground truth
    depth_raw = view["depth"].astype(np.float32)
    ideal = Intrinsics(w, h, cam.fx, cam.fy, cam.cx, cam.cy)
    lit_raw = lit.reshape(h, w)
    if cam.distortion and any(cam.distortion):
        import cv2

        depth = render_view(scene, ideal, T, texture=False)["depth"].astype(np.float32)
        m1, m2 = cv2.initUndistortRectifyMap(cam.K, cam.D, None, cam.K, cam.size, cv2.CV_32FC1)
        lit_ideal = cv2.remap(lit_raw.astype(np.uint8), m1, m2, cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    else:
        depth, lit_ideal = depth_raw, lit_raw
    extras = {"depth_raw_m": depth_raw, "lit_raw": lit_raw, "lit": lit_ideal,
              "proj_col": np.where(lit, up, np.nan).reshape(h, w).astype(np.float32),
              "proj_row": np.where(lit, vp, np.nan).reshape(h, w).astype(np.float32),
              "scene": getattr(scene, "name", "custom")}
    gt = GroundTruth(depth_m=depth, pose=T, normals=view["normals"], extras=extras)
    return SLCaptureFrame(caps, patterns, rig, timestamp_s=timestamp_s, sequence=sequence,
                          ground_truth=gt)


# ------------------------------------------------------------------------------------------
# sim://structured-light
# ------------------------------------------------------------------------------------------
def open_structured_light(parsed):
    """Opener of ``sim://structured-light?scene=tabletop&seed=0&size=640x480&frames=10``
    ``&noise=1&raw=0&period=8&steps=8&axes=x&baseline=0.15&trajectory=static&fps=30``.

    Yields decoded :class:`~depthkit.types.DepthFrame` (``raw=0``, by
    :class:`~depthkit.sensing.structured_light.StructuredLightDecoder`, exposed as
    ``source.decoder``) or :class:`~depthkit.sensing.structured_light.SLCaptureFrame`
    (``raw=1``).  ``source.rig`` is the camera-projector calibration; the projector is 1.25x
    the camera's size.  ``noise`` scales shot and read noise (0 = noise-free).
    """
    from ..sensing.structured_light import StructuredLightDecoder
    from ..sources.base import parse_bool
    from ..sources.sim import COMMON_DEFAULTS, COMMON_PARAMS, SimSource, scene_and_poses
    from .rig import make_rig

    p = parsed.params({**COMMON_PARAMS, "noise": float, "raw": parse_bool, "period": int,
                       "steps": int, "axes": str, "baseline": float},
                      {**COMMON_DEFAULTS, "noise": 1.0, "raw": False, "period": 8, "steps": 8,
                       "axes": "x", "baseline": 0.15})
    scene, poses = scene_and_poses(p)
    if not p["noise"] >= 0:
        raise ParameterError(f"noise must be >= 0; got {p['noise']}.")
    cam = make_rig(p["size"]).left
    rig = make_projector_rig(cam, baseline_m=p["baseline"])
    patterns = PatternSet(rig.right.width, rig.right.height, period=p["period"],
                          n_phase=p["steps"], axes=p["axes"])
    params = SLSimParams(noise=p["noise"])
    decoder = StructuredLightDecoder(rig, patterns)
    seed = p["seed"]

    def render(i):
        caps = render_structured_light(scene, rig, patterns, poses[i], params,
                                       seed=None if p["noise"] == 0 else seed * 1000 + i,
                                       timestamp_s=i / p["fps"], sequence=i)
        return caps if p["raw"] else decoder.decode(caps)

    src = SimSource(parsed.uri, "structured-light", len(poses), render, rig=rig,
                    intrinsics=cam if p["raw"] else decoder.output_intrinsics)
    src.decoder = decoder
    src.patterns = patterns
    return src


def _register() -> None:
    from ..sources.sim import SIM_KINDS

    SIM_KINDS["structured-light"] = open_structured_light


_register()
