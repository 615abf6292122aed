"""Continuous-wave time-of-flight: raw correlation samples to metric depth.

Signal model (the one :mod:`depthkit.sim.tof` renders and the decoder inverts).  For each
modulation frequency ``f_m`` the sensor takes ``N >= 3`` correlation samples at equally spaced
phase steps ``theta_k = 2 pi k / N``::

    S_mk = B_m + A_m cos(phi_m + theta_k),      phi_m = 4 pi f_m r / c  (mod 2 pi)

with ``r`` the radial distance from the optical centre, ``A_m`` the amplitude (reflected
modulated light) and ``B_m`` the offset (ambient plus the mean of the reflected light).  Then::

    phi = atan2(-sum_k S_k sin theta_k, sum_k S_k cos theta_k)
    A   = 2/N * |sum_k S_k exp(i theta_k)|,      B = mean_k S_k,     r = c phi / (4 pi f)

One frequency is ambiguous beyond ``c / (2 f)``.  With several, :func:`unwrap` searches the
integer wrap counts (as libfreenect2 does for Kinect v2's 16/80/120 MHz): for each wrap count of
the highest frequency the others are rounded to agree, the range is the amplitude-weighted
least-squares fit, and the winner must have a small phase residual and a clear margin over the
runner-up; otherwise the pixel is *invalid*, never guessed.  The set's unambiguous range is
``c / (2 gcd(f_m))``.  Multipath is not modelled (each pixel sees one surface).

Raw frames are arrays of shape ``(M, N, H, W)`` (frequency, phase step, row, column).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from .._checks import check_positive
from ..errors import ParameterError, ShapeError
from ..types import DepthFrame, GroundTruth, Intrinsics

__all__ = [
    "C_LIGHT", "ToFRawFrame", "ToFDecoded", "ToFDecoder", "decode_tof", "phase_amplitude",
    "unwrap", "unambiguous_range", "radial_to_z", "ray_z_table", "filter_flying_pixels",
    "joint_bilateral", "undistort_depth", "STATUS", "KINECT_V2_FREQUENCIES",
]

log = logging.getLogger(__name__)

C_LIGHT = 299_792_458.0
"""Speed of light in vacuum, m/s."""

#: meaning of the per-pixel status codes of :class:`ToFDecoded`
STATUS = {0: "valid", 1: "saturated or non-finite sample", 2: "low amplitude",
          3: "inconsistent phases", 4: "ambiguous unwrapping", 5: "out of range",
          6: "flying pixel"}

KINECT_V2_FREQUENCIES = (80e6, 16e6, 120e6)


@dataclass(frozen=True, eq=False)
class ToFRawFrame:
    """Raw correlation samples of one ToF exposure set.

    Parameters
    ----------
    samples : (M, N, H, W) array
        ``samples[m, k]`` is the image at modulation frequency ``frequencies_hz[m]`` and phase
        step ``2 pi k / N`` (model in the module docstring).  float32 or uint16.
    frequencies_hz : tuple of float
        Modulation frequencies, Hz.
    intrinsics : Intrinsics
        The ToF camera (with its lens distortion).
    saturation : float or None
        Sample value at and above which the pixel is saturated (``None``: never).
    """

    samples: np.ndarray
    frequencies_hz: tuple[float, ...]
    intrinsics: Intrinsics
    timestamp_s: float = 0.0
    sequence: int = 0
    saturation: float | None = None
    ground_truth: GroundTruth | None = None

    def __post_init__(self):
        s = np.asarray(self.samples)
        if s.ndim != 4:
            raise ShapeError(f"ToF samples must be (M, N, H, W); got shape {s.shape}.")
        if len(self.frequencies_hz) != s.shape[0]:
            raise ShapeError(
                f"ToF samples have {s.shape[0]} frequencies but {len(self.frequencies_hz)} "
                "frequencies_hz were given."
            )
        self.intrinsics.check_image(s[0, 0], "samples")

    @property
    def shape(self) -> tuple[int, int]:
        return self.samples.shape[2:]


@dataclass(frozen=True, eq=False)
class ToFDecoded:
    """Everything :meth:`ToFDecoder.decode_full` computes.

    ``depth`` the output frame; ``range_m`` radial distance (H, W) in the raw (distorted) pixel
    grid; ``phase`` (M, H, W) wrapped phases, rad; ``amplitude`` (H, W) the smallest amplitude
    over frequencies; ``intensity`` (H, W) the mean offset ``B`` (an IR image); ``chi2`` (H, W)
    noise-normalised phase residual of the chosen unwrapping; ``margin`` (H, W) how much larger
    the runner-up's chi-square was; ``status`` (H, W) uint8 codes of :data:`STATUS`.
    """

    depth: DepthFrame
    range_m: np.ndarray
    phase: np.ndarray
    amplitude: np.ndarray
    intensity: np.ndarray
    chi2: np.ndarray
    margin: np.ndarray
    status: np.ndarray
    extras: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------
# small helpers
# ------------------------------------------------------------------------------------------
def _check_frequencies(frequencies_hz) -> np.ndarray:
    try:
        f = np.asarray(frequencies_hz, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"frequencies_hz must be numbers; got {frequencies_hz!r}.") from exc
    if f.size < 1 or f.size > 4:
        raise ParameterError(f"give 1 to 4 modulation frequencies; got {f.size}.")
    if not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ParameterError(f"modulation frequencies must be > 0 Hz; got {f.tolist()}.")
    if len(set(f.tolist())) != f.size:
        raise ParameterError(f"modulation frequencies must differ; got {f.tolist()}.")
    return f


def unambiguous_range(frequencies_hz) -> float:
    """Largest distance (m) the frequency set measures without ambiguity: ``c / (2 gcd(f))``.

    Frequencies are taken to 1 Hz resolution.
    """
    f = _check_frequencies(frequencies_hz)
    g = 0
    for x in f:
        g = math.gcd(g, int(round(x)))
    return C_LIGHT / (2.0 * g)


def _phase_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    t = 2.0 * np.pi * np.arange(n) / n
    return np.cos(t), np.sin(t)


def phase_amplitude(samples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phase (rad, in [0, 2 pi)), amplitude and offset of ``N >= 3`` phase-stepped samples.

    Parameters
    ----------
    samples : (N, ...) array
        ``samples[k] = B + A cos(phi + 2 pi k / N)``.

    Returns
    -------
    phase, amplitude, offset : arrays of shape ``samples.shape[1:]`` (float64)
    """
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim < 1 or s.shape[0] < 3:
        raise ShapeError(
            f"need N >= 3 phase steps along the first axis; got shape {s.shape}."
        )
    c, si = _phase_tables(s.shape[0])
    sc = np.tensordot(c, s, axes=(0, 0))
    ss = np.tensordot(si, s, axes=(0, 0))
    phase = np.mod(np.arctan2(-ss, sc), 2 * np.pi)
    amp = 2.0 / s.shape[0] * np.hypot(sc, ss)
    return phase, amp, s.mean(axis=0)


