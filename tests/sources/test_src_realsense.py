"""realsense:// on the librealsense test bag and on recordings written here with
pyrealsense2's software_device + recorder (no camera needed)."""

from __future__ import annotations

import time

import numpy as np
import pytest

import depthkit as dk
from depthkit.errors import (
    DeviceDisconnectedError,
    DeviceError,
    FileFormatError,
    ParameterError,
    SourceError,
)

rs = pytest.importorskip("pyrealsense2")

N = 32                      # frames per stream in the synthetic recording
W, H = 64, 48
BASELINE = 0.05
DEPTH_UNITS = 0.0001        # 0.1 mm, not the usual 1 mm, to prove the scale is read
IR = dict(fx=50.0, fy=51.0, ppx=31.5, ppy=23.0)
COLOR = dict(fx=60.0, fy=60.5, ppx=32.0, ppy=24.5)


def _rs_intrinsics(fx, fy, ppx, ppy):
    i = rs.intrinsics()
    i.width, i.height, i.fx, i.fy, i.ppx, i.ppy = W, H, fx, fy, ppx, ppy
    i.model = rs.distortion.brown_conrady
    i.coeffs = [0.0] * 5
    return i


def _stream(kind, index, uid, fmt, bpp, intr, fps=30):
    v = rs.video_stream()
    v.type, v.index, v.uid, v.width, v.height = kind, index, uid, W, H
    v.fps, v.bpp, v.fmt, v.intrinsics = fps, bpp, fmt, intr
    return v


def _extr(tx):
    e = rs.extrinsics()
    e.rotation = [1, 0, 0, 0, 1, 0, 0, 0, 1]
    e.translation = [tx, 0.0, 0.0]
    return e


def _depth_raw(i):
    return np.full((H, W), 10000 + 10 * i, np.uint16)     # 1.0 m + i mm at 0.1 mm units


def write_synthetic_recording(path, color_rate=1, pace_s=0.0):
    """Depth, IR1, IR2 (N frames each) and colour (`color_rate` times as many), written
    through librealsense's recorder; `pace_s` seconds between frame sets, as a camera would."""
    dev = rs.software_device()
    stereo = dev.add_sensor("Stereo Module")
    rgb = dev.add_sensor("RGB Camera")
    ir_i = _rs_intrinsics(**IR)
    pd = stereo.add_video_stream(_stream(rs.stream.depth, 0, 0, rs.format.z16, 2, ir_i))
    p1 = stereo.add_video_stream(_stream(rs.stream.infrared, 1, 1, rs.format.y8, 1, ir_i))
    p2 = stereo.add_video_stream(_stream(rs.stream.infrared, 2, 2, rs.format.y8, 1, ir_i))
    pc = rgb.add_video_stream(_stream(rs.stream.color, 0, 3, rs.format.rgb8, 3,
                                      _rs_intrinsics(**COLOR), fps=30 * color_rate))
    stereo.add_read_only_option(rs.option.depth_units, DEPTH_UNITS)
    p1.register_extrinsics_to(p2, _extr(-BASELINE))        # x_ir2 = x_ir1 - b
    pd.register_extrinsics_to(p1, _extr(0.0))
    pd.register_extrinsics_to(pc, _extr(0.015))
    dev.register_info(rs.camera_info.name, "depthkit synthetic D400")
    dev.register_info(rs.camera_info.serial_number, "000111222")
    recorder = rs.recorder(str(path), dev)     # after the streams exist (librealsense#1288)
    stereo.open([pd, p1, p2])
    rgb.open(pc)
    stereo.start(lambda f: None)
    rgb.start(lambda f: None)
    keep = []                                 # the recorder reads the pixels later
    for i in range(N):
        ts = 1000.0 + 33.0 * i
        todo = [(pd, 2, _depth_raw(i), stereo, ts, i),
                (p1, 1, np.full((H, W), i, np.uint8), stereo, ts, i),
                (p2, 1, np.full((H, W), 100 + i, np.uint8), stereo, ts, i)]
        for k in range(color_rate):
            j = i * color_rate + k
            todo.append((pc, 3, np.full((H, W, 3), (j, 2 * j, 3 * j), np.uint8), rgb,
                         ts + 33.0 * k / color_rate, j))
        for prof, bpp, arr, sensor, t, number in todo:
            f = rs.software_video_frame()
            keep.append(arr)
            f.pixels, f.bpp, f.stride = arr, bpp, bpp * W
            f.timestamp, f.frame_number = t, number
            f.domain = rs.timestamp_domain.hardware_clock
            f.profile = prof.as_video_stream_profile()
            if prof is pd:
                f.depth_units = DEPTH_UNITS
            sensor.on_video_frame(f)
        if pace_s:
            time.sleep(pace_s)
    stereo.stop()
    rgb.stop()
    stereo.close()
    rgb.close()
    del recorder
    return path


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_synthetic_recording(tmp_path_factory.mktemp("rs") / "synthetic.db3")


