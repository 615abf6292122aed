"""Stereo matching: Semi-Global Matching in numba (census cost, multi-path aggregation, checks).

>>> import depthkit as dk
>>> disp = dk.SGM(num_disparities=64).compute(left, right)   # doctest: +SKIP
"""

from __future__ import annotations

from .params import PRESETS, SGMParams
from .sgm import SGM

__all__ = ["SGM", "SGMParams", "PRESETS", "warmup"]


def warmup() -> None:
    """Compile (or load from numba's cache) every kernel on a tiny image pair."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (16, 24), dtype=np.uint8)
    b = np.roll(a, -2, axis=1)
    for preset in ("fast", "balanced", "quality"):
        SGM(8, preset=preset).compute(a, b)
    SGM(8, cost="bt", median=True, fill=True, occlusion_fill=True).compute(a, b)
    SGM(8, paths=5).compute(a, b)
    SGM(8, paths=16).compute(a, b)
