"""Input validation shared by the public functions (kernels never validate)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .errors import DataError, ParameterError, ShapeError

IMAGE_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)


def check_image(
    image,
    name: str,
    *,
    channels: Iterable[int] = (1, 3),
    dtypes: Iterable[type] = IMAGE_DTYPES,
    allow_nan: bool = False,
    min_size: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Return `image` as an ndarray after checking its shape and dtype.

    Accepted shapes are ``(H, W)`` (one channel) or ``(H, W, C)`` with ``C`` in `channels`.
    """
    if not isinstance(image, np.ndarray):
        raise ShapeError(f"`{name}` must be a numpy array; got {type(image).__name__}.")
    channels = tuple(channels)
    dtypes = tuple(np.dtype(d) for d in dtypes)
    if image.ndim == 2:
        c = 1
    elif image.ndim == 3:
        c = image.shape[2]
    else:
        raise ShapeError(
            f"`{name}` must be an (H, W) or (H, W, C) image; got an array of shape {image.shape}."
        )
    if c not in channels:
        want = " or ".join(("(H, W)" if k == 1 else f"(H, W, {k})") for k in channels)
        raise ShapeError(f"`{name}` must be {want}; got shape {image.shape}.")
    if image.dtype not in dtypes:
        raise ShapeError(
            f"`{name}` has dtype {image.dtype}; expected one of "
            f"{', '.join(str(d) for d in dtypes)}. Convert it with .astype(...)."
        )
    h, w = image.shape[:2]
    if h < min_size[0] or w < min_size[1]:
        raise ShapeError(
            f"`{name}` is {h}x{w} (HxW); it must be at least {min_size[0]}x{min_size[1]}."
        )
    if not allow_nan and image.dtype.kind == "f" and not np.all(np.isfinite(image)):
        raise DataError(
            f"`{name}` contains NaN or infinite values; replace them (e.g. np.nan_to_num) "
            "before passing the image."
        )
    return image


def check_same_size(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    """Raise :class:`ShapeError` if two images differ in height or width."""
    if a.shape[:2] != b.shape[:2]:
        raise ShapeError(
            f"`{names[0]}` and `{names[1]}` must have the same size; got "
            f"{a.shape[1]}x{a.shape[0]} and {b.shape[1]}x{b.shape[0]} (WxH)."
        )


def check_matrix(m, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Return `m` as a float64 array of exactly `shape` with finite values."""
    try:
        arr = np.asarray(m, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"`{name}` must be a numeric array of shape {shape}: {exc}") from exc
    if arr.shape != shape:
        raise ShapeError(f"`{name}` must have shape {shape}; got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"`{name}` contains NaN or infinite values.")
    return arr


def check_positive(value, name: str) -> float:
    """Return `value` as float if it is finite and > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"`{name}` must be a number; got {value!r}.") from exc
    if not np.isfinite(v) or v <= 0:
        raise ParameterError(f"`{name}` must be > 0; got {value!r}.")
    return v


def to_gray(image: np.ndarray) -> np.ndarray:
    """Convert an RGB (H, W, 3) image to (H, W) luminance in its own dtype; pass grey through."""
    if image.ndim == 2:
        return image
    import cv2

    if image.dtype == np.float64:
        image = image.astype(np.float32)
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
