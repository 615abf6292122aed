"""Ray-cast rendering of stereo pairs and RGB-D frames with exact ground truth.

Photometric model (per camera): ``grey = brightness * exposure * vignette * radiance`` with
``radiance = albedo_rgb * shading (+ projector dots)``; then shot noise (variance = electrons,
``full_well`` electrons at 255), read noise (grey levels), rounding to uint8.  Shading is
Lambertian under a distant light, so it is the same from every viewpoint; the stereo pair
differs only by geometry, exposure, vignetting, distortion and noise.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from ..errors import ParameterError
from ..types import GroundTruth, Intrinsics, RGBDFrame, StereoFrame, StereoRig
from . import _kernels
from .rig import SimRig
from .scene import Scene, _camera_dirs

log = logging.getLogger(__name__)

__all__ = ["render_view", "render_stereo", "render_rgbd", "rig_poses", "expose"]

#: The dot projector's pattern is a property of the device, the same in every frame.
PROJECTOR_SEED = 0


def _pose(T) -> np.ndarray:
    T = np.asarray(T, np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise ParameterError(f"cam2world must be a finite 4x4 matrix; got shape {T.shape}.")
    return T


def render_view(scene: Scene, intrinsics: Intrinsics, cam2world, *, texture=True) -> dict:
    """Ray cast one camera (distortion honoured) and return per-pixel maps.

    Parameters
    ----------
    scene : Scene
    intrinsics : Intrinsics
        The camera; with distortion, the map is that of the raw (distorted) image.
    cam2world : (4, 4) array
        Camera pose.
    texture : bool
        False skips the colours (``rgb``, ``albedo``): geometry only, faster.

    Returns
    -------
    dict of ``(H, W)`` maps: ``depth`` float32 z in the camera frame (NaN on a miss),
    ``range`` float32 distance along the ray (inf on a miss), ``rgb`` (H, W, 3) float32 albedo,
    ``albedo``, ``shading`` float32, ``normals`` (H, W, 3) float32 in the *camera* frame
    (``normals_world``: the same in the world frame),
    ``points`` (H, W, 3) float64 world points, ``geometry_ids`` int32 (-1 = miss).

    Examples
    --------
    >>> from depthkit.sim import make_scene
    >>> from depthkit.types import Intrinsics
    >>> scene = make_scene("corridor")
    >>> v = render_view(scene, Intrinsics(32, 24, 25.0, 25.0, 15.5, 11.5), scene.default_pose)
    >>> v["depth"].shape, v["rgb"].shape
    ((24, 32), (24, 32, 3))
    """
    T = _pose(cam2world)
    dirs = _camera_dirs(intrinsics)
    rays = np.empty((dirs.shape[0], 6), np.float32)
    _kernels.make_rays(dirs, np.ascontiguousarray(T[:3, :3]), np.ascontiguousarray(T[:3, 3]),
                       rays)
    res = scene._cast(rays, 1.0 / intrinsics.fx, texture)
    h, w = intrinsics.shape
    t = res["t_hit"]
    depth = np.empty(t.shape[0], np.float32)
    normals = np.empty((t.shape[0], 3), np.float32)
    _kernels.view_maps(t, _camera_dirs_z(intrinsics), res["normals"],
                       np.ascontiguousarray(T[:3, :3]), depth, normals)
    out = {
        "depth": depth.reshape(h, w),
        "range": t.reshape(h, w),
        "normals": normals.reshape(h, w, 3),
        "normals_world": res["normals"].reshape(h, w, 3),
        "points": res["points"].reshape(h, w, 3),
        "geometry_ids": res["geometry_ids"].reshape(h, w),
        "shading": res["shading"].reshape(h, w),
    }
    if texture:
        out["rgb"] = res["rgb"].reshape(h, w, 3)
        out["albedo"] = res["albedo"].reshape(h, w)
    return out


@functools.lru_cache(maxsize=32)
def _camera_dirs_z(intr: Intrinsics) -> np.ndarray:
    return np.ascontiguousarray(_camera_dirs(intr)[:, 2])


def rig_poses(stereo: StereoRig, cam2world) -> dict:
    """World poses of the raw and rectified cameras of a rig.

    Parameters
    ----------
    stereo : StereoRig
        A rectified rig (R1 is used).
    cam2world : (4, 4) array
        Pose of the raw left camera.

    Returns
    -------
    dict of 4x4 cam2world: ``left``, ``right``, ``rect_left``, ``rect_right`` (the rectified
    cameras share one orientation; ``rect_right`` sits at the right camera's centre).
    """
    T = _pose(cam2world)
    R, t = np.asarray(stereo.R), np.asarray(stereo.T)
    right2left = np.eye(4)
    right2left[:3, :3], right2left[:3, 3] = R.T, -R.T @ t
    rl = np.eye(4)
    rl[:3, :3] = np.asarray(stereo.R1).T
    rr = rl.copy()
    rr[:3, 3] = right2left[:3, 3]
    return {"left": T, "right": T @ right2left, "rect_left": T @ rl, "rect_right": T @ rr}


@functools.lru_cache(maxsize=8)
def _vignette(width: int, height: int, cx: float, cy: float, strength: float) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((x - cx) ** 2 + (y - cy) ** 2) / ((width / 2) ** 2 + (height / 2) ** 2)
    v = (1.0 - strength * r2).clip(0.0, 1.0).astype(np.float32)
    v.flags.writeable = False
    return v


def expose(radiance, rig: SimRig, camera: int, intrinsics: Intrinsics, noise_seed=None):
    """Turn scene radiance into a uint8 image with the rig's sensor model.

    Parameters
    ----------
    radiance : (H, W) or (H, W, 3) float array
        Relative radiance, 1 = a white surface under full light.
    rig : SimRig
        Brightness, exposure, vignetting and noise.
    camera : {0, 1}
        Left or right camera (its exposure).
    intrinsics : Intrinsics
        The camera the image belongs to (vignetting centre).
    noise_seed : int, sequence of int or None
        Keys the shot + read noise; None = noise-free.
    """
    return _expose(radiance, None, rig, camera, intrinsics, noise_seed)


def _expose(radiance, shading, rig, camera, intrinsics, noise_seed):
    """:func:`expose` of ``radiance * shading[..., None]`` (shading (H, W) float32 or None),
    without forming the product image."""
    rad = np.ascontiguousarray(radiance, dtype=np.float32)
    shape = rad.shape
    rad2 = rad.reshape(shape[0] * shape[1], -1)
    if shading is None:
        sh = np.ones(1, np.float32)
    else:
        sh = np.ascontiguousarray(shading, dtype=np.float32).reshape(-1)
    if rig.vignetting > 0:
        vig = _vignette(intrinsics.width, intrinsics.height, intrinsics.cx, intrinsics.cy,
                        float(rig.vignetting)).ravel()
    else:
        vig = np.ones(1, np.float32)
    noise = noise_seed is not None
    key = 0
    if noise:
        key = int(np.random.SeedSequence(noise_seed).generate_state(1, np.uint32)[0])
    k_shot = 255.0 / rig.full_well if np.isfinite(rig.full_well) else 0.0
    out = np.empty(rad2.shape, np.uint8)
    _kernels.expose(rad2, sh, vig, float(rig.brightness * rig.exposure[camera]), k_shot,
                    float(rig.read_noise) ** 2, noise, key, out)
    return out.reshape(shape)


# --------------------------------------------------------------------------------------------
# infrared dot projector
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _dot_pattern(width: int, height: int, seed: int) -> np.ndarray:
    import cv2

    rng = np.random.default_rng([seed, 7])
    pat = (rng.random((height, width)) < 0.1).astype(np.float32)
    pat = cv2.GaussianBlur(pat, (0, 0), 0.7)
    pat /= pat.max()
    pat.flags.writeable = False
    return pat


def _projector_light(scene: Scene, view: dict, proj2world, proj_intr: Intrinsics, seed: int,
                     power: float) -> np.ndarray:
    """Dot irradiance (H, W) reaching each pixel's surface from the projector (with shadows),
    already multiplied by the surface albedo."""
    import cv2

    shape = view["depth"].shape
    pts = np.ascontiguousarray(view["points"].reshape(-1, 3))
    n = pts.shape[0]
    rays = np.empty((n, 6), np.float32)
    dist = np.empty(n, np.float64)
    u = np.empty(n, np.float32)
    v = np.empty(n, np.float32)
    w2p = np.ascontiguousarray(np.linalg.inv(proj2world)[:3])
    _kernels.projector_rays(pts, np.ascontiguousarray(proj2world[:3, 3]), w2p, proj_intr.fx,
                            proj_intr.fy, proj_intr.cx, proj_intr.cy, rays, dist, u, v)
    pat = _dot_pattern(proj_intr.width, proj_intr.height, seed)
    val = cv2.remap(pat, u.reshape(shape), v.reshape(shape), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0).ravel()
    t = scene._t_hit(rays)        # shadows: is the point seen first?
    out = np.empty(n, np.float32)
    _kernels.projector_light(np.ascontiguousarray(val), t, dist, rays,
                             np.ascontiguousarray(view["normals_world"].reshape(-1, 3)),
                             np.ascontiguousarray(view["albedo"].reshape(-1)), float(power), out)
    return out.reshape(shape)


def _radiance(view: dict, gray: bool) -> np.ndarray:
    rad = view["rgb"] * view["shading"][..., None]
    if gray:
        rad = rad @ np.array([0.299, 0.587, 0.114], np.float32)
    return rad


# --------------------------------------------------------------------------------------------
# stereo
# --------------------------------------------------------------------------------------------
def _occlusion(scene: Scene, points, center, rect_right: Intrinsics, rr_pose,
               select=None) -> np.ndarray:
    """True where a world point is not visible in the rectified right view (blocked or outside).

    Exact: a ray from the right camera centre to each point (only at `select` pixels if given;
    the others come back False).
    """
    pts = points.reshape(-1, 3)
    idx = None
    if select is not None:
        idx = np.flatnonzero(select.ravel())
        pts = pts[idx]
    pts = np.ascontiguousarray(pts)
    n = pts.shape[0]
    rays = np.empty((n, 6), np.float32)
    dist = np.empty(n, np.float64)
    w2c = np.linalg.inv(rr_pose)[:3]
    _kernels.visibility_rays(pts, np.ascontiguousarray(center, dtype=np.float64),
                             np.ascontiguousarray(w2c), rect_right.fx, rect_right.fy,
                             rect_right.cx, rect_right.cy, rect_right.width, rect_right.height,
                             rays, dist)
    t = scene._t_hit(rays) if n else np.empty(0, np.float32)
    hidden = ~((dist > 0) & (t >= dist - (1e-3 + 1e-4 * dist)))
    if idx is None:
        return hidden.reshape(points.shape[:2])
    out = np.zeros(points.shape[0] * points.shape[1], bool)
    out[idx] = hidden
    return out.reshape(points.shape[:2])


def _occlusion_rectified(scene, gt_view, right_view, disp, center, rect_right, rr_pose):
    """Occlusion from the rendered rectified right view; ray casts only where it is unclear."""
    cls = np.empty(disp.shape, np.int8)
    _kernels.occlusion_from_right(gt_view["depth"], disp, gt_view["geometry_ids"],
                                  right_view["depth"], right_view["geometry_ids"], 2e-3, cls)
    occ = cls == 1
    unsure = cls == 2
    if unsure.any():
        occ |= _occlusion(scene, gt_view["points"], center, rect_right, rr_pose, select=unsure)
    return occ


def render_stereo(scene: Scene, rig: SimRig, cam2world=None, *, rectified: bool = False,
                  noise: bool = True, seed: int = 0, sequence: int = 0,
                  timestamp_s: float = 0.0) -> StereoFrame:
    """Render a stereo pair with ground truth.

    Parameters
    ----------
    scene : Scene
    rig : SimRig
        Geometry + sensor model (see :meth:`SimRig.default`).
    cam2world : (4, 4) array, optional
        Pose of the raw left camera (default ``scene.default_pose``).
    rectified : bool
        False: raw views through each camera's distortion and pose (``frame.rig`` is the raw
        rig, with its rectification R1..Q filled).  True: ideal row-aligned views through the
        rectified cameras (``frame.rig`` is ``rig.rectified``), as a RealSense infrared pair.
    noise : bool
        Shot and read noise (from `seed` and `sequence`); False gives noise-free images.
    seed, sequence, timestamp_s :
        Noise seed and frame bookkeeping.

    Returns
    -------
    StereoFrame
        ``left``/``right`` uint8 (H, W, 3) RGB, or (H, W) with ``rig.gray``.  ``ground_truth``
        belongs to the **rectified left view** (the view stereo matching produces):
        ``disparity`` = f·B/Z (float32 px, NaN on a miss), ``depth_m`` z (NaN on a miss),
        ``occlusion`` (True where the point is hidden from, or outside, the rectified right
        view), ``normals`` (rectified-left camera frame), ``pose`` (rectified-left cam2world).
        ``extras``: ``pose_left`` (raw left cam2world), ``focal_px``, ``baseline_m`` and, for
        raw views, ``depth_left_m`` (z map of the raw left image).

    Examples
    --------
    >>> import numpy as np
    >>> from depthkit.sim import SimRig, make_scene
    >>> rig = SimRig.default((64, 48), baseline_m=0.1)
    >>> fr = render_stereo(make_scene("tabletop"), rig, rectified=True)
    >>> gt = fr.ground_truth
    >>> f = rig.stereo.P1[0, 0]
    >>> bool(np.allclose(gt.disparity * gt.depth_m, f * 0.1, rtol=1e-5))
    True
    """
    if not isinstance(rig, SimRig):
        raise ParameterError(f"rig must be a depthkit.sim.SimRig; got {type(rig).__name__}.")
    T = scene.default_pose if cam2world is None else _pose(cam2world)
    st = rig.stereo
    poses = rig_poses(st, T)
    rect = rig.rectified
    ri = rect.left
    f = float(st.P1[0, 0])
    b = abs(float(st.P2[0, 3])) / f
    gt_view = render_view(scene, ri, poses["rect_left"], texture=rectified)
    z = gt_view["depth"]
    disp = (f * b / z).astype(np.float32)
    centre_r = poses["right"][:3, 3]
    extras = {"pose_left": T, "focal_px": f, "baseline_m": b, "scene": scene.name}
    if rectified:
        views = [gt_view, render_view(scene, rect.right, poses["rect_right"])]
        cams = [ri, rect.right]
        occ = _occlusion_rectified(scene, gt_view, views[1], disp, centre_r, rect.right,
                                   poses["rect_right"])
    else:
        occ = _occlusion(scene, gt_view["points"], centre_r, rect.right, poses["rect_right"])
        views = [render_view(scene, st.left, T), render_view(scene, st.right, poses["right"])]
        cams = [st.left, st.right]
        extras["depth_left_m"] = views[0]["depth"]
    if rig.projector:
        proj_intr, proj2world = _projector_model(st, T)
    imgs = []
    for i, (view, cam) in enumerate(zip(views, cams)):
        key = [int(seed), int(sequence), i, 11] if noise else None
        if not rig.gray and not rig.projector:       # shading applied inside the kernel
            imgs.append(_expose(view["rgb"], view["shading"], rig, i, cam, key))
            continue
        rad = _radiance(view, rig.gray)
        if rig.projector:
            dots = _projector_light(scene, view, proj2world, proj_intr, PROJECTOR_SEED,
                                    rig.projector_power / 255.0)
            rad = rad + (dots if rad.ndim == 2 else dots[..., None])
        imgs.append(expose(rad, rig, i, cam, key))
    gt = GroundTruth(depth_m=z, disparity=disp, occlusion=occ, pose=poses["rect_left"],
                     normals=gt_view["normals"], extras=extras)
    return StereoFrame(imgs[0], imgs[1], timestamp_s=timestamp_s, sequence=sequence,
                       rectified=rectified, rig=rect if rectified else st, ground_truth=gt)


def _projector_model(st: StereoRig, T) -> tuple[Intrinsics, np.ndarray]:
    """The dot projector: midway between the cameras, looking along the left camera's axis,
    with a field of view 40% wider than the camera's."""
    li = st.left
    pi = Intrinsics(int(li.width * 1.4), int(li.height * 1.4), li.fx, li.fx,
                    (li.width * 1.4 - 1) / 2, (li.height * 1.4 - 1) / 2)
    c_right = -np.asarray(st.R).T @ np.asarray(st.T)
    p2l = np.eye(4)
    p2l[:3, 3] = c_right / 2
    return pi, T @ p2l