def unwrap(phases, frequencies_hz, *, phase_sigma=0.05, max_range_m: float | None = None,
           max_chi2: float = 16.0, min_margin: float = 25.0):
    """Unwrap per-frequency phases into one radial distance (integer search, see module doc).

    Parameters
    ----------
    phases : (M, H, W) array
        Wrapped phases, rad.
    frequencies_hz : sequence of M floats
    phase_sigma : float or (M,) or (M, H, W) array
        Standard deviation of each phase, rad (weights and chi-square scale).
    max_range_m, max_chi2, min_margin
        See :class:`ToFDecoder`.

    Returns
    -------
    range_m : (H, W) float32, NaN where invalid
    status : (H, W) uint8 (codes of :data:`STATUS`)
    """

    p = np.asarray(phases, dtype=np.float64)
    if p.ndim != 3:
        raise ShapeError(f"phases must be (M, H, W); got shape {p.shape}.")
    f = _check_frequencies(frequencies_hz)
    if p.shape[0] != f.size:
        raise ShapeError(f"{p.shape[0]} phase maps but {f.size} frequencies.")
    sig = np.asarray(phase_sigma, dtype=np.float64)
    if sig.ndim == 1:
        sig = sig[:, None, None]
    try:
        sig = np.broadcast_to(sig, p.shape)
    except ValueError as exc:
        raise ShapeError(
            f"phase_sigma of shape {sig.shape} does not fit phases {p.shape}.") from exc
    if not np.all(sig > 0):
        raise ParameterError("phase_sigma must be > 0.")
    # samples with these phases and amplitude 1/sigma under a unit-variance noise model
    amp = 1.0 / sig
    theta = 2 * np.pi * np.arange(3) / 3
    raw = np.ascontiguousarray(
        (amp[:, None] * np.cos(p[:, None] + theta[None, :, None, None])).astype(np.float32))
    h, w = p.shape[1:]
    dec = ToFDecoder(Intrinsics(w, h, 1.0, 1.0, 0.0, 0.0), f, amplitude_threshold=0.0,
                     max_range_m=max_range_m, gain=None, read_noise=np.sqrt(1.5),
                     max_chi2=max_chi2, min_margin=min_margin, flying_pixel_threshold=0.0,
                     undistort=False)
    dec._ray_z = np.ones((h, w), np.float32)
    out = dec.decode_full(raw)
    return out.range_m, out.status


