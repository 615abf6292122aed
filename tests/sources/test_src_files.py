"""files://, recording:// and the recorder."""

from __future__ import annotations

import json

import numpy as np
import pytest

import depthkit as dk
from depthkit.errors import FileFormatError, ParameterError, SourceError
from depthkit.io import write_image
from depthkit.sources import RecordingWriter, record


def test_files_chessboards_natural_order(shared_data):
    d = shared_data / "calibration" / "opencv_stereo_chessboard_9x6"
    with dk.open(f"files://{d}/left*.jpg,{d}/right*.jpg?fps=10") as src:
        assert len(src) == 13
        names = [(lp.name, rp.name) for lp, rp in src.pairs]
        assert names[0] == ("left01.jpg", "right01.jpg")
        assert names[-1] == ("left14.jpg", "right14.jpg")
        assert all(lp.name[4:] == rp.name[5:] for lp, rp in src.pairs)
        frames = list(src)
    assert [f.sequence for f in frames] == list(range(13))
    assert frames[1].timestamp_s == pytest.approx(0.1)
    assert frames[0].left.shape == (480, 640) and frames[0].left.dtype == np.uint8
    assert not frames[0].rectified
    assert src.info().frames == 13


def test_files_kitti_same_names_in_two_folders(shared_data):
    k = shared_data / "kitti2015" / "training"
    with dk.open(f"files://{k}/image_2/*_10.png,{k}/image_3/*_10.png?gray=1&rectified=1") as s:
        f = s.read()
        assert f.left.shape == (375, 1242) and f.rectified
        assert s.read() is None


def test_files_unmatched_are_reported(tmp_path):
    img = np.zeros((8, 10), np.uint8)
    for name in ("l_1.png", "l_2.png", "r_1.png", "r_3.png"):
        write_image(tmp_path / name, img)
    with dk.open(f"files://{tmp_path}/l_*.png,{tmp_path}/r_*.png") as s:
        assert len(list(s)) == 1
        unmatched = s.info().extra["unmatched"]
    assert sorted(p.rsplit("/", 1)[1] for p in unmatched) == ["l_2.png", "r_3.png"]


def test_files_errors(tmp_path):
    with pytest.raises(SourceError, match="no stereo pairs"):
        dk.open(f"files://{tmp_path}/a*.png,{tmp_path}/b*.png")
    with pytest.raises(ParameterError, match="two globs separated by one comma"):
        dk.open(f"files://{tmp_path}/a*.png")
    with pytest.raises(ParameterError, match="unknown parameter"):
        dk.open(f"files://{tmp_path}/a*.png,{tmp_path}/b*.png?colour=1")
    with pytest.raises(ParameterError, match="bad value gray"):
        dk.open(f"files://{tmp_path}/a*.png,{tmp_path}/b*.png?gray=maybe")
    write_image(tmp_path / "a1.png", np.zeros((8, 10), np.uint8))
    write_image(tmp_path / "b1.png", np.zeros((8, 12), np.uint8))
    with dk.open(f"files://{tmp_path}/a*.png,{tmp_path}/b*.png") as s:
        with pytest.raises(FileFormatError, match="b1.png does not form a stereo frame"):
            s.read()
    (tmp_path / "a2.png").write_bytes(b"not a png")
    (tmp_path / "b2.png").write_bytes(b"not a png")
    with dk.open(f"files://{tmp_path}/a2.png,{tmp_path}/b2.png") as s:
        with pytest.raises(FileFormatError, match="a2.png"):
            s.read()


# ---------------------------------------------------------------- recordings


def _stereo_frames(n):
    rig = dk.StereoRig.rectified_pair(dk.Intrinsics(12, 8, 10.0, 10.0, 5.5, 3.5), 0.06)
    out = []
    for i in range(n):
        left = np.full((8, 12), i, np.uint8)
        right = np.full((8, 12), 100 + i, np.uint8)
        gt = dk.GroundTruth(disparity=np.full((8, 12), 1.5 * i, np.float32),
                            occlusion=np.eye(8, 12, dtype=bool))
        out.append(dk.StereoFrame(left, right, timestamp_s=0.1 * i, sequence=i, rectified=True,
                                  rig=rig, ground_truth=gt))
    return out


