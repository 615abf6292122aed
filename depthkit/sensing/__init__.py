"""Active sensors, raw measurements to metric depth.

- :mod:`depthkit.sensing.tof`: continuous-wave time-of-flight (phase decoding, multi-frequency
  unwrapping, radial-to-z, undistortion, flying-pixel filter, joint bilateral smoothing).
- :mod:`depthkit.sensing.structured_light`: Gray code + phase-shift patterns, decoding,
  projector-camera calibration and triangulation.

Numba kernels live in ``_kernels`` and are compiled on first use.
"""

from __future__ import annotations

from . import structured_light, tof
from .structured_light import (
    PatternSet,
    SLCaptureFrame,
    StructuredLightDecoder,
    calibrate_projector_camera,
)
from .tof import ToFDecoder, ToFRawFrame, decode_tof, unambiguous_range

__all__ = [
    "tof", "structured_light", "ToFDecoder", "ToFRawFrame", "decode_tof", "unambiguous_range",
    "PatternSet", "SLCaptureFrame", "StructuredLightDecoder", "calibrate_projector_camera",
]
