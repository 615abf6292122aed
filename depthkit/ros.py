"""ROS message fields as plain Python/numpy, with no ROS install needed.

:func:`pointcloud2_fields` gives what ``sensor_msgs/PointCloud2`` (XYZRGB) carries and
:func:`disparity_image_fields` what ``stereo_msgs/DisparityImage`` carries, so a ROS node can
fill its messages with a few assignments.
"""

from __future__ import annotations

import numpy as np

from .errors import ParameterError
from .types import RGBDFrame, StereoRig

__all__ = ["pointcloud2_fields", "disparity_image_fields"]

# sensor_msgs/PointField datatypes
_FLOAT32 = 7


def pointcloud2_fields(frame: RGBDFrame, *, frame_id: str = "camera", dense: bool = False) -> dict:
    """Fields of a ``sensor_msgs/PointCloud2`` with x, y, z (float32, metres) and packed rgb.

    Parameters
    ----------
    frame : RGBDFrame
        Depth (and colour) in the camera's optical frame (x right, y down, z forward).
    dense : bool
        If True, only valid points are kept (an unorganised cloud, ``height = 1``); otherwise the
        cloud is organised (``height x width``) with NaN for invalid points, as ROS drivers do.
    """
    if not isinstance(frame, RGBDFrame):
        raise ParameterError(f"pointcloud2_fields takes an RGBDFrame; got {type(frame).__name__}")
    intr = frame.intrinsics
    h, w = frame.depth_m.shape
    u, v = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    z = frame.depth_m.astype(np.float32)
    x = (u - intr.cx) / intr.fx * z
    y = (v - intr.cy) / intr.fy * z
    if frame.color is not None and frame.color.ndim == 3:
        c = frame.color.astype(np.uint32)
        rgb = (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]
    elif frame.color is not None:
        g = frame.color.astype(np.uint32)
        rgb = (g << 16) | (g << 8) | g
    else:
        rgb = np.full((h, w), 0xFFFFFF, np.uint32)
    rec = np.zeros((h, w), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4")])
    rec["x"], rec["y"], rec["z"], rec["rgb"] = x, y, z, rgb
    if dense:
        rec = rec[np.isfinite(z)][None, :]
    height, width = rec.shape
    return {
        "header": {"stamp": frame.timestamp_s, "seq": frame.sequence, "frame_id": frame_id},
        "height": int(height),
        "width": int(width),
        "fields": [
            {"name": "x", "offset": 0, "datatype": _FLOAT32, "count": 1},
            {"name": "y", "offset": 4, "datatype": _FLOAT32, "count": 1},
            {"name": "z", "offset": 8, "datatype": _FLOAT32, "count": 1},
            # rgb is packed 0x00RRGGBB and declared FLOAT32, as PCL and RViz expect
            {"name": "rgb", "offset": 12, "datatype": _FLOAT32, "count": 1},
        ],
        "is_bigendian": False,
        "point_step": 16,
        "row_step": 16 * int(width),
        "is_dense": bool(dense),
        "data": rec.tobytes(),
    }


def disparity_image_fields(disparity: np.ndarray, rig: StereoRig, *, min_disparity: float = 0.0,
                           max_disparity: float | None = None, timestamp_s: float = 0.0,
                           frame_id: str = "camera") -> dict:
    """Fields of a ``stereo_msgs/DisparityImage``: the 32FC1 image, f, T, range and delta_d.

    ROS marks invalid disparities with values below ``min_disparity``; NaN is replaced by
    ``min_disparity - 1``.
    """
    if not rig.is_rectified:
        raise ParameterError("disparity_image_fields needs a rectified rig (f and baseline)")
    d = np.asarray(disparity, dtype=np.float32)
    if d.ndim != 2:
        raise ParameterError(f"disparity must be (H, W); got shape {d.shape}")
    if max_disparity is None:
        max_disparity = float(np.nanmax(d)) if np.isfinite(d).any() else min_disparity
    img = np.where(np.isfinite(d), d, np.float32(min_disparity - 1)).astype(np.float32)
    return {
        "header": {"stamp": timestamp_s, "frame_id": frame_id},
        "image": {"height": d.shape[0], "width": d.shape[1], "encoding": "32FC1",
                  "is_bigendian": 0, "step": 4 * d.shape[1], "data": img.tobytes()},
        "f": float(rig.focal_px),
        "T": float(rig.baseline_m),
        "min_disparity": float(min_disparity),
        "max_disparity": float(max_disparity),
        "delta_d": 1.0 / 16.0,  # sub-pixel resolution of the matcher's parabola fit
    }
