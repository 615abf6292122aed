"""Compose the stages for robotics users and the apps: source -> rectify -> SGM -> depth -> fusion.

::

    with dk.open("sim://stereo") as cam:
        pipe = dk.Pipeline(cam, matcher=dk.SGM(num_disparities=64))
        for frame in pipe:              # RGBDFrame: depth_m, disparity, color, intrinsics, ...
            cloud = frame.point_cloud()

Capture, matching and fusion run in their own threads joined by bounded queues (numba kernels
release the GIL), so throughput is set by the matcher.  Frames come out in capture order.
``stats()`` reports per-stage timings and dropped frames.  An error in any stage (a camera
unplugged) stops new work; the frames finished before it are still delivered, then the error
is raised from the iterator.  ``close()`` stops every thread at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .errors import CalibrationError, ParameterError
from .types import DepthFrame, RGBDFrame, StereoFrame

log = logging.getLogger(__name__)

__all__ = ["Pipeline", "StageStats"]

_END = object()


@dataclass
class StageStats:
    """Timing of one stage: frames handled and seconds spent."""

    frames: int = 0
    seconds: float = 0.0
    samples: list = field(default_factory=list)

    def add(self, dt: float) -> None:
        self.frames += 1
        self.seconds += dt
        self.samples.append(dt)
        if len(self.samples) > 256:
            del self.samples[:128]

    def as_dict(self) -> dict:
        med = float(np.median(self.samples)) if self.samples else float("nan")
        return {"frames": self.frames, "total_s": round(self.seconds, 4),
                "median_ms": round(med * 1000, 2)}


class Pipeline:
    """Turn a source's frames into ``RGBDFrame`` s, concurrently.

    Parameters
    ----------
    source : Source or iterable of frames, optional
        Stereo frames (rectified or raw with a calibrated ``rig``), or depth frames.  Not needed
        to call :meth:`process` on single frames.
    matcher : SGM, optional
        Disparity matcher for stereo frames; ``dk.SGM(num_disparities=64)`` when omitted.
    disparity_filter : callable, optional
        Applied to each disparity map before it becomes depth, e.g.
        ``functools.partial(dk.geometry.spatial_filter, alpha=0.3)`` (stereo noise is uniform
        in disparity, so that is where smoothing belongs).
    filters : sequence of callables
        Each takes and returns an ``RGBDFrame`` (e.g. depth post-processing), applied in order.
    fusion : Fusion, optional
        If given, every frame with a pose (``frame.pose``, or the ground-truth pose) is
        integrated into it in a separate thread.
    queue_size : int
        Capacity of each queue between stages.
    drop : {"none", "oldest"}
        What capture does when matching falls behind: ``"none"`` waits (nothing is lost,
        capture slows down), ``"oldest"`` drops the oldest waiting frame and counts it.
    """

    def __init__(self, source=None, matcher=None, *, disparity_filter: Callable | None = None,
                 filters: Iterable[Callable] = (), fusion=None, queue_size: int = 4,
                 drop: str = "none", read_timeout_s: float = 10.0):
        if drop not in ("none", "oldest"):
            raise ParameterError(f"drop must be 'none' or 'oldest'; got {drop!r}")
        if int(queue_size) < 1:
            raise ParameterError(f"queue_size must be >= 1; got {queue_size!r}")
        self.source = source
        self._matcher = matcher
        self.disparity_filter = disparity_filter
        self.filters = list(filters)
        self.fusion = fusion
        self.drop = drop
        self.read_timeout_s = float(read_timeout_s)
        self._q_in: queue.Queue = queue.Queue(maxsize=int(queue_size))
        self._q_out: queue.Queue = queue.Queue(maxsize=int(queue_size))
        self._q_fuse: queue.Queue = queue.Queue(maxsize=int(queue_size))
        self._stop = threading.Event()      # closed by the consumer: everything stops now
        self._failed = threading.Event()    # a stage failed: no new work, drain what is done
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self._rectifiers: dict[int, object] = {}
        self._lock = threading.Lock()
        self.dropped = 0
        self.timings = {k: StageStats() for k in ("capture", "rectify", "match", "depth",
                                                   "filters", "fusion")}
        self._started = False
        self._t0 = None
        self._delivered = 0

    # --- single-frame processing (also used by the worker thread) ------------------------
    @property
    def matcher(self):
        if self._matcher is None:
            from .stereo import SGM

            self._matcher = SGM(num_disparities=64)
        return self._matcher

    def set_matcher(self, matcher) -> None:
        """Use `matcher` from the next frame on (e.g. a new disparity range in a live app)."""
        self._matcher = matcher

    def process(self, frame) -> RGBDFrame:
        """Process one frame synchronously (no threads)."""
        if isinstance(frame, StereoFrame):
            out = self._stereo_to_rgbd(frame)
        elif isinstance(frame, RGBDFrame):
            out = frame
        elif isinstance(frame, DepthFrame):
            out = RGBDFrame(frame.depth_m, frame.intrinsics, frame.timestamp_s, frame.sequence,
                            confidence=frame.confidence, ground_truth=frame.ground_truth,
                            pose=_gt_pose(frame))
        else:
            raise ParameterError(
                f"Pipeline takes StereoFrame, DepthFrame or RGBDFrame; got {type(frame).__name__}")
        if self.filters:
            t = time.perf_counter()
            for f in self.filters:
                out = f(out)
            self.timings["filters"].add(time.perf_counter() - t)
        return out

    def match(self, frame: StereoFrame) -> tuple[np.ndarray, StereoFrame]:
        """Disparity of the rectified left view and the rectified frame it belongs to.

        Raw frames are rectified with their rig first (the rectifier is built once per rig);
        pixels of the black border rectification leaves are NaN; the `disparity_filter`, if
        any, is applied.
        """
        valid = None
        if not frame.rectified:
            if frame.rig is None:
                raise CalibrationError(
                    "raw (unrectified) stereo frame without calibration: calibrate the rig "
                    "(depthkit calibrate) and open the source with it")
            from .calibration import Rectifier

            key = id(frame.rig)
            rect = self._rectifiers.get(key)
            if rect is None:  # keep the rig referenced so its id stays unique
                rect = self._rectifiers[key] = (frame.rig, Rectifier(frame.rig))
            t = time.perf_counter()
            frame = rect[1].rectify_frame(frame)
            valid = rect[1].valid_mask("left")
            self.timings["rectify"].add(time.perf_counter() - t)
        t = time.perf_counter()
        disp = self.matcher.compute(frame.left, frame.right)
        if valid is not None:
            disp[~valid] = np.nan
        if self.disparity_filter is not None:
            disp = self.disparity_filter(disp)
        self.timings["match"].add(time.perf_counter() - t)
        return disp, frame

    def _stereo_to_rgbd(self, frame: StereoFrame) -> RGBDFrame:
        from .geometry import disparity_to_depth
        from .geometry.cloud import colors_to_uint8

        if frame.rectified and (frame.rig is None or not frame.rig.is_rectified):
            raise CalibrationError(
                "a rectified stereo frame needs its rig (focal length and baseline) to give "
                "depth; open the source with calibration or attach a rig")
        disp, rf = self.match(frame)
        t = time.perf_counter()
        depth = disparity_to_depth(disp, rf.rig)
        self.timings["depth"].add(time.perf_counter() - t)
        color = rf.left if rf.left.dtype == np.uint8 else colors_to_uint8(rf.left)
        # a stereo frame's ground truth (pose included) describes its rectified left view
        pose = _gt_pose(frame)
        return RGBDFrame(depth.astype(np.float32, copy=False), rf.rig.rectified_intrinsics,
                         frame.timestamp_s, frame.sequence, ground_truth=frame.ground_truth,
                         color=color, disparity=disp, pose=pose)

    # --- threads -------------------------------------------------------------------------
    def start(self) -> Pipeline:
        if self.source is None:
            raise ParameterError("this Pipeline has no source; give one, or call process(frame)")
        if self._started:
            return self
        self._started = True
        self._t0 = time.perf_counter()
        self._spawn("capture", self._capture_loop)
        self._spawn("match", self._process_loop)
        if self.fusion is not None:
            self._spawn("fusion", self._fusion_loop)
        return self

    def _spawn(self, name, target):
        th = threading.Thread(target=self._guard, args=(target,), name=f"depthkit-{name}",
                              daemon=True)
        self._threads.append(th)
        th.start()

    def _guard(self, target):
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        """Record the first error; stages stop taking new work, finished frames still flow."""
        with self._lock:
            if self._error is None:
                self._error = exc
        self._failed.set()

    def _put(self, q: queue.Queue, item, *, droppable: bool = False) -> bool:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                if droppable and self.drop == "oldest":
                    try:
                        q.get_nowait()
                        with self._lock:
                            self.dropped += 1
                    except queue.Empty:
                        pass
        return False

    def _capture_loop(self):
        src = self.source
        it = None if hasattr(src, "read") else iter(src)
        try:
            while not (self._stop.is_set() or self._failed.is_set()):
                t = time.perf_counter()
                frame = src.read(self.read_timeout_s) if it is None else next(it, None)
                if frame is None:
                    break
                self.timings["capture"].add(time.perf_counter() - t)
                if not self._put(self._q_in, frame, droppable=True):
                    return
        except BaseException as exc:  # noqa: BLE001 - frames read before it are still processed
            self._fail(exc)
        finally:
            self._put(self._q_in, _END)

    def _process_loop(self):
        try:
            while not self._stop.is_set():
                try:
                    frame = self._q_in.get(timeout=0.05)
                except queue.Empty:
                    continue
                if frame is _END:
                    break
                try:
                    out = self.process(frame)
                except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                    self._fail(exc)
                    break
                if self.fusion is not None and out.pose is not None:
                    if not self._put(self._q_fuse, out):
                        return
                if not self._put(self._q_out, out):
                    return
        finally:
            if self.fusion is not None:
                self._put(self._q_fuse, _END)
            self._put(self._q_out, _END)

    def _fusion_loop(self):
        while not self._stop.is_set():
            try:
                frame = self._q_fuse.get(timeout=0.05)
            except queue.Empty:
                continue
            if frame is _END:
                return
            t = time.perf_counter()
            self.fusion.integrate(frame, cam2world=frame.pose)
            self.timings["fusion"].add(time.perf_counter() - t)

    def __iter__(self) -> Iterator[RGBDFrame]:
        self.start()
        try:
            while True:
                try:
                    item = self._q_out.get(timeout=0.05)
                except queue.Empty:
                    if self._stop.is_set():
                        break  # closed from outside
                    continue
                if item is _END:
                    break
                self._delivered += 1
                yield item
            self._join()  # fusion finishes integrating what was delivered
            if self._error is not None:
                raise self._error
        finally:
            self._stop.set()
            self._join()

    def _join(self, timeout: float = 30.0):
        # fusion must drain its queue before we return; others end at _END or on stop
        deadline = time.monotonic() + timeout
        for th in self._threads:
            th.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """Stop every thread (frames in flight are discarded) and wait for them."""
        self._stop.set()
        self._join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def stats(self) -> dict:
        """Per-stage timings, frames delivered and dropped, and throughput."""
        wall = (time.perf_counter() - self._t0) if self._t0 else 0.0
        src_info = self.source.info() if hasattr(self.source, "info") else None
        return {
            "frames": self._delivered,
            "dropped": self.dropped + (src_info.dropped if src_info else 0),
            "fps": round(self._delivered / wall, 3) if wall > 0 else 0.0,
            "stages": {k: v.as_dict() for k, v in self.timings.items() if v.frames},
        }


def _gt_pose(frame):
    pose = getattr(frame, "pose", None)
    if pose is None and frame.ground_truth is not None:
        pose = frame.ground_truth.pose
    return pose
