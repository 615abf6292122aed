"""Rig YAML and ROS camera_info round trips, and bad rig files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml
from calib_synth import rodrigues

from depthkit.calibration import (
    load_rig,
    load_ros_camera_info,
    rectify_rig,
    save_rig,
    save_ros_camera_info,
)
from depthkit.errors import FileFormatError, ParameterError
from depthkit.types import Intrinsics, StereoRig


def make_rig(vertical=False, rectified=True, rms=0.21):
    left = Intrinsics(640, 480, 530.0, 531.0, 321.0, 242.0, (-0.28, 0.07, 0.001, -0.0002, 0.05))
    right = Intrinsics(640, 480, 535.0, 534.0, 318.0, 239.0, (-0.29, 0.1, -0.0005, 0.0003, -0.02))
    T = [0.003, -0.12, 0.001] if vertical else [-0.12, 0.002, 0.001]
    rig = StereoRig(left, right, rodrigues(0.01, -0.008, 0.004), np.array(T), rms=rms)
    return rectify_rig(rig) if rectified else rig


def assert_same_rig(a: StereoRig, b: StereoRig):
    for ca, cb in ((a.left, b.left), (a.right, b.right)):
        assert ca.size == cb.size
        np.testing.assert_allclose(ca.K, cb.K, atol=1e-9)
        np.testing.assert_allclose(ca.D, cb.D, atol=1e-12)
    np.testing.assert_allclose(a.R, b.R, atol=1e-12)
    np.testing.assert_allclose(a.T, b.T, atol=1e-12)
    assert a.is_rectified == b.is_rectified
    if a.is_rectified:
        for k in ("R1", "R2", "P1", "P2", "Q"):
            np.testing.assert_allclose(getattr(a, k), getattr(b, k), atol=1e-9)


@pytest.mark.parametrize("rectified", [True, False])
def test_rig_yaml_round_trip(tmp_path, rectified):
    rig = make_rig(rectified=rectified)
    p = tmp_path / "rig.yaml"
    save_rig(rig, p)
    back = load_rig(p)
    assert_same_rig(rig, back)
    assert back.rms == pytest.approx(0.21)


def test_opencv_filestorage_reads_the_rig_file(tmp_path):
    rig = make_rig()
    p = tmp_path / "rig.yaml"
    save_rig(rig, p)
    fs = cv2.FileStorage(str(p), cv2.FILE_STORAGE_READ)
    keys = set(fs.root().keys())
    assert {"K1", "D1", "K2", "D2", "R", "T", "R1", "R2", "P1", "P2", "Q", "image_width",
            "image_height", "rms"} <= keys
    np.testing.assert_allclose(fs.getNode("K1").mat(), rig.left.K)
    np.testing.assert_allclose(fs.getNode("T").mat().ravel(), rig.T)
    np.testing.assert_allclose(fs.getNode("Q").mat(), rig.Q)
    assert int(fs.getNode("image_width").real()) == 640
    assert fs.getNode("rms").real() == pytest.approx(0.21)
    fs.release()


def test_rig_without_rms(tmp_path):
    rig = make_rig(rms=None)
    save_rig(rig, tmp_path / "r.yml")
    assert load_rig(tmp_path / "r.yml").rms is None


def test_split_opencv_sample_files(shared_data):
    d = shared_data / "calibration/prime_stereo_chessboard_9x6"
    rig = load_rig([d / "intrinsics.yml", d / "extrinsics.yml"], image_size=(640, 480))
    assert rig.left.fx == pytest.approx(641.2039758631757)
    assert len(rig.left.distortion) == 8  # 14 stored, trailing zeros dropped
    assert rig.is_rectified and rig.T[0] == pytest.approx(-5.1011361312150569)
    with pytest.raises(FileFormatError, match=r"missing key\(s\): image_width, image_height"):
        load_rig([d / "intrinsics.yml", d / "extrinsics.yml"])


def _write_fs(path, **mats):
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    for k, v in mats.items():
        fs.write(k, v)
    fs.release()


def test_bad_rig_files(tmp_path):
    with pytest.raises(FileFormatError, match="rig file not found"):
        load_rig(tmp_path / "none.yaml")
    p = tmp_path / "partial.yaml"
    _write_fs(p, K1=np.eye(3), D1=np.zeros((1, 5)), image_width=640, image_height=480)
    with pytest.raises(FileFormatError, match=r"partial.yaml is missing key\(s\): K2, D2, R, T"):
        load_rig(p)
    rig = make_rig()
    q = tmp_path / "halfrect.yaml"
    _write_fs(q, K1=rig.left.K, D1=rig.left.D, K2=rig.right.K, D2=rig.right.D, R=rig.R,
              T=rig.T, R1=rig.R1, P1=rig.P1, image_width=640, image_height=480)
    with pytest.raises(FileFormatError, match="not R2, P2, Q"):
        load_rig(q)
    z = tmp_path / "zeroT.yaml"
    _write_fs(z, K1=rig.left.K, D1=rig.left.D, K2=rig.right.K, D2=rig.right.D, R=rig.R,
              T=np.zeros(3), image_width=640, image_height=480)
    with pytest.raises(FileFormatError, match="invalid values"):
        load_rig(z)
    junk = tmp_path / "junk.yaml"
    junk.write_text("this: [is not: opencv")
    with pytest.raises(FileFormatError, match="junk.yaml"):
        load_rig(junk)
    with pytest.raises(ParameterError, match=r"\.yaml or \.yml"):
        save_rig(rig, tmp_path / "rig.txt")


@pytest.mark.parametrize("vertical", [False, True])
def test_ros_camera_info_round_trip(tmp_path, vertical):
    rig = make_rig(vertical=vertical)
    lp, rp = tmp_path / "left.yaml", tmp_path / "right.yaml"
    save_ros_camera_info(rig, lp, rp)
    info = yaml.safe_load(rp.read_text())
    assert info["distortion_model"] == "plumb_bob"
    assert info["camera_matrix"]["rows"] == 3 and len(info["projection_matrix"]["data"]) == 12
    P2 = np.array(info["projection_matrix"]["data"]).reshape(3, 4)
    f = P2[1, 1] if vertical else P2[0, 0]
    t_idx = (1, 3) if vertical else (0, 3)
    # ROS convention: Tx = -fx' * B (Ty for a vertical rig)
    assert P2[t_idx] == pytest.approx(-f * rig.baseline_m, rel=1e-3)
    assert yaml.safe_load(lp.read_text())["projection_matrix"]["data"][3] == 0
    back = load_ros_camera_info(lp, rp)
    assert_same_rig(rig, back)


def test_ros_export_rectifies_and_rejects_bad_input(tmp_path):
    rig = make_rig(rectified=False)
    lp, rp = tmp_path / "l.yaml", tmp_path / "r.yaml"
    save_ros_camera_info(rig, lp, rp)
    assert load_ros_camera_info(lp, rp).is_rectified
    with pytest.raises(FileFormatError, match="Tx = Ty = 0"):
        load_ros_camera_info(lp, lp)
    bad = tmp_path / "bad.yaml"
    bad.write_text("image_width: 640\nimage_height: 480\ncamera_matrix: {rows: 3, cols: 3, "
                   "data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}\n")
    with pytest.raises(FileFormatError, match=r"bad.yaml is missing key\(s\): "
                                              "distortion_coefficients"):
        load_ros_camera_info(bad, rp)
    with pytest.raises(FileFormatError, match="camera_info file not found"):
        load_ros_camera_info(tmp_path / "nope.yaml", rp)
    six = StereoRig(Intrinsics(640, 480, 500, 500, 320, 240, (0.1,) * 12), rig.right, rig.R, rig.T)
    with pytest.raises(ParameterError, match="12 distortion coefficients"):
        save_ros_camera_info(six, lp, rp)


def test_intrinsics_model_field():
    with pytest.raises(ParameterError, match="must be 'pinhole' or 'fisheye'"):
        Intrinsics(640, 480, 500, 500, 320, 240, model="kannala")
    with pytest.raises(ParameterError, match="4 distortion coefficients"):
        Intrinsics(640, 480, 500, 500, 320, 240, (0.1, 0, 0, 0, 0), model="fisheye")
    f = Intrinsics(640, 480, 500, 500, 320, 240, model="fisheye")
    assert f.D.shape == (4,) and Intrinsics(**f.to_dict()) == f
    mixed = StereoRig(f, make_rig().right, np.eye(3), [-0.1, 0, 0])
    with pytest.raises(ParameterError, match="mixes pinhole and fisheye"):
        rectify_rig(mixed)
    with pytest.raises(ParameterError, match="camera model; the two cameras differ"):
        save_rig(mixed, "/tmp/never-written.yaml")
