"""Reading by index equals reading in order, for every seekable source: `depthkit depth` reads
frames by index (in its own process and on cluster workers), other tools read in order."""

import dataclasses

import numpy as np
import pytest

import depthkit as dk


def _assert_same(a, b, where=""):
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            _assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), where
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{k}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    else:
        assert a == b, where


def _uris(shared_data, tmp_path):
    rec = tmp_path / "rec"
    dk.sources.record("sim://rgbd?size=64x48&frames=3", rec, progress=False)
    return {
        "sim stereo raw": "sim://stereo?size=64x48&frames=3&trajectory=orbit",
        "sim stereo rectified": "sim://stereo?size=64x48&frames=3&rectified=1",
        "sim tof": "sim://tof?size=64x48&frames=2",
        "middlebury": f"middlebury://{shared_data / 'middlebury2001'}",
        "kitti": f"kitti://{shared_data / 'kitti2015'}",
        "recording": f"recording://{rec}",
    }


@pytest.mark.parametrize("name", ["sim stereo raw", "sim stereo rectified", "sim tof",
                                  "middlebury", "kitti", "recording"])
def test_read_at_equals_reading_in_order(name, shared_data, tmp_path):
    uri = _uris(shared_data, tmp_path)[name]
    with dk.open(uri) as src:
        assert src.seekable
        in_order = list(src)
    with dk.open(uri) as src:
        assert len(src) == len(in_order) > 0
        for i in reversed(range(len(src))):  # any order
            _assert_same(src.read_at(i), in_order[i], f"{name}[{i}]")
