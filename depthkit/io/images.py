"""Image and depth-image files: 8/16-bit images through OpenCV, depth as 16-bit PNG millimetres."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, ShapeError
from ._atomic import atomic_path


def read_image(path: str | os.PathLike, *, gray: bool = False) -> np.ndarray:
    """Read an image file as RGB ``(H, W, 3)`` (or grey ``(H, W)``), keeping 8 or 16 bits.

    Single-channel files stay ``(H, W)``.
    """
    import cv2

    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"image file not found: {p}")
    flag = cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_UNCHANGED
    img = cv2.imread(str(p), flag | (cv2.IMREAD_ANYDEPTH if not gray else 0))
    if img is None:
        raise FileFormatError(f"cannot decode image file {p} (unsupported or corrupt).")
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
        else:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an RGB(A) or grey uint8/uint16 image atomically (format from the suffix)."""
    import cv2

    a = np.asarray(image)
    if a.dtype not in (np.uint8, np.uint16):
        raise ShapeError(f"write_image takes uint8 or uint16 images; got {a.dtype}.")
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 3, 4))):
        raise ShapeError(
            f"write_image takes (H, W), (H, W, 3) RGB or (H, W, 4) RGBA images; got {a.shape}."
        )
    if a.ndim == 3 and a.shape[2] == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = cv2.cvtColor(a, cv2.COLOR_RGBA2BGRA)
    with atomic_path(path) as tmp:
        try:
            ok = cv2.imwrite(str(tmp), a)
        except cv2.error as exc:
            raise FileFormatError(
                f"OpenCV cannot write {path}: {str(exc).strip().splitlines()[-1]} "
                "(use a suffix such as .png, .jpg, .tiff)."
            ) from exc
        if not ok:
            raise FileFormatError(f"OpenCV could not write {path} (check the file suffix).")


def write_depth_png(path: str | os.PathLike, depth_m: np.ndarray) -> None:
    """Write metric depth as a 16-bit PNG in millimetres; NaN, <= 0 and > 65.535 m become 0."""
    d = np.asarray(depth_m, dtype=np.float64)
    if d.ndim != 2:
        raise ShapeError(f"depth must be (H, W); got shape {d.shape}.")
    mm = np.round(d * 1000.0)
    ok = np.isfinite(mm) & (mm > 0) & (mm <= 65535)
    out = np.zeros(d.shape, np.uint16)
    out[ok] = mm[ok].astype(np.uint16)
    write_image(path, out)


def read_depth_png(path: str | os.PathLike, *, depth_scale_m: float = 0.001) -> np.ndarray:
    """Read a 16-bit depth PNG into float32 metres; 0 becomes NaN."""
    raw = read_image(path)
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise FileFormatError(
            f"{path} is not a 16-bit single-channel depth PNG (got {raw.dtype}, shape {raw.shape})."
        )
    out = raw.astype(np.float32) * np.float32(depth_scale_m)
    out[raw == 0] = np.nan
    return out