@pytest.fixture(scope="module")
def bag(shared_data):
    return (shared_data / "realsense" / "single_depth_color_640x480" /
            "single_depth_color_640x480.bag")


def test_librealsense_bag_depth_and_colour(bag):
    with dk.open(f"realsense://{bag}") as src:
        assert src.kind == "rgbd" and not src.live
        frames = list(src)
        info = src.info()
    # the bag holds depth frames 169 and 170 around colour frame 162; both depth frames come
    # out (librealsense's pipeline shows only the last), each with the colour frame
    assert len(frames) == 2 and info.frames == 2 and info.dropped == 0
    # colour registered onto depth; the colour camera sees less than the depth camera
    assert all(0.35 < (f.color.sum(axis=2) > 0).mean() < 0.45 for f in frames)
    assert frames[1].timestamp_s == pytest.approx(360.981765)
    f = frames[1]
    i = f.intrinsics                          # depth camera (colour is registered onto it)
    assert (i.width, i.height) == (640, 480)
    assert (i.fx, i.fy, i.cx, i.cy) == pytest.approx((390.431, 390.431, 331.388, 242.187),
                                                     abs=1e-3)
    assert info.extra["depth_scale_m"] == pytest.approx(0.001)
    assert info.extra["serial"] == "728612070259"
    assert f.depth_m.dtype == np.float32
    assert 0.90 < np.isfinite(f.depth_m).mean() < 0.96         # README: about 93 % valid
    assert np.nanmax(f.depth_m) == pytest.approx(3.07, abs=0.01)   # metres, not millimetres
    assert f.color.shape == (480, 640, 3) and f.color.dtype == np.uint8
    c = src.stream_intrinsics["color"]
    assert (c.fx, c.fy, c.cx, c.cy) == pytest.approx((613.204, 613.419, 319.939, 239.183),
                                                     abs=1e-3)


def test_librealsense_bag_align_to_colour_and_filters(bag):
    with dk.open(f"realsense://{bag}?align=color") as src:
        frames = list(src)
        assert src.intrinsics.fx == pytest.approx(613.204, abs=1e-3)
    assert len(frames) == 2
    f = frames[-1]
    assert f.intrinsics.fx == pytest.approx(613.204, abs=1e-3)
    assert 0.95 < np.isfinite(f.depth_m).mean() <= 1.0
    assert np.nanmax(f.depth_m) < 3.2
    with dk.open(f"realsense://{bag}?streams=depth&filters=decimation,spatial,hole_filling") as s:
        frames = list(s)
    assert len(frames) == 2
    g = frames[-1]
    assert type(g) is dk.DepthFrame
    assert g.depth_m.shape == (240, 320) and g.intrinsics.width == 320
    assert g.intrinsics.fx == pytest.approx(390.431 / 2, rel=1e-3)
    assert np.isfinite(g.depth_m).mean() > 0.95            # hole filling filled the gaps


