"""Fixtures of the app tests: a folder of stereo pairs with one corrupt file."""

from pathlib import Path

import numpy as np
import pytest


def _only_the_corrupt_frame_failed(summary: dict, out: Path) -> None:
    assert summary["frames_done"] == 3 and summary["frames_failed"] == 1, summary
    (failure,) = summary["failed"]
    assert failure["key"] == "000002" and "L2.png" in failure["error"]
    assert sorted(p.name for p in out.glob("*_disparity.pfm")) == [
        f"{i:06d}_disparity.pfm" for i in (0, 1, 3)]


@pytest.fixture
def corrupt_pairs(tmp_path):
    """A ``files://`` URI of four rectified pairs whose pair 2 has a left "PNG" that is not an
    image, and a check of a run's summary and output folder: that frame alone failed."""
    import cv2

    d = tmp_path / "pairs"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        a = rng.integers(0, 255, (48, 96), dtype=np.uint8)
        cv2.imwrite(str(d / f"L{i}.png"), a)
        cv2.imwrite(str(d / f"R{i}.png"), np.roll(a, -3, axis=1))
    (d / "L2.png").write_bytes(b"not a png")
    return f"files://{d}/L*.png,{d}/R*.png?rectified=1", _only_the_corrupt_frame_failed
