"""depthkit: stereo, time-of-flight and structured light to metric depth and 3D.

``import depthkit as dk`` stays light: heavy stages (and open3d, pyrealsense2) are imported on
first use of the names below.
"""

from __future__ import annotations

import importlib

from . import errors
from .errors import DepthkitError
from .types import DepthFrame, GroundTruth, Intrinsics, RGBDFrame, StereoFrame, StereoRig

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("depthkit")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

# public name -> module that defines it (imported lazily)
_LAZY = {
    "SGM": "depthkit.stereo",
    "SGMParams": "depthkit.stereo",
    "open": "depthkit.sources",
    "Source": "depthkit.sources",
    "Pipeline": "depthkit.pipeline",
    "Fusion": "depthkit.geometry",
    "disparity_to_depth": "depthkit.geometry",
    "depth_to_disparity": "depthkit.geometry",
    "to_pointcloud": "depthkit.geometry",
    "Rectifier": "depthkit.calibration",
    "calibrate_stereo": "depthkit.calibration",
    "rectify_rig": "depthkit.calibration",
    "load_board": "depthkit.calibration",
    "load_rig": "depthkit.calibration",
    "save_rig": "depthkit.calibration",
}
_SUBMODULES = {"io", "eval", "stereo", "sim", "calibration", "sources", "geometry", "sensing",
               "pipeline", "batch", "ros"}

__all__ = [
    "__version__", "errors", "DepthkitError", "Intrinsics", "StereoRig", "GroundTruth",
    "StereoFrame", "DepthFrame", "RGBDFrame", *sorted(_LAZY), *sorted(_SUBMODULES),
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"depthkit.{name}")
    else:
        raise AttributeError(f"module 'depthkit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
