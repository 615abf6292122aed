"""``realsense://[SERIAL]`` (a live Intel RealSense) and ``realsense://PATH.bag|.db3`` (playback).

What a read returns depends on the streams:

* ``streams`` with ``ir`` (infrared 1 and 2): a rectified :class:`~depthkit.types.StereoFrame`
  whose rig comes from the infrared intrinsics and the IR1 -> IR2 extrinsics (the pair SGM
  wants);
* ``depth`` and ``color``: an :class:`~depthkit.types.RGBDFrame`, colour mapped onto the depth
  camera (``align=depth``, the default) or depth mapped onto the colour camera (``align=color``);
* ``depth`` alone: a :class:`~depthkit.types.DepthFrame`.

Depth is converted from z16 to float32 metres with the device's depth scale (0 -> NaN).  Every
stream of the latest frame set is also kept in :attr:`RealSenseSource.last_streams` (``ir1``,
``ir2``, ``depth``, ``color``, their ``*_intrinsics``, and ``color_raw``/``depth_raw`` before
registration), so a stereo source still gives the camera's own depth.  Registration is done in
numpy from the intrinsics and extrinsics (lens distortion ignored; it agrees with
librealsense's ``rs.align`` to a few millimetres).

Query parameters: ``streams`` (comma list of ``ir``, ``depth``, ``color``; live default
``ir,depth``, playback default: all the file holds), ``width``, ``height``, ``fps`` (live),
``align`` (``depth`` or ``color``), ``filters`` (comma list, applied in librealsense's
recommended order: ``decimation``, ``spatial``, ``temporal``, ``hole_filling``), ``queue``
(frame sets held, default 4), ``drop`` (live: ``keep-newest`` (default) or ``keep-all``),
``record`` (live: also write a ``.db3`` recording with librealsense's recorder), ``lost_after``
(live: seconds without frames before :class:`~depthkit.errors.DeviceDisconnectedError`,
default 5).

Live: librealsense's pipeline is read by a capture thread (host-side conversion happens there,
not in the caller's loop).  A frame set is delivered when every stream has a new frame; frames
replaced before their set completed, sets dropped by the queue, and gaps in the hardware frame
numbers are all counted in ``info().dropped``.  An unplugged camera raises
:class:`~depthkit.errors.DeviceDisconnectedError` at the next read.

Playback runs with real time off and one reader per sensor, throttled by our callbacks, so no
frame is dropped however slow the consumer is.  Every frame of the anchor stream (``ir1``, else
``depth``) is delivered once, in order, with the frame of each other stream nearest in time.

pyrealsense2 is imported only when such a source is opened.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from pathlib import Path

import numpy as np

from .._optional import require
from ..errors import (
    DeviceDisconnectedError,
    DeviceError,
    FileFormatError,
    ParameterError,
    SourceError,
    SourceTimeoutError,
)
from ..types import DepthFrame, Intrinsics, RGBDFrame, StereoFrame, StereoRig
from .base import ParsedURI, Source, positive_float, positive_int, register
from .capture import CaptureThread, check_policy

__all__ = ["RealSenseSource", "list_devices", "intrinsics_from_rs", "register_color_to_depth",
           "register_depth_to_color", "STREAMS", "FILTERS"]

log = logging.getLogger(__name__)

STREAMS = ("ir", "depth", "color")
FILTERS = ("decimation", "spatial", "temporal", "hole_filling")
_PLAYBACK_SUFFIXES = (".bag", ".db3")
_END = object()
_QUIET_S = 0.25       # playback: callbacks quiet this long after the reader's end = the end


def intrinsics_from_rs(i, rs) -> Intrinsics:
    """depthkit Intrinsics from a ``pyrealsense2.intrinsics``."""
    coeffs = tuple(float(c) for c in i.coeffs)
    brown = (rs.distortion.brown_conrady, rs.distortion.modified_brown_conrady,
             rs.distortion.inverse_brown_conrady)
    if not any(coeffs):
        dist: tuple = ()
    elif i.model in brown:
        dist = coeffs[:5]
    else:
        log.warning("RealSense distortion model %s has no OpenCV equivalent; ignored", i.model)
        dist = ()
    return Intrinsics(i.width, i.height, i.fx, i.fy, i.ppx, i.ppy, dist)


def _extrinsics(e) -> tuple[np.ndarray, np.ndarray]:
    # librealsense stores the rotation column-major
    R = np.asarray(e.rotation, np.float64).reshape(3, 3).T
    T = np.asarray(e.translation, np.float64)
    return R, T


def _info(obj, rs, key, default=""):
    try:
        return obj.get_info(getattr(rs.camera_info, key)) if obj.supports(
            getattr(rs.camera_info, key)) else default
    except RuntimeError:
        return default


_OPEN_SOURCES: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_open_sources() -> None:
    """Close what the program left open before the interpreter shuts down: librealsense
    threads that call into a finalising interpreter abort the process."""
    for src in list(_OPEN_SOURCES):
        try:
            src.close()
        except Exception as exc:  # noqa: BLE001 - best effort at exit
            log.debug("closing %r at exit: %s", src, exc)


def _connected_serials(rs) -> list[str]:
    return [_info(d, rs, "serial_number") for d in rs.context().query_devices()]


def list_devices() -> list[dict]:
    """Connected RealSense devices: serial, name, firmware, USB type and stream modes.

    Returns an empty list when none is connected (and raises MissingDependencyError when
    pyrealsense2 is not installed).
    """
    rs = require("pyrealsense2")
    out = []
    for dev in rs.context().query_devices():
        d = {"serial": _info(dev, rs, "serial_number"), "name": _info(dev, rs, "name"),
             "firmware": _info(dev, rs, "firmware_version"),
             "usb": _info(dev, rs, "usb_type_descriptor"), "sensors": {}}
        for s in dev.query_sensors():
            modes = set()
            for p in s.get_stream_profiles():
                if p.is_video_stream_profile():
                    v = p.as_video_stream_profile()
                    modes.add(f"{p.stream_name()} {v.width()}x{v.height()} "
                              f"{str(p.format()).split('.')[-1]} @{p.fps()}")
                else:
                    modes.add(f"{p.stream_name()} {str(p.format()).split('.')[-1]} @{p.fps()}")
            d["sensors"][_info(s, rs, "name", "sensor")] = sorted(modes)
        out.append(d)
    return out


def _pinhole(i: Intrinsics) -> tuple[float, float, float, float]:
    return float(i.fx), float(i.fy), float(i.cx), float(i.cy)


def _check_registration(depth_m, depth_intr, R, T):
    from .._checks import check_image, check_matrix

    check_image(depth_m, "depth_m", channels=(1,), dtypes=(np.float32,), allow_nan=True)
    depth_intr.check_image(depth_m, "depth_m")
    return (np.ascontiguousarray(depth_m), check_matrix(R, "R", (3, 3)),
            check_matrix(np.ravel(T), "T", (3,)))


def _warm_up_registration() -> None:
    i = Intrinsics(2, 2, 1.0, 1.0, 0.5, 0.5)
    d = np.ones((2, 2), np.float32)
    register_color_to_depth(d, i, np.zeros((2, 2, 3), np.uint8), i, np.eye(3), np.zeros(3))
    register_depth_to_color(d, i, i, np.eye(3), np.zeros(3))


def register_color_to_depth(depth_m: np.ndarray, depth_intr: Intrinsics, color: np.ndarray,
                            color_intr: Intrinsics, R: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Colour seen at every depth pixel (nearest colour pixel), as an image of the depth size.

    Parameters
    ----------
    depth_m : (H, W) float32 ndarray
        Depth in metres, NaN = none.
    depth_intr, color_intr : Intrinsics
        The two cameras (lens distortion is ignored: D400 streams are near-ideal pinholes).
    color : (Hc, Wc, C) ndarray
        The colour image.
    R, T : (3, 3) and (3,) arrays
        Depth-to-colour extrinsics, ``x_color = R @ x_depth + T`` (metres).

    Returns
    -------
    (H, W, C) ndarray of `color`'s dtype; 0 where there is no depth or the point is outside
    the colour image.
    """
    from ._kernels import sample_color

    depth_m, R, T = _check_registration(depth_m, depth_intr, R, T)
    color = np.ascontiguousarray(color if color.ndim == 3 else color[..., None])
    color_intr.check_image(color, "color")
    out = np.zeros(depth_m.shape + color.shape[2:], color.dtype)
    sample_color(depth_m, *_pinhole(depth_intr), R, T, *_pinhole(color_intr), color, out)
    return out


