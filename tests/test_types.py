"""depthkit.types: validation on construction, camera maths, frozen frames."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from depthkit.errors import DataError, ParameterError, ShapeError
from depthkit.types import (
    DepthFrame,
    GroundTruth,
    Intrinsics,
    RGBDFrame,
    StereoFrame,
    StereoRig,
)

CAM = Intrinsics(640, 480, 500.0, 500.0, 319.5, 239.5)


def test_intrinsics_K_and_shape():
    K = CAM.K
    assert K.dtype == np.float64
    np.testing.assert_array_equal(K, [[500, 0, 319.5], [0, 500, 239.5], [0, 0, 1]])
    assert CAM.shape == (480, 640) and CAM.size == (640, 480)
    np.testing.assert_array_equal(CAM.D, np.zeros(5))
    assert Intrinsics.from_K(K, 640, 480) == CAM


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 0}, r"width must be a positive integer"),
        ({"height": 10.5}, r"height must be a positive integer"),
        ({"fx": -1.0}, r"fx` must be > 0"),
        ({"fy": float("nan")}, r"fy` must be > 0"),
        ({"cx": float("inf")}, r"cx must be finite"),
        ({"distortion": (0.1, 0.2, 0.3)}, r"0, 4, 5, 8, 12 or 14 coefficients"),
    ],
)
def test_intrinsics_validation(kwargs, match):
    args = {"width": 640, "height": 480, "fx": 500.0, "fy": 500.0, "cx": 320.0, "cy": 240.0}
    args.update(kwargs)
    with pytest.raises(ParameterError, match=match):
        Intrinsics(**args)


def test_intrinsics_scaled_maps_pixel_centres():
    half = CAM.scaled(0.5)
    assert (half.width, half.height) == (320, 240)
    assert half.fx == pytest.approx(250.0) and half.fy == pytest.approx(250.0)
    # pixel-centre convention: the centre of the image stays the centre
    assert half.cx == pytest.approx(159.5) and half.cy == pytest.approx(119.5)
    # a 3D point projects to the same place, scaled by the factor (in pixel-centre coordinates)
    X = np.array([0.3, -0.2, 2.0])
    u_full = CAM.K @ X / X[2]
    u_half = half.K @ X / X[2]
    assert (u_half[0] + 0.5) == pytest.approx((u_full[0] + 0.5) * 0.5)
    assert CAM.scaled(2).scaled(0.5) == CAM
    with pytest.raises(ParameterError, match="factor"):
        CAM.scaled(0)


def test_frozen_dataclasses():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CAM.fx = 1.0
    depth = np.ones((4, 6), np.float32)
    frame = DepthFrame(depth, Intrinsics(6, 4, 5.0, 5.0, 3.0, 2.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.depth_m = depth
    # the pixels are frozen too: the frame holds a read-only view
    with pytest.raises(ValueError, match="read-only"):
        frame.depth_m[0, 0] = 2.0
    assert depth.flags.writeable  # the caller's array is untouched
    rig = StereoRig.rectified_pair(CAM, 0.1)
    with pytest.raises(ValueError, match="read-only"):
        rig.Q[0, 0] = 5.0


def test_stereo_rig_rectified_pair_Q_reprojects_to_depth():
    baseline = 0.12
    rig = StereoRig.rectified_pair(CAM, baseline)
    assert rig.is_rectified and not rig.is_vertical
    assert rig.baseline_m == pytest.approx(baseline)
    assert rig.focal_px == pytest.approx(500.0)
    assert rig.disparity_offset_px == 0.0
    assert rig.rectified_intrinsics == CAM
    # a constant disparity d is a fronto-parallel plane at Z = f B / d
    d = 25.0
    disp = np.full(CAM.shape, d, np.float32)
    xyz = cv2.reprojectImageTo3D(disp, rig.Q)
    assert xyz[..., 2] == pytest.approx(500.0 * baseline / d, rel=1e-5)  # 2.4 m
    # and X follows the pinhole model at a known pixel
    v, u = 100, 600
    assert xyz[v, u, 0] == pytest.approx((u - CAM.cx) * 2.4 / CAM.fx, rel=1e-5)
    assert xyz[v, u, 1] == pytest.approx((v - CAM.cy) * 2.4 / CAM.fy, rel=1e-5)
    # P2 carries the baseline like OpenCV's stereoRectify: P2[0, 3] = -f * B
    assert rig.P2[0, 3] == pytest.approx(-500.0 * baseline)


def test_stereo_rig_validation():
    R, T = np.eye(3), np.array([-0.1, 0, 0])
    with pytest.raises(ParameterError, match="not a rotation"):
        StereoRig(CAM, CAM, 2 * np.eye(3), T)
    with pytest.raises(ParameterError, match="T is zero"):
        StereoRig(CAM, CAM, R, np.zeros(3))
    with pytest.raises(ShapeError, match=r"`T` must have shape \(3,\)"):
        StereoRig(CAM, CAM, R, np.zeros(4))
    with pytest.raises(DataError, match="NaN"):
        StereoRig(CAM, CAM, np.full((3, 3), np.nan), T)
    with pytest.raises(ParameterError, match="all of R1, R2, P1, P2, Q"):
        StereoRig(CAM, CAM, R, T, R1=np.eye(3))
    with pytest.raises(ParameterError, match="must be Intrinsics"):
        StereoRig("cam", CAM, R, T)
    with pytest.raises(ParameterError, match="not rectified"):
        _ = StereoRig(CAM, CAM, R, T).focal_px
    with pytest.raises(ParameterError, match="no distortion"):
        StereoRig.rectified_pair(dataclasses.replace(CAM, distortion=(0.1, 0, 0, 0)), 0.1)


def test_stereo_frame_validation():
    a = np.zeros((4, 6), np.uint8)
    f = StereoFrame(a, a.copy(), timestamp_s=1.5, sequence=3)
    assert f.shape == (4, 6) and f.timestamp_s == 1.5 and f.sequence == 3
    with pytest.raises(ShapeError, match="same shape and dtype"):
        StereoFrame(a, np.zeros((4, 7), np.uint8))
    with pytest.raises(ShapeError, match="dtype int64"):
        StereoFrame(a.astype(np.int64), a.astype(np.int64))
    with pytest.raises(ParameterError, match="sequence must be a non-negative"):
        StereoFrame(a, a, sequence=-1)
    with pytest.raises(ParameterError, match="timestamp_s must be finite"):
        StereoFrame(a, a, timestamp_s=float("nan"))
    with pytest.raises(ShapeError, match="camera is 640x480"):
        StereoFrame(a, a, rig=StereoRig.rectified_pair(CAM, 0.1))


def test_depth_and_rgbd_frame_validation():
    intr = Intrinsics(6, 4, 5.0, 5.0, 3.0, 2.0)
    depth = np.full((4, 6), 1.0, np.float32)
    depth[0, 0] = np.nan
    f = DepthFrame(depth, intr)
    assert f.valid.sum() == 23
    with pytest.raises(ShapeError, match="dtype float64"):
        DepthFrame(depth.astype(np.float64), intr)
    with pytest.raises(ShapeError, match="camera is 6x4"):
        DepthFrame(np.ones((5, 6), np.float32), intr)
    with pytest.raises(ShapeError, match="confidence has shape"):
        DepthFrame(depth, intr, confidence=np.ones((2, 2), np.float32))
    color = np.zeros((4, 6, 3), np.uint8)
    r = RGBDFrame(depth, intr, color=color, pose=np.eye(4))
    assert r.color.shape == (4, 6, 3) and r.pose.shape == (4, 4)
    with pytest.raises(ShapeError, match="camera is 6x4"):
        RGBDFrame(depth, intr, color=np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ShapeError, match=r"`pose` must have shape \(4, 4\)"):
        RGBDFrame(depth, intr, pose=np.eye(3))
    gt = GroundTruth(disparity=np.ones((4, 6), np.float32), pose=np.eye(4))
    with pytest.raises(ValueError, match="read-only"):
        gt.disparity[0, 0] = 0
