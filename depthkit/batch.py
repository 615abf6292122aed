"""Offline depth from stereo: a whole source (pairs, folders, videos, datasets) to per-frame files.

:func:`run_depth` is what ``depthkit depth`` calls.  Each frame's outputs are named by its
sequence number (``000012_disparity.pfm``) and written atomically, so an interrupted run leaves
no half files and ``resume=True`` skips the frames whose outputs are all present.  With
``workers > 1`` frames are processed in separate processes (each with its own matcher), and with
``scheduler=`` as tasks on a Dask cluster (a retried task rewrites the same files, so every frame
ends up exactly once).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DepthkitError, ParameterError
from .types import StereoFrame, StereoRig

log = logging.getLogger(__name__)

__all__ = ["DepthJob", "run_depth", "process_frame", "process_chunk", "frame_outputs",
           "guided_chunks", "local_client", "SAVE_KINDS"]

SAVE_KINDS = ("disparity", "depth", "cloud", "preview")
#: environment of local worker processes (``workers=N``, ``scheduler="local:N"``): one thread
#: each for numba, OpenMP and BLAS, so N workers use N cores and scale with N
SINGLE_THREADED = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1"}
DEPTH_FORMATS = ("png", "pfm")


@dataclass(frozen=True)
class DepthJob:
    """What to compute for each frame and where to put it."""

    out_dir: Path
    save: tuple[str, ...] = ("disparity", "depth", "preview")
    depth_formats: tuple[str, ...] = ("png",)
    sgm: dict = field(default_factory=dict)
    rig: StereoRig | None = None
    resume: bool = False

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


def _pipeline(job: DepthJob):
    """This process's stereo pipeline for `job` (matcher and rectifiers built once)."""
    from .pipeline import Pipeline
    from .stereo import SGM

    pipe = _WORKER.get("pipeline")
    if pipe is None or _WORKER.get("sgm") != job.sgm:
        pipe = Pipeline(matcher=SGM(**job.sgm))
        _WORKER["pipeline"], _WORKER["sgm"] = pipe, job.sgm
    return pipe


def check_calibrated(job: DepthJob, frame: StereoFrame) -> None:
    """Raise CalibrationError if `frame` needs rectifying and neither it nor `job` has a rig."""
    if not frame.rectified and frame.rig is None and job.rig is None:
        from .errors import CalibrationError

        raise CalibrationError(
            f"frame {frame_key(frame)} is not rectified and no calibration was given; "
            "pass --rig rig.yaml (or rectified=1 in the URI if the images are rectified)")


def process_frame(job: DepthJob, frame: StereoFrame) -> dict:
    """Rectify (if needed), match, convert and write one frame's outputs; return a record."""
    from dataclasses import replace

    from . import io
    from .geometry import disparity_to_depth, to_pointcloud

    t0 = time.perf_counter()
    key = frame_key(frame)
    if job.rig is not None:
        frame = replace(frame, rig=job.rig)
    check_calibrated(job, frame)
    pipe = _pipeline(job)
    disp, rect = pipe.match(frame)
    rig = rect.rig
    has_rig = rig is not None and rig.is_rectified
    d = job.out_dir
    if "disparity" in job.save:
        io.write_pfm(d / f"{key}_disparity.pfm", disp)
    if "preview" in job.save:
        prm = pipe.matcher.params
        io.write_image(d / f"{key}_preview.png",
                       io.colorize_disparity(disp, max_disparity=prm.min_disparity
                                             + prm.num_disparities))
    if has_rig and ("depth" in job.save or "cloud" in job.save):
        depth = disparity_to_depth(disp, rig)
        if "depth" in job.save:
            if "png" in job.depth_formats:
                io.write_depth_png(d / f"{key}_depth.png", depth)
            if "pfm" in job.depth_formats:
                io.write_pfm(d / f"{key}_depth.pfm", depth)
        if "cloud" in job.save:
            color = rect.left if rect.left.dtype == np.uint8 else None
            pts, cols = to_pointcloud(depth, rig.rectified_intrinsics, color=color)
            io.write_ply(d / f"{key}_cloud.ply", pts, cols)
    valid = float(np.isfinite(disp).mean())
    return {"key": key, "seconds": time.perf_counter() - t0, "density": valid,
            "depth": bool(has_rig)}


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        import os

        return f"pid:{os.getpid()}"


_SOURCES: dict = {}


