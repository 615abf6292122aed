"""What can be opened here: importable backends and connected cameras (``depthkit devices``)."""

from __future__ import annotations

import glob
import importlib
import logging

from ..errors import DepthkitError

__all__ = ["backends", "devices", "video_devices"]

log = logging.getLogger(__name__)

_BACKENDS = {  # backend -> (module, schemes it serves)
    "opencv": ("cv2", ["files", "video", "uvc"]),
    "pyrealsense2": ("pyrealsense2", ["realsense"]),
    "open3d": ("open3d", ["sim"]),
}


def backends() -> dict[str, dict]:
    """For each driver backend: whether it imports, its version or the import error, schemes."""
    out = {}
    for name, (module, schemes) in _BACKENDS.items():
        try:
            mod = importlib.import_module(module)
            ver = getattr(mod, "__version__", None)
            out[name] = {"available": True, "version": ver, "schemes": schemes}
        except Exception as exc:  # any import failure (missing libusb, ABI) means unavailable
            out[name] = {"available": False, "error": f"{type(exc).__name__}: {exc}",
                         "schemes": schemes}
    return out


def video_devices() -> list[dict]:
    """``/dev/video*`` devices with their V4L2 names where sysfs gives them (Linux)."""
    out = []
    for path in sorted(glob.glob("/dev/video*"), key=lambda p: (len(p), p)):
        idx = path.removeprefix("/dev/video")
        name = None
        try:
            with open(f"/sys/class/video4linux/video{idx}/name", encoding="utf-8") as f:
                name = f.read().strip()
        except OSError:
            pass
        out.append({"path": path, "uri": f"uvc://{idx}" if idx.isdigit() else f"uvc://{path}",
                     "name": name})
    return out


def devices() -> dict:
    """Connected cameras: ``{"realsense": [...], "video": [...], "errors": {...}}``."""
    result: dict = {"realsense": [], "video": video_devices(), "errors": {}}
    try:
        from .realsense import list_devices

        result["realsense"] = list_devices()
    except (DepthkitError, RuntimeError, OSError) as exc:
        result["errors"]["realsense"] = str(exc)
    return result