def register_depth_to_color(depth_m: np.ndarray, depth_intr: Intrinsics, color_intr: Intrinsics,
                            R: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Depth re-projected into the colour camera: (Hc, Wc) float32 z in the colour frame,
    metres, NaN where no depth lands.

    Each depth pixel covers a block as large as the resolution ratio (so upsampling leaves no
    holes), and the nearest surface wins where several land on one pixel.  Parameters as in
    :func:`register_color_to_depth`.
    """
    from ._kernels import splat_depth

    depth_m, R, T = _check_registration(depth_m, depth_intr, R, T)
    s = max(1, int(np.ceil(max(color_intr.fx / depth_intr.fx, color_intr.fy / depth_intr.fy))))
    out = np.full(color_intr.shape, np.inf, np.float32)
    splat_depth(depth_m, *_pinhole(depth_intr), R, T, *_pinhole(color_intr), s, out)
    out[np.isinf(out)] = np.nan
    return out


class RealSenseSource(Source):
    """A RealSense camera or recording (see the module docstring).

    Use :func:`depthkit.open` with ``realsense://`` URIs rather than this class directly.
    """

    def __init__(self, uri: str, *, path: str | None = None, serial: str | None = None,
                 streams: tuple[str, ...] | None = None, width: int | None = None,
                 height: int | None = None, fps: int | None = None, align: str | None = None,
                 filters: tuple[str, ...] = (), queue: int = 4, drop: str | None = None,
                 record: str | None = None, lost_after: float = 5.0):
        super().__init__(uri)
        self._pipe = None
        self._started = False
        self._thread: CaptureThread | None = None
        self._sensors: list = []
        self._players: list = []
        self._ended_all = False
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._sensor_states: list[dict] = []
        rs = self._rs = require("pyrealsense2")
        _OPEN_SOURCES.add(self)
        self.live = path is None
        self.last_streams: dict = {}
        self._lost_after = float(lost_after)
        try:
            if path is None:
                dev, profiles = self._start_live(serial, streams, width, height, fps, record)
            else:
                dev, profiles = self._load_playback(path)
            self._setup(rs, dev, profiles, path, streams, align, filters)
            if path is None:
                policy = check_policy(drop or "keep-newest")
                self._thread = CaptureThread(self._grab_live, maxsize=queue, policy=policy,
                                             name=f"realsense {self.serial}").start()
            else:
                if drop not in (None, "keep-all"):
                    raise ParameterError("playback never drops frames: drop= must be keep-all")
                self._start_playback(dev, path, queue)
        except BaseException:
            self._close()
            raise
        log.info("opened RealSense %s %s (%s)", self.model, self.serial or path,
                 ",".join(self.streams))

    # --- opening ---------------------------------------------------------------------------
    @staticmethod
    def _check_file(path: str) -> None:
        p = Path(path)
        if not p.is_file():
            raise FileFormatError(f"RealSense recording not found: {p}")
        with open(p, "rb") as f:
            head = f.read(16)
        ok = head.startswith(b"#ROSBAG V2.0") if p.suffix.lower() == ".bag" else \
            head.startswith(b"SQLite format 3")
        if not ok:
            raise FileFormatError(
                f"{p} is not a RealSense recording: a .bag must be a ROS bag v2 and a .db3 a "
                f"ROS 2 SQLite bag; the file starts with {head!r}"
            )

    def _find_device(self, serial: str | None) -> str:
        rs = self._rs
        serials = _connected_serials(rs)
        if not serials:
            raise DeviceError(
                "no RealSense device connected (check the USB 3 cable and udev rules; "
                "`depthkit devices` lists what is seen)"
            )
        if serial is None:
            return serials[0]
        if serial not in serials:
            raise DeviceError(f"no RealSense with serial {serial}; connected: {', '.join(serials)}")
        return serial

    def _start_live(self, serial, streams, width, height, fps, record):
        rs = self._rs
        serial = self._find_device(serial)
        cfg = rs.config()
        cfg.enable_device(serial)
        wanted = streams or ("ir", "depth")
        w, h, f = width or 0, height or 0, fps or 0
        if "ir" in wanted:
            cfg.enable_stream(rs.stream.infrared, 1, w, h, rs.format.y8, f)
            cfg.enable_stream(rs.stream.infrared, 2, w, h, rs.format.y8, f)
        if "depth" in wanted:
            cfg.enable_stream(rs.stream.depth, w, h, rs.format.z16, f)
        if "color" in wanted:
            cfg.enable_stream(rs.stream.color, w, h, rs.format.rgb8, f)
        self._pipe = rs.pipeline()
        if not cfg.can_resolve(rs.pipeline_wrapper(self._pipe)):
            raise DeviceError(
                f"unsupported stream mode for RealSense {serial}: streams {','.join(wanted)} "
                f"at {w or 'any'}x{h or 'any'} @{f or 'any'} fps. Supported modes are listed "
                "by `depthkit devices --modes`."
            )
        if record:
            cfg.enable_record_to_file(record)
        try:
            profile = self._pipe.start(cfg)
        except RuntimeError as exc:
            raise DeviceError(f"cannot start RealSense {serial}: {exc}") from exc
        self._started = True
        return profile.get_device(), list(profile.get_streams())

    def _load_device(self, path: str):
        try:
            return self._rs.context().load_device(path)
        except RuntimeError as exc:
            raise FileFormatError(f"cannot read RealSense recording {path}: {exc}") from exc

    def _load_playback(self, path: str):
        self._check_file(path)
        dev = self._load_device(path)
        try:
            profiles = [p for s in dev.query_sensors() for p in s.get_stream_profiles()]
        except RuntimeError as exc:
            raise FileFormatError(f"cannot read RealSense recording {path}: {exc}") from exc
        return dev, profiles

    def _setup(self, rs, dev, stream_profiles, path, streams, align, filters) -> None:
        self.serial = _info(dev, rs, "serial_number")
        self.model = _info(dev, rs, "name")
        profiles = {}
        for p in stream_profiles:
            key = self._key_of(p)
            if key is not None and key not in profiles:
                profiles[key] = p
        self._profiles = profiles
        have = [s for s in STREAMS if (s == "ir" and {"ir1", "ir2"} <= set(profiles))
                or s in profiles]
        wanted = tuple(streams) if streams else tuple(have)
        missing = [s for s in wanted if s not in have]
        if missing:
            where = f"recording {path}" if path else f"RealSense {self.serial}"
            raise DeviceError(
                f"unsupported stream mode: {where} has no {', '.join(missing)} stream(s); it "
                f"has: {', '.join(have) or 'none'}"
            )
        if "ir" not in wanted and "depth" not in wanted:
            raise ParameterError(
                f"streams={','.join(wanted)}: a RealSense source needs 'ir' (stereo frames) or "
                "'depth' (depth frames); colour alone is not supported"
            )
        self.streams = wanted
        self._keys = (["ir1", "ir2"] if "ir" in wanted else []) + \
            [s for s in ("depth", "color") if s in wanted]
        self.kind = "stereo" if "ir" in wanted else ("rgbd" if "color" in wanted else "depth")
        if align is not None and not {"depth", "color"} <= set(wanted):
            raise ParameterError("align= needs both the depth and the color stream")
        if "decimation" in filters and "color" in wanted:
            raise ParameterError(
                "the decimation filter shrinks depth, so it cannot be registered with colour; "
                "drop 'decimation' or the color stream"
            )
        self._align_to = align or ("depth" if self.kind == "rgbd" else None)
        self._filters = self._make_filters(rs, filters)
        self.depth_scale = None
        if "depth" in profiles:
            try:
                self.depth_scale = float(dev.first_depth_sensor().get_depth_scale())
            except RuntimeError:
                self.depth_scale = None
        self._intr = {k: intrinsics_from_rs(p.as_video_stream_profile().get_intrinsics(), rs)
                      for k, p in profiles.items()}
        self._d2c = None
        if {"depth", "color"} <= set(wanted):
            self._d2c = _extrinsics(profiles["depth"].get_extrinsics_to(profiles["color"]))
            if self._intr["color"].distortion and self._align_to:
                log.info("colour distortion is ignored when registering depth and colour")
        if self._align_to is not None:
            _warm_up_registration()        # compile now, not while the first frame waits
        self._rig = None
        if "ir" in wanted:
            R, T = _extrinsics(profiles["ir1"].get_extrinsics_to(profiles["ir2"]))
            left, right = self._intr["ir1"], self._intr["ir2"]
            if (not left.distortion and left == right and np.allclose(R, np.eye(3), atol=1e-6)
                    and abs(T[1]) < 1e-6 and abs(T[2]) < 1e-6 and T[0] < 0):
                self._rig = StereoRig.rectified_pair(left, -T[0])
            else:
                self._rig = StereoRig(left, right, R, T)
        self._latest: dict = {}
        self._fresh: set = set()
        self._seen: dict = {}
        self._superseded = 0
        self._gaps = 0
        self._seq = 0
        self._last_ok = time.monotonic()

    @staticmethod
    def _make_filters(rs, names) -> list:
        out = []
        if "decimation" in names:
            out.append(rs.decimation_filter())
        if "spatial" in names or "temporal" in names:
            out.append(rs.disparity_transform(True))
            if "spatial" in names:
                out.append(rs.spatial_filter())
            if "temporal" in names:
                out.append(rs.temporal_filter())
            out.append(rs.disparity_transform(False))
        if "hole_filling" in names:
            out.append(rs.hole_filling_filter())
        return out

    # --- frames -> numpy ---------------------------------------------------------------------
    def _key_of(self, p):
        rs = self._rs
        st = p.stream_type()
        if st == rs.stream.depth:
            return "depth"
        if st == rs.stream.color:
            return "color"
        if st == rs.stream.infrared:
            return f"ir{p.stream_index() or 1}"
        return None

    def _piece(self, key: str, f) -> dict:
        """Copy one librealsense frame into numpy (releasing its pool buffer at once)."""
        rs = self._rs
        piece = {"t": f.get_timestamp() / 1000.0}
        if key == "depth":
            for flt in self._filters:
                f = flt.process(f)
            raw = np.asanyarray(f.get_data())
            scale = self.depth_scale or f.as_depth_frame().get_units()
            depth = raw.astype(np.float32) * np.float32(scale)
            depth[raw == 0] = np.nan
            piece["image"] = depth
            piece["intr"] = intrinsics_from_rs(
                f.get_profile().as_video_stream_profile().get_intrinsics(), rs)
        elif key == "color":
            img = np.asanyarray(f.get_data())
            fmt = f.get_profile().format()
            if fmt == rs.format.bgr8:
                img = img[..., ::-1]
            elif fmt == rs.format.rgba8:
                img = img[..., :3]
            elif fmt == rs.format.bgra8:
                img = img[..., 2::-1]
            piece["image"] = np.array(img, copy=True, order="C")
            piece["intr"] = self._intr["color"]
        else:
            piece["image"] = np.array(np.asanyarray(f.get_data()), copy=True)
        return piece

    def _assemble(self, key: str, piece: dict):
        """Keep the newest frame of each stream; a set is complete when every stream has a new
        one.  A frame replaced before its set completed is counted as dropped."""
        with self._lock:
            if key in self._fresh:
                self._superseded += 1
            self._latest[key] = piece
            self._fresh.add(key)
            if not self._fresh.issuperset(self._keys):
                return None
            self._fresh.clear()
            return dict(self._latest)

    def _finish(self, pieces: dict) -> dict:
        out: dict = {}
        t = None
        if "ir1" in pieces:
            out["ir1"], out["ir2"] = pieces["ir1"]["image"], pieces["ir2"]["image"]
            t = pieces["ir1"]["t"]
        if "depth" in pieces:
            out["depth"] = pieces["depth"]["image"]
            out["depth_intrinsics"] = pieces["depth"]["intr"]
            t = pieces["depth"]["t"] if t is None else t
        if "color" in pieces:
            out["color"] = pieces["color"]["image"]
            out["color_intrinsics"] = pieces["color"]["intr"]
        if self._align_to == "depth":
            out["color_raw"] = out["color"]
            out["color"] = register_color_to_depth(out["depth"], out["depth_intrinsics"],
                                                   out["color"], out["color_intrinsics"],
                                                   *self._d2c)
        elif self._align_to == "color":
            out["depth_raw"] = out["depth"]
            out["depth"] = register_depth_to_color(out["depth"], out["depth_intrinsics"],
                                                   out["color_intrinsics"], *self._d2c)
            out["depth_intrinsics"] = out["color_intrinsics"]
        out["timestamp_s"] = t if t is not None else 0.0
        return out

    # --- live: a capture thread around the pipeline --------------------------------------------
    def _grab_live(self):
        ok, fs = self._pipe.try_wait_for_frames(100)
        if not ok:
            self._check_alive()
            raise SourceTimeoutError("waiting for the camera")
        self._last_ok = time.monotonic()
        done = None
        for f in fs:
            key = self._key_of(f.get_profile())
            if key not in self._keys:
                continue
            ident = (f.get_frame_number(), f.get_timestamp())
            if self._seen.get(key) == ident:        # the pipeline repeats frames in its sets
                continue
            if key == self._keys[0] and key in self._seen:
                gap = ident[0] - self._seen[key][0] - 1
                if gap > 0:                         # frames lost before they reached us
                    self._gaps += gap
                    log.warning("RealSense %s: %d %s frame(s) lost in the driver (frame %d "
                                "after %d)", self.serial, gap, key, ident[0], self._seen[key][0])
            self._seen[key] = ident
            done = self._assemble(key, self._piece(key, f)) or done
        if done is None:
            raise SourceTimeoutError("incomplete frame set")
        return self._finish(done)

    def _check_alive(self) -> None:
        if self.serial not in _connected_serials(self._rs):
            raise DeviceDisconnectedError(
                f"RealSense {self.serial} was disconnected in the middle of the stream "
                f"(after {self._seq} frame set(s)); reconnect it and open the source again"
            )
        if time.monotonic() - self._last_ok > self._lost_after:
            raise DeviceDisconnectedError(
                f"RealSense {self.serial} stopped delivering frames ({self._lost_after:g} s "
                "without a frame set); check the USB connection and power"
            )

    # --- playback: one reader per sensor, anchor-driven matching by timestamp ------------------
    #
    # librealsense plays a file from the moment the first sensor starts, so with several sensors
    # the frames read before the last one started are lost, and pausing or seeking to fix that
    # loses or repeats frames.  Each sensor therefore gets its own playback device (its own
    # reader); with real time off a reader waits while our callback blocks on a full buffer, so
    # nothing is dropped.  Every frame of the anchor stream (ir1, else depth) is delivered once,
    # with the frame of each other stream nearest in time.
    def _start_playback(self, dev, path: str, queue: int) -> None:
        self._cond = threading.Condition()
        self._cap = max(queue, 8)
        self._buffers = {k: deque() for k in self._keys}
        self._key_state: dict[str, dict] = {}
        sensors = dev.query_sensors()
        groups = []
        for i, sensor in enumerate(sensors):
            keys = sorted({self._key_of(p) for p in sensor.get_stream_profiles()}
                          & set(self._keys))
            if keys:
                groups.append((i, keys))
        for n, (i, keys) in enumerate(groups):
            d = dev if n == 0 else self._load_device(path)
            pb = d.as_playback()
            pb.set_real_time(False)
            state = {"played": False, "stopped_at": None, "in_flight": 0,
                     "last_activity": time.monotonic()}
            for k in keys:
                self._key_state[k] = state
            pb.set_status_changed_callback(
                lambda status, st=state: self._on_status(status, st))
            sensor = d.query_sensors()[i]
            chosen = {k: self._profiles[k] for k in keys}
            profiles = []
            for p in sensor.get_stream_profiles():
                k = self._key_of(p)
                c = chosen.get(k)
                if c is not None and (p.format(), p.fps()) == (c.format(), c.fps()) and \
                        all(x.stream_type() != p.stream_type() or x.stream_index()
                            != p.stream_index() for x in profiles):
                    profiles.append(p)
            sensor.open(profiles)
            self._sensors.append(sensor)
            self._sensor_states.append(state)
            self._players.append((d, pb))
        for sensor, state in zip(self._sensors, self._sensor_states):
            sensor.start(lambda f, st=state: self._on_frame(f, st))

    def _on_frame(self, f, state: dict) -> None:
        with self._lock:
            state["in_flight"] += 1
            state["last_activity"] = time.monotonic()
        try:
            if self._closing.is_set():
                return
            key = self._key_of(f.get_profile())
            if key not in self._keys:
                return
            piece = self._piece(key, f)
            log.debug("playback %s: %s frame %d", self.uri, key, f.get_frame_number())
            with self._cond:
                buf = self._buffers[key]
                while len(buf) >= self._cap and not self._closing.is_set():
                    self._cond.wait(0.1)         # the reader waits for us: nothing is dropped
                buf.append(piece)
                self._cond.notify_all()
        except BaseException as exc:  # surfaced by read(), never lost in librealsense's thread
            self._error = exc
            with self._cond:
                self._cond.notify_all()
        finally:
            with self._lock:
                state["in_flight"] -= 1
                state["last_activity"] = time.monotonic()

    def _on_status(self, status, state: dict) -> None:
        rs = self._rs
        log.debug("playback %s: %s", self.uri, status)
        if status == rs.playback_status.playing:
            state["played"] = True
        elif status == rs.playback_status.stopped and state["played"]:
            state["stopped_at"] = time.monotonic()
        with self._cond:
            self._cond.notify_all()

    def _ended(self, key: str) -> bool:
        """The reader of `key` reached the end and every frame went through the callbacks.

        librealsense reports "stopped" at the end of the file but may still be handing the last
        frames to the callbacks, so the end also needs the callbacks quiet for ``_QUIET_S``."""
        state = self._key_state[key]
        if state["stopped_at"] is None:
            return False
        now = time.monotonic()
        with self._lock:
            return (state["in_flight"] == 0 and now - state["stopped_at"] > _QUIET_S
                    and now - state["last_activity"] > _QUIET_S)

    def _match(self):
        """Next matched set (dict of pieces), ``_END``, or None when more frames are needed.
        Called with ``self._cond`` held."""
        anchor = self._keys[0]
        A = self._buffers[anchor]
        if not A:
            return _END if self._ended(anchor) else None
        ta = A[0]["t"]
        chosen = {anchor: A[0]}
        for k in self._keys[1:]:
            B = self._buffers[k]
            while len(B) >= 2 and abs(B[1]["t"] - ta) <= abs(B[0]["t"] - ta):
                old = B.popleft()                # can no longer be the nearest frame
                if not old.get("used"):
                    self._superseded += 1
            if not B:
                if self._ended(k):
                    log.warning("playback %s: the %s stream has no frames", self.uri, k)
                    return _END
                return None
            if B[0]["t"] < ta and len(B) == 1 and not self._ended(k):
                return None                       # a nearer frame may still come
            chosen[k] = B[0]
        A.popleft()
        for piece in chosen.values():
            piece["used"] = True
        self._cond.notify_all()
        return chosen

    def _read_playback(self, timeout: float):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._error is not None:
                    raise self._error
                if self._ended_all:
                    return None
                got = self._match()
                if got is _END:
                    self._ended_all = True
                    self._superseded += sum(1 for b in self._buffers.values() for p in b
                                            if not p.get("used"))
                    return None
                if got is not None:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SourceTimeoutError(
                        f"no frame set from {self.uri!r} within {timeout:g} s")
                self._cond.wait(min(left, 0.05))
        return self._finish(got)

    # --- the Source face ----------------------------------------------------------------------
    def _read(self, timeout: float):
        s = self._thread.get(timeout) if self._thread is not None else \
            self._read_playback(timeout)
        if s is None:
            return None
        self.last_streams = s
        seq = self._seq
        self._seq += 1
        t = s["timestamp_s"]
        if self.kind == "stereo":
            return StereoFrame(s["ir1"], s["ir2"], timestamp_s=t, sequence=seq,
                               rectified=self._rig.is_rectified, rig=self._rig)
        intr = s["depth_intrinsics"]
        if self.kind == "rgbd":
            return RGBDFrame(s["depth"], intr, timestamp_s=t, sequence=seq, color=s["color"])
        return DepthFrame(s["depth"], intr, timestamp_s=t, sequence=seq)

    @property
    def rig(self):
        return self._rig

    @property
    def intrinsics(self):
        """Intrinsics of the frames' depth (after alignment), or of IR1 for stereo."""
        if self.kind == "stereo":
            return self._rig.rectified_intrinsics if self._rig.is_rectified else self._rig.left
        if self._align_to == "color":
            return self._intr["color"]
        return self._intr["depth"]

    @property
    def stream_intrinsics(self) -> dict[str, Intrinsics]:
        """Intrinsics of every stream as streamed (``ir1``, ``ir2``, ``depth``, ``color``)."""
        return dict(self._intr)

    def _dropped_count(self) -> int:
        q = self._thread.dropped if self._thread is not None else 0
        return q + getattr(self, "_superseded", 0) + getattr(self, "_gaps", 0)

    def info(self):
        info = super().info()
        info.dropped = self._dropped_count()
        return info

    def _extra_info(self) -> dict:
        return {"serial": getattr(self, "serial", None), "model": getattr(self, "model", None),
                "streams": list(getattr(self, "streams", ())),
                "depth_scale_m": getattr(self, "depth_scale", None),
                "align": getattr(self, "_align_to", None),
                "policy": self._thread.policy if self._thread else "keep-all",
                "queue_dropped": self._thread.dropped if self._thread else 0,
                "superseded": getattr(self, "_superseded", 0),
                "frame_number_gaps": getattr(self, "_gaps", 0)}

    def _close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.stop()
        if self._started:
            self._started = False
            try:
                self._pipe.stop()
            except RuntimeError as exc:
                log.debug("pipeline.stop: %s", exc)
        for sensor in self._sensors:
            for step in (sensor.stop, sensor.close):
                try:
                    step()
                except RuntimeError as exc:
                    log.debug("sensor %s: %s", step.__name__, exc)
        # destroy the playback devices now, while Python can still run their callbacks: a
        # librealsense thread calling into a finalising interpreter aborts the process
        self._sensors = []
        self._players = []
        self._profiles = {}
        self._pipe = None


def _csv(allowed):
    def conv(v: str) -> tuple[str, ...]:
        items = tuple(x.strip() for x in v.split(",") if x.strip())
        bad = [x for x in items if x not in allowed]
        if bad or not items:
            raise ValueError(f"use a comma list of {', '.join(allowed)}")
        return items
    return conv


def _record_path(v: str) -> str:
    if not v.lower().endswith(".db3"):
        raise ValueError("librealsense 2.59 records to ROS 2 .db3 files only; name it *.db3")
    return os.path.expanduser(v)


def _align(v: str) -> str:
    if v not in ("depth", "color"):
        raise ValueError("align must be depth or color")
    return v


def _open(parsed: ParsedURI) -> RealSenseSource:
    p = parsed.params(
        {"streams": _csv(STREAMS), "width": positive_int, "height": positive_int,
         "fps": positive_int, "align": _align, "filters": _csv(FILTERS), "queue": positive_int,
         "drop": check_policy, "record": _record_path, "lost_after": positive_float},
        {"filters": (), "queue": 4},
    )
    target = parsed.target
    if target.lower().endswith(_PLAYBACK_SUFFIXES):
        for live_only in ("width", "height", "fps", "record", "lost_after"):
            if live_only in p:
                raise ParameterError(f"{live_only}= applies to live cameras, not to playback "
                                     f"of {target}")
        return RealSenseSource(parsed.uri, path=os.path.expanduser(target), **p)
    if "/" in target or "." in target:
        raise SourceError(
            f"realsense://{target}: not a serial number and not a .bag/.db3 recording path"
        )
    return RealSenseSource(parsed.uri, serial=target or None, **p)


register("realsense", _open)