def _worker_source(uri: str):
    """This process's open copy of a seekable source (opened once per worker)."""
    from .sources import open as open_source

    src = _SOURCES.get(uri)
    if src is None:
        src = _SOURCES[uri] = open_source(uri)
    return src


def process_chunk(job: DepthJob, frames: list | None = None, *, uri: str | None = None,
                  indices: list[int] | None = None, source=None) -> list[dict]:
    """Process frames (given, or read here by index from the open seekable `source` or from
    this process's copy of the source `uri`).

    Frames whose outputs all exist are skipped when ``job.resume``.  A frame that fails for a
    reason in its data (unreadable, wrong size, no calibration) gives a failure record instead
    of failing the chunk, so a cluster never retries it.
    """
    worker = _worker_name()
    items = frames if frames is not None else indices
    out = []
    for item in items:
        key = frame_key(item) if frames is not None else f"{item:06d}"
        t0 = time.perf_counter()
        try:
            if frames is not None:
                frame = item
            else:
                frame = (source if source is not None else _worker_source(uri)).read_at(item)
            key = frame_key(frame)
            has_rig = (job.rig or frame.rig) is not None
            if job.resume and all(p.exists() for p in frame_outputs(job, key, has_rig=has_rig)):
                rec = {"key": key, "skipped": True}
            else:
                rec = process_frame(job, frame)
                # the worker's time for the frame, reading it included
                rec["seconds"] = time.perf_counter() - t0
        except (DepthkitError, ValueError, OSError) as exc:
            rec = {"key": key, "error": f"{type(exc).__name__}: {exc}"}
        rec["worker"] = worker
        out.append(rec)
    return out


def _single_threaded() -> None:
    """Pool initializer: runs before numba is imported in the fresh (spawned) process."""
    import os

    os.environ.update(SINGLE_THREADED)


class _Done:
    """A finished chunk of the in-process backend (hashable, like a future)."""

    def __init__(self, records: list[dict]):
        self.records = records


class _InProcess:
    """Runs chunks right away in this process (indices are read from `source`, the run's own)."""

    def __init__(self, job: DepthJob):
        self.job, self.source = job, None

    def submit(self, frames=None, uri=None, indices=None):
        return _Done(process_chunk(self.job, frames, uri=uri, indices=indices,
                                   source=self.source))

    def wait_any(self, pending):
        return list(pending)

    @staticmethod
    def result(item):
        return item.records

    def close(self):
        pass


class _ProcessPool(_InProcess):  # also the base of depthkit._dask.DaskBackend
    """Runs chunks in a pool of local processes (spawned: numba's threads are not fork-safe)."""

    def __init__(self, job: DepthJob, workers: int):
        import multiprocessing as mp

        super().__init__(job)
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                        initializer=_single_threaded)

    def submit(self, frames=None, uri=None, indices=None):
        return self.pool.submit(process_chunk, self.job, frames, uri=uri, indices=indices)

    def wait_any(self, pending):
        return wait(list(pending), return_when=FIRST_COMPLETED)[0]

    @staticmethod
    def result(item):
        return item.result()

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


def local_client(n_workers: int):
    """A ``dask.distributed.Client`` of a new local cluster, the one ``scheduler="local:N"`` starts.

    `n_workers` single-threaded worker processes, with glibc's default memory trimming (see
    ``depthkit._dask.local_client``).  Pass it as ``scheduler=`` to several runs to start the
    cluster once; closing the client closes the cluster.
    """
    from ._optional import require

    require("distributed")
    from ._dask import local_client as start

    if int(n_workers) < 1:
        raise ParameterError(f"a local cluster needs at least one worker; got {n_workers!r}")
    return start(int(n_workers))


def parse_local(text: str) -> int:
    try:
        n = int(text.split(":", 1)[1])
    except ValueError:
        n = 0
    if n < 1:
        raise ParameterError(f"a local cluster is written local:N with N >= 1; got {text!r}")
    return n


_LIVE_SCHEMES = ("uvc",)


def _refuse_live(uri: str) -> None:
    from .sources import parse_uri

    p = parse_uri(uri)
    live = p.scheme in _LIVE_SCHEMES or (
        p.scheme == "realsense" and not p.target.lower().endswith((".bag", ".db3")))
    if live:
        raise ParameterError(
            f"{uri!r} is a live camera: a cluster run needs a recording or dataset. Record it "
            "first (depthkit record SOURCE -o DIR) and process recording://DIR")


