"""Simulated continuous-wave ToF: raw correlation samples with ground truth.

The camera carries its own light source (co-located with the optical centre).  A surface at
radial distance ``r`` with albedo ``rho`` and incidence cosine ``cos_i`` returns, in electrons
per sample,::

    P   = power * rho * cos_i / r^2                 (Lambertian, inverse square)
    S_k = P + ambient * rho + contrast * P * cos(4 pi f r / c + 2 pi k / N)

i.e. offset ``B = P + ambient * rho`` and amplitude ``A = contrast * P`` in the model of
:mod:`depthkit.sensing.tof`.  Noise is shot noise (Gaussian with variance ``S``) plus read
noise; samples clip at ``full_well`` (which the frame reports as its saturation).  Each pixel
sees one surface along one ray: no multipath, no mixed pixels unless ``supersample > 1``
(then the complex returns of ``supersample^2`` rays per pixel are averaged, so depth edges get
real flying pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_positive
from ..errors import ParameterError, ShapeError
from ..sensing.tof import C_LIGHT, KINECT_V2_FREQUENCIES, ToFRawFrame, _undistort_normalised
from ..types import GroundTruth, Intrinsics

__all__ = ["ToFSimParams", "correlation_samples", "render_tof", "pixel_rays", "open_tof"]


@dataclass(frozen=True)
class ToFSimParams:
    """Sensor model of the simulated ToF camera (see the module docstring).

    ``power`` is the returned signal (electrons) from a white (rho=1) surface facing the camera
    at 1 m.
    """

    frequencies_hz: tuple[float, ...] = KINECT_V2_FREQUENCIES
    n_steps: int = 3
    power: float = 40000.0
    ambient: float = 2000.0
    contrast: float = 0.8
    read_noise: float = 10.0
    full_well: float = 400000.0
    noise: float = 1.0
    supersample: int = 1

    def __post_init__(self):
        f = np.asarray(self.frequencies_hz, dtype=np.float64).ravel()
        if f.size < 1 or not np.all(f > 0):
            raise ParameterError(f"frequencies_hz must be > 0; got {self.frequencies_hz!r}.")
        object.__setattr__(self, "frequencies_hz", tuple(float(x) for x in f))
        if int(self.n_steps) != self.n_steps or self.n_steps < 3:
            raise ParameterError(f"n_steps must be an integer >= 3; got {self.n_steps!r}.")
        for name in ("power", "full_well"):
            check_positive(getattr(self, name), name)
        for name in ("ambient", "contrast", "read_noise", "noise"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise ParameterError(f"{name} must be >= 0; got {v!r}.")
        if not 0 < self.contrast <= 1:
            raise ParameterError(f"contrast must be in (0, 1]; got {self.contrast!r}.")
        if int(self.supersample) != self.supersample or self.supersample < 1:
            raise ParameterError(f"supersample must be an integer >= 1; got {self.supersample!r}.")


def correlation_samples(range_m, signal, ambient, frequencies_hz, n_steps: int = 3, *,
                        contrast: float = 0.8, rng: np.random.Generator | None = None,
                        read_noise: float = 0.0, noise: float = 1.0,
                        full_well: float | None = None) -> np.ndarray:
    """Raw samples ``(M, N, H, W)`` float32 from radial range and returned signal per pixel.

    Parameters
    ----------
    range_m : (H, W) array
        Radial distance, metres; NaN (no surface) gives ambient-free zero signal.
    signal : (H, W) array
        Returned modulated light ``P`` (electrons).
    ambient : float or (H, W) array
        Ambient offset (electrons).
    frequencies_hz, n_steps
        Modulation frequencies and phase steps per frequency.
    contrast : float
        Modulation contrast: amplitude ``A = contrast * P``.
    rng : numpy Generator, optional
        Noise source; ``None`` gives noise-free samples.
    read_noise, noise, full_well
        Read noise (electrons), a factor on all noise, and the clipping level (None: none).
    """
    r = np.asarray(range_m, dtype=np.float64)
    sig = np.asarray(signal)
    if sig.shape != r.shape:
        raise ShapeError(f"signal has shape {sig.shape}; range_m has {r.shape}.")
    f = np.asarray(frequencies_hz, dtype=np.float64).ravel()
    if int(n_steps) != n_steps or n_steps < 3:
        raise ParameterError(f"n_steps must be an integer >= 3; got {n_steps!r}.")
    valid = np.isfinite(r)
    r0 = np.where(valid, r, 0.0)
    pw = np.where(valid, sig.astype(np.float64), 0.0)
    amb = np.broadcast_to(np.asarray(ambient, dtype=np.float64), r.shape)
    ret = np.stack([pw * np.exp(1j * 4 * np.pi * fm * r0 / C_LIGHT) for fm in f])
    return _samples_from_returns(ret, pw + amb, int(n_steps), contrast, rng, read_noise, noise,
                                 full_well)


def _add_noise(out, rng, read_noise, noise, full_well):
    if rng is not None and noise > 0:
        sd = noise * np.sqrt(np.maximum(out, 0.0) + read_noise ** 2)
        out += (rng.standard_normal(out.shape) * sd).astype(np.float32)
        np.maximum(out, 0.0, out=out)
    if full_well is not None:
        np.minimum(out, np.float32(full_well), out=out)
    return out


def _samples_from_returns(ret, dc, n_steps, contrast, rng, read_noise, noise, full_well):
    """Samples from complex returns ``ret[m] = sum_j P_j exp(i phi_mj)`` (averaged over a
    pixel's rays) and offset ``dc`` (mean ``P`` plus ambient)."""
    M = ret.shape[0]
    theta = 2 * np.pi * np.arange(n_steps) / n_steps
    out = np.empty((M, n_steps) + ret.shape[1:], np.float32)
    for m in range(M):
        for k in range(n_steps):
            out[m, k] = dc + contrast * np.real(ret[m] * np.exp(1j * theta[k]))
    return _add_noise(out, rng, read_noise, noise, full_well)


def pixel_rays(intrinsics: Intrinsics, offsets=((0.0, 0.0),)) -> np.ndarray:
    """Unit rays (S, H, W, 3) in the camera frame of each raw (distorted) pixel, one per
    sub-pixel offset."""
    h, w = intrinsics.shape
    vv, uu = np.mgrid[0:h, 0:w].astype(np.float64)
    rays = []
    for du, dv in offsets:
        xy = _undistort_normalised(np.stack([(uu + du).ravel(), (vv + dv).ravel()], 1),
                                   intrinsics)
        d = np.concatenate([xy, np.ones((xy.shape[0], 1))], axis=1)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        rays.append(d.reshape(h, w, 3))
    return np.stack(rays)


def _world_rays(rays_cam: np.ndarray, cam2world: np.ndarray):
    R = cam2world[:3, :3]
    o = np.broadcast_to(cam2world[:3, 3], rays_cam.shape).reshape(-1, 3)
    d = rays_cam.reshape(-1, 3) @ R.T
    return np.ascontiguousarray(o, np.float32), np.ascontiguousarray(d, np.float32)


def _albedo(hit: dict) -> np.ndarray:
    for key in ("albedo", "ir", "intensity"):
        if key in hit:
            a = np.asarray(hit[key], dtype=np.float64)
            return a.mean(axis=-1) if a.ndim == 2 else a
    if "rgb" in hit:
        a = np.asarray(hit["rgb"], dtype=np.float64)
        if a.max() > 1.5:
            a = a / 255.0
        return a.mean(axis=-1) if a.ndim == 2 else a
    return np.full(np.asarray(hit["t_hit"]).shape, 0.5)


def render_tof(scene, intrinsics: Intrinsics, cam2world=None, params: ToFSimParams | None = None,
               *, seed: int | None = 0, timestamp_s: float = 0.0, sequence: int = 0
               ) -> ToFRawFrame:
    """Ray-cast `scene` from a ToF camera and return raw samples with ground truth.

    `scene` is a :class:`depthkit.sim.Scene` (``raycast(origins, directions, *,
    pixel_angle_rad, texture)`` giving ``t_hit``, world ``normals`` and ``albedo``).
    Ground truth: ``depth_m`` is z-depth in the
    *undistorted* camera (what :class:`~depthkit.sensing.tof.ToFDecoder` outputs by default);
    ``extras['range_m']`` and ``extras['depth_raw_m']`` are radial range and z in the raw grid.
    ``seed=None`` renders without noise; `cam2world` defaults to ``scene.default_pose``.
    """
    p = params or ToFSimParams()
    if cam2world is None:
        cam2world = getattr(scene, "default_pose", np.eye(4))
    T = np.asarray(cam2world, dtype=np.float64)
    if T.shape != (4, 4):
        raise ShapeError(f"cam2world must be 4x4; got {T.shape}.")
    h, w = intrinsics.shape
    s = int(p.supersample)
    offs = [((i + 0.5) / s - 0.5, (j + 0.5) / s - 0.5) for j in range(s) for i in range(s)]
    rays = pixel_rays(intrinsics, offs)                         # (S, H, W, 3)
    ray0 = rays[0] if s == 1 else pixel_rays(intrinsics)[0]
    f = np.asarray(p.frequencies_hz)
    ret = np.zeros((f.size, h, w), np.complex128)
    dc = np.zeros((h, w))
    centre_range = None
    R = T[:3, :3]
    for si in range(rays.shape[0]):
        o, d = _world_rays(rays[si], T)
        hit = scene.raycast(o, d, pixel_angle_rad=1.0 / (s * intrinsics.fx))
        t = np.asarray(hit["t_hit"], dtype=np.float64).reshape(h, w)
        ok = np.isfinite(t) & (t > 0)
        n = np.asarray(hit["normals"], dtype=np.float64).reshape(h, w, 3)
        cos_i = np.abs(np.einsum("hwc,hwc->hw", n, rays[si] @ R.T))
        rho = _albedo(hit).reshape(h, w)
        r = np.where(ok, t, np.nan)
        P = np.where(ok, p.power * rho * cos_i / np.where(ok, r, 1.0) ** 2, 0.0)
        dc += P + np.where(ok, p.ambient * rho, 0.0)
        for m, fm in enumerate(f):
            ret[m] += P * np.exp(1j * 4 * np.pi * fm * np.where(ok, r, 0.0) / C_LIGHT)
        if centre_range is None or s == 1:
            centre_range = r
    ret /= rays.shape[0]
    dc /= rays.shape[0]
    rng = None if seed is None else np.random.default_rng(seed)
    samples = _samples_from_returns(ret, dc, p.n_steps, p.contrast, rng, p.read_noise,
                                    p.noise, p.full_well)
    # ground truth: the centre ray of each raw pixel, and z-depth in the ideal camera
    if s > 1:
        o, d = _world_rays(ray0, T)
        t = np.asarray(scene.raycast(o, d, texture=False)["t_hit"],
                       dtype=np.float64).reshape(h, w)
        centre_range = np.where(np.isfinite(t) & (t > 0), t, np.nan)
    depth_raw = (centre_range * ray0[..., 2]).astype(np.float32)
    ideal = Intrinsics(w, h, intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy)
    if intrinsics.distortion and any(intrinsics.distortion):
        ray_i = pixel_rays(ideal)[0]
        o, d = _world_rays(ray_i, T)
        t = np.asarray(scene.raycast(o, d, texture=False)["t_hit"],
                       dtype=np.float64).reshape(h, w)
        depth = np.where(np.isfinite(t) & (t > 0), t * ray_i[..., 2], np.nan).astype(np.float32)
    else:
        depth = depth_raw
    gt = GroundTruth(depth_m=depth, pose=T,
                     extras={"range_m": centre_range.astype(np.float32),
                             "depth_raw_m": depth_raw})
    return ToFRawFrame(samples, p.frequencies_hz, intrinsics, timestamp_s=timestamp_s,
                       sequence=sequence, saturation=p.full_well, ground_truth=gt)


# ------------------------------------------------------------------------------------------
# sim://tof
# ------------------------------------------------------------------------------------------
def _parse_freqs(text: str) -> tuple[float, ...]:
    """``"80,16,120"`` (MHz) -> Hz."""
    vals = tuple(float(x) * 1e6 for x in str(text).split(",") if x.strip())
    if not vals:
        raise ValueError("give modulation frequencies in MHz, e.g. freqs=80,16,120")
    return vals


def open_tof(parsed):
    """Opener of ``sim://tof?scene=tabletop&seed=0&size=640x480&frames=10&noise=1&raw=0``
    ``&freqs=80,16,120&steps=3&supersample=1&trajectory=static&fps=30``.

    Yields decoded :class:`~depthkit.types.DepthFrame` (``raw=0``, by
    :class:`~depthkit.sensing.tof.ToFDecoder`, exposed as ``source.decoder``) or
    :class:`~depthkit.sensing.tof.ToFRawFrame` (``raw=1``); ground truth rides on each frame.
    ``noise`` scales shot and read noise (0 = noise-free).
    """
    from ..sensing.tof import ToFDecoder
    from ..sources.base import parse_bool
    from ..sources.sim import COMMON_DEFAULTS, COMMON_PARAMS, SimSource, scene_and_poses
    from .rig import make_rig

    p = parsed.params({**COMMON_PARAMS, "noise": float, "raw": parse_bool, "freqs": _parse_freqs,
                       "steps": int, "supersample": int},
                      {**COMMON_DEFAULTS, "noise": 1.0, "raw": False,
                       "freqs": KINECT_V2_FREQUENCIES, "steps": 3, "supersample": 1})
    scene, poses = scene_and_poses(p)
    if not p["noise"] >= 0:
        raise ParameterError(f"noise must be >= 0; got {p['noise']}.")
    params = ToFSimParams(frequencies_hz=p["freqs"], n_steps=p["steps"], noise=p["noise"],
                          supersample=p["supersample"])
    cam = make_rig(p["size"]).left
    decoder = ToFDecoder(cam, params.frequencies_hz, saturation=params.full_well,
                         read_noise=params.read_noise)
    seed = p["seed"]

    def render(i):
        raw = render_tof(scene, cam, poses[i], params, seed=None if p["noise"] == 0 else
                         (seed * 1000 + i), timestamp_s=i / p["fps"], sequence=i)
        return raw if p["raw"] else decoder.decode(raw)

    src = SimSource(parsed.uri, "tof", len(poses), render,
                    intrinsics=cam if p["raw"] else decoder.output_intrinsics)
    src.decoder = decoder
    return src


def _register() -> None:
    from ..sources.sim import SIM_KINDS

    SIM_KINDS["tof"] = open_tof


_register()