def test_recording_round_trip_stereo(tmp_path):
    frames = _stereo_frames(4)
    with RecordingWriter(tmp_path / "rec") as w:
        for f in frames:
            w.write(f)
    with dk.open(f"recording://{tmp_path / 'rec'}") as src:
        assert len(src) == 4 and src.kind == "stereo"
        assert src.rig.baseline_m == pytest.approx(0.06) and src.rig.is_rectified
        got = list(src)
    for a, b in zip(frames, got):
        assert np.array_equal(a.left, b.left) and np.array_equal(a.right, b.right)
        assert (a.sequence, a.timestamp_s, a.rectified) == (b.sequence, b.timestamp_s, b.rectified)
        assert np.array_equal(a.ground_truth.disparity, b.ground_truth.disparity)
        assert np.array_equal(a.ground_truth.occlusion, b.ground_truth.occlusion)
        assert b.rig.focal_px == 10.0


def test_recording_round_trip_rgbd_and_depth(tmp_path):
    intr = dk.Intrinsics(6, 4, 5.0, 5.0, 2.5, 1.5)
    depth = np.linspace(0.5, 2.0, 24, dtype=np.float32).reshape(4, 6)
    depth[0, 0] = np.nan
    color = np.arange(72, dtype=np.uint8).reshape(4, 6, 3)
    f = dk.RGBDFrame(depth, intr, timestamp_s=1.25, sequence=7, color=color,
                     pose=np.eye(4))
    with RecordingWriter(tmp_path / "rgbd") as w:
        w.write(f)
        with pytest.raises(ParameterError, match="holds rgbd frames"):
            w.write(_stereo_frames(1)[0])
    g = dk.open(f"recording://{tmp_path / 'rgbd'}").read()
    assert isinstance(g, dk.RGBDFrame) and g.intrinsics == intr
    assert np.array_equal(g.depth_m, depth, equal_nan=True)
    assert np.array_equal(g.color, color) and g.sequence == 7 and g.timestamp_s == 1.25
    with RecordingWriter(tmp_path / "d") as w:
        w.write(dk.DepthFrame(depth, intr, sequence=3))
    h = dk.open(f"recording://{tmp_path / 'd'}").read()
    assert type(h) is dk.DepthFrame and np.array_equal(h.depth_m, depth, equal_nan=True)
    with pytest.raises(ParameterError, match="cannot record a int"):
        RecordingWriter(tmp_path / "x").write(3)


def test_recording_crash_loses_at_most_the_frame_in_flight(tmp_path):
    rec = tmp_path / "rec"
    w = RecordingWriter(rec)
    for f in _stereo_frames(3):
        w.write(f)
    # simulate a crash while frame 3 was written: its image is there, the manifest was not updated
    write_image(rec / "000003_left.png", np.zeros((8, 12), np.uint8))
    assert not list(rec.glob(".*tmp*"))      # no half-written files are left around
    assert [f.sequence for f in dk.open(f"recording://{rec}")] == [0, 1, 2]


