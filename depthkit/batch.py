"""Offline depth from stereo: a whole source (pairs, folders, videos, datasets) to per-frame files.

:func:`run_depth` is what ``depthkit depth`` calls.  Each frame's outputs are named by its
sequence number (``000012_disparity.pfm``) and written atomically, so an interrupted run leaves
no half files and ``resume=True`` skips the frames whose outputs are all present.  With
``workers > 1`` frames are processed in separate processes (each with its own matcher).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ParameterError
from .types import StereoFrame, StereoRig

log = logging.getLogger(__name__)

__all__ = ["DepthJob", "run_depth", "process_frame", "frame_outputs", "SAVE_KINDS"]

SAVE_KINDS = ("disparity", "depth", "cloud", "preview")
DEPTH_FORMATS = ("png", "pfm")


@dataclass(frozen=True)
class DepthJob:
    """What to compute for each frame and where to put it."""

    out_dir: Path
    save: tuple[str, ...] = ("disparity", "depth", "preview")
    depth_formats: tuple[str, ...] = ("png",)
    sgm: dict = field(default_factory=dict)
    rig: StereoRig | None = None

    def __post_init__(self):
        bad = sorted(set(self.save) - set(SAVE_KINDS))
        if bad or not self.save:
            raise ParameterError(f"save must list some of {', '.join(SAVE_KINDS)}; got {self.save}")
        bad = sorted(set(self.depth_formats) - set(DEPTH_FORMATS))
        if bad or not self.depth_formats:
            raise ParameterError(f"depth formats must be among {DEPTH_FORMATS}; got {bad}")
        object.__setattr__(self, "out_dir", Path(self.out_dir))


def frame_key(frame) -> str:
    return f"{frame.sequence:06d}"


def frame_outputs(job: DepthJob, key: str, *, has_rig: bool = True) -> list[Path]:
    """The files `job` writes for the frame `key` (depth and cloud only with a calibration)."""
    d = job.out_dir
    out = []
    if "disparity" in job.save:
        out.append(d / f"{key}_disparity.pfm")
    if "preview" in job.save:
        out.append(d / f"{key}_preview.png")
    if has_rig and "depth" in job.save:
        out += [d / f"{key}_depth.{fmt}" for fmt in job.depth_formats]
    if has_rig and "cloud" in job.save:
        out.append(d / f"{key}_cloud.ply")
    return out


_WORKER: dict = {}


def _matcher(job: DepthJob):
    from .stereo import SGM

    m = _WORKER.get("matcher")
    if m is None or _WORKER.get("sgm") != job.sgm:
        m = SGM(**job.sgm)
        _WORKER["matcher"], _WORKER["sgm"] = m, job.sgm
    return m


def _rectifier(rig: StereoRig):
    from .calibration import Rectifier

    cache = _WORKER.setdefault("rectifiers", {})
    key = id(rig)
    if key not in cache:
        cache[key] = (rig, Rectifier(rig))
    return cache[key][1]


def process_frame(job: DepthJob, frame: StereoFrame) -> dict:
    """Rectify (if needed), match, convert and write one frame's outputs; return a record."""
    from . import io
    from .geometry import disparity_to_depth, to_pointcloud

    t0 = time.perf_counter()
    key = frame_key(frame)
    rig = job.rig if job.rig is not None else frame.rig
    left, right = frame.left, frame.right
    if not frame.rectified:
        if rig is None:
            from .errors import CalibrationError

            raise CalibrationError(
                f"frame {key} is not rectified and no calibration was given; pass --rig rig.yaml")
        rect = _rectifier(rig).rectify(left, right)
        left, right, rig = rect.left, rect.right, rect.rig
    disp = _matcher(job).compute(left, right)
    has_rig = rig is not None and rig.is_rectified
    d = job.out_dir
    if "disparity" in job.save:
        io.write_pfm(d / f"{key}_disparity.pfm", disp)
    if "preview" in job.save:
        io.write_image(d / f"{key}_preview.png",
                       io.colorize_disparity(disp, max_disparity=_matcher(job).max_disparity))
    if has_rig and ("depth" in job.save or "cloud" in job.save):
        depth = disparity_to_depth(disp, rig)
        if "depth" in job.save:
            if "png" in job.depth_formats:
                io.write_depth_png(d / f"{key}_depth.png", depth)
            if "pfm" in job.depth_formats:
                io.write_pfm(d / f"{key}_depth.pfm", depth)
        if "cloud" in job.save:
            color = left if left.dtype == np.uint8 else None
            pts, cols = to_pointcloud(depth, rig.rectified_intrinsics, color=color)
            io.write_ply(d / f"{key}_cloud.ply", pts, cols)
    valid = float(np.isfinite(disp).mean())
    return {"key": key, "seconds": time.perf_counter() - t0, "density": valid,
            "depth": bool(has_rig)}


