"""The SGM matcher: validation, the stage sequence, and OpenCV-compatible construction."""

from __future__ import annotations

import logging
import threading

import numba
import numpy as np

from .._checks import check_image, check_same_size, to_gray
from ..errors import ParameterError, ShapeError
from . import _kernels as K
from ._parallel import row_ranges, run_tasks
from ._simd import CENSUS_GROUP, CENSUS_LANES
from .params import SINGLE_PASS_PATHS, SGMParams

log = logging.getLogger(__name__)

_SUBPIX_CODE = {"none": 0, "parabola": 1, "equiangular": 2}
# OpenCV StereoSGBM mode -> paths (SGBM 5 and 3WAY 3 are single-pass there as here)
_OPENCV_MODE_PATHS = {0: 5, 1: 8, 2: 3, 3: 4}
_NO_IMAGE = np.zeros((0, 0), np.float32)  # a census job with no images: the costs are in C
# no post-processing in the aggregation tasks (K._finish_row): an output with no rows
_NO_POST = (0, 0, 0, np.zeros((0, 0), np.float32), np.zeros((0, 0), np.int16), np.int16(0), 0.0)
# rows above a band where its row-to-row paths start (K.single_pass_band)
SINGLE_PASS_WARMUP = 16
# rows of the bands that cv2.filterSpeckles runs on (_filter_speckles)
SPECKLE_BAND_ROWS = 64