def test_registration_agrees_with_librealsense_align(bag):
    """depthkit registers depth and colour in numpy; compare with librealsense's rs.align."""
    cfg = rs.config()
    cfg.enable_device_from_file(str(bag), repeat_playback=False)
    pipe = rs.pipeline()
    prof = pipe.start(cfg)
    try:
        prof.get_device().as_playback().set_real_time(False)
        ok, fs = pipe.try_wait_for_frames(5000)
        assert ok and fs.get_depth_frame().get_frame_number() == 170
        ref_d = np.asanyarray(rs.align(rs.stream.color).process(fs).get_depth_frame()
                              .get_data()).astype(np.float32) * 0.001
        ref_c = np.asanyarray(rs.align(rs.stream.depth).process(fs).get_color_frame()
                              .get_data()).astype(int)
    finally:
        pipe.stop()
    ref_d[ref_d == 0] = np.nan
    depth = list(dk.open(f"realsense://{bag}?align=color"))[-1].depth_m
    both = np.isfinite(ref_d) & np.isfinite(depth)
    assert both.mean() > 0.95
    assert np.median(np.abs(ref_d - depth)[both]) < 0.005
    assert (np.abs(ref_d - depth)[both] < 0.01).mean() > 0.75
    color = list(dk.open(f"realsense://{bag}"))[-1].color.astype(int)
    both = (ref_c.sum(2) > 0) & (color.sum(2) > 0)
    assert both.mean() > 0.35
    assert (np.abs(ref_c - color).max(axis=2)[both] <= 10).mean() > 0.85


def test_synthetic_recording_plays_every_frame_in_order(synthetic):
    with dk.open(f"realsense://{synthetic}?queue=2") as src:
        assert src.kind == "stereo"
        rig = src.rig
        assert rig.is_rectified and rig.baseline_m == pytest.approx(BASELINE)
        ri = rig.rectified_intrinsics
        assert (ri.fx, ri.fy, ri.cx, ri.cy, ri.width) == (50.0, 51.0, 31.5, 23.0, W)
        assert src.info().extra["depth_scale_m"] == pytest.approx(DEPTH_UNITS)
        got = []
        for k, f in enumerate(src):
            if k < 4:
                time.sleep(0.1)                # a slow consumer must not lose playback frames
            s = src.last_streams
            got.append((f.sequence, int(f.left[0, 0]), int(f.right[0, 0]),
                        int(s["color"][0, 0, 1]), float(s["depth"][5, 5])))
            assert f.timestamp_s == pytest.approx((1000.0 + 33.0 * k) / 1000.0)
        assert src.info().dropped == 0
    assert [g[0] for g in got] == list(range(N))
    assert [g[1] for g in got] == list(range(N))
    assert [g[2] for g in got] == [100 + i for i in range(N)]
    assert [g[3] for g in got] == [2 * i for i in range(N)]
    assert [g[4] for g in got] == pytest.approx([1.0 + 0.001 * i for i in range(N)], abs=1e-6)


def test_synthetic_recording_as_rgbd(synthetic):
    with dk.open(f"realsense://{synthetic}?streams=depth,color") as src:
        frames = list(src)
    assert len(frames) == N
    f = frames[7]
    assert isinstance(f, dk.RGBDFrame)
    assert (f.intrinsics.fx, f.intrinsics.cx) == (50.0, 31.5)
    assert np.nanmedian(f.depth_m) == pytest.approx(1.007, abs=1e-6)
    # colour registered onto depth: the middle of the image sees the colour camera
    assert tuple(f.color[24, 32]) == (7, 14, 21)
    with dk.open(f"realsense://{synthetic}?streams=depth,color&align=color") as src:
        g = src.read()
    assert g.intrinsics.fx == 60.0 and np.nanmedian(g.depth_m) == pytest.approx(1.0, abs=1e-6)


def test_faster_colour_stream_is_matched_by_nearest_time(tmp_path_factory):
    """Colour at twice the depth rate: every depth frame comes with the colour frame taken at
    the same time; the colour frames in between are counted as dropped."""
    path = write_synthetic_recording(tmp_path_factory.mktemp("rs2") / "fast_colour.db3",
                                     color_rate=2)
    with dk.open(f"realsense://{path}?streams=depth,color&align=color&queue=2") as src:
        frames = []
        for f in src:
            frames.append(f)
            if len(frames) < 3:
                time.sleep(0.2)            # the faster colour reader must wait, not drop
        info = src.info()
    assert len(frames) == N
    for i, f in enumerate(frames):
        assert np.nanmedian(f.depth_m) == pytest.approx(1.0 + 0.001 * i, abs=1e-6)
        assert int(f.color[0, 0, 0]) == 2 * i
    assert info.dropped == N


