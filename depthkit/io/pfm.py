"""Portable Float Map (PFM) read/write, as used by Middlebury 2014 and ETH3D.

Header ``Pf`` (one channel) or ``PF`` (three), then ``width height``, then the scale whose sign
gives the byte order (negative = little-endian). Rows are stored bottom to top.
"""

from __future__ import annotations

import os
import re

import numpy as np

from ..errors import FileFormatError, ShapeError
from ._atomic import write_bytes_atomic

_HEADER = re.compile(rb"^(P[Ff])\s+(\d+)\s+(\d+)\s+([-+0-9.eE]+)\s")


def read_pfm(path: str | os.PathLike) -> np.ndarray:
    """Read a PFM file into a float32 array, ``(H, W)`` or ``(H, W, 3)``, top row first.

    ``inf`` and NaN values are kept as they are in the file.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise FileFormatError(f"cannot read PFM file {path}: {exc.strerror or exc}") from exc
    m = _HEADER.match(data[:256])
    if m is None:
        raise FileFormatError(
            f"{path} is not a PFM file: expected a header 'Pf' or 'PF', width, height, scale; "
            f"got {data[:16]!r}."
        )
    kind, w, h, scale = m.group(1), int(m.group(2)), int(m.group(3)), float(m.group(4))
    if w <= 0 or h <= 0 or scale == 0:
        raise FileFormatError(f"{path}: invalid PFM header (width {w}, height {h}, scale {scale}).")
    c = 3 if kind == b"PF" else 1
    endian = "<" if scale < 0 else ">"
    need = w * h * c * 4
    body = data[m.end():]
    if len(body) < need:
        raise FileFormatError(
            f"{path} is truncated: a {w}x{h}x{c} PFM needs {need} bytes of data, found {len(body)}."
        )
    arr = np.frombuffer(body[:need], dtype=f"{endian}f4").astype(np.float32)
    shape = (h, w, c) if c == 3 else (h, w)
    return np.ascontiguousarray(np.flipud(arr.reshape(shape)))


def write_pfm(path: str | os.PathLike, image: np.ndarray, *, little_endian: bool = True) -> None:
    """Write a float image ``(H, W)`` or ``(H, W, 3)`` to PFM atomically (NaN/inf kept)."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ShapeError(f"PFM holds (H, W) or (H, W, 3) images; got shape {a.shape}.")
    if a.dtype.kind != "f":
        raise ShapeError(
            f"PFM holds float images; got dtype {a.dtype}. Convert with .astype(np.float32).")
    h, w = a.shape[:2]
    kind = b"PF" if a.ndim == 3 else b"Pf"
    endian = "<" if little_endian else ">"
    scale = -1.0 if little_endian else 1.0
    header = kind + b"\n" + f"{w} {h}\n{scale}\n".encode()
    body = np.flipud(a).astype(f"{endian}f4").tobytes()
    write_bytes_atomic(path, header + body)