# --------------------------------------------------------------------------------------------
# RGB-D
# --------------------------------------------------------------------------------------------
def render_rgbd(scene: Scene, intrinsics: Intrinsics, cam2world=None, *, depth_noise=0.0,
                noise=True, seed=0, sequence=0, timestamp_s=0.0) -> RGBDFrame:
    """Render a colour image with registered depth (an ideal RGB-D camera).

    Parameters
    ----------
    scene : Scene
    intrinsics : Intrinsics
        Pinhole camera of colour and depth (no distortion).
    cam2world : (4, 4) array, optional
        Camera pose (default ``scene.default_pose``).
    depth_noise : float
        Depth noise coefficient k (1/m): Gaussian with sigma = k·z² (stereo-like); 0 = exact.
    noise : bool
        Image noise (shot + read) on the colour image.
    seed, sequence, timestamp_s :
        Noise seed and frame bookkeeping.

    Returns
    -------
    RGBDFrame with ``depth_m`` (noisy if asked), ``color`` uint8 RGB, ``pose`` cam2world and
    ``ground_truth`` (exact ``depth_m``, ``pose``, ``normals``).
    """
    if depth_noise < 0:
        raise ParameterError(f"depth_noise must be >= 0; got {depth_noise!r}.")
    T = scene.default_pose if cam2world is None else _pose(cam2world)
    view = render_view(scene, intrinsics, T)
    rng = np.random.default_rng([int(seed), int(sequence), 13])
    z = view["depth"]
    dm = z
    if depth_noise > 0:
        dm = (z + depth_noise * z * z * rng.standard_normal(z.shape, dtype=np.float32))
        dm = dm.astype(np.float32)
    sensor = SimRig(StereoRig.rectified_pair(Intrinsics(intrinsics.width, intrinsics.height,
                                                        intrinsics.fx, intrinsics.fy,
                                                        intrinsics.cx, intrinsics.cy), 0.05),
                    exposure=(1.0, 1.0), vignetting=0.0)
    if not noise:
        sensor = sensor.ideal()
    color = _expose(view["rgb"], view["shading"], sensor, 0, intrinsics,
                    [int(seed), int(sequence), 12] if noise else None)
    gt = GroundTruth(depth_m=z, pose=T, normals=view["normals"], extras={"scene": scene.name})
    return RGBDFrame(dm, intrinsics, timestamp_s=timestamp_s, sequence=sequence, color=color,
                     pose=T, ground_truth=gt)
