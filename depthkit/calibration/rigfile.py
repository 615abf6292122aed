"""Rig files: OpenCV ``FileStorage`` YAML, and ROS ``camera_info`` YAML for each camera.

The rig file holds ``K1 D1 K2 D2 R T`` (and, once rectified, ``R1 R2 P1 P2 Q``),
``image_width``, ``image_height`` and ``rms``, so ``cv2.FileStorage(path, READ)`` reads it from
C++ or Python. OpenCV sample files that name the camera matrices ``M1``/``M2`` load too; split
intrinsics/extrinsics files (OpenCV's stereo_calib sample) load with ``load_rig([intr, extr],
image_size=(w, h))``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, ParameterError
from ..io import atomic_path
from ..types import Intrinsics, StereoRig

__all__ = ["save_rig", "load_rig", "save_ros_camera_info", "load_ros_camera_info"]

_RECT_KEYS = ("R1", "R2", "P1", "P2", "Q")


def save_rig(rig: StereoRig, path: str | os.PathLike) -> None:
    """Write `rig` as OpenCV FileStorage YAML (atomically); the suffix must be .yaml or .yml."""
    import cv2

    if not isinstance(rig, StereoRig):
        raise ParameterError(f"rig must be a StereoRig; got {type(rig).__name__}.")
    p = Path(path)
    if p.suffix.lower() not in (".yaml", ".yml"):
        raise ParameterError(f"rig files are YAML: give a .yaml or .yml path; got {p.name!r}.")
    if rig.left.size != rig.right.size or rig.left.model != rig.right.model:
        raise ParameterError(
            "rig files hold one image size and camera model; the two cameras differ "
            f"({rig.left.size} {rig.left.model} and {rig.right.size} {rig.right.model})."
        )
    with atomic_path(p) as tmp:
        fs = cv2.FileStorage(str(tmp), cv2.FILE_STORAGE_WRITE)
        try:
            fs.writeComment("depthkit stereo rig: x_right = R x_left + T; T in metres "
                            "(board units for a board without physical scale)")
            fs.write("image_width", int(rig.left.width))
            fs.write("image_height", int(rig.left.height))
            fs.write("K1", rig.left.K)
            fs.write("D1", rig.left.D.reshape(1, -1))
            fs.write("K2", rig.right.K)
            fs.write("D2", rig.right.D.reshape(1, -1))
            fs.write("model", rig.left.model)  # pinhole (plumb_bob/rational) or fisheye
            fs.write("R", np.asarray(rig.R, np.float64))
            fs.write("T", np.asarray(rig.T, np.float64).reshape(3, 1))
            if rig.is_rectified:
                for k in _RECT_KEYS:
                    fs.write(k, np.asarray(getattr(rig, k), np.float64))
            fs.write("rms", -1.0 if rig.rms is None else float(rig.rms))
        finally:
            fs.release()


def _read_fs(path: Path) -> dict:
    import cv2

    if not path.is_file():
        raise FileFormatError(f"rig file not found: {path}")
    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError) as exc:  # SystemError: OpenCV's parser error, re-wrapped
        raise FileFormatError(f"cannot parse rig file {path} as OpenCV YAML/XML: {exc}") from exc
    if not fs.isOpened():
        raise FileFormatError(f"cannot open rig file {path} as OpenCV YAML/XML.")
    out = {}
    try:
        root = fs.root()
        for key in root.keys():
            node = fs.getNode(key)
            if node.isReal() or node.isInt():
                out[key] = node.real()
            elif node.isString():
                out[key] = node.string()
            else:
                m = node.mat()
                if m is not None:
                    out[key] = np.asarray(m, dtype=np.float64)
    finally:
        fs.release()
    return out


def load_rig(path, *, image_size: tuple[int, int] | None = None) -> StereoRig:
    """Read a rig file written by :func:`save_rig` (or OpenCV's stereo_calib sample).

    Parameters
    ----------
    path : path or sequence of paths
        One rig file, or several whose keys are merged (e.g. ``intrinsics.yml`` and
        ``extrinsics.yml``).
    image_size : (width, height), optional
        Needed when the files do not store ``image_width``/``image_height``.
    """
    paths = [Path(p) for p in path] if isinstance(path, (list, tuple)) else [Path(path)]
    data: dict = {}
    for p in paths:
        data.update(_read_fs(p))
    where = ", ".join(str(p) for p in paths)
    for a, b in (("K1", "M1"), ("K2", "M2")):
        if a not in data and b in data:
            data[a] = data[b]
    need = ["K1", "D1", "K2", "D2", "R", "T"]
    if image_size is None:
        need += ["image_width", "image_height"]
    missing = [k for k in need if k not in data]
    if missing:
        hint = (" (or pass image_size=(w, h))" if set(missing) & {"image_width", "image_height"}
                else "")
        raise FileFormatError(f"rig file {where} is missing key(s): {', '.join(missing)}{hint}.")
    if image_size is not None:
        w, h = (int(v) for v in image_size)
    else:
        w, h = int(data["image_width"]), int(data["image_height"])
    model = data.get("model", "pinhole")
    if model not in ("pinhole", "fisheye"):
        raise FileFormatError(f"rig file {where}: model must be pinhole or fisheye; got {model!r}.")
    trim = np.ravel if model == "fisheye" else _trim
    try:
        left = Intrinsics.from_K(data["K1"], w, h, trim(data["D1"]), model)
        right = Intrinsics.from_K(data["K2"], w, h, trim(data["D2"]), model)
        rect = {}
        present = [k for k in _RECT_KEYS if k in data]
        if present and len(present) < len(_RECT_KEYS):
            missing = [k for k in _RECT_KEYS if k not in data]
            raise FileFormatError(
                f"rig file {where} has {', '.join(present)} but not {', '.join(missing)}; "
                "a rectification needs all of R1 R2 P1 P2 Q."
            )
        if present:
            rect = {k: data[k] for k in _RECT_KEYS}
        rms = data.get("rms")
        rms = None if rms is None or rms < 0 else float(rms)
        return StereoRig(left, right, data["R"], np.ravel(data["T"]), rms=rms, **rect)
    except FileFormatError:
        raise
    except ValueError as exc:
        raise FileFormatError(f"rig file {where} holds invalid values: {exc}") from exc


def _trim(d) -> tuple[float, ...]:
    """Distortion as a tuple of a length Intrinsics accepts (drop trailing zeros of 14)."""
    d = [float(x) for x in np.ravel(d)]
    for n in (4, 5, 8, 12, 14):
        if len(d) >= n and not any(d[n:]):
            return tuple(d[:n])
    return tuple(d)


# ----------------------------------------------------------------------------- ROS
def _ros_dict(name, intr: Intrinsics, R, P) -> dict:
    d = list(intr.D)
    if intr.model == "fisheye":
        model = "equidistant"
    elif len(d) == 4:
        d = d + [0.0]
        model = "plumb_bob"
    elif len(d) == 5:
        model = "plumb_bob"
    elif len(d) == 8:
        model = "rational_polynomial"
    else:
        raise ParameterError(
            f"ROS camera_info has no model for {len(d)} distortion coefficients "
            "(plumb_bob: 5, rational_polynomial: 8, equidistant: 4)."
        )

    def mat(a, rows, cols):
        return {"rows": rows, "cols": cols, "data": [float(x) for x in np.ravel(a)]}

    return {
        "image_width": intr.width,
        "image_height": intr.height,
        "camera_name": name,
        "camera_matrix": mat(intr.K, 3, 3),
        "distortion_model": model,
        "distortion_coefficients": mat(d, 1, len(d)),
        "rectification_matrix": mat(R, 3, 3),
        "projection_matrix": mat(P, 3, 4),
    }


def save_ros_camera_info(rig: StereoRig, left_path, right_path, *,
                         names: tuple[str, str] = ("left", "right")) -> None:
    """Write ROS ``camera_info`` YAML files (as ``camera_calibration_parsers`` reads them).

    Fisheye cameras are written with ROS's ``equidistant`` model.
    The rig is rectified first if needed (alpha 0). The right projection matrix carries
    ``Tx = -fx' * B`` in ``P[0, 3]`` (``Ty`` in ``P[1, 3]`` for a vertical rig), B in metres.
    """
    import yaml

    if not isinstance(rig, StereoRig):
        raise ParameterError(f"rig must be a StereoRig; got {type(rig).__name__}.")
    if not rig.is_rectified:
        from .rectify import rectify_rig

        rig = rectify_rig(rig)
    for path, name, intr, R, P in ((left_path, names[0], rig.left, rig.R1, rig.P1),
                                   (right_path, names[1], rig.right, rig.R2, rig.P2)):
        text = yaml.safe_dump(_ros_dict(name, intr, R, P), sort_keys=False,
                              default_flow_style=None)
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text)


def _read_ros(path) -> dict:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"camera_info file not found: {p}")
    try:
        d = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise FileFormatError(f"camera_info file {p} is not valid YAML: {exc}") from exc
    keys = ("image_width", "image_height", "camera_matrix", "distortion_coefficients",
            "rectification_matrix", "projection_matrix")
    missing = [k for k in keys if not isinstance(d, dict) or k not in d]
    if missing:
        raise FileFormatError(f"camera_info file {p} is missing key(s): {', '.join(missing)}.")

    def arr(key, shape):
        try:
            a = np.asarray(d[key]["data"], dtype=np.float64)
            return a.reshape(shape) if shape else a
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"camera_info file {p}: bad {key!r}: {exc}") from exc

    model = d.get("distortion_model", "plumb_bob")
    if model not in ("plumb_bob", "rational_polynomial", "equidistant"):
        raise FileFormatError(
            f"camera_info file {p}: distortion_model {model!r} is not supported "
            "(plumb_bob, rational_polynomial, equidistant)."
        )
    return {"model": "fisheye" if model == "equidistant" else "pinhole",
            "w": int(d["image_width"]), "h": int(d["image_height"]),
            "K": arr("camera_matrix", (3, 3)), "D": arr("distortion_coefficients", None),
            "R": arr("rectification_matrix", (3, 3)), "P": arr("projection_matrix", (3, 4))}


def q_from_projections(P1: np.ndarray, P2: np.ndarray) -> np.ndarray:
    """OpenCV's disparity-to-depth matrix Q from rectified projection matrices."""
    P1, P2 = np.asarray(P1, float), np.asarray(P2, float)
    f, cx, cy = P1[0, 0], P1[0, 2], P1[1, 2]
    if abs(P2[1, 3]) > abs(P2[0, 3]):  # vertical rig: disparity along columns
        t = P2[1, 3] / P2[1, 1]
        return np.array([[1, 0, 0, -cx], [0, 1, 0, -cy], [0, 0, 0, f],
                         [0, 0, -1 / t, (cy - P2[1, 2]) / t]])
    t = P2[0, 3] / P2[0, 0]
    return np.array([[1, 0, 0, -cx], [0, 1, 0, -cy], [0, 0, 0, f],
                     [0, 0, -1 / t, (cx - P2[0, 2]) / t]])


def load_ros_camera_info(left_path, right_path) -> StereoRig:
    """Build a rectified ``StereoRig`` from a left and a right ROS ``camera_info`` YAML.

    R and T follow from the rectification: ``R = R2^T R1``, ``T = R2^T (Tx/fx', Ty/fy', 0)``.
    """
    a, b = _read_ros(left_path), _read_ros(right_path)
    if (a["w"], a["h"]) != (b["w"], b["h"]):
        raise FileFormatError(
            f"{left_path} is {a['w']}x{a['h']} but {right_path} is {b['w']}x{b['h']}; a stereo "
            "pair needs one image size."
        )
    P1, P2 = a["P"], b["P"]
    t_rect = np.array([P2[0, 3] / P2[0, 0], P2[1, 3] / P2[1, 1], 0.0])
    if not np.any(t_rect):
        raise FileFormatError(
            f"{right_path}: projection_matrix has Tx = Ty = 0; the right camera's P must carry "
            "-fx'*B (is this the left camera's file?)."
        )
    R = b["R"].T @ a["R"]
    T = b["R"].T @ t_rect
    def cam(c):
        d = c["D"] if c["model"] == "fisheye" else _trim(c["D"])
        return Intrinsics.from_K(c["K"], c["w"], c["h"], d, c["model"])

    left, right = cam(a), cam(b)
    return StereoRig(left, right, R, T, a["R"], b["R"], P1, P2, q_from_projections(P1, P2))
