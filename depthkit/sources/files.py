"""``files://LEFT_GLOB,RIGHT_GLOB``: stereo pairs from image files, matched by name.

The part of each file name matched by the glob's wildcards is its key; a left and a right file
with the same key form a pair (``left01.png`` + ``right01.png``, ``image_2/000046_10.png`` +
``image_3/000046_10.png``).  Pairs come in natural order of their keys (``2`` before ``10``).
Files without a partner are skipped, logged and reported in ``info().extra["unmatched"]``.

Query parameters: ``gray=1`` (read as grey), ``rectified=1`` (the pairs are row-aligned),
``fps=N`` (timestamps ``sequence / fps``; default 0 = all timestamps 0), ``rig=PATH`` (a rig
file from ``depthkit calibrate``, attached to every frame).  URIs cannot contain a
literal ``?`` wildcard (it starts the query); use ``*`` or ``[0-9]``.
"""

from __future__ import annotations

import glob
import logging
import re
from pathlib import Path

from ..errors import FileFormatError, ParameterError, ShapeError, SourceError
from ..types import StereoFrame
from .base import ParsedURI, Source, nonneg_float, parse_bool, register

__all__ = ["FilesSource", "match_pairs", "natural_key", "load_rig_param"]

log = logging.getLogger(__name__)

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".pfm"}


def load_rig_param(value: str):
    """``rig=PATH`` query value -> :class:`~depthkit.types.StereoRig` (a rig file written by
    ``depthkit calibrate`` / :func:`depthkit.calibration.save_rig`)."""
    import os

    from ..calibration import load_rig

    return load_rig(os.path.expanduser(value))


def natural_key(text: str) -> list:
    """Sort key that orders embedded numbers by value (``img2`` before ``img10``)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def _glob_regex(pattern: str) -> re.Pattern:
    """A regex equal to the glob `pattern` with one capture group per wildcard."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            while i + 1 < len(pattern) and pattern[i + 1] == "*":
                i += 1
            out.append("(.*)")
        elif c == "?":
            out.append("(.)")
        elif c == "[":
            j = pattern.find("]", i + 2)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"([{body}])")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _keyed(pattern: str) -> dict[tuple, Path]:
    rx = _glob_regex(pattern)
    out: dict[tuple, Path] = {}
    for name in glob.glob(pattern, recursive=True):
        p = Path(name)
        if not p.is_file() or p.suffix.lower() not in _IMAGE_SUFFIXES:
            continue
        m = rx.match(name)
        key = m.groups() if m else (p.stem,)
        out[key] = p
    return out


def match_pairs(left_glob: str, right_glob: str) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Pair the files of two globs by what their wildcards matched.

    Returns ``(pairs, unmatched)``: the pairs in natural order of their keys, and the files of
    either side that have no partner.
    """
    left, right = _keyed(left_glob), _keyed(right_glob)
    keys = sorted(set(left) & set(right), key=lambda k: natural_key("/".join(k)))
    pairs = [(left[k], right[k]) for k in keys]
    unmatched = sorted([left[k] for k in set(left) - set(right)]
                       + [right[k] for k in set(right) - set(left)])
    return pairs, unmatched


def read_any_image(path: Path, *, gray: bool = False):
    """An image file as an array: PFM as float32, others through OpenCV (RGB)."""
    from ..io import read_image, read_pfm

    if path.suffix.lower() == ".pfm":
        return read_pfm(path)
    return read_image(path, gray=gray)


class FilesSource(Source):
    """Stereo pairs from two globs of image files (see the module docstring)."""

    kind = "stereo"
    live = False

    def __init__(self, uri: str, left_glob: str, right_glob: str, *, gray: bool = False,
                 rectified: bool = False, fps: float = 0.0, rig=None):
        super().__init__(uri)
        self._pairs, self._unmatched = match_pairs(left_glob, right_glob)
        if not self._pairs:
            nl, nr = len(_keyed(left_glob)), len(_keyed(right_glob))
            raise SourceError(
                f"files://: no stereo pairs for {uri!r}: the left glob {left_glob!r} matched "
                f"{nl} image file(s), the right glob {right_glob!r} matched {nr}, and none share "
                "a name key. Check the paths; the parts matched by * must agree on both sides."
            )
        if self._unmatched:
            log.warning("files://: %d file(s) have no partner and are skipped (first: %s)",
                        len(self._unmatched), self._unmatched[0])
        self._gray, self._rectified, self._fps, self._rig = gray, rectified, fps, rig
        self._index = 0

    def __len__(self) -> int:
        return len(self._pairs)

    @property
    def pairs(self) -> list[tuple[Path, Path]]:
        """The matched ``(left, right)`` file paths, in reading order."""
        return list(self._pairs)

    @property
    def rig(self):
        return self._rig

    def _read(self, timeout: float):
        if self._index >= len(self._pairs):
            return None
        frame = self._frame_at(self._index)
        self._index += 1
        return frame

    def _frame_at(self, i: int):
        lp, rp = self._pairs[i]
        left = read_any_image(lp, gray=self._gray)
        right = read_any_image(rp, gray=self._gray)
        ts = i / self._fps if self._fps > 0 else 0.0
        try:
            frame = StereoFrame(left, right, timestamp_s=ts, sequence=i,
                                rectified=self._rectified, rig=self._rig)
        except ShapeError as exc:
            raise FileFormatError(f"pair {lp} / {rp} does not form a stereo frame: {exc}") from exc
        return frame

    def _extra_info(self) -> dict:
        return {"pairs": len(self._pairs), "unmatched": [str(p) for p in self._unmatched]}


def _open(parsed: ParsedURI) -> FilesSource:
    p = parsed.params({"gray": parse_bool, "rectified": parse_bool, "fps": nonneg_float,
                       "rig": load_rig_param},
                      {"gray": False, "rectified": False, "fps": 0.0})
    parts = parsed.target.split(",")
    if len(parts) != 2 or not all(parts):
        raise ParameterError(
            f"files:// takes two globs separated by one comma, files://LEFT_GLOB,RIGHT_GLOB; "
            f"got {parsed.target!r} in {parsed.uri!r}"
        )
    return FilesSource(parsed.uri, parts[0], parts[1], **p)


register("files", _open)
