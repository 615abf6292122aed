"""``video://PATH?layout=side-by-side|top-bottom``: stereo pairs from one video file.

Each video frame holds both views, left|right (``side-by-side``) or left over right
(``top-bottom``), as stereo cameras with one sensor (ZED, many USB stereo modules) record them.
Timestamps are the video's own presentation times.  Parameters: ``layout`` (required),
``rectified=1`` (the views are row-aligned), ``gray=1``, ``rig=PATH`` (calibration file).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, ParameterError, ShapeError, SourceError
from ..types import StereoFrame
from .base import ParsedURI, Source, parse_bool, register
from .files import load_rig_param

__all__ = ["VideoSource", "split_views", "LAYOUTS", "to_rgb"]

log = logging.getLogger(__name__)

LAYOUTS = ("side-by-side", "top-bottom")


def check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
    return layout


def split_views(image: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Split a combined frame into ``(left, right)`` views.

    ``side-by-side``: left half | right half; ``top-bottom``: top half is the left view.
    The dimension split must be even.
    """
    h, w = image.shape[:2]
    if layout == "side-by-side":
        if w % 2:
            raise ShapeError(f"a side-by-side frame needs an even width; got {w}x{h} (WxH)")
        return image[:, : w // 2], image[:, w // 2:]
    if layout == "top-bottom":
        if h % 2:
            raise ShapeError(f"a top-bottom frame needs an even height; got {w}x{h} (WxH)")
        return image[: h // 2], image[h // 2:]
    raise ParameterError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")


def to_rgb(bgr: np.ndarray, gray: bool = False) -> np.ndarray:
    """OpenCV's BGR (or grey) frame as depthkit's RGB (or grey), contiguous."""
    import cv2

    if bgr.ndim == 2:
        return bgr if gray else cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
    if gray:
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def open_video_file(path: str):
    """``cv2.VideoCapture`` of a file, or FileFormatError naming the file."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"video file not found: {p}")
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        cap.release()
        raise FileFormatError(
            f"cannot open video file {p}: OpenCV (FFmpeg) does not recognise it as a video "
            "(corrupt, truncated or an unsupported codec)"
        )
    return cap


class VideoSource(Source):
    """Stereo frames split from a side-by-side or top-bottom video file."""

    kind = "stereo"
    live = False

    def __init__(self, uri: str, path: str, *, layout: str, rectified: bool = False,
                 gray: bool = False, rig=None):
        super().__init__(uri)
        self.path = path
        self._cap = open_video_file(path)
        self._layout, self._rectified, self._gray, self._rig = layout, rectified, gray, rig
        self._seq = 0

    def _read(self, timeout: float):
        import cv2

        ok, img = self._cap.read()
        if not ok:
            return None
        t = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        left, right = split_views(to_rgb(img, self._gray), self._layout)
        frame = StereoFrame(np.ascontiguousarray(left), np.ascontiguousarray(right),
                            timestamp_s=t, sequence=self._seq, rectified=self._rectified,
                            rig=self._rig)
        self._seq += 1
        return frame

    @property
    def rig(self):
        return self._rig

    def _extra_info(self) -> dict:
        import cv2

        return {"path": self.path, "layout": self._layout,
                "fps": self._cap.get(cv2.CAP_PROP_FPS) if self._cap is not None else None}

    def _close(self) -> None:
        self._cap.release()


def _open(parsed: ParsedURI) -> VideoSource:
    p = parsed.params({"layout": check_layout, "rectified": parse_bool, "gray": parse_bool,
                       "rig": load_rig_param},
                      {"rectified": False, "gray": False})
    if "layout" not in p:
        raise ParameterError(
            f"video:// needs the frame layout: video://PATH?layout=side-by-side or "
            f"?layout=top-bottom; got {parsed.uri!r}"
        )
    if not parsed.target:
        raise SourceError(f"video:// needs a file path; got {parsed.uri!r}")
    return VideoSource(parsed.uri, os.path.expanduser(parsed.target), **p)


register("video", _open)
