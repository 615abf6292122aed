"""video:// and uvc:// on video files written here (OpenCV opens files where devices go)."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

import depthkit as dk
from depthkit.errors import (
    DeviceDisconnectedError,
    DeviceError,
    FileFormatError,
    ParameterError,
    ShapeError,
    SourceError,
    SourceTimeoutError,
)
from depthkit.sources.uvc import Camera, PairMatcher, UVCSource
from depthkit.sources.video import split_views

H, W = 16, 24


def _write(path, frames, fps):
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (w, h))
    assert vw.isOpened()
    for f in frames:
        vw.write(f)
    vw.release()
    return path


def _view(value):
    """A BGR image whose channels differ, so RGB conversion is checked too."""
    img = np.empty((H, W, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = value, 7, 200   # B, G, R
    return img


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    sbs = [np.hstack([_view(10 * i), _view(10 * i + 5)]) for i in range(6)]
    tb = [np.vstack([_view(10 * i), _view(10 * i + 5)]) for i in range(6)]
    return {
        "sbs": _write(d / "sbs.avi", sbs, 10),
        "tb": _write(d / "tb.avi", tb, 10),
        "left": _write(d / "left.avi", [_view(10 * i) for i in range(6)], 10),
        "right": _write(d / "right.avi", [_view(5 * i) for i in range(12)], 20),
        "dir": d,
    }


@pytest.mark.parametrize("layout", ["side-by-side", "top-bottom"])
def test_video_layouts(videos, layout):
    key = "sbs" if layout == "side-by-side" else "tb"
    with dk.open(f"video://{videos[key]}?layout={layout}&rectified=1") as src:
        frames = list(src)
    assert len(frames) == 6
    for i, f in enumerate(frames):
        assert f.left.shape == (H, W, 3) and f.rectified and f.sequence == i
        assert f.timestamp_s == pytest.approx(0.1 * i, abs=1e-6)
        assert tuple(f.left[3, 3]) == (200, 7, 10 * i)          # RGB of the BGR written
        assert tuple(f.right[3, 3]) == (200, 7, 10 * i + 5)


def test_video_errors(videos, tmp_path):
    with pytest.raises(ParameterError, match="needs the frame layout"):
        dk.open(f"video://{videos['sbs']}")
    with pytest.raises(ParameterError, match="layout must be one of"):
        dk.open(f"video://{videos['sbs']}?layout=diagonal")
    with pytest.raises(FileFormatError, match="video file not found: .*nope.avi"):
        dk.open(f"video://{tmp_path}/nope.avi?layout=side-by-side")
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"garbage" * 50)
    with pytest.raises(FileFormatError, match="cannot open video file .*bad.avi"):
        dk.open(f"video://{bad}?layout=side-by-side")
    with pytest.raises(ShapeError, match="even width"):
        split_views(np.zeros((4, 5)), "side-by-side")
    with pytest.raises(ShapeError, match="even height"):
        split_views(np.zeros((5, 4)), "top-bottom")
    with pytest.raises(ParameterError, match="layout must be one of"):
        split_views(np.zeros((4, 4)), "stacked")


def test_uvc_pairs_by_nearest_timestamp(videos):
    # left at 10 fps (0, 0.1, ...), right at 20 fps (0, 0.05, 0.1, ...): every left frame has an
    # exact partner; the right frames in between cannot be paired and are dropped.
    with dk.open(f"uvc://{videos['left']},{videos['right']}?tolerance=0.01") as src:
        assert not src.live
        frames = list(src)
        info = src.info()
    assert len(frames) == 6
    for i, f in enumerate(frames):
        assert f.timestamp_s == pytest.approx(0.1 * i, abs=1e-6)
        assert f.left[0, 0, 2] == 10 * i and f.right[0, 0, 2] == 10 * i   # B channel
    assert info.dropped == 5 and info.extra["unmatched"] == 5
    assert info.extra["policy"] == "keep-all"


def test_uvc_combined_camera(videos):
    with dk.open(f"uvc://{videos['sbs']}?layout=side-by-side&gray=1") as src:
        frames = list(src)
    assert len(frames) == 6 and frames[2].left.shape == (H, W)


def test_pair_matcher_prefers_the_nearest():
    m = PairMatcher(0.02)
    m.push(0, 1.000, "l0")
    m.push(1, 0.985, "r0")
    m.push(1, 0.998, "r1")
    assert m.pop()[1::2] == ("l0", "r1")
    assert m.dropped == 1
    m.push(0, 2.0, "l1")
    m.push(1, 1.5, "r2")
    assert m.pop() is None and m.dropped == 2         # r2 is too old for any later left frame
    m.flush()
    assert m.dropped == 3
    with pytest.raises(ParameterError, match="tolerance must be > 0"):
        PairMatcher(0)


def test_uvc_missing_device_fails_fast():
    t0 = time.monotonic()
    with pytest.raises(DeviceError, match="no camera at '7'"):
        dk.open("uvc://7,8")
    assert time.monotonic() - t0 < 10
    with pytest.raises(DeviceError, match="neither a camera"):
        dk.open("uvc://not-a-camera")


def test_uvc_unsupported_mode_and_parameters(videos):
    with pytest.raises(DeviceError, match="unsupported stream mode .* asked for 640x480"):
        dk.open(f"uvc://{videos['sbs']}?layout=side-by-side&width=640&height=480")
    with pytest.raises(DeviceError, match="asked for 60 fps"):
        dk.open(f"uvc://{videos['sbs']}?layout=side-by-side&fps=60")
    with pytest.raises(ParameterError, match="one camera needs a layout"):
        dk.open(f"uvc://{videos['sbs']}")
    with pytest.raises(ParameterError, match="layout= is for one combined camera"):
        dk.open(f"uvc://{videos['left']},{videos['right']}?layout=side-by-side")
    with pytest.raises(ParameterError, match="bad value fourcc"):
        dk.open(f"uvc://{videos['sbs']}?layout=side-by-side&fourcc=MJPEG")
    with pytest.raises(ParameterError, match="empty camera name"):
        dk.open(f"uvc://{videos['left']},")
    with pytest.raises(ParameterError, match="one or two cameras"):
        UVCSource("uvc://a,b,c", [None, None, None])


class _UnpluggedCam:
    """A device capture that delivers a few frames and then nothing (cable pulled)."""

    def __init__(self, n):
        self.n = n

    def grab(self):
        self.n -= 1
        return self.n >= 0

    def retrieve(self):
        return True, np.zeros((H, 2 * W, 3), np.uint8)

    def get(self, prop):
        return 0.0

    def release(self):
        pass


def test_uvc_unplugged_mid_stream():
    cam = Camera(_UnpluggedCam(3), "fake0", is_file=False, lost_after=0.2)
    with UVCSource("uvc://fake0?layout=side-by-side", [cam], layout="side-by-side",
                   queue=4) as src:
        assert src.live
        for _ in range(3):
            assert src.read(1.0).left.shape == (H, W, 3)
        t0 = time.monotonic()
        with pytest.raises(DeviceDisconnectedError, match="fake0 stopped delivering frames"):
            src.read(5.0)
        assert time.monotonic() - t0 < 3.0


def test_more_uvc_and_video_errors(videos, tmp_path, monkeypatch):
    with pytest.raises(SourceError, match="needs a file path"):
        dk.open("video://?layout=side-by-side")
    with pytest.raises(DeviceError, match="does not accept exposure"):
        dk.open(f"uvc://{videos['sbs']}?layout=side-by-side&exposure=10")
    with pytest.raises(ParameterError, match="bad value queue"):
        dk.open(f"uvc://{videos['sbs']}?layout=side-by-side&queue=0")
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"garbage" * 50)
    with pytest.raises(DeviceError, match="cannot open video file .*bad.avi"):
        dk.open(f"uvc://{bad}?layout=side-by-side")

    def hang(*args):                      # a driver that never returns from open()
        time.sleep(3)
    monkeypatch.setattr(cv2, "VideoCapture", hang)
    t0 = time.monotonic()
    with pytest.raises(DeviceError, match="did not open within 0.2 s"):
        dk.open("uvc://3?layout=side-by-side&open_timeout=0.2")
    assert time.monotonic() - t0 < 2.0


class _SilentCam(_UnpluggedCam):
    def grab(self):
        return False


def test_uvc_stalled_camera_times_out():
    cams = [Camera(_UnpluggedCam(100), "a", lost_after=30), Camera(_SilentCam(0), "b",
                                                                   lost_after=30)]
    with UVCSource("uvc://a,b", cams, queue=2) as src:
        t0 = time.monotonic()
        with pytest.raises(SourceTimeoutError, match="no matched stereo pair within 0.3 s"):
            src.read(0.3)
        assert time.monotonic() - t0 < 2.0


def test_video_and_uvc_carry_a_rig(videos, tmp_path):
    from depthkit.calibration import save_rig

    rig = dk.StereoRig.rectified_pair(dk.Intrinsics(W, H, 20.0, 20.0, 11.5, 7.5), 0.07)
    save_rig(rig, tmp_path / "rig.yaml")
    for uri in (f"video://{videos['sbs']}?layout=side-by-side&rig={tmp_path}/rig.yaml",
                f"uvc://{videos['left']},{videos['right']}?rig={tmp_path}/rig.yaml"):
        with dk.open(uri) as src:
            f = src.read()
            assert src.rig.baseline_m == pytest.approx(0.07)
        assert f.rig.baseline_m == pytest.approx(0.07)


def test_uvc_default_tolerance_is_half_a_frame_period(videos):
    with dk.open(f"uvc://{videos['left']},{videos['right']}") as src:
        assert src.info().extra["tolerance_s"] == pytest.approx(0.5 / 20)   # the faster camera
        assert len(list(src)) == 6
