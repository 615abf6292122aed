"""Capture in a background thread with a bounded queue and a stated drop policy.

A camera must never wait for a slow consumer: the thread grabs frames as they come and puts them
in a queue of at most ``maxsize`` items.  When the queue is full the policy decides:

* ``"keep-newest"`` (live cameras): the oldest queued frame is discarded and counted as dropped,
  so the consumer always gets the freshest frames;
* ``"keep-all"`` (files, recordings): the thread waits for room, so nothing is ever dropped.

End of stream and errors raised by the grab function travel through the same queue, after the
frames grabbed before them, so nothing is lost or reordered and no wait is unbounded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from ..errors import ParameterError, SourceError, SourceTimeoutError
from .base import Source

__all__ = ["CaptureThread", "ThreadedSource", "threaded", "DROP_POLICIES"]

log = logging.getLogger(__name__)

DROP_POLICIES = ("keep-newest", "keep-all")

_END = object()


class _Failure:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException):
        self.exc = exc


def check_policy(policy: str) -> str:
    """Return `policy` if it is a known drop policy, else raise ParameterError."""
    if policy not in DROP_POLICIES:
        raise ParameterError(
            f"unknown drop policy {policy!r}; use one of {', '.join(DROP_POLICIES)}"
        )
    return policy


class CaptureThread:
    """Run ``grab()`` in a daemon thread and queue its results.

    Parameters
    ----------
    grab : callable
        Returns the next item, ``None`` at the end of the stream, or raises.  It should itself
        return within a bounded time (use a timeout on the device) so that :meth:`stop` is prompt.
        A :class:`~depthkit.errors.SourceTimeoutError` raised by `grab` is retried, not forwarded:
        the consumer's own ``get(timeout)`` decides when waiting is too long.
    maxsize : int
        Queue capacity (>= 1).
    policy : {"keep-newest", "keep-all"}
        What to do when the queue is full (see the module docstring).
    name : str
        Thread name, for logs.
    """

    def __init__(self, grab: Callable[[], object], *, maxsize: int = 4,
                 policy: str = "keep-newest", name: str = "depthkit-capture"):
        if int(maxsize) != maxsize or maxsize < 1:
            raise ParameterError(f"maxsize must be an integer >= 1; got {maxsize!r}")
        self._grab = grab
        self.maxsize = int(maxsize)
        self.policy = check_policy(policy)
        self._queue: deque = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._finished = False          # end or failure queued: nothing more will come
        self.produced = 0               # items grabbed
        self.dropped = 0                # items discarded because the queue was full
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> CaptureThread:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _put(self, item, *, control: bool = False) -> bool:
        with self._cond:
            if not control and self.policy == "keep-all":
                while len(self._queue) >= self.maxsize and not self._stop.is_set():
                    self._cond.wait(0.05)
                if self._stop.is_set():
                    return False
            elif not control and len(self._queue) >= self.maxsize:
                # keep-newest: discard the oldest *frame* (never a control marker)
                self._queue.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 100 == 0:
                    log.warning("%s: consumer too slow, %d frame(s) dropped so far",
                                self._thread.name, self.dropped)
            self._queue.append(item)
            if control:
                self._finished = True
            self._cond.notify_all()
            return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._grab()
            except SourceTimeoutError:
                continue
            except BaseException as exc:  # forwarded to the consumer, in order
                self._put(_Failure(exc), control=True)
                return
            if item is None:
                self._put(_END, control=True)
                return
            self.produced += 1
            if not self._put(item):
                return

    def get(self, timeout: float):
        """Next item, or ``None`` at the end of the stream.

        Raises :class:`~depthkit.errors.SourceTimeoutError` after `timeout` seconds without an
        item, and re-raises an error of the grab function once the items before it are consumed.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._queue:
                if self._stop.is_set():
                    raise SourceError("the capture thread was stopped")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SourceTimeoutError(
                        f"no frame arrived within {timeout:.3g} s from {self._thread.name} "
                        f"(is the device streaming? raise the timeout for slow sources)"
                    )
                self._cond.wait(left)
            item = self._queue[0]
            if item is _END:
                return None                       # stays queued: every later get() ends too
            if isinstance(item, _Failure):
                raise item.exc
            self._queue.popleft()
            self._cond.notify_all()
            return item

    def poll(self):
        """Next item if one is queued now, else ``None`` (end and errors are left queued)."""
        with self._cond:
            if not self._queue or self._queue[0] is _END or isinstance(self._queue[0], _Failure):
                return None
            item = self._queue.popleft()
            self._cond.notify_all()
            return item

    @property
    def ended(self) -> bool:
        """True when the end of the stream (or an error) is next in the queue."""
        with self._cond:
            return bool(self._queue) and (self._queue[0] is _END
                                          or isinstance(self._queue[0], _Failure))

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the thread to finish and wait up to `timeout` seconds for it."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%s did not stop within %g s (a device call is hanging); "
                            "it is a daemon thread and will not keep the process alive",
                            self._thread.name, timeout)


class ThreadedSource(Source):
    """Any :class:`Source` read ahead in a background thread (see :func:`threaded`)."""

    def __init__(self, inner: Source, *, maxsize: int = 4, policy: str = "keep-newest",
                 grab_timeout: float = 1.0):
        super().__init__(inner.uri)
        self.inner = inner
        self.kind = inner.kind
        self.live = inner.live
        self._grab_timeout = float(grab_timeout)
        self._thread = CaptureThread(self._grab, maxsize=maxsize, policy=policy,
                                     name=f"capture {inner.uri}").start()

    def _grab(self):
        return self.inner.read(timeout=self._grab_timeout)

    def _read(self, timeout: float):
        return self._thread.get(timeout)

    @property
    def rig(self):
        return self.inner.rig

    @property
    def intrinsics(self):
        return self.inner.intrinsics

    def info(self):
        info = super().info()
        info.dropped = self._thread.dropped + self.inner.info().dropped
        return info

    def _extra_info(self) -> dict:
        extra = dict(self.inner.info().extra or {})
        extra.update(queue_size=self._thread.maxsize, policy=self._thread.policy,
                     queue_dropped=self._thread.dropped, grabbed=self._thread.produced)
        return extra

    def _close(self) -> None:
        self._thread.stop()
        self.inner.close()


def threaded(source: Source, *, maxsize: int = 4, policy: str = "keep-newest") -> ThreadedSource:
    """Read `source` ahead in a thread with a bounded queue.

    Parameters
    ----------
    source : Source
        Any opened source (it is closed with the returned one).
    maxsize : int
        Frames held at most.
    policy : {"keep-newest", "keep-all"}
        ``"keep-newest"`` drops the oldest queued frame when the consumer is slow (counted in
        ``info().dropped``); ``"keep-all"`` pauses reading instead and never drops.

    Examples
    --------
    >>> import depthkit as dk
    >>> src = threaded(dk.open("files://left*.png,right*.png"), policy="keep-all")  # doctest: +SKIP
    """
    return ThreadedSource(source, maxsize=maxsize, policy=policy)
