"""Score depthkit's output against ground truth: stereo dataset readers and error metrics.

``load_scene`` reads any benchmark scene layout in the project's data (Middlebury 2001-2014,
ETH3D two-view, KITTI 2015) into a :class:`StereoScene`; ``find_scenes`` lists the scenes under
a folder.  The metrics are plain numpy with NaN = invalid (see :mod:`depthkit.eval.metrics`).
"""

from .datasets import (
    StereoScene,
    evaluate_predictions,
    find_scenes,
    load_scene,
    parse_calib_txt,
    prediction_path,
)
from .metrics import (
    bad_pixel_rate,
    density,
    depth_absrel,
    depth_rmse,
    depth_within,
    end_point_error,
    evaluate_depth,
    evaluate_disparity,
    kitti_d1,
)

__all__ = [
    "StereoScene", "load_scene", "find_scenes", "prediction_path", "parse_calib_txt",
    "evaluate_predictions", "bad_pixel_rate", "end_point_error", "density", "kitti_d1",
    "depth_rmse", "depth_absrel", "depth_within", "evaluate_disparity", "evaluate_depth",
]
