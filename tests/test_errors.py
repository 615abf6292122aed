"""depthkit.errors: one base class, and each error is also the built-in type callers catch."""

from __future__ import annotations

import sys

import pytest

import depthkit as dk
from depthkit import errors


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.ShapeError, ValueError),
        (errors.ParameterError, ValueError),
        (errors.DataError, ValueError),
        (errors.FileFormatError, ValueError),
        (errors.CalibrationError, RuntimeError),
        (errors.SourceError, RuntimeError),
        (errors.DeviceError, RuntimeError),
        (errors.DeviceDisconnectedError, RuntimeError),
        (errors.SourceTimeoutError, TimeoutError),
        (errors.MissingDependencyError, ImportError),
    ],
)
def test_hierarchy(cls, builtin):
    assert issubclass(cls, errors.DepthkitError)
    assert issubclass(cls, builtin)
    with pytest.raises(builtin, match="what went wrong"):
        raise cls("what went wrong")


def test_all_names_exported():
    for name in errors.__all__:
        assert isinstance(getattr(errors, name), type)
    assert dk.DepthkitError is errors.DepthkitError
    assert issubclass(errors.DeviceDisconnectedError, errors.DeviceError)
    assert issubclass(errors.SourceTimeoutError, errors.SourceError)


def test_calibration_error_carries_diagnostics():
    exc = errors.CalibrationError("RMS too high", rms=3.2, views_used=4)
    assert exc.diagnostics == {"rms": 3.2, "views_used": 4}
    assert str(exc) == "RMS too high"


def test_missing_dependency_message(monkeypatch):
    from depthkit._optional import require

    with pytest.raises(errors.MissingDependencyError, match=r"pip install no_such_module_xyz"):
        require("no_such_module_xyz")
    monkeypatch.setitem(sys.modules, "open3d", None)  # as if open3d were not installed
    with pytest.raises(ImportError, match=r"open3d is needed .* pip install open3d-cpu"):
        require("open3d")