def test_playback_errors(bag, synthetic, tmp_path):
    with pytest.raises(FileFormatError, match="recording not found: .*nope.bag"):
        dk.open(f"realsense://{tmp_path}/nope.bag")
    junk = tmp_path / "junk.bag"
    junk.write_bytes(b"\x00garbage" * 64)
    with pytest.raises(FileFormatError, match="junk.bag is not a RealSense recording"):
        dk.open(f"realsense://{junk}")
    trunc = tmp_path / "trunc.db3"
    trunc.write_bytes(synthetic.read_bytes()[:3000])
    with pytest.raises(FileFormatError,
                       match="cannot read RealSense recording .*trunc.db3: .*malformed"):
        dk.open(f"realsense://{trunc}")
    with pytest.raises(DeviceError, match="unsupported stream mode: .* has no ir"):
        dk.open(f"realsense://{bag}?streams=ir")
    with pytest.raises(ParameterError, match="align= needs both"):
        dk.open(f"realsense://{synthetic}?streams=depth&align=color")
    with pytest.raises(ParameterError, match="decimation"):
        dk.open(f"realsense://{bag}?filters=decimation")
    with pytest.raises(ParameterError, match="colour alone"):
        dk.open(f"realsense://{bag}?streams=color")
    with pytest.raises(ParameterError, match="width= applies to live cameras"):
        dk.open(f"realsense://{bag}?width=640")
    with pytest.raises(ParameterError, match="bad value streams"):
        dk.open(f"realsense://{bag}?streams=thermal")
    with pytest.raises(ParameterError, match="playback never drops frames"):
        dk.open(f"realsense://{bag}?drop=keep-newest")
    with pytest.raises(ParameterError, match="bad value align"):
        dk.open(f"realsense://{bag}?align=sideways")
    with pytest.raises(ParameterError, match="bad value record.*db3"):
        dk.open("realsense://?record=out.bag")
    with pytest.raises(ParameterError, match="bad value lost_after"):
        dk.open("realsense://?lost_after=0")
    with pytest.raises(SourceError, match="not a serial number"):
        dk.open("realsense://some/file.mp4")


def test_no_device_and_disconnect(synthetic):
    if len(rs.context().query_devices()):
        pytest.skip("a RealSense is connected")
    t0 = time.monotonic()
    with pytest.raises(DeviceError, match="no RealSense device connected"):
        dk.open("realsense://")
    with pytest.raises(DeviceError, match="no RealSense device connected"):
        dk.open("realsense://123456789?streams=depth")
    assert time.monotonic() - t0 < 10
    # the live-stream health check: a serial that left the bus is a disconnect
    with dk.open(f"realsense://{synthetic}") as src:
        src.serial = "000111222"
        with pytest.raises(DeviceDisconnectedError, match="000111222 was disconnected"):
            src._check_alive()


def test_devices_listing_without_hardware():
    from depthkit.sources.realsense import list_devices

    if len(rs.context().query_devices()):
        pytest.skip("a RealSense is connected")
    assert list_devices() == []