def _undistort_normalised(pts: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """(K, 2) pixel coordinates -> (K, 2) normalised undistorted coordinates."""
    import cv2

    pts = np.ascontiguousarray(pts, np.float64).reshape(-1, 1, 2)
    if intr.distortion and any(intr.distortion):
        crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-12)
        return cv2.undistortPointsIter(pts, intr.K, intr.D, None, None, crit).reshape(-1, 2)
    p = pts.reshape(-1, 2)
    return np.stack([(p[:, 0] - intr.cx) / intr.fx, (p[:, 1] - intr.cy) / intr.fy], axis=1)


def ray_z_table(intrinsics: Intrinsics) -> np.ndarray:
    """(H, W) float32: z component of the unit viewing ray of each raw (distorted) pixel, so
    that ``z = range * ray_z``."""
    h, w = intrinsics.shape
    vv, uu = np.mgrid[0:h, 0:w].astype(np.float64)
    xy = _undistort_normalised(np.stack([uu.ravel(), vv.ravel()], 1), intrinsics)
    rz = 1.0 / np.sqrt(1.0 + xy[:, 0] ** 2 + xy[:, 1] ** 2)
    return np.ascontiguousarray(rz.reshape(h, w).astype(np.float32))


def radial_to_z(range_m, intrinsics: Intrinsics) -> np.ndarray:
    """Radial distance along each pixel's ray to z-depth (same pixel grid), float32."""
    r = np.asarray(range_m, dtype=np.float32)
    if r.shape != intrinsics.shape:
        raise ShapeError(f"range_m is {r.shape}; the camera is {intrinsics.shape} (HxW).")
    return (r * ray_z_table(intrinsics)).astype(np.float32)


def _as_depth(depth, name="depth") -> np.ndarray:
    d = np.asarray(depth)
    if d.ndim != 2 or d.dtype.kind != "f":
        raise ShapeError(f"`{name}` must be an (H, W) float array; got {d.shape} {d.dtype}.")
    d = np.ascontiguousarray(d, dtype=np.float32)
    return np.where(np.isfinite(d) & (d > 0), d, np.float32(np.nan)).astype(np.float32)


