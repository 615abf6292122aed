"""depthkit's exceptions.

Every error depthkit raises on purpose derives from :class:`DepthkitError` and also from the
built-in type a caller would catch anyway (``ValueError``, ``RuntimeError``, ``ImportError``,
``OSError``), so ``except ValueError`` keeps working.  Messages say what was expected, what
came, and what to do.
"""

from __future__ import annotations

__all__ = [
    "DepthkitError",
    "ShapeError",
    "ParameterError",
    "DataError",
    "FileFormatError",
    "CalibrationError",
    "SourceError",
    "DeviceError",
    "DeviceDisconnectedError",
    "SourceTimeoutError",
    "MissingDependencyError",
    "ClusterError",
]


class DepthkitError(Exception):
    """Base class of every error depthkit raises on purpose."""


class ShapeError(DepthkitError, ValueError):
    """An array has the wrong shape, size or dtype."""


class ParameterError(DepthkitError, ValueError):
    """A parameter is out of range or inconsistent with another."""


class DataError(DepthkitError, ValueError):
    """Input data is unusable (NaN where none is allowed, empty, inconsistent)."""


class FileFormatError(DepthkitError, ValueError):
    """A file is missing, unreadable, truncated or not of the expected format."""


class CalibrationError(DepthkitError, RuntimeError):
    """Calibration failed or is missing; carries diagnostics where there are some."""

    def __init__(self, message: str, **diagnostics):
        super().__init__(message)
        self.diagnostics = diagnostics


class SourceError(DepthkitError, RuntimeError):
    """A frame source cannot be opened or read (unknown URI, missing recording, ...)."""


class DeviceError(SourceError):
    """A camera device is absent, busy or does not support the requested mode."""


class DeviceDisconnectedError(DeviceError):
    """A camera stopped delivering frames in the middle of a stream."""


class SourceTimeoutError(SourceError, TimeoutError):
    """No frame arrived within the timeout."""


class MissingDependencyError(DepthkitError, ImportError):
    """An optional dependency needed for this feature is not installed."""


class ClusterError(DepthkitError, RuntimeError):
    """A compute cluster (Dask scheduler) cannot be reached or refused the work."""