def test_live_code_path_fed_by_a_recording(tmp_path_factory, monkeypatch):
    """The live driver (pipeline, capture thread, frame-set assembly, unplug detection) run
    against librealsense's own pipeline playing the synthetic recording: a camera that streams
    32 frame sets and then disappears from the bus."""
    from depthkit.sources import realsense
    from depthkit.sources.realsense import RealSenseSource

    # host times spread like a real camera's, or librealsense's pipeline skips frame sets
    synthetic = write_synthetic_recording(tmp_path_factory.mktemp("rs3") / "paced.db3",
                                          pace_s=0.01)
    players = []

    def fake_start_live(self, serial, streams, width, height, fps, record):
        cfg = rs.config()
        cfg.enable_device_from_file(str(synthetic), repeat_playback=False)
        self._pipe = rs.pipeline()
        profile = self._pipe.start(cfg)
        players.append(profile.get_device().as_playback())
        players[-1].set_real_time(False)
        self._started = True
        return profile.get_device(), list(profile.get_streams())

    def on_the_bus(rs_module):             # the "camera" leaves when its recording ends
        playing = players and players[-1].current_status() != rs.playback_status.stopped
        return ["000111222"] if playing else []

    monkeypatch.setattr(RealSenseSource, "_start_live", fake_start_live)
    monkeypatch.setattr(realsense, "_connected_serials", on_the_bus)
    src = dk.open("realsense://000111222?streams=ir,depth&queue=64&lost_after=30")
    assert src.live and src.kind == "stereo" and src.info().extra["policy"] == "keep-newest"
    got = []
    with src:
        with pytest.raises(DeviceDisconnectedError, match="000111222 was disconnected"):
            while True:
                f = src.read(5.0)
                got.append(f)
                # the three streams of a set belong together
                k = int(f.left[0, 0])
                assert int(f.right[0, 0]) == 100 + k
                assert src.last_streams["depth"][0, 0] == pytest.approx(1.0 + 0.001 * k)
    idx = [int(f.left[0, 0]) for f in got]
    assert idx == sorted(set(idx)) and idx[-1] == N - 1   # in order, each set once
    assert [f.sequence for f in got] == list(range(len(got)))
    # sets librealsense's pipeline skipped (it may, with this burst-written file) are counted
    info = src.info()
    assert len(got) + info.dropped == idx[-1] - idx[0] + 1
    assert info.extra["frame_number_gaps"] == info.dropped


@pytest.mark.parametrize("close", [True, False])
def test_process_exits_cleanly_after_a_partial_read(synthetic, close, repo_root):
    """librealsense threads calling into a finalising interpreter abort the process; closing
    (explicitly or at exit) must stop them first."""
    import subprocess
    import sys

    code = ("import depthkit as dk\n"
            f"s = dk.open('realsense://{synthetic}?streams=depth,color&queue=1')\n"
            "s.read(10.0)\n"
            + ("s.close()\n" if close else "") + "print('done')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "done"


def test_registration_geometry_on_a_plane():
    from depthkit.errors import ShapeError
    from depthkit.sources.realsense import register_color_to_depth, register_depth_to_color

    di = dk.Intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5)
    ci = dk.Intrinsics(80, 60, 60.0, 60.0, 40.0, 30.0)
    T = np.array([0.05, 0.0, 0.0])
    depth = np.full((48, 64), 2.0, np.float32)
    depth[0, 0] = np.nan
    z = register_depth_to_color(depth, di, ci, np.eye(3), T)
    assert z.shape == (60, 80)
    assert np.nanmin(z) == pytest.approx(2.0) and np.nanmax(z) == pytest.approx(2.0)
    # the depth image covers colour columns 60 * (x + 0.05) / 2 + 40 for x = (u - 31.5) / 25
    lo = 60 * ((0 - 31.5) / 25 + 0.05) / 2 + 40
    hi = 60 * ((63 - 31.5) / 25 + 0.05) / 2 + 40
    cols = np.flatnonzero(np.isfinite(z[30]))
    assert cols[0] == pytest.approx(lo, abs=1.5) and cols[-1] == pytest.approx(hi, abs=1.5)
    assert np.isfinite(z[30, cols[0]:cols[-1] + 1]).all()          # no holes when upsampling
    color = np.zeros((60, 80, 3), np.uint8)
    color[..., 0] = np.arange(80, dtype=np.uint8)[None, :]
    out = register_color_to_depth(depth, di, color, ci, np.eye(3), T)
    u = np.arange(64)
    want = np.floor(60 * ((u - 31.5) / 25 + 0.05) / 2 + 40 + 0.5)
    inside = (want >= 0) & (want < 80)
    assert np.array_equal(out[10, inside, 0], want[inside].astype(np.uint8))
    assert out[0, 0].tolist() == [0, 0, 0]                          # no depth, no colour
    with pytest.raises(ShapeError, match="depth_m"):
        register_depth_to_color(depth.astype(np.float64), di, ci, np.eye(3), T)
    with pytest.raises(ShapeError, match="camera is 80x60"):
        register_color_to_depth(depth, di, color[:10], ci, np.eye(3), T)