def filter_flying_pixels(depth, rel_threshold: float = 0.03) -> np.ndarray:
    """Invalidate mixed ("flying") pixels at depth edges.

    A pixel is dropped when, along one of four directions, it lies strictly between its two
    neighbours and differs from both by more than ``rel_threshold * z``, or when no valid
    neighbour is within that distance (an isolated speck).  NaN in, NaN out; returns a copy.
    """
    from . import _kernels

    d = _as_depth(depth)
    thr = check_positive(rel_threshold, "rel_threshold")
    out = np.empty_like(d)
    _kernels.flying_pixels(d, thr, out)
    return out


def joint_bilateral(depth, guide, *, radius: int = 2, sigma_space: float = 1.5,
                    sigma_guide: float | None = None, rel_gate: float = 0.03) -> np.ndarray:
    """Edge-preserving smoothing of `depth` guided by `guide` (e.g. the ToF amplitude).

    Weights are ``exp(-d^2 / 2 sigma_space^2 - (g - g0)^2 / 2 sigma_guide^2)``; neighbours that
    are invalid or farther than ``rel_gate * z`` in depth do not take part, so invalid pixels
    stay invalid and NaN never spreads.  ``sigma_guide`` defaults to 10% of the guide's median.
    """
    from . import _kernels

    d = _as_depth(depth)
    g = np.asarray(guide, dtype=np.float32)
    if g.shape != d.shape:
        raise ShapeError(f"guide has shape {g.shape}; depth has {d.shape}.")
    g = np.ascontiguousarray(np.nan_to_num(g, nan=0.0, posinf=0.0, neginf=0.0))
    if int(radius) != radius or radius < 0:
        raise ParameterError(f"radius must be an integer >= 0; got {radius!r}.")
    sigma_space = check_positive(sigma_space, "sigma_space")
    if sigma_guide is None:
        med = float(np.median(np.abs(g))) if g.size else 1.0
        sigma_guide = max(0.1 * med, 1e-6)
    sigma_guide = check_positive(sigma_guide, "sigma_guide")
    rel_gate = check_positive(rel_gate, "rel_gate")
    out = np.empty_like(d)
    _kernels.joint_bilateral(d, g, int(radius), sigma_space, sigma_guide, rel_gate, out)
    return out


_UNDISTORT_GATE = 0.05     # default rel_gate of undistort_depth (and of the decoder)


def _undistort_maps(intrinsics: Intrinsics):
    import cv2

    m1, m2 = cv2.initUndistortRectifyMap(intrinsics.K, intrinsics.D, None, intrinsics.K,
                                         intrinsics.size, cv2.CV_32FC1)
    return np.ascontiguousarray(m1), np.ascontiguousarray(m2)


def undistort_depth(depth, intrinsics: Intrinsics, *, rel_gate: float = _UNDISTORT_GATE,
                    _maps=None) -> tuple[np.ndarray, Intrinsics]:
    """Resample a z-depth map from the distorted raw grid to the ideal pinhole camera with the
    same K (no distortion).  Bilinear within one surface; invalid between four valid pixels
    that straddle a depth edge (the side is unknown); nearest next to invalid pixels.

    Returns the depth and the output intrinsics.
    """
    from . import _kernels

    d = _as_depth(depth)
    if d.shape != intrinsics.shape:
        raise ShapeError(f"depth is {d.shape}; the camera is {intrinsics.shape} (HxW).")
    ideal = Intrinsics(intrinsics.width, intrinsics.height, intrinsics.fx, intrinsics.fy,
                       intrinsics.cx, intrinsics.cy)
    if not (intrinsics.distortion and any(intrinsics.distortion)):
        return d, ideal
    m1, m2 = _maps if _maps is not None else _undistort_maps(intrinsics)
    out = np.empty_like(d)
    _kernels.remap_depth(d, m1, m2, check_positive(rel_gate, "rel_gate"), out)
    return out, ideal


