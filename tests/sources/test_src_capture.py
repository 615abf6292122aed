"""Capture thread, bounded queue and drop policies."""

from __future__ import annotations

import time

import numpy as np
import pytest

import depthkit as dk
from depthkit.errors import DeviceDisconnectedError, ParameterError, SourceError, SourceTimeoutError
from depthkit.sources import CaptureThread, Source, threaded


def _counter(n, fail_after=None, exc=None):
    state = {"i": 0}

    def grab():
        i = state["i"]
        if fail_after is not None and i == fail_after:
            raise exc
        if i >= n:
            return None
        state["i"] += 1
        return i
    return grab


def _wait_finished(th, limit=5.0):
    t0 = time.monotonic()
    while th.running and time.monotonic() - t0 < limit:
        time.sleep(0.005)
    assert not th.running


def test_keep_newest_drops_oldest_and_counts():
    th = CaptureThread(_counter(10), maxsize=3, policy="keep-newest").start()
    _wait_finished(th)                      # consumer "too slow": reads only after the end
    got = [th.get(1.0) for _ in range(3)]
    assert got == [7, 8, 9]                 # the newest frames survive
    assert th.get(1.0) is None and th.get(1.0) is None   # end stays the end
    assert th.dropped == 7 and th.produced == 10


def test_keep_all_never_drops_under_slow_consumer():
    th = CaptureThread(_counter(12), maxsize=2, policy="keep-all").start()
    got = []
    while (x := th.get(2.0)) is not None:
        got.append(x)
        time.sleep(0.005)
    assert got == list(range(12))
    assert th.dropped == 0


def test_error_is_delivered_after_queued_frames():
    th = CaptureThread(_counter(10, fail_after=3, exc=DeviceDisconnectedError("unplugged")),
                       maxsize=8, policy="keep-all").start()
    assert [th.get(1.0) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(DeviceDisconnectedError, match="unplugged"):
        th.get(1.0)


def test_get_times_out_in_bounded_time():
    def grab():                              # a camera that never delivers
        time.sleep(0.01)
        raise SourceTimeoutError("nothing")
    th = CaptureThread(grab, maxsize=2).start()
    t0 = time.monotonic()
    with pytest.raises(SourceTimeoutError, match="no frame arrived within 0.1 s"):
        th.get(0.1)
    assert time.monotonic() - t0 < 2.0
    th.stop()
    assert not th.running
    with pytest.raises(SourceError, match="stopped"):
        th.get(0.1)


def test_bad_parameters():
    with pytest.raises(ParameterError, match="unknown drop policy"):
        CaptureThread(lambda: None, policy="keep-oldest")
    with pytest.raises(ParameterError, match="maxsize"):
        CaptureThread(lambda: None, maxsize=0)


class _Fake(Source):
    kind = "stereo"

    def __init__(self, n):
        super().__init__("fake://")
        self.n, self.i = n, 0

    def _read(self, timeout):
        if self.i >= self.n:
            return None
        img = np.full((4, 6), self.i, np.uint8)
        f = dk.StereoFrame(img, img, sequence=self.i)
        self.i += 1
        return f


def test_threaded_source_reports_drops():
    src = threaded(_Fake(20), maxsize=2, policy="keep-newest")
    _wait_finished(src._thread)
    seqs = [f.sequence for f in src]
    assert seqs == [18, 19]
    info = src.info()
    assert info.frames == 2 and info.dropped == 18
    assert info.extra["policy"] == "keep-newest" and info.extra["queue_size"] == 2
    src.close()
    with pytest.raises(SourceError, match="closed"):
        src.read()


def test_threaded_keep_all_delivers_everything():
    with threaded(_Fake(15), maxsize=1, policy="keep-all") as src:
        seqs = []
        for f in src:
            seqs.append(f.sequence)
            time.sleep(0.002)
        assert seqs == list(range(15))
        assert src.info().dropped == 0


def test_read_timeout_must_be_positive():
    with pytest.raises(ParameterError, match="timeout must be > 0"):
        _Fake(1).read(timeout=0)


def test_unknown_scheme_and_bad_uri():
    with pytest.raises(SourceError, match="unknown source scheme 'nope'"):
        dk.open("nope://x")
    with pytest.raises(ParameterError, match="not a source URI"):
        dk.open("just/a/path.png")


def test_import_stays_light(repo_root):
    import subprocess
    import sys

    code = ("import depthkit.sources as s, sys; s.schemes(); "
            "assert 'pyrealsense2' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo_root, timeout=120)
