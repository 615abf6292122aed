"""ROS message fields built without ROS: layout and values checked against the inputs."""

import numpy as np
import pytest

import depthkit as dk
from depthkit.ros import disparity_image_fields, pointcloud2_fields


def _frame():
    intr = dk.Intrinsics(4, 3, 100.0, 100.0, 1.5, 1.0)
    depth = np.full((3, 4), 2.0, np.float32)
    depth[0, 0] = np.nan
    color = np.zeros((3, 4, 3), np.uint8)
    color[..., 0], color[..., 1], color[..., 2] = 10, 20, 30
    return dk.RGBDFrame(depth, intr, 1.25, 7, color=color)


def test_pointcloud2_organised_layout_and_values():
    msg = pointcloud2_fields(_frame(), frame_id="cam")
    assert (msg["height"], msg["width"], msg["point_step"], msg["row_step"]) == (3, 4, 16, 64)
    assert [f["name"] for f in msg["fields"]] == ["x", "y", "z", "rgb"]
    rec = np.frombuffer(msg["data"], dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                                            ("rgb", "<u4")]).reshape(3, 4)
    assert np.isnan(rec["z"][0, 0]) and not msg["is_dense"]
    # pixel (u=3, v=2): x = (3 - 1.5) / 100 * 2, y = (2 - 1) / 100 * 2
    assert rec["x"][2, 3] == pytest.approx(0.03) and rec["y"][2, 3] == pytest.approx(0.02)
    assert rec["rgb"][1, 1] == (10 << 16) | (20 << 8) | 30
    assert msg["header"]["seq"] == 7 and msg["header"]["frame_id"] == "cam"


def test_pointcloud2_dense_drops_invalid():
    msg = pointcloud2_fields(_frame(), dense=True)
    assert msg["height"] == 1 and msg["width"] == 11 and msg["is_dense"]


def test_disparity_image_fields():
    rig = dk.StereoRig.rectified_pair(dk.Intrinsics(4, 3, 100.0, 100.0, 1.5, 1.0), 0.05)
    disp = np.array([[np.nan, 1, 2, 3]] * 3, np.float32)
    msg = disparity_image_fields(disp, rig, min_disparity=0.0)
    assert msg["f"] == 100.0 and msg["T"] == pytest.approx(0.05)
    img = np.frombuffer(msg["image"]["data"], np.float32).reshape(3, 4)
    assert img[0, 0] < msg["min_disparity"] and msg["max_disparity"] == 3.0
    assert msg["image"]["encoding"] == "32FC1"


def test_bad_inputs():
    with pytest.raises(dk.errors.ParameterError, match="RGBDFrame"):
        pointcloud2_fields(np.zeros((3, 4)))
    raw = dk.StereoRig(dk.Intrinsics(4, 3, 100, 100, 1.5, 1), dk.Intrinsics(4, 3, 100, 100, 1.5, 1),
                       np.eye(3), [-0.05, 0, 0])
    with pytest.raises(dk.errors.ParameterError, match="rectified"):
        disparity_image_fields(np.zeros((3, 4), np.float32), raw)