# ------------------------------------------------------------------------------------------
# the decoder
# ------------------------------------------------------------------------------------------
class ToFDecoder:
    """Raw CW-ToF correlation samples to a :class:`~depthkit.types.DepthFrame`.

    Parameters
    ----------
    intrinsics : Intrinsics
        The ToF camera, with lens distortion.
    frequencies_hz : sequence of float
        Modulation frequencies (1 to 4), in the order of the raw frames' first axis.
    amplitude_threshold : float
        Pixels whose smallest amplitude is below this (sample units) are invalid.
    saturation : float, optional
        Sample value at which the sensor saturates; ``None`` uses the dtype maximum for
        integer input and never for float input.
    max_range_m : float, optional
        Search the wrap counts up to this range (default: the set's unambiguous range).  Farther
        results are invalid.
    gain : float or None
        Electrons per sample unit, for the shot-noise estimate of each phase (variance
        ``B / gain + read_noise^2`` per sample).  ``None``: no shot noise, read noise only.
    read_noise : float
        Read noise per sample, sample units.
    max_chi2 : float
        Largest chi-square of an accepted unwrapping; phases that do not agree (mixed pixels,
        multipath, heavy noise) become invalid.
    min_margin : float
        The runner-up wrap count's chi-square must exceed the winner's by this much, else the
        pixel is ambiguous and invalid (25 = five standard deviations).
    flying_pixel_threshold : float
        Relative depth jump of :func:`filter_flying_pixels`; 0 switches the filter off.
    smoothing : bool
        Apply :func:`joint_bilateral` guided by the amplitude.
    undistort : bool
        Resample the depth to the ideal (undistorted) camera; the frame's intrinsics then have
        no distortion.  Otherwise depth stays in the raw pixel grid.
    """

    def __init__(self, intrinsics: Intrinsics, frequencies_hz=KINECT_V2_FREQUENCIES, *,
                 amplitude_threshold: float = 5.0, saturation: float | None = None,
                 max_range_m: float | None = None, gain: float | None = 1.0,
                 read_noise: float = 0.0, max_chi2: float = 16.0, min_margin: float = 25.0,
                 flying_pixel_threshold: float = 0.03,
                 smoothing: bool = False, undistort: bool = True):
        if not isinstance(intrinsics, Intrinsics):
            raise ParameterError(f"intrinsics must be Intrinsics; got {type(intrinsics).__name__}.")
        self.intrinsics = intrinsics
        self.frequencies_hz = _check_frequencies(frequencies_hz)
        self.amplitude_threshold = float(amplitude_threshold)
        if not np.isfinite(self.amplitude_threshold) or self.amplitude_threshold < 0:
            raise ParameterError(f"amplitude_threshold must be >= 0; got {amplitude_threshold!r}.")
        self.saturation = None if saturation is None else check_positive(saturation, "saturation")
        amb = unambiguous_range(self.frequencies_hz)
        if self.frequencies_hz.size == 1:
            amb = C_LIGHT / (2 * self.frequencies_hz[0])
        self.unambiguous_range_m = amb
        if max_range_m is None:
            max_range_m = amb
        self.max_range_m = check_positive(max_range_m, "max_range_m")
        if self.max_range_m > amb * (1 + 1e-9):
            raise ParameterError(
                f"max_range_m={max_range_m} exceeds the unambiguous range {amb:.3f} m of "
                f"{self.frequencies_hz.tolist()} Hz; lower it or add a frequency."
            )
        self.gain = None if gain is None else check_positive(gain, "gain")
        self.read_noise = float(read_noise)
        if not np.isfinite(self.read_noise) or self.read_noise < 0:
            raise ParameterError(f"read_noise must be >= 0; got {read_noise!r}.")
        if self.gain is None and self.read_noise == 0:
            raise ParameterError("with gain=None give read_noise > 0 (the only noise left).")
        self.max_chi2 = check_positive(max_chi2, "max_chi2")
        self.min_margin = float(min_margin)
        if not np.isfinite(self.min_margin) or self.min_margin < 0:
            raise ParameterError(f"min_margin must be >= 0; got {min_margin!r}.")
        self.flying_pixel_threshold = float(flying_pixel_threshold)
        if not np.isfinite(self.flying_pixel_threshold) or self.flying_pixel_threshold < 0:
            raise ParameterError(
                f"flying_pixel_threshold must be >= 0 (0 = off); got {flying_pixel_threshold!r}."
            )
        self.smoothing = bool(smoothing)
        self.undistort = bool(undistort)
        self._ref = int(np.argmax(self.frequencies_hz))
        lam_ref = C_LIGHT / (2 * self.frequencies_hz[self._ref])
        self._n_max = 0 if self.frequencies_hz.size == 1 else max(
            0, int(math.ceil(self.max_range_m / lam_ref - 1e-9)) - 1)
        self._crt = _crt_pair(self.frequencies_hz, self._ref, self._n_max)
        self._ray_z = ray_z_table(intrinsics)
        self._maps = None
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def output_intrinsics(self) -> Intrinsics:
        i = self.intrinsics
        return Intrinsics(i.width, i.height, i.fx, i.fy, i.cx, i.cy) if self.undistort else i

    def _check_raw(self, raw) -> tuple[np.ndarray, float]:
        if isinstance(raw, ToFRawFrame):
            raw = raw.samples
        if not isinstance(raw, np.ndarray):
            raise ShapeError(f"raw ToF samples must be a numpy array; got {type(raw).__name__}.")
        M = self.frequencies_hz.size
        if raw.ndim != 4:
            raise ShapeError(
                f"raw ToF samples must be (M, N, H, W) = ({M}, N>=3, {self.intrinsics.height}, "
                f"{self.intrinsics.width}); got shape {raw.shape}."
            )
        if raw.shape[0] != M:
            raise ShapeError(
                f"raw ToF samples hold {raw.shape[0]} frequencies; this decoder has {M} "
                f"({self.frequencies_hz.tolist()} Hz)."
            )
        if raw.shape[1] < 3:
            raise ShapeError(
                f"need at least 3 phase steps per frequency; got {raw.shape[1]}."
            )
        if raw.shape[2:] != self.intrinsics.shape:
            raise ShapeError(
                f"raw ToF images are {raw.shape[3]}x{raw.shape[2]} but the camera is "
                f"{self.intrinsics.width}x{self.intrinsics.height} (WxH)."
            )
        if raw.dtype.kind not in "uif":
            raise ShapeError(f"raw ToF samples must be numeric; got dtype {raw.dtype}.")
        sat = self.saturation
        if sat is None:
            sat = float(np.iinfo(raw.dtype).max) if raw.dtype.kind in "ui" else np.inf
        # non-finite samples make their pixel invalid ("saturated") in the kernel, nothing else
        return np.ascontiguousarray(raw, dtype=np.float32), float(sat)

    def decode_full(self, raw) -> ToFDecoded:
        """Decode and return all intermediate maps (see :class:`ToFDecoded`)."""
        from . import _kernels

        data, sat = self._check_raw(raw)
        M, N, H, W = data.shape
        if N not in self._tables:
            self._tables[N] = _phase_tables(N)
        cos_t, sin_t = self._tables[N]
        rng = np.empty((H, W), np.float32)
        z = np.empty((H, W), np.float32)
        amp = np.empty((H, W), np.float32)
        inten = np.empty((H, W), np.float32)
        phase = np.empty((M, H, W), np.float32)
        chi2 = np.empty((H, W), np.float32)
        margin = np.empty((H, W), np.float32)
        status = np.empty((H, W), np.uint8)
        inv_gain = 0.0 if self.gain is None else 1.0 / self.gain
        _kernels.tof_decode(data, self.frequencies_hz, self._ref, self._n_max, self.max_range_m,
                            cos_t, sin_t, self.amplitude_threshold, sat, inv_gain,
                            self.read_noise ** 2, self.max_chi2, self.min_margin, *self._crt,
                            self._ray_z,
                            rng, z, amp, inten, phase, chi2, margin, status)
        # flying-pixel filter (status 6) and confidence in one pass
        if M > 1:  # how decisively the wrap counts were chosen
            score, conf_c = margin, 2.0 * max(self.min_margin, 1.0)
        else:
            score, conf_c = amp, 10.0 * max(self.amplitude_threshold, 1.0)
        zf = np.empty_like(z)
        conf = np.empty_like(z)
        _kernels.tof_finish(z, self.flying_pixel_threshold, score, conf_c, status, zf, conf)
        z = zf
        if self.smoothing:   # keeps valid pixels valid and invalid ones invalid
            z = joint_bilateral(z, amp)
        intr = self.intrinsics
        if self.undistort and intr.distortion and any(intr.distortion):
            if self._maps is None:
                self._maps = _undistort_maps(intr)
            zu = np.empty_like(z)
            cu = np.empty_like(conf)
            _kernels.remap_depth_conf(z, conf, self._maps[0], self._maps[1], _UNDISTORT_GATE,
                                      zu, cu)
            z, conf = zu, cu
            intr = self.output_intrinsics
        elif self.undistort:
            intr = self.output_intrinsics
        frame_kw = {}
        if isinstance(raw, ToFRawFrame):
            frame_kw = dict(timestamp_s=raw.timestamp_s, sequence=raw.sequence,
                            ground_truth=raw.ground_truth)
        depth = DepthFrame(z.astype(np.float32, copy=False), intr, confidence=conf, **frame_kw)
        return ToFDecoded(depth, rng, phase, amp, inten, chi2, margin, status)

    def decode(self, raw) -> DepthFrame:
        """Decode raw samples (array ``(M, N, H, W)`` or :class:`ToFRawFrame`) to depth."""
        return self.decode_full(raw).depth


