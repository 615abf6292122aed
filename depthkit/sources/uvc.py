"""``uvc://0,1`` and ``uvc://0?layout=side-by-side``: USB (UVC) cameras through OpenCV.

Two cameras (``uvc://LEFT,RIGHT``) are read by one thread each; every frame is timestamped the
moment it arrives (``time.monotonic()``), and left and right frames are paired by nearest
timestamp within ``tolerance`` seconds.  A frame that cannot be paired is discarded and counted
in ``info().dropped``.  One combined camera (``uvc://0?layout=side-by-side|top-bottom``) is
split like ``video://``.

A device is a number (``/dev/videoN``) or a ``/dev/...`` path.  A video *file* path is accepted
too (OpenCV opens files where device indices go): its frames are then timestamped with the
file's presentation times and read without dropping, which makes recorded rigs replayable and
the driver testable without hardware.

Query parameters: ``width``, ``height``, ``fps``, ``exposure`` (OpenCV ``CAP_PROP_EXPOSURE``
units, turns auto-exposure off), ``fourcc`` (e.g. ``MJPG``, to fit two cameras on one USB bus),
``tolerance`` (seconds; default half a frame period, 1/(2 fps) with the fps asked for or
reported by the cameras, else 0.015 s),
``queue`` (frames per camera, default 2), ``drop`` (``keep-newest`` for devices,
``keep-all`` for files), ``layout``, ``rectified=1``, ``gray=1``, ``open_timeout`` (s, 10),
``rig=PATH`` (calibration file from ``depthkit calibrate``, attached to every frame).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time

import numpy as np

from ..errors import DeviceDisconnectedError, DeviceError, ParameterError, SourceTimeoutError
from ..types import StereoFrame
from .base import (
    ParsedURI,
    Source,
    parse_bool,
    positive_float,
    positive_int,
    register,
)
from .capture import CaptureThread, check_policy
from .files import load_rig_param
from .video import check_layout, split_views, to_rgb

__all__ = ["UVCSource", "PairMatcher", "Camera"]

log = logging.getLogger(__name__)


class PairMatcher:
    """Pair two timestamped streams by nearest timestamp within `tolerance` seconds.

    Push ``(t, item)`` into either side with :meth:`push`; :meth:`pop` returns the next
    ``(t_left, left, t_right, right)`` or ``None`` when more frames are needed.  Frames that can
    no longer find a partner are discarded and counted in :attr:`dropped`.  Each stream must be
    pushed in increasing time order.
    """

    def __init__(self, tolerance: float):
        if not tolerance > 0:
            raise ParameterError(f"tolerance must be > 0 seconds; got {tolerance!r}")
        self.tolerance = float(tolerance)
        self.buffers: tuple[list, list] = ([], [])
        self.dropped = 0

    def push(self, side: int, t: float, item) -> None:
        self.buffers[side].append((float(t), item))

    def pop(self):
        left, right = self.buffers
        while left and right:
            tl, tr = left[0][0], right[0][0]
            if tl < tr - self.tolerance:          # left frame too old for any right frame
                left.pop(0)
                self.dropped += 1
                continue
            if tr < tl - self.tolerance:
                right.pop(0)
                self.dropped += 1
                continue
            # within tolerance; a later frame of the other side may be closer still
            if len(left) > 1 and abs(left[1][0] - tr) < abs(tl - tr):
                left.pop(0)
                self.dropped += 1
                continue
            if len(right) > 1 and abs(right[1][0] - tl) < abs(tl - tr):
                right.pop(0)
                self.dropped += 1
                continue
            (tl, li), (tr, ri) = left.pop(0), right.pop(0)
            return tl, li, tr, ri
        return None

    def pending_needs(self) -> int:
        """The side (0 left, 1 right) to read next: the one with fewer buffered frames."""
        left, right = self.buffers
        if not left:
            return 0
        if not right:
            return 1
        return 0 if left[-1][0] <= right[-1][0] else 1

    def flush(self) -> None:
        """Discard (and count) everything still buffered."""
        self.dropped += len(self.buffers[0]) + len(self.buffers[1])
        self.buffers[0].clear()
        self.buffers[1].clear()


class Camera:
    """One ``cv2.VideoCapture`` (or a stand-in with ``grab/retrieve/get/release``).

    `is_file` cameras are timestamped with the file's presentation time and end at the last
    frame; device cameras are timestamped on arrival and raise
    :class:`~depthkit.errors.DeviceDisconnectedError` after `lost_after` seconds without a frame.
    """

    def __init__(self, cap, name: str, *, is_file: bool = False, lost_after: float = 2.0,
                 gray: bool = False):
        self.cap, self.name, self.is_file = cap, name, is_file
        self.lost_after = float(lost_after)
        self.gray = gray
        self._last_ok = time.monotonic()
        self.frames = 0

    def grab(self):
        """``(timestamp_s, rgb_image)``, ``None`` at the end of a file; raises on loss."""
        import cv2

        ok = self.cap.grab()
        t_arrival = time.monotonic()
        if ok:
            ok, img = self.cap.retrieve()
        if not ok:
            if self.is_file:
                return None
            if time.monotonic() - self._last_ok > self.lost_after:
                raise DeviceDisconnectedError(
                    f"camera {self.name} stopped delivering frames ({self.lost_after:g} s "
                    f"without one after {self.frames} frame(s)): unplugged or out of USB "
                    "bandwidth? Reconnect it and open the source again."
                )
            time.sleep(0.01)
            raise SourceTimeoutError(f"camera {self.name}: no frame yet")
        self._last_ok = t_arrival
        self.frames += 1
        t = self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 if self.is_file else t_arrival
        return t, to_rgb(img, self.gray)

    def release(self) -> None:
        self.cap.release()


_DEV_RX = re.compile(r"^(?:/dev/video)?(\d+)$")


def _open_capture(target: str, timeout: float):
    """Open a device index, /dev path or file within `timeout` seconds; DeviceError if not."""
    import cv2

    m = _DEV_RX.match(target)
    is_file = m is None and os.path.isfile(target)
    if m is None and not is_file:
        raise DeviceError(
            f"uvc://: {target!r} is neither a camera (a number N or /dev/videoN) nor an "
            "existing video file"
        )
    arg = int(m.group(1)) if m else target
    box: dict = {}

    def work():
        box["cap"] = cv2.VideoCapture(arg)

    th = threading.Thread(target=work, daemon=True, name=f"open uvc {target}")
    th.start()
    th.join(timeout)
    if th.is_alive():
        raise DeviceError(f"camera {target} did not open within {timeout:g} s (busy or hung)")
    cap = box["cap"]
    if not cap.isOpened():
        cap.release()
        avail = sorted(p for p in os.listdir("/dev") if p.startswith("video")) \
            if os.path.isdir("/dev") else []
        raise DeviceError(
            f"no camera at {target!r}: OpenCV could not open it. Connected video devices: "
            f"{', '.join('/dev/' + a for a in avail) or 'none'} (see `depthkit devices`)"
            if not is_file else f"cannot open video file {target} with OpenCV (corrupt?)"
        )
    return cap, is_file


def _configure(cap, name: str, p: dict) -> None:
    """Apply width/height/fps/exposure/fourcc and check the camera took the mode."""
    import cv2

    if p.get("fourcc"):
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*p["fourcc"]))
    for key, prop in (("width", cv2.CAP_PROP_FRAME_WIDTH), ("height", cv2.CAP_PROP_FRAME_HEIGHT),
                      ("fps", cv2.CAP_PROP_FPS)):
        if p.get(key) is not None:
            cap.set(prop, p[key])
    got_w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    got_h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    want_w, want_h = p.get("width") or got_w, p.get("height") or got_h
    if (got_w, got_h) != (want_w, want_h):
        raise DeviceError(
            f"unsupported stream mode for camera {name}: asked for {want_w}x{want_h}, it gives "
            f"{got_w}x{got_h}. List its modes with `v4l2-ctl --list-formats-ext` or "
            "`depthkit devices`."
        )
    if p.get("fps") is not None:
        got = cap.get(cv2.CAP_PROP_FPS)
        if got > 0 and abs(got - p["fps"]) > 0.5:
            raise DeviceError(
                f"unsupported stream mode for camera {name}: asked for {p['fps']:g} fps, it "
                f"gives {got:g} fps at {got_w}x{got_h}"
            )
    if p.get("exposure") is not None:
        cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, 1)          # V4L2: 1 = manual
        if not cap.set(cv2.CAP_PROP_EXPOSURE, p["exposure"]):
            raise DeviceError(f"camera {name} does not accept exposure={p['exposure']:g}")


class UVCSource(Source):
    """Stereo frames from two UVC cameras, or one side-by-side/top-bottom camera."""

    kind = "stereo"

    def __init__(self, uri: str, cameras: list[Camera], *, layout: str | None = None,
                 tolerance: float = 0.015, queue: int = 2, drop: str | None = None,
                 rectified: bool = False, rig=None):
        super().__init__(uri)
        if len(cameras) == 1 and layout is None:
            raise ParameterError(
                f"one camera needs a layout (uvc://N?layout=side-by-side or top-bottom); for "
                f"a stereo pair of cameras write uvc://LEFT,RIGHT; got {uri!r}"
            )
        if len(cameras) == 2 and layout is not None:
            raise ParameterError("layout= is for one combined camera, not for uvc://LEFT,RIGHT")
        if len(cameras) not in (1, 2):
            raise ParameterError(f"uvc:// takes one or two cameras; got {len(cameras)}")
        self.cameras = cameras
        self.live = not all(c.is_file for c in cameras)
        policy = check_policy(drop or ("keep-newest" if self.live else "keep-all"))
        self._layout, self._rectified, self._rig = layout, rectified, rig
        self._matcher = PairMatcher(tolerance)
        self._threads = [CaptureThread(c.grab, maxsize=queue, policy=policy,
                                       name=f"uvc {c.name}").start() for c in cameras]
        self._seq = 0
        self._ended = False

    def _frame(self, left, right, t: float) -> StereoFrame:
        f = StereoFrame(np.ascontiguousarray(left), np.ascontiguousarray(right), timestamp_s=t,
                        sequence=self._seq, rectified=self._rectified, rig=self._rig)
        self._seq += 1
        return f

    def _read(self, timeout: float):
        if self._ended:
            return None
        deadline = time.monotonic() + timeout
        if len(self.cameras) == 1:
            item = self._threads[0].get(timeout)
            if item is None:
                self._ended = True
                return None
            t, img = item
            left, right = split_views(img, self._layout)
            return self._frame(left, right, t)
        m = self._matcher
        while True:
            pair = m.pop()
            if pair is not None:
                tl, li, tr, ri = pair
                return self._frame(li, ri, tl)
            side = m.pending_needs()
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                cam = self.cameras[side].name
                raise SourceTimeoutError(
                    f"no matched stereo pair within {timeout:g} s from {self.uri!r}: waiting "
                    f"for camera {cam} ({m.dropped} unmatched frame(s) dropped; is it "
                    f"stalled, or is tolerance={m.tolerance:g} s too tight?)"
                )
            try:
                item = self._threads[side].get(left_s)
            except SourceTimeoutError:
                continue                          # the deadline check above raises
            if item is None:                      # one stream ended: no more pairs
                m.flush()
                self._ended = True
                return None
            m.push(side, *item)

    @property
    def rig(self):
        return self._rig

    @property
    def _dropped_total(self) -> int:
        return self._matcher.dropped + sum(t.dropped for t in self._threads)

    def info(self):
        info = super().info()
        info.dropped = self._dropped_total
        return info

    def _extra_info(self) -> dict:
        return {"cameras": [c.name for c in self.cameras],
                "unmatched": self._matcher.dropped,
                "queue_dropped": sum(t.dropped for t in self._threads),
                "policy": self._threads[0].policy, "tolerance_s": self._matcher.tolerance}

    def _close(self) -> None:
        for t in self._threads:
            t.stop()
        for c in self.cameras:
            c.release()


def _fourcc(v: str) -> str:
    if len(v) != 4:
        raise ValueError("a FOURCC has 4 characters, e.g. MJPG or YUYV")
    return v


def _open(parsed: ParsedURI) -> UVCSource:
    p = parsed.params(
        {"width": positive_int, "height": positive_int, "fps": positive_float, "exposure": float,
         "fourcc": _fourcc, "tolerance": positive_float, "queue": positive_int,
         "drop": check_policy, "layout": check_layout, "rectified": parse_bool, "gray": parse_bool,
         "open_timeout": positive_float, "rig": load_rig_param},
        {"rectified": False, "gray": False, "queue": 2, "open_timeout": 10.0},
    )
    targets = [t for t in parsed.target.split(",")] if parsed.target else ["0"]
    if not all(targets):
        raise ParameterError(f"uvc://: empty camera name in {parsed.uri!r}")
    cams: list[Camera] = []
    try:
        for t in targets:
            cap, is_file = _open_capture(os.path.expanduser(t), p["open_timeout"])
            cams.append(Camera(cap, t, is_file=is_file, gray=p["gray"]))
            _configure(cap, t, p)
    except BaseException:
        for c in cams:
            c.release()
        raise
    tol = p.get("tolerance")
    if tol is None:
        import cv2

        fps = p.get("fps") or max(c.cap.get(cv2.CAP_PROP_FPS) for c in cams)
        tol = 0.5 / fps if fps and fps > 0 else 0.015
    try:
        return UVCSource(parsed.uri, cams, layout=p.get("layout"), tolerance=tol,
                         queue=p["queue"], drop=p.get("drop"), rectified=p["rectified"],
                         rig=p.get("rig"))
    except BaseException:
        for c in cams:
            c.release()
        raise


register("uvc", _open)