def run_depth(source, out_dir, *, save=("disparity", "depth", "preview"), depth_formats=("png",),
              sgm: dict | None = None, rig: StereoRig | None = None, resume: bool = False,
              workers: int = 1, scheduler=None, chunk_size: int | None = None,
              max_frames: int | None = None, progress: bool | None = None,
              read_timeout_s: float = 10.0, connect_timeout_s: float = 10.0) -> dict:
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
        Local processes computing frames in parallel, single-threaded each (1 = in this
        process, with numba's threads).
    scheduler : str or dask.distributed.Client, optional
        Run on Dask instead: ``"local:N"`` starts a local cluster of N single-threaded worker
        processes (so N workers use N cores), ``"tcp://HOST:8786"`` connects to a running
        scheduler (see :func:`local_client` for a local cluster that outlives one run).
        Workers read the frames of seekable sources themselves (``sim://``,
        ``files://``, datasets, ``recording://``: their files must be on storage every worker
        reaches); other sources are read here and shipped in the tasks.  Every worker must be
        able to write `out_dir` (a shared file system).  Live cameras are refused: record
        them first.  Workers that ``dask worker`` starts with a nanny get Dask's
        ``MALLOC_TRIM_THRESHOLD_=65536``, which costs about a fifth of the throughput here;
        ``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_: null`` in their Dask
        configuration (or ``--no-nanny``) avoids it.
    chunk_size : int, optional
        Most frames per task (default 1 locally, 4 on Dask, to amortise task overhead); when
        the frames are read by index, the last tasks are smaller so workers finish together
        (:func:`guided_chunks`).

    Returns
    -------
    dict
        A summary: frames done, skipped, failed (with reasons), seconds, frames per second,
        and per-worker throughput.
    """
    from tqdm import tqdm

    from .sources import open as open_source

    if int(workers) < 1:
        raise ParameterError(f"workers must be >= 1; got {workers!r}")
    if scheduler is not None and workers != 1:
        raise ParameterError("use either workers (local processes) or scheduler (Dask), not both")
    if chunk_size is None:
        chunk_size = 4 if scheduler is not None else 1
    if int(chunk_size) < 1:
        raise ParameterError(f"chunk_size must be >= 1; got {chunk_size!r}")
    job = DepthJob(Path(out_dir), tuple(save), tuple(depth_formats), dict(sgm or {}), rig,
                   bool(resume))
    uri = source if isinstance(source, str) else getattr(source, "uri", repr(source))
    if scheduler is not None:
        if isinstance(source, str):
            _refuse_live(source)
        elif getattr(source, "live", False):
            raise ParameterError(f"{uri!r} is a live camera: a cluster run needs a recording")
    if job.out_dir.exists() and not job.out_dir.is_dir():
        raise ParameterError(f"output folder {job.out_dir} exists and is not a folder")
    job.out_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        _remove_stale_temporaries(job.out_dir)
    _pipeline(job)  # validate the matcher parameters before any work starts
    if scheduler is not None:
        from ._optional import require

        require("distributed")
        from ._dask import DaskBackend

        backend = DaskBackend(job, scheduler, connect_timeout_s=connect_timeout_s)
    elif workers > 1:
        backend = _ProcessPool(job, int(workers))
    else:
        backend = _InProcess(job)
    src = open_source(source) if isinstance(source, str) else source
    # frames of a seekable source named by URI are read by index where they are processed:
    # this process reads from its open source, other processes open the URI themselves.  A
    # frame that cannot be read (a corrupt file) is then a failure record and the run goes
    # on.  An open source object is read in order here, from where its reader left it.
    in_process = type(backend) is _InProcess
    by_index = isinstance(source, str) and src.seekable
    if in_process:
        backend.source = src
    records = []
    t_start = time.perf_counter()
    pending: dict = {}
    # chunks queued at once: enough to keep every worker busy, few enough to bound memory
    n_workers = max(int(workers), _n_workers(backend))
    in_flight = 1 if in_process else 2 * n_workers
    bar = tqdm(total=max_frames, unit="frame", desc="depth", file=sys.stderr,
               disable=(None if progress is None else not progress), dynamic_ncols=True)

    def collect():
        for item in backend.wait_any(pending):
            keys = pending.pop(item)
            try:
                recs = backend.result(item)
            except Exception as exc:  # noqa: BLE001 - the whole chunk failed (a bug, or lost)
                recs = [{"key": k, "error": f"{type(exc).__name__}: {exc}"} for k in keys]
            records.extend(recs)
            bar.update(len(recs))

    try:
        if by_index:
            if rig is None and src.rig is None and len(src):
                # a missing calibration would fail every frame: say so once, before any work
                try:
                    first = src.read_at(0)
                except (DepthkitError, ValueError, OSError):
                    first = None  # frame 0 itself is bad: reported like any other frame
                if first is not None:
                    check_calibrated(job, first)
            # workers read their own frames: only indices travel
            n = len(src) if max_frames is None else min(len(src), int(max_frames))
            bar.reset(total=n)
            for idx in guided_chunks(n, chunk_size, n_workers):
                pending[backend.submit(uri=uri, indices=idx)] = [f"{i:06d}" for i in idx]
                while len(pending) >= in_flight:
                    collect()
        else:
            n, chunk = 0, []
            while max_frames is None or n < max_frames:
                frame = src.read(read_timeout_s)
                if frame is not None:
                    if n == 0:
                        check_calibrated(job, frame)  # once, before any work
                    n += 1
                    chunk.append(frame)
                if chunk and (len(chunk) >= chunk_size or frame is None
                              or (max_frames is not None and n >= max_frames)):
                    pending[backend.submit(chunk)] = [frame_key(f) for f in chunk]
                    chunk = []
                    while len(pending) >= in_flight:
                        collect()
                if frame is None:
                    break
        while pending:
            collect()
    finally:
        bar.close()
        backend.close()
        if isinstance(source, str):
            src.close()
    # a worker killed mid-write leaves its temporary file; its frame was redone elsewhere
    _remove_stale_temporaries(job.out_dir)
    seconds = time.perf_counter() - t_start
    done = [r for r in records if "error" not in r and not r.get("skipped")]
    failed = [r for r in records if "error" in r]
    skipped = [r for r in records if r.get("skipped")]
    per_worker: dict[str, dict] = {}
    for r in done:
        w = per_worker.setdefault(r["worker"], {"frames": 0, "busy_s": 0.0})
        w["frames"] += 1
        w["busy_s"] += r["seconds"]
    for w in per_worker.values():
        w["fps"] = round(w["frames"] / w["busy_s"], 3) if w["busy_s"] > 0 else 0.0
        w["busy_s"] = round(w["busy_s"], 3)
    summary = {
        "source": uri,
        "out_dir": str(job.out_dir),
        "frames_done": len(done),
        "frames_skipped": len(skipped),
        "frames_failed": len(failed),
        "failed": [{"key": r["key"], "error": r["error"]} for r in failed],
        "seconds": round(seconds, 3),
        "fps": round(len(done) / seconds, 3) if seconds > 0 and done else 0.0,
        "median_frame_s": round(float(np.median([r["seconds"] for r in done])), 4)
        if done else None,
        "depth_written": any(r["depth"] for r in done),
        "workers": int(workers) if scheduler is None else len(per_worker),
        "scheduler": None if scheduler is None else str(scheduler),
        "chunk_size": int(chunk_size),
        "per_worker": per_worker,
        "sgm": job.sgm,
    }
    from .io import write_bytes_atomic

    write_bytes_atomic(job.out_dir / "summary.json", json.dumps(summary, indent=2).encode())
    return summary


def guided_chunks(n: int, chunk_size: int, workers: int) -> list[list[int]]:
    """Frame indices ``0..n-1`` in consecutive chunks of at most `chunk_size`, smaller at the end.

    A chunk also holds at most ``remaining // (2 * workers)`` frames (and at least one): the
    last tasks are short, so the workers finish together instead of one working through a
    whole chunk while the others wait (OpenMP's "guided" schedule).
    """
    out, start = [], 0
    while start < n:
        size = max(1, min(int(chunk_size), (n - start) // (2 * max(1, int(workers)))))
        out.append(list(range(start, min(n, start + size))))
        start += size
    return out


def _n_workers(backend) -> int:
    client = getattr(backend, "client", None)
    if client is None:
        return 1
    return max(1, len(client.scheduler_info().get("workers", {})))


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Delete temporary files an interrupted run left behind (see ``io.atomic_path``)."""
    for p in out_dir.glob(".*.tmp*"):
        if p.is_file():
            p.unlink(missing_ok=True)