def normalize_pair(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grey float32 images on a 0..255 scale (uint16 / 257; float stretched jointly to 0..255)."""
    return _normalize_gray(to_gray(left), to_gray(right))


def _normalize_gray(lg: np.ndarray, rg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`normalize_pair` of two grey images."""
    if lg.dtype == np.uint8:
        return lg.astype(np.float32), rg.astype(np.float32)
    if lg.dtype == np.uint16:
        s = np.float32(1.0 / 257.0)
        return lg.astype(np.float32) * s, rg.astype(np.float32) * s
    lo = min(float(lg.min()), float(rg.min()))
    hi = max(float(lg.max()), float(rg.max()))
    scale = 255.0 / (hi - lo) if hi > lo else 1.0
    lf = ((lg.astype(np.float64) - lo) * scale).astype(np.float32)
    rf = ((rg.astype(np.float64) - lo) * scale).astype(np.float32)
    return lf, rf


def p2_table(params: SGMParams) -> np.ndarray:
    """int16 lookup table of the edge-adapted P2 for intensity steps 0..255."""
    step = np.arange(256, dtype=np.float64)
    if params.p2_adapt > 0:
        p2 = params.P2 / (1.0 + step / params.p2_adapt)
        p2 = np.maximum(np.floor(p2), min(params.P1 + 1, params.P2))
    else:
        p2 = np.full(256, params.P2, np.float64)
    return p2.astype(np.int16)


def cost_volume(lf: np.ndarray, rf: np.ndarray, params: SGMParams,
                out: np.ndarray | None = None) -> np.ndarray:
    """uint8 matching cost ``C[y, x, d]`` of two normalised grey images (see :mod:`._kernels`).

    `out`, if given, is a C-contiguous uint8 ``(H, W, D)`` array to fill.
    """
    H, W = lf.shape
    D = params.num_disparities
    if out is None:
        out = np.empty((H, W, D), np.uint8)
    if params.cost == "bt":
        lol, hil = K.bt_minmax(lf)
        lor, hir = K.bt_minmax(rf)
        K.cost_bt(lf, _rev(rf), lol, hil, _rev(lor), _rev(hir), params.min_disparity, D,
                  params.bt_cap, params.bt_cap, out)
        return out
    # census of both images and the Hamming costs in one pass per band of rows
    job = census_job(lf, rf, params)
    run_tasks(K.cost_census_rows, [(job, out, y0, y1) for y0, y1 in row_ranges(H)])
    return out


def census_job(lf: np.ndarray, rf: np.ndarray, params: SGMParams) -> tuple:
    """The census cost's inputs as one tuple for the kernels (``K._cost_row``): images (uint8
    or float32, held padded, :func:`census_padded`; the census_grad cost takes its gradients
    from them row by row), window, disparity range, gradient cap and weight, the cost of
    disparities whose right pixel falls outside the image, and whether the census is
    centre-symmetric."""
    ww, wh = params.census_window
    sym = params.census_symmetric
    nbits = (ww * wh - 1) // 2 if sym else ww * wh - 1
    if params.cost == "census_grad":
        gw, gcap = params.gradient_weight, params.gradient_cap
        invalid = min(255, nbits + int(gcap * gw))
    else:
        gw, gcap = 0.0, 0.0
        invalid = nbits
    return (census_padded(lf, ww), census_padded(rf, ww), wh, ww,
            params.min_disparity, params.num_disparities, np.float32(gcap), np.float32(gw),
            invalid, bool(sym))


def census_padded(img: np.ndarray, window_width: int) -> np.ndarray:
    """`img` (uint8, or float32 on the 0..255 scale) with ``window_width // 2`` replicated
    columns on the left and ``window_width // 2 + CENSUS_GROUP`` on the right, as
    :func:`K._census_planes` reads it (whole vectors, no border cases); an empty image stays
    empty. uint8 stays uint8: a quarter of the memory of float32, and the census compares
    it as fast."""
    if img.size == 0:
        return img
    H, W = img.shape
    rx = window_width // 2
    dtype = np.uint8 if img.dtype == np.uint8 else np.float32
    out = np.empty((H, W + 2 * rx + CENSUS_GROUP), dtype)
    out[:, rx:rx + W] = img
    out[:, :rx] = out[:, rx:rx + 1]
    out[:, rx + W:] = out[:, rx + W - 1:rx + W]
    return out


def _rev(a: np.ndarray) -> np.ndarray:
    """Rows reversed, contiguous (the cost kernels read the right image backwards)."""
    return np.ascontiguousarray(a[:, ::-1])


class SGM:
    """Semi-Global Matching on rectified pairs (census cost, 3/4/5/8/16 paths, LR check, filters).

    Parameters
    ----------
    num_disparities : int
        Disparities searched: ``min_disparity .. min_disparity + num_disparities - 1``.
    min_disparity : int
        Smallest disparity.
    preset : {"fast", "balanced", "quality"}
        Starting values for every other parameter (see :data:`depthkit.stereo.params.PRESETS`).
    **overrides
        Any :class:`SGMParams` field.

    Examples
    --------
    >>> import depthkit as dk
    >>> m = dk.SGM(num_disparities=64)                         # doctest: +SKIP
    >>> disp = m.compute(left, right)                          # doctest: +SKIP
    """

    def __init__(self, num_disparities: int = 64, min_disparity: int = 0,
                 preset: str = "balanced", **overrides) -> None:
        self.params = SGMParams.from_preset(
            preset, num_disparities=num_disparities, min_disparity=min_disparity, **overrides
        )
        self.preset = preset
        self._tls = threading.local()

    @classmethod
    def from_params(cls, params: SGMParams) -> SGM:
        """A matcher using an existing :class:`SGMParams`."""
        if not isinstance(params, SGMParams):
            raise ParameterError(f"`params` must be an SGMParams; got {type(params).__name__}.")
        m = cls.__new__(cls)
        m.params = params
        m.preset = "custom"
        m._tls = threading.local()
        return m

    @classmethod
    def from_opencv(cls, **kwargs) -> SGM:
        """A matcher configured from ``cv2.StereoSGBM_create`` keyword names.

        ``minDisparity``, ``numDisparities``, ``disp12MaxDiff`` (<= 0 disables the check),
        ``uniquenessRatio``, ``speckleWindowSize``, ``speckleRange`` and ``mode``
        (``MODE_SGBM_3WAY`` gives 3 paths and ``MODE_SGBM`` 5, both in one pass like
        OpenCV's; ``MODE_HH4`` 4 and ``MODE_HH`` 8) map directly. ``blockSize``,
        ``P1``, ``P2`` and ``preFilterCap`` belong to OpenCV's block Birchfield-Tomasi cost, whose
        scale differs from the census cost; they are accepted and ignored (the balanced census
        values are used).
        """
        known = {"minDisparity", "numDisparities", "blockSize", "P1", "P2", "disp12MaxDiff",
                 "preFilterCap", "uniquenessRatio", "speckleWindowSize", "speckleRange", "mode"}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ParameterError(
                f"unknown StereoSGBM parameter(s) {unknown}; known names are {sorted(known)}."
            )
        ov: dict = {}
        if "disp12MaxDiff" in kwargs:
            v = int(kwargs["disp12MaxDiff"])
            ov["lr_max_diff"] = v if v > 0 else -1
        if "uniquenessRatio" in kwargs:
            ov["uniqueness_ratio"] = int(kwargs["uniquenessRatio"])
        if "speckleWindowSize" in kwargs:
            ov["speckle_window_size"] = int(kwargs["speckleWindowSize"])
        if "speckleRange" in kwargs:
            ov["speckle_range"] = float(kwargs["speckleRange"])
        if "mode" in kwargs:
            # cv2.STEREO_SGBM_MODE_SGBM 0, _HH 1, _SGBM_3WAY 2, _HH4 3
            mode = int(kwargs["mode"])
            if mode not in _OPENCV_MODE_PATHS:
                raise ParameterError(f"`mode` must be one of OpenCV's StereoSGBM modes 0-3; "
                                     f"got {kwargs['mode']!r}.")
            ov["paths"] = _OPENCV_MODE_PATHS[mode]
        ignored = sorted({"blockSize", "P1", "P2", "preFilterCap"} & set(kwargs))
        if ignored:
            log.info("from_opencv: %s refer to OpenCV's BT block cost and are ignored", ignored)
        return cls(num_disparities=int(kwargs.get("numDisparities", 16)),
                   min_disparity=int(kwargs.get("minDisparity", 0)), **ov)

    def _volumes(self, H: int, W: int, D: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The cost (uint8; None where the kernels compute the costs row by row,
        :func:`keeps_cost_volume`) and sum (uint16; None for the single-pass paths) volumes,
        kept between calls of this thread.

        Reusing them saves the page faults of fresh volumes on every call (measured at about a
        third of the run time on teddy); each thread has its own, so one matcher may serve
        several threads.
        """
        vols = getattr(self._tls, "volumes", None)
        if vols is None or vols[2] != (H, W, D):
            self._tls.volumes = None  # free the old pair before allocating the new one
            single = self.params.paths in SINGLE_PASS_PATHS
            vols = (np.empty((H, W, D), np.uint8) if keeps_cost_volume(self.params) else None,
                    None if single else np.empty((H, W, D), np.uint16), (H, W, D))
            self._tls.volumes = vols
        return vols[:2]

    def __getstate__(self) -> dict:
        # the per-thread volumes are a cache: pickle (multiprocessing, dask) without them
        return {"params": self.params, "preset": self.preset}

    def __setstate__(self, state: dict) -> None:
        self.params = state["params"]
        self.preset = state["preset"]
        self._tls = threading.local()

    def release(self) -> None:
        """Free the cost volumes kept for reuse by the calling thread."""
        self._tls.volumes = None

    def __repr__(self) -> str:
        return f"SGM(preset={self.preset!r}, params={self.params!r})"

    def compute(self, left: np.ndarray, right: np.ndarray, return_right: bool = False):
        """Disparity of the left view (float32 pixels, NaN = invalid).

        Parameters
        ----------
        left, right : ndarray
            Rectified images, ``(H, W)`` or ``(H, W, 3)`` RGB, uint8, uint16, float32 or float64.
        return_right : bool
            Also return the right view's integer disparity (from the same aggregated costs, before
            the left-right check; NaN where no left pixel maps).

        Returns
        -------
        disp : ndarray, float32 (H, W)
        disp_right : ndarray, float32 (H, W), only with ``return_right=True``
        """
        p = self.params
        ww, wh = p.census_window if p.cost != "bt" else (3, 1)
        left = check_image(left, "left")
        right = check_image(right, "right")
        check_same_size(left, right, ("left", "right"))
        if left.ndim != right.ndim:
            raise ShapeError(
                f"`left` and `right` must both be grey or both colour; got shapes {left.shape} "
                f"and {right.shape}."
            )
        H, W = left.shape[:2]
        if H < wh or W < ww:
            raise ShapeError(
                f"images of {W}x{H} (WxH) are smaller than the census window {ww}x{wh}; use "
                "larger images or a smaller `census_window`."
            )
        if p.num_disparities >= W:
            raise ParameterError(
                f"`num_disparities` ({p.num_disparities}) must be smaller than the image width "
                f"({W})."
            )
        lf, rf = to_gray(left), to_gray(right)
        if lf.dtype == np.uint8 and p.cost != "bt":
            # grey uint8: the census compares it as it is, and it is the guide
            guide = np.ascontiguousarray(lf)
        else:
            lf, rf = _normalize_gray(lf, rf)
            guide = K.guide_u8(lf)
        rad = p.subpixel_window // 2 if p.subpixel != "none" else 0
        # the left-right check, box sub-pixel fit and the speckle filter's int16 copy run in
        # the aggregation tasks, on each row as soon as its WTA is done (K._finish_row)
        speckle = p.speckle_window_size > 0
        invalid = _speckle_invalid(p.min_disparity)
        disp = np.empty((H, W), np.float32)
        fixed = np.empty((H, W) if speckle else (0, 0), np.int16)
        if p.cost == "bt":
            job = None
        else:
            # the job holds padded copies of the images: the plain ones can go (memory peak)
            job = census_job(lf, rf, p)
            lf = rf = None
        max_cost = p.bt_cap if job is None else job[8]  # the cost of "no match"
        post = (p.lr_max_diff, rad, _SUBPIX_CODE[p.subpixel], disp, fixed, invalid,
                float(p.truncated_max_cost * max_cost))
        C, S = self._volumes(H, W, p.num_disparities)
        if job is None:
            C = cost_volume(lf, rf, p, out=C)
        elif C is not None and p.paths in SINGLE_PASS_PATHS:
            run_tasks(K.cost_census_rows, [(job, C, y0, y1) for y0, y1 in row_ranges(H)])
            job = None
        # else the aggregation computes the costs from the job: row by row (C is None), or
        # into the volume in the first phase of the 16-path sweeps
        # the WTA maps are kept only for the right view's disparity (10 bytes per pixel)
        _, _, rkey, S = _aggregate(C, guide, p, S, job, post, keep_maps=return_right)
        del C, S, job, guide, lf, rf
        if speckle:
            _filter_speckles(disp, fixed, invalid, p.speckle_window_size, p.speckle_range)
        disp = postprocess(disp, p, speckle=False)
        if not return_right:
            return disp
        rkey = rkey[:, ::-1]
        dr = (rkey & np.uint32(0xFFFF)).astype(np.float32) + np.float32(p.min_disparity)
        dr[rkey == np.uint32(0xFFFFFFFF)] = np.nan
        return disp, dr


def aggregate(C: np.ndarray | None, guide: np.ndarray, p: SGMParams,
              S: np.ndarray | None = None, job: tuple | None = None):
    """Path aggregation and the WTA.

    A census `job` (:func:`census_job`) makes the kernels compute the costs row by row: into
    the volume `C`, or, with `C` None, into per-task rows only (no cost volume; not for
    16 paths, whose knight-move sweeps read the volume again).

    Returns ``(dint, dsub, rkey, S)``: winning disparity index (-1 = not unique), sub-pixel
    disparity (NaN = not unique), right-view packed keys ``(cost << 16) | d`` and the uint16
    aggregated cost volume (None for the single-pass path sets, 3 and 5, which keep no volume).
    """
    dint, dsub, rkey, S = _aggregate(C, guide, p, S, job, _NO_POST)
    return dint, dsub, np.ascontiguousarray(rkey[:, ::-1]), S


def _aggregate(C: np.ndarray | None, guide: np.ndarray, p: SGMParams, S: np.ndarray | None,
               job: tuple | None, post: tuple, keep_maps: bool = True):
    """:func:`aggregate` with the post-processing tuple of :func:`K._finish_row`, returning the
    right view's keys x-reversed as the kernels store them. Without `keep_maps` the WTA maps
    are one row per task (only the post-processing reads them) and come back as None."""
    H, W = guide.shape
    D = p.num_disparities
    maps = (np.empty((H, W), np.int16), np.empty((H, W), np.float32),
            np.empty((H, W), np.uint32)) if keep_maps else None
    if job is None:  # the costs are in C; the job only fixes the argument types
        job = census_job(_NO_IMAGE, _NO_IMAGE, p)
    if C is None and (p.paths == 16 or job[0].shape[0] != H):
        raise ParameterError("the costs are computed row by row only from a census job with "
                             "the images, and not for 16 paths: pass a cost volume.")
    if p.paths in SINGLE_PASS_PATHS:
        S = None
        if C is None:
            C = np.empty((0, 0, 0), np.uint8)
        single_pass(C, job, guide, p, single_pass_bands(H), SINGLE_PASS_WARMUP, maps, post)
    else:
        if S is None:
            S = np.empty((H, W, D), np.uint16)
        lut = p2_table(p)
        knight = p.paths == 16
        # two sweeps on two threads in two phases: forward on the top half while backward does
        # the bottom half (each computes the rows' costs if the job has images, and stores its
        # sums), then the halves swap (each adds, then runs the WTA and the post-processing on
        # the rows it completes); 16 paths add the knight-move sweeps in two more phases
        fwd, bwd = sweep_buffers(W, D), sweep_buffers(W, D)
        scratch = {1: wta_scratch(W, D, p.min_disparity), -1: wta_scratch(W, D, p.min_disparity)}
        wta = {1: wta_args(p, maps, W), -1: wta_args(p, maps, W)}
        rad = post[1]  # the box fit's radius
        costs = {1: C, -1: C} if C is not None else \
            {1: cost_ring(H, W, D, rad), -1: cost_ring(H, W, D, rad)}
        mid = H // 2
        for first in (True, False):
            rows = ((0, mid, 1, fwd), (H - 1, mid - 1, -1, bwd)) if first else \
                ((mid, H, 1, fwd), (mid - 1, -1, -1, bwd))
            run_tasks(K.aggregate_rows, [
                (costs[step], job, S, guide, lut, p.P1, ya, yb, step, *bufs, p.paths != 4,
                 first, not (first or knight), wta[step], post, scratch[step])
                for ya, yb, step, bufs in rows])
        if knight:
            fwd, bwd = knight_buffers(W, D), knight_buffers(W, D)
            for first in (True, False):
                rows = ((0, mid, 1, fwd), (H - 1, mid - 1, -1, bwd)) if first else \
                    ((mid, H, 1, fwd), (mid - 1, -1, -1, bwd))
                run_tasks(K.aggregate_knight_rows, [
                    (C, S, guide, lut, p.P1, ya, yb, step, *bufs, not first, wta[step], post,
                     scratch[step]) for ya, yb, step, bufs in rows])
    return (*(maps or (None, None, None)), S)


def single_pass(C: np.ndarray, job: tuple, guide: np.ndarray, p: SGMParams, nbands: int,
                warmup: int, maps: tuple | None, post: tuple) -> None:
    """The single-pass paths (3 or 5) in `nbands` bands of rows run as parallel tasks, each
    starting its row-to-row paths `warmup` rows above its first row (:func:`K.single_pass_band`;
    the WTA `maps` as :func:`wta_args` takes them, `post` as :func:`K._finish_row`). The costs
    come from `C` or, when it has no rows, from the census `job`."""
    H, W = guide.shape
    D = p.num_disparities
    stream = C.shape[0] != H
    lut = p2_table(p)
    run_tasks(K.single_pass_band, [
        (C, job, guide, lut, p.P1, p.paths == 5, y0, y1, warmup, *sweep_buffers(W, D),
         np.empty(W * D, np.uint16), np.empty((W, D) if stream else (0, 0), np.uint8),
         wta_args(p, maps, W), post, wta_scratch(W, D, p.min_disparity))
        for y0, y1 in row_ranges(H, nbands)])


def keeps_cost_volume(p: SGMParams) -> bool:
    """Whether :meth:`SGM.compute` keeps a cost volume (1 byte per pixel x disparity): for the
    Birchfield-Tomasi cost, 16 paths (the knight-move sweeps read the costs once more) and
    the single pass with a sub-pixel box; everywhere else the kernels compute each row's
    costs from the census where they need them."""
    box = p.subpixel != "none" and p.subpixel_window > 1
    return p.cost == "bt" or p.paths == 16 or (p.paths in SINGLE_PASS_PATHS and box)


def cost_ring(H: int, W: int, D: int, rad: int) -> np.ndarray:
    """A ring of cost rows for one two-sweep task (:func:`K.aggregate_rows`): the rows within
    `rad` of a finished row for its box sub-pixel fit, and at least one either side for the
    truncated-cost test (:func:`K._lr_row`). Never `H` rows, which the kernels would take
    for a volume."""
    R = 2 * max(rad, 1) + 1
    return np.empty((R + (R == H), W, D), np.uint8)


def wta_args(p: SGMParams, maps: tuple | None, W: int) -> tuple:
    """The WTA's argument of one task (``wta`` of :func:`K._finish_row`): the maps
    ``(dint, dsub, rkey)`` of the whole image, or with `maps` None the task's own one-row maps
    (row ``y`` of the maps is row ``y % rows``)."""
    if maps is None:
        maps = (np.empty((1, W), np.int16), np.empty((1, W), np.float32),
                np.empty((1, W), np.uint32))
    return (p.min_disparity, p.uniqueness_ratio, _SUBPIX_CODE[p.subpixel], *maps)


def wta_scratch(W: int, D: int, min_disparity: int) -> tuple[np.ndarray, np.ndarray]:
    """Scratch of the WTA (:func:`K._wta_row`) for rows of ``W x D`` sums, one per task: the
    row's sums disparity-major, uint16 ``(D, columns)`` with room on both sides so that every
    vector load stays inside, and uint32 room for the right view's keys."""
    Wv = -(-W // CENSUS_LANES) * CENSUS_LANES
    cols = max(0, -min_disparity) + Wv + D + max(min_disparity, 0)
    return np.empty((D, cols), np.uint16), np.empty(Wv, np.uint32)


def _path_rows(shape: tuple, D: int) -> np.ndarray:
    """int16 path rows of the given leading shape and ``D2 = LANES * ceil(D / LANES) + 2``
    entries: zeros ("a path starts here"), with the sentinel ``BIG`` in entry 0 and past
    ``D`` (:func:`K._sweep_row`)."""
    L = np.zeros((*shape, -(-D // K.LANES) * K.LANES + 2), np.int16)
    L[..., 0] = K.BIG
    L[..., D + 1:] = K.BIG
    return L


def sweep_buffers(W: int, D: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Path buffers of one sweep (:func:`K._sweep_row`): int16 ``(2, 3, W + 2, D2)`` path rows
    (previous and current row, three directions), ``(2, 3, W + 2)`` their minimums and
    ``(2, D2)`` for the horizontal path (:func:`_path_rows`)."""
    return _path_rows((2, 3, W + 2), D), np.zeros((2, 3, W + 2), np.int16), _path_rows((2,), D)


def knight_buffers(W: int, D: int) -> tuple[np.ndarray, ...]:
    """Path buffers of one knight-move sweep (:func:`K._knight_row`): int16 ``(2, 2, W + 4, D2)``
    path rows of the two paths from the previous row and ``(3, 2, W + 4, D2)`` of the two from
    two rows back (a ring of three rows), each with their minimums (:func:`_path_rows`; two
    padding columns on each side)."""
    return (_path_rows((2, 2, W + 4), D), np.zeros((2, 2, W + 4), np.int16),
            _path_rows((3, 2, W + 4), D), np.zeros((3, 2, W + 4), np.int16))


def single_pass_bands(height: int) -> int:
    """Bands of rows that the single-pass aggregation runs in parallel: an even number of about
    128 rows each, from the image height alone (so the result does not depend on threads)."""
    return max(1, 2 * round(height / 256))


def postprocess(disp: np.ndarray, p: SGMParams, speckle: bool = True) -> np.ndarray:
    """Speckle removal (unless `speckle` is False), optional median and optional background
    fill on a float disparity."""
    if speckle and p.speckle_window_size > 0:
        disp = remove_speckles(disp, p.speckle_window_size, p.speckle_range, p.min_disparity)
    if p.occlusion_fill:
        disp = K.fill_occlusions(disp, 1.0, 0.5)
    if p.median:
        disp = K.median3(disp)
    if p.fill:
        disp = K.fill_background(disp)
    return disp


def remove_speckles(disp: np.ndarray, max_size: int, max_diff: float,
                    min_disparity: int = 0) -> np.ndarray:
    """Invalidate connected regions of at most `max_size` pixels (neighbours within `max_diff`).

    Uses ``cv2.filterSpeckles`` on a 1/16-pixel int16 copy (disparities must stay below 2047).
    """
    invalid = _speckle_invalid(min_disparity)
    disp = np.ascontiguousarray(disp, dtype=np.float32)
    fixed = np.empty(disp.shape, np.int16)
    K.speckle_fixed(disp, fixed, invalid, False)
    out = disp.copy()
    _filter_speckles(out, fixed, invalid, max_size, max_diff)
    return out


def _speckle_invalid(min_disparity: int) -> np.int16:
    """The int16 value that marks invalid pixels in the 1/16-pixel copy."""
    return np.int16(max(-32768, (min_disparity - 1) * 16))


def _filter_speckles(disp: np.ndarray, fixed: np.ndarray, invalid: np.int16, max_size: int,
                     max_diff: float, bands: int | None = None) -> None:
    """``cv2.filterSpeckles`` on the 1/16-pixel copy `fixed`; removed pixels become NaN in
    `disp` (in place).

    OpenCV's filter is serial, so it runs on `bands` bands of rows, one per thread at a time
    (default: bands of at most :data:`SPECKLE_BAND_ROWS` rows, at least one per thread), and
    :func:`K.speckle_seams` then puts back the parts of large regions across the bands'
    seams that a band alone judged small: the result equals one call on the whole image.
    OpenCV's buffers take 13 bytes per pixel of the image it is given (as much as the sum
    volume at 6 disparities): short bands keep them small.
    """
    import cv2

    max_diff16 = int(np.rint(max_diff * 16))  # OpenCV rounds it so
    H = fixed.shape[0]
    if bands is None:
        bands = max(numba.get_num_threads(), -(-H // SPECKLE_BAND_ROWS))
    ranges = row_ranges(H, bands)
    if len(ranges) == 1:
        cv2.filterSpeckles(fixed, int(invalid), int(max_size), max_diff16)
    else:
        orig = fixed.copy()
        run_tasks(lambda y0, y1: cv2.filterSpeckles(fixed[y0:y1], int(invalid), int(max_size),
                                                    max_diff16), ranges)
        K.speckle_seams(orig, fixed, np.array([y0 for y0, _ in ranges[1:]], np.int64), invalid,
                        int(max_size), max_diff16)
    K.speckle_back(disp, fixed, invalid)