def test_recording_errors(tmp_path):
    rec = tmp_path / "rec"
    with RecordingWriter(rec) as w:
        for f in _stereo_frames(2):
            w.write(f)
    with pytest.raises(FileFormatError, match="already exists"):
        RecordingWriter(rec)
    with pytest.raises(SourceError, match="recording folder not found"):
        dk.open(f"recording://{tmp_path / 'nope'}")
    with pytest.raises(FileFormatError, match="manifest not found"):
        dk.open(f"recording://{tmp_path}")
    (rec / "000001_right.png").unlink()
    src = dk.open(f"recording://{rec}")
    src.read()
    with pytest.raises(FileFormatError, match="000001_right.png"):
        src.read()
    (rec / "manifest.json").write_text('{"format": "depthkit-recording", "frames": [')
    with pytest.raises(FileFormatError, match="corrupt recording manifest .*manifest.json"):
        dk.open(f"recording://{rec}")
    (rec / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(FileFormatError, match="format is 'other'"):
        dk.open(f"recording://{rec}")
    with pytest.raises(ParameterError, match="frames must be a positive integer"):
        record("recording://x", tmp_path / "y", frames=0)


def test_record_function_and_files_readback(tmp_path, shared_data):
    d = shared_data / "calibration" / "opencv_stereo_chessboard_9x6"
    n = record(f"files://{d}/left*.jpg,{d}/right*.jpg", tmp_path / "r", frames=3,
               progress=False)
    assert n == 3
    a = list(dk.open(f"files://{d}/left*.jpg,{d}/right*.jpg"))[:3]
    b = list(dk.open(f"recording://{tmp_path / 'r'}"))
    c = list(dk.open(f"files://{tmp_path}/r/*_left.png,{tmp_path}/r/*_right.png"))
    assert len(b) == len(c) == 3
    for x, y, z in zip(a, b, c):
        assert np.array_equal(x.left, y.left) and np.array_equal(x.right, z.right)


def test_cli_record_and_devices(tmp_path, shared_data, capsys):
    from depthkit.apps.cli import main

    k = shared_data / "middlebury2001"
    assert main(["record", f"middlebury://{k}", "-o", str(tmp_path / "m"), "--json",
                 "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 2 and summary["dropped"] == 0
    f = dk.open(summary["playback"]).read()
    assert f.rectified and np.nanmax(f.ground_truth.disparity) == 14.0
    assert main(["record", f"middlebury://{k}", "-o", str(tmp_path / "n"), "--no-progress"]) == 0
    assert f"recorded 2 frame(s) to {tmp_path / 'n'}" in capsys.readouterr().err
    assert main(["record", f"middlebury://{k}", "-o", str(tmp_path / "x.db3")]) == 1
    assert "writes a folder" in capsys.readouterr().err
    assert main(["devices", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backends"]["opencv"]["available"] is True
    assert isinstance(out["realsense"], list) and isinstance(out["video"], list)
    assert main(["devices"]) == 0
    assert "backends:" in capsys.readouterr().out


def test_more_recording_and_files_errors(tmp_path):
    with pytest.raises(ParameterError, match="bad value fps"):
        dk.open(f"files://{tmp_path}/a*.png,{tmp_path}/b*.png?fps=-1")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(FileFormatError, match="exists and is not a folder"):
        RecordingWriter(tmp_path / "plain")
    with pytest.raises(ParameterError, match="recording:// needs a folder"):
        dk.open("recording://")
    rec = tmp_path / "rec"
    with RecordingWriter(rec) as w:
        w.write(_stereo_frames(1)[0])
    m = json.loads((rec / "manifest.json").read_text())
    m["frames"][0].pop("timestamp_s")
    (rec / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(FileFormatError, match="frame 0 of recording .* is corrupt"):
        dk.open(f"recording://{rec}").read()
    m["version"] = 99
    (rec / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(FileFormatError, match="version 99 is newer"):
        dk.open(f"recording://{rec}")


def test_rig_parameter(tmp_path, shared_data):
    from depthkit.calibration import save_rig

    rig = dk.StereoRig.rectified_pair(dk.Intrinsics(640, 480, 500.0, 500.0, 319.5, 239.5), 0.12)
    save_rig(rig, tmp_path / "rig.yaml")
    d = shared_data / "calibration" / "opencv_stereo_chessboard_9x6"
    with dk.open(f"files://{d}/left0*.jpg,{d}/right0*.jpg?rig={tmp_path}/rig.yaml") as src:
        f = src.read()
        assert src.rig is f.rig
    assert f.rig.baseline_m == pytest.approx(0.12) and f.rig.focal_px == pytest.approx(500.0)
    small = dk.StereoRig.rectified_pair(dk.Intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5), 0.1)
    save_rig(small, tmp_path / "small.yaml")
    with dk.open(f"files://{d}/left0*.jpg,{d}/right0*.jpg?rig={tmp_path}/small.yaml") as src:
        with pytest.raises(FileFormatError, match="does not form a stereo frame.*640x480"):
            src.read()
    with pytest.raises(ParameterError, match="bad value rig"):
        dk.open(f"files://{d}/left0*.jpg,{d}/right0*.jpg?rig={tmp_path}/missing.yaml")


def test_simulator_frames_round_trip_with_ground_truth(tmp_path):
    with dk.open("sim://stereo?size=64x48&frames=2&rectified=1") as src:
        frames = [src.read(60.0), src.read(60.0)]
    with RecordingWriter(tmp_path / "sim") as w:
        for f in frames:
            w.write(f)
    got = list(dk.open(f"recording://{tmp_path / 'sim'}"))
    assert len(got) == 2
    for a, b in zip(frames, got):
        assert np.array_equal(a.left, b.left) and np.array_equal(a.right, b.right)
        ga, gb = a.ground_truth, b.ground_truth
        for name in ("depth_m", "disparity", "occlusion", "pose"):
            va, vb = getattr(ga, name), getattr(gb, name)
            assert (va is None) == (vb is None)
            if va is not None:
                assert np.array_equal(va, vb, equal_nan=True), name
        assert b.rig.focal_px == pytest.approx(a.rig.focal_px)
        assert b.rig.baseline_m == pytest.approx(a.rig.baseline_m)