def _crt_pair(freqs: np.ndarray, ref: int, n_max: int) -> tuple[int, int, int, int]:
    """(sec, p, q, p^-1 mod q) for the CRT candidate filter of the unwrapping kernel:
    the frequency whose ratio to the reference, ``p / q`` in lowest terms, has the smallest
    ``p + q`` with ``2 <= q <= n_max + 1``; ``q = 0`` when no frequency qualifies."""
    fr = int(round(freqs[ref]))
    best = None
    for m, f in enumerate(freqs):
        if m == ref:
            continue
        fi = int(round(f))
        g = math.gcd(fr, fi)
        p, q = fi // g, fr // g
        if 2 <= q <= n_max + 1 and q <= 64 and (best is None or p + q < best[1] + best[2]):
            best = (m, p, q)
    if best is None:
        return 0, 0, 0, 0
    m, p, q = best
    return m, p, q, pow(p, -1, q)


def decode_tof(raw, frequencies_hz=None, intrinsics: Intrinsics | None = None,
               **params) -> DepthFrame:
    """One-shot :class:`ToFDecoder` (build a decoder once to decode many frames).

    `raw` is a :class:`ToFRawFrame` (frequencies and intrinsics then come from it) or an
    ``(M, N, H, W)`` array with `frequencies_hz` and `intrinsics` given.
    """
    if isinstance(raw, ToFRawFrame):
        frequencies_hz = raw.frequencies_hz if frequencies_hz is None else frequencies_hz
        intrinsics = raw.intrinsics if intrinsics is None else intrinsics
        if raw.saturation is not None:
            params.setdefault("saturation", raw.saturation)
    if frequencies_hz is None or intrinsics is None:
        raise ParameterError("decode_tof needs frequencies_hz and intrinsics for a raw array.")
    return ToFDecoder(intrinsics, frequencies_hz, **params).decode(raw)

