"""Recordings on disk: ``depthkit record`` writes them, ``recording://DIR`` plays them back.

A recording is a folder of image files plus ``manifest.json``.  Each frame's files are written
atomically first, then the manifest is rewritten atomically with the new frame appended, so a
crash (or a pulled cable) loses at most the frame that was being written; everything listed in
the manifest is complete.

Files per frame (``NNNNNN_<name>.<ext>``): stereo ``left``/``right`` (PNG for 8/16-bit, PFM
for float), depth ``depth`` (PFM, metres, NaN = invalid) with ``color`` (PNG, RGB),
``disparity`` and ``confidence`` (PFM), ground truth ``gt_depth``/``gt_disparity`` (PFM) and
``gt_occlusion`` (PNG 0/255).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, ParameterError, SourceError
from ..types import DepthFrame, GroundTruth, Intrinsics, RGBDFrame, StereoFrame, StereoRig
from .base import ParsedURI, Source, register

__all__ = ["RecordingWriter", "RecordingSource", "record", "MANIFEST", "rig_from_dict"]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = "depthkit-recording"
VERSION = 1


def rig_from_dict(d: dict) -> StereoRig:
    """Inverse of :meth:`StereoRig.to_dict`."""
    rect = {k: (None if d.get(k) is None else np.asarray(d[k], np.float64))
            for k in ("R1", "R2", "P1", "P2", "Q")}
    return StereoRig(Intrinsics(**d["left"]), Intrinsics(**d["right"]),
                     np.asarray(d["R"], np.float64), np.asarray(d["T"], np.float64),
                     rms=d.get("rms"), **rect)


def _kind_of(frame) -> str:
    if isinstance(frame, StereoFrame):
        return "stereo"
    if isinstance(frame, RGBDFrame):
        return "rgbd"
    if isinstance(frame, DepthFrame):
        return "depth"
    raise ParameterError(
        f"cannot record a {type(frame).__name__}; recordings hold StereoFrame, DepthFrame "
        "and RGBDFrame"
    )


class RecordingWriter:
    """Write frames to a recording folder, one frame at a time, crash-safe.

    Parameters
    ----------
    path : path-like
        Output folder (created; must not already hold a recording unless `overwrite`).
    source_uri : str
        Stored in the manifest for reference.
    overwrite : bool
        Replace an existing recording's manifest (old frame files are overwritten as needed).
    """

    def __init__(self, path, *, source_uri: str = "", overwrite: bool = False):
        self.path = Path(path)
        if (self.path / MANIFEST).exists() and not overwrite:
            raise FileFormatError(
                f"{self.path / MANIFEST} already exists; choose another folder or pass "
                "overwrite=True (--overwrite on the command line)"
            )
        if self.path.exists() and not self.path.is_dir():
            raise FileFormatError(f"{self.path} exists and is not a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        self._manifest: dict = {"format": FORMAT, "version": VERSION, "source": source_uri,
                                "kind": None, "rig": None, "intrinsics": None, "frames": []}

    def __len__(self) -> int:
        return len(self._manifest["frames"])

    def _save(self, name: str, image: np.ndarray) -> str:
        from ..io import write_image, write_pfm

        a = np.asarray(image)
        if a.dtype == np.bool_:
            a = a.astype(np.uint8) * 255
        if a.dtype in (np.uint8, np.uint16):
            fname = f"{len(self):06d}_{name}.png"
            write_image(self.path / fname, a)
        else:
            fname = f"{len(self):06d}_{name}.pfm"
            write_pfm(self.path / fname, a.astype(np.float32))
        return fname

    def write(self, frame) -> None:
        """Append one frame (its files first, then the manifest)."""
        kind = _kind_of(frame)
        m = self._manifest
        if m["kind"] is None:
            m["kind"] = kind
        elif m["kind"] != kind:
            raise ParameterError(f"this recording holds {m['kind']} frames; got a {kind} frame")
        files: dict[str, str] = {}
        entry: dict = {"sequence": frame.sequence, "timestamp_s": frame.timestamp_s}
        if kind == "stereo":
            files["left"] = self._save("left", frame.left)
            files["right"] = self._save("right", frame.right)
            entry["rectified"] = bool(frame.rectified)
            if frame.rig is not None and m["rig"] is None:
                m["rig"] = frame.rig.to_dict()
        else:
            files["depth"] = self._save("depth", frame.depth_m)
            if frame.confidence is not None:
                files["confidence"] = self._save("confidence", frame.confidence)
            if kind == "rgbd":
                if frame.color is not None:
                    files["color"] = self._save("color", frame.color)
                if frame.disparity is not None:
                    files["disparity"] = self._save("disparity", frame.disparity)
                if frame.pose is not None:
                    entry["pose"] = np.asarray(frame.pose).tolist()
            intr = frame.intrinsics.to_dict()
            if m["intrinsics"] != intr:
                entry["intrinsics"] = intr
                if m["intrinsics"] is None:
                    m["intrinsics"] = intr
        gt = frame.ground_truth
        if gt is not None:
            for name in ("depth_m", "disparity", "occlusion"):
                v = getattr(gt, name)
                if v is not None:
                    files[f"gt_{name.removesuffix('_m')}"] = self._save(
                        f"gt_{name.removesuffix('_m')}", v)
            if gt.pose is not None:
                entry["gt_pose"] = np.asarray(gt.pose).tolist()
        entry["files"] = files
        m["frames"].append(entry)
        self._flush()

    def _flush(self) -> None:
        from ..io import write_bytes_atomic

        write_bytes_atomic(self.path / MANIFEST,
                           json.dumps(self._manifest, indent=1).encode("utf-8"))

    def close(self) -> None:
        """Write the manifest (also for an empty recording)."""
        self._flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def record(source, path, *, frames: int | None = None, timeout: float = 5.0,
           overwrite: bool = False, progress: bool = True) -> int:
    """Copy frames from a source (or URI) into a recording folder; return how many.

    Parameters
    ----------
    source : Source or str
        An open source, or a URI for :func:`depthkit.open` (then closed at the end).
    path : path-like
        Recording folder, readable back with ``recording://PATH``.
    frames : int or None
        Stop after this many frames (None: until the source ends).
    timeout : float
        Seconds to wait for each frame.
    """
    from tqdm import tqdm

    from .base import open as open_source

    if frames is not None and (int(frames) != frames or frames < 1):
        raise ParameterError(f"frames must be a positive integer or None; got {frames!r}")
    own = isinstance(source, str)
    src = open_source(source) if own else source
    n = 0
    try:
        with RecordingWriter(path, source_uri=src.uri, overwrite=overwrite) as writer, \
                tqdm(total=frames, unit="frame", file=sys.stderr,
                     disable=None if progress else True) as bar:
            while frames is None or n < frames:
                frame = src.read(timeout)
                if frame is None:
                    break
                writer.write(frame)
                n += 1
                bar.update(1)
    finally:
        if own:
            src.close()
    return n


class RecordingSource(Source):
    """Plays back a folder written by :class:`RecordingWriter` (``recording://DIR``)."""

    live = False

    def __init__(self, uri: str, path, *, realtime: bool = False):
        super().__init__(uri)
        self.path = Path(path)
        mpath = self.path / MANIFEST
        if not mpath.is_file():
            raise FileFormatError(
                f"recording manifest not found: {mpath} (record one with `depthkit record "
                "SOURCE -o DIR`)"
            )
        try:
            m = json.loads(mpath.read_text(encoding="utf-8"))
            if m.get("format") != FORMAT:
                raise ValueError(f"format is {m.get('format')!r}, expected {FORMAT!r}")
            if int(m.get("version", 0)) > VERSION:
                raise ValueError(f"version {m['version']} is newer than this depthkit reads")
            frames = list(m["frames"])
            self.kind = m["kind"] or "stereo"
            self._rig = rig_from_dict(m["rig"]) if m.get("rig") else None
            self._intr = Intrinsics(**m["intrinsics"]) if m.get("intrinsics") else None
        except (ValueError, KeyError, TypeError) as exc:
            raise FileFormatError(f"corrupt recording manifest {mpath}: {exc}") from exc
        self._frames_meta = frames
        self._index = 0
        self._realtime = realtime
        self._t0: tuple[float, float] | None = None

    def __len__(self) -> int:
        return len(self._frames_meta)

    @property
    def rig(self):
        return self._rig

    @property
    def intrinsics(self):
        return self._intr if self._intr is not None else super().intrinsics

    def _load(self, entry: dict, name: str):
        from .files import read_any_image

        fname = entry["files"].get(name)
        if fname is None:
            return None
        p = self.path / fname
        if not p.is_file():
            raise FileFormatError(f"recording frame file missing: {p}")
        return read_any_image(p)

    def _read(self, timeout: float):
        if self._index >= len(self._frames_meta):
            return None
        frame = self._frame_at(self._index)
        if self._realtime:
            ts = frame.timestamp_s
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = (now, ts)
            else:
                wait = (ts - self._t0[1]) - (now - self._t0[0])
                if wait > 0:
                    time.sleep(min(wait, timeout))
        self._index += 1
        return frame

    def _frame_at(self, index: int):
        e = self._frames_meta[index]
        try:
            ts, seq = float(e["timestamp_s"]), int(e["sequence"])
            gt = None
            gt_parts = {k: self._load(e, f"gt_{k}") for k in ("depth", "disparity", "occlusion")}
            if any(v is not None for v in gt_parts.values()) or "gt_pose" in e:
                occ = gt_parts["occlusion"]
                gt = GroundTruth(depth_m=gt_parts["depth"], disparity=gt_parts["disparity"],
                                 occlusion=None if occ is None else occ > 127,
                                 pose=e.get("gt_pose"))
            if self.kind == "stereo":
                frame = StereoFrame(self._load(e, "left"), self._load(e, "right"),
                                    timestamp_s=ts, sequence=seq,
                                    rectified=bool(e.get("rectified", False)), rig=self._rig,
                                    ground_truth=gt)
            else:
                intr = Intrinsics(**e["intrinsics"]) if "intrinsics" in e else self._intr
                common = dict(depth_m=self._load(e, "depth"), intrinsics=intr, timestamp_s=ts,
                              sequence=seq, confidence=self._load(e, "confidence"),
                              ground_truth=gt)
                if self.kind == "rgbd":
                    frame = RGBDFrame(**common, color=self._load(e, "color"),
                                      disparity=self._load(e, "disparity"), pose=e.get("pose"))
                else:
                    frame = DepthFrame(**common)
        except FileFormatError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(
                f"frame {index} of recording {self.path} is corrupt: {exc}") from exc
        return frame

    def _extra_info(self) -> dict:
        return {"path": str(self.path), "length": len(self._frames_meta)}


def _open(parsed: ParsedURI) -> RecordingSource:
    from .base import parse_bool

    p = parsed.params({"realtime": parse_bool}, {"realtime": False})
    if not parsed.target:
        raise ParameterError(f"recording:// needs a folder: recording://DIR; got {parsed.uri!r}")
    target = os.path.expanduser(parsed.target)
    if not Path(target).exists():
        raise SourceError(f"recording folder not found: {target} (from {parsed.uri!r})")
    return RecordingSource(parsed.uri, target, **p)


register("recording", _open)
