"""Lazy imports of heavy or optional dependencies (open3d, pyrealsense2)."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

_HINTS = {
    "open3d": "pip install open3d-cpu  (or open3d; both provide the `open3d` module)",
    "pyrealsense2": "pip install pyrealsense2  (wheels exist for Linux x86_64 and Windows AMD64)",
    "dask": "pip install 'dask[distributed]'",
    "distributed": "pip install 'dask[distributed]'",
}


def require(module: str) -> ModuleType:
    """Import `module` on first use, or raise one clear :class:`MissingDependencyError`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = _HINTS.get(module.split(".")[0], f"pip install {module}")
        raise MissingDependencyError(
            f"{module} is needed for this feature but cannot be imported ({exc}). "
            f"Install it: {hint}"
        ) from exc
