"""The one face every frame source shows: ``dk.open(uri)`` returns a :class:`Source`.

A source is a context manager and an iterator of frames (``StereoFrame``, ``DepthFrame`` or
``RGBDFrame``).  Schemes register an opener with :func:`register`; ``open`` parses the URI and
dispatches.  Query parameters are validated by each opener against the names it allows.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import ParameterError, SourceError, SourceTimeoutError
from ..types import Intrinsics, StereoRig

__all__ = ["Source", "SourceInfo", "ParsedURI", "open", "register", "schemes", "parse_uri"]


@dataclass
class SourceInfo:
    """Counters and description of a running source."""

    uri: str
    kind: str                       # "stereo", "depth", "rgbd", "tof", "structured-light"
    frames: int = 0                 # frames delivered to the caller
    dropped: int = 0                # frames lost (queue overflow, unmatched pairs, ...)
    live: bool = False              # a device (True) or a file/dataset/simulation (False)
    extra: dict | None = None


class Source(ABC):
    """Base class of all frame sources.

    Subclasses implement :meth:`_read` (return the next frame or ``None`` at the end) and
    optionally :meth:`_close`.  ``read(timeout)`` never blocks longer than `timeout` seconds.
    """

    kind: str = "stereo"
    live: bool = False

    def __init__(self, uri: str = ""):
        self.uri = uri
        self._frames = 0
        self._dropped = 0
        self._closed = False
        self._lock = threading.Lock()

    # --- what subclasses provide -------------------------------------------------------
    @abstractmethod
    def _read(self, timeout: float):
        """Return the next frame, ``None`` at the end of the stream; raise on errors."""

    def _close(self) -> None:  # noqa: B027 - optional hook, most sources hold nothing
        """Release devices and files."""

    @property
    def rig(self) -> StereoRig | None:
        """Calibration of a stereo source (``None`` if unknown)."""
        return None

    @property
    def intrinsics(self) -> Intrinsics | None:
        """Intrinsics of the depth/colour stream of a depth source (``None`` if unknown)."""
        rig = self.rig
        if rig is not None and rig.is_rectified:
            return rig.rectified_intrinsics
        return None

    # --- the public face ------------------------------------------------------------------
    def read(self, timeout: float = 5.0):
        """Return the next frame, or ``None`` when the stream has ended.

        Raises :class:`~depthkit.errors.SourceTimeoutError` if no frame came within `timeout`
        seconds, and :class:`~depthkit.errors.SourceError` if the source is closed or broken.
        """
        if self._closed:
            raise SourceError(f"source {self.uri!r} is closed")
        if timeout is None or timeout <= 0:
            raise ParameterError(f"timeout must be > 0 seconds; got {timeout!r}")
        frame = self._read(float(timeout))
        if frame is not None:
            self._frames += 1
        return frame

    @property
    def seekable(self) -> bool:
        """True if frames can be read by index (files, datasets, recordings, the simulator),
        which lets a cluster's workers read their own frames (see ``depthkit.batch``)."""
        return type(self)._frame_at is not Source._frame_at

    def read_at(self, index: int):
        """Frame number `index` (0-based) of a seekable source; does not move :meth:`read`."""
        if not self.seekable:
            raise SourceError(f"{self.uri!r} cannot be read by frame index (a stream, not a file)")
        n = len(self)
        if int(index) != index or not 0 <= index < n:
            raise ParameterError(f"frame index {index!r} is outside 0..{n - 1} of {self.uri!r}")
        return self._frame_at(int(index))

    def _frame_at(self, index: int):
        """Seekable sources return frame `index` here (and define ``__len__``)."""
        raise NotImplementedError

    def count_dropped(self, n: int = 1) -> None:
        with self._lock:
            self._dropped += n

    def info(self) -> SourceInfo:
        """Counters (frames delivered, frames dropped) and source-specific details."""
        return SourceInfo(uri=self.uri, kind=self.kind, frames=self._frames,
                          dropped=self._dropped, live=self.live, extra=self._extra_info())

    def _extra_info(self) -> dict | None:
        """Source-specific details for :meth:`info` (serial, stream modes, queue policy, ...)."""
        return None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __iter__(self) -> Iterator:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.uri!r}>"