def _work(job: DepthJob, frame: StereoFrame) -> dict:
    return process_frame(job, frame)


def run_depth(source, out_dir, *, save=("disparity", "depth", "preview"), depth_formats=("png",),
              sgm: dict | None = None, rig: StereoRig | None = None, resume: bool = False,
              workers: int = 1, max_frames: int | None = None, progress: bool | None = None,
              read_timeout_s: float = 10.0) -> dict:
    """Compute disparity/depth/clouds for every frame of `source` into `out_dir`.

    Parameters
    ----------
    source : str or Source
        A source URI (``files://L*.png,R*.png``, ``middlebury://DIR``, ``sim://stereo``, ...)
        or an open stereo source.
    save : sequence of {"disparity", "depth", "cloud", "preview"}
        What to write per frame; depth and cloud need a calibration (the source's or `rig`).
    depth_formats : sequence of {"png", "pfm"}
        Depth as 16-bit PNG millimetres and/or PFM metres.
    sgm : dict
        Keyword arguments of :class:`depthkit.stereo.SGM` (``num_disparities``, ``preset``, ...).
    rig : StereoRig, optional
        Calibration of raw frames: they are rectified first.
    resume : bool
        Skip frames whose outputs all exist.
    workers : int
        Processes computing frames in parallel (1 = in this process).

    Returns
    -------
    dict
        A summary: frames done, skipped, failed (with reasons), seconds, frames per second.
    """
    from tqdm import tqdm

    from .sources import open as open_source

    if int(workers) < 1:
        raise ParameterError(f"workers must be >= 1; got {workers!r}")
    job = DepthJob(Path(out_dir), tuple(save), tuple(depth_formats), dict(sgm or {}), rig)
    job.out_dir.mkdir(parents=True, exist_ok=True)
    _matcher(job)  # validate the matcher parameters before any work starts
    src = open_source(source) if isinstance(source, str) else source
    uri = source if isinstance(source, str) else getattr(source, "uri", repr(source))
    done, skipped, failed, records = [], [], [], []
    t_start = time.perf_counter()
    pool = ProcessPoolExecutor(max_workers=int(workers), mp_context=_spawn()) if workers > 1 else None
    pending: dict[Future, str] = {}
    bar = tqdm(total=max_frames, unit="frame", desc="depth", file=sys.stderr,
               disable=(None if progress is None else not progress), dynamic_ncols=True)

    def collect(block: bool):
        if not pending:
            return
        finished, _ = wait(list(pending), return_when=FIRST_COMPLETED, timeout=None if block else 0)
        for fut in finished:
            key = pending.pop(fut)
            try:
                rec = fut.result()
                records.append(rec)
                done.append(key)
            except Exception as exc:  # a frame that fails for a reason in the data
                failed.append({"key": key, "error": f"{type(exc).__name__}: {exc}"})
            bar.update(1)

    try:
        n = 0
        while max_frames is None or n < max_frames:
            frame = src.read(read_timeout_s)
            if frame is None:
                break
            n += 1
            key = frame_key(frame)
            has_rig = (job.rig or frame.rig) is not None
            if resume and all(p.exists() for p in frame_outputs(job, key, has_rig=has_rig)):
                skipped.append(key)
                bar.update(1)
                continue
            if pool is None:
                try:
                    records.append(process_frame(job, frame))
                    done.append(key)
                except Exception as exc:
                    if not isinstance(exc, (ValueError, OSError, RuntimeError)):
                        raise
                    failed.append({"key": key, "error": f"{type(exc).__name__}: {exc}"})
                bar.update(1)
            else:
                pending[pool.submit(_work, job, frame)] = key
                while len(pending) >= 2 * workers:
                    collect(block=True)
        while pending:
            collect(block=True)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if isinstance(source, str):
            src.close()
    seconds = time.perf_counter() - t_start
    summary = {
        "source": uri,
        "out_dir": str(job.out_dir),
        "frames_done": len(done),
        "frames_skipped": len(skipped),
        "frames_failed": len(failed),
        "failed": failed,
        "seconds": round(seconds, 3),
        "fps": round(len(done) / seconds, 3) if seconds > 0 and done else 0.0,
        "median_frame_s": round(float(np.median([r["seconds"] for r in records])), 4)
        if records else None,
        "depth_written": any(r["depth"] for r in records),
        "workers": int(workers),
        "sgm": job.sgm,
    }
    from .io import write_bytes_atomic

    write_bytes_atomic(job.out_dir / "summary.json", json.dumps(summary, indent=2).encode())
    return summary


def _spawn():
    import multiprocessing as mp

    # numba's thread pool is not fork-safe once started: always spawn workers
    return mp.get_context("spawn")