@dataclass(frozen=True)
class ParsedURI:
    """``scheme://target?query`` split up; ``target`` is the netloc + path, unquoted."""

    uri: str
    scheme: str
    target: str
    query: dict[str, str]

    def params(self, allowed: dict[str, Callable[[str], object]], defaults: dict | None = None):
        """Convert the query with `allowed` (name -> converter); unknown names raise."""
        unknown = sorted(set(self.query) - set(allowed))
        if unknown:
            raise ParameterError(
                f"unknown parameter(s) {', '.join(unknown)} in {self.uri!r}; "
                f"{self.scheme}:// accepts: {', '.join(sorted(allowed)) or 'none'}"
            )
        out = dict(defaults or {})
        for k, v in self.query.items():
            try:
                out[k] = allowed[k](v)
            except (TypeError, ValueError) as exc:
                raise ParameterError(f"bad value {k}={v!r} in {self.uri!r}: {exc}") from exc
        return out


def parse_uri(uri: str) -> ParsedURI:
    """Split a source URI; a plain path is taken as ``files://`` of that path."""
    if not isinstance(uri, str) or not uri:
        raise ParameterError(f"a source URI must be a non-empty string; got {uri!r}")
    if "://" not in uri:
        raise ParameterError(
            f"{uri!r} is not a source URI; write scheme://target, e.g. "
            f"{', '.join(s + '://...' for s in schemes())}"
        )
    parts = urlsplit(uri)
    target = unquote(parts.netloc + parts.path)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return ParsedURI(uri, parts.scheme.lower(), target, query)


_OPENERS: dict[str, Callable[[ParsedURI], Source]] = {}
_BUILTIN_MODULES = ("sim", "files", "video", "uvc", "realsense", "datasets", "recording")


def register(scheme: str, opener: Callable[[ParsedURI], Source]) -> None:
    """Register `opener` for URIs of `scheme`."""
    _OPENERS[scheme.lower()] = opener


def _load_builtin() -> None:
    import importlib

    for name in _BUILTIN_MODULES:
        try:
            importlib.import_module(f"depthkit.sources.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"depthkit.sources.{name}":
                raise


def schemes() -> list[str]:
    """The URI schemes that can be opened."""
    _load_builtin()
    return sorted(_OPENERS)


def open(uri: str) -> Source:  # noqa: A001 - the public name is dk.open
    """Open a frame source by URI (``sim://stereo``, ``files://L*,R*``, ``realsense://``, ...)."""
    parsed = parse_uri(uri)
    _load_builtin()
    opener = _OPENERS.get(parsed.scheme)
    if opener is None:
        raise SourceError(
            f"unknown source scheme {parsed.scheme!r} in {uri!r}; known: "
            f"{', '.join(s + '://' for s in sorted(_OPENERS))}"
        )
    return opener(parsed)


def wait_until(deadline: float) -> float:
    """Seconds left until `deadline` (monotonic), raising SourceTimeoutError when passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise SourceTimeoutError("no frame arrived in time")
    return left


# --- converters for URI query values (used with ParsedURI.params) --------------------------
def parse_bool(value: str) -> bool:
    """``1/true/yes/on`` (or a bare ``?flag``) -> True, ``0/false/no/off`` -> False."""
    v = str(value).strip().lower()
    if v in ("1", "true", "yes", "on", ""):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)``."""
    parts = str(text).lower().split("x")
    if len(parts) != 2:
        raise ValueError(f"size must be WIDTHxHEIGHT, e.g. 640x480; got {text!r}")
    return int(parts[0]), int(parts[1])


def positive_int(text: str) -> int:
    i = int(text)
    if i <= 0:
        raise ValueError("must be a positive integer")
    return i


def positive_float(text: str) -> float:
    f = float(text)
    if not f > 0:
        raise ValueError("must be > 0")
    return f


def nonneg_float(text: str) -> float:
    f = float(text)
    if not f >= 0:
        raise ValueError("must be >= 0")
    return f
