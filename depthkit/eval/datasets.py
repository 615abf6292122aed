"""Readers for stereo benchmark scenes with ground-truth disparity.

One function, :func:`load_scene`, recognises every layout below from the file names in a scene
folder; :func:`find_scenes` lists the scenes under a root folder.

=====================  ==========================================  ===========================
layout                 files (left, right, GT)                     GT scale
=====================  ==========================================  ===========================
Middlebury 2001        ``imA.png``, ``imB.png``, ``dispA.pgm``     value / 16 (tsukuba: whole
                       (+ ``nonocc.png``, ``all.png``)             pixels), value / 8 (others)
Middlebury 2003        ``im2.png``, ``im6.png``, ``disp2.png``     value / (1500 / H): quarter
                       (+ masks as 2001)                           size (H = 375) is / 4
Middlebury 2005/2006   ``view1.png``, ``view5.png``, ``disp1.png``  value / (1110 / H): third
                       (+ ``dmin.txt``)                            size (H = 370) is / 3
Middlebury 2006 (Aloe  ``NAMEL.jpg``, ``NAMER.jpg``, ``NAMEGT.png``  as 2005/2006
as OpenCV ships it)
Middlebury 2014,       ``im0.png``, ``im1.png``, ``disp0.pfm`` or   PFM float pixels, ``inf`` =
ETH3D two-view         ``disp0GT.pfm``, ``calib.txt``              no GT
                       (+ ``mask0nocc.png``)
KITTI 2015             ``training/image_2/F_10.png``,              uint16 value / 256
                       ``image_3/F_10.png``, ``disp_occ_0/F_10.png``
                       (+ ``disp_noc_0``)
=====================  ==========================================  ===========================

In 8-bit and 16-bit GT a value of 0 means "no ground truth"; it becomes NaN, as do ``inf`` in PFM
files and, for Middlebury 2001/2003, pixels outside ``all.png`` (the image border the benchmark
excludes).  Disparities are for the left image: ``x_right = x_left - d``.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, ParameterError, ShapeError
from ..io import read_image, read_pfm

log = logging.getLogger(__name__)

__all__ = ["StereoScene", "load_scene", "find_scenes", "prediction_path", "parse_calib_txt",
           "evaluate_predictions"]

_IMAGE_EXTS = (".png", ".ppm", ".pgm", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

# Middlebury 2005/2006 at full size: focal length and baseline from the Middlebury page.
_MB2005_FULL_HEIGHT = 1110
_MB2005_FOCAL_FULL_PX = 3740.0
_MB2005_BASELINE_M = 0.160
_MB2003_FULL_HEIGHT = 1500


def _readonly(a):
    if a is not None and a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class StereoScene:
    """A rectified stereo pair with ground-truth disparity, as a benchmark ships it.

    Attributes
    ----------
    name : str
        Scene name, unique within a dataset root (the folder name, e.g. ``"tsukuba"``, or
        ``"kitti_000046"`` for a KITTI frame).  Predictions are looked up as ``PRED/<name>.pfm``.
    left, right : (H, W, 3) uint8 RGB or (H, W) ndarray
        The images as stored (colour converted to RGB).
    disparity : (H, W) float32 ndarray
        Ground-truth disparity of the left image in pixels, NaN where there is none.
    nonoccluded : (H, W) bool ndarray or None
        True for non-occluded pixels with GT (the benchmark's ``nonocc`` set); None if the
        dataset has no occlusion mask.
    calib : dict or None
        What the dataset states about the rig: ``focal_px``, ``baseline_m``, ``doffs_px``
        (depth ``Z = baseline_m * focal_px / (d + doffs_px)``) and, where given, ``cx_px``,
        ``cy_px``, ``ndisp``.  None when the dataset gives no calibration.
    max_disparity : float
        Largest GT disparity (pixels).
    source_dir : Path
        Folder the scene was read from.
    """

    name: str
    left: np.ndarray
    right: np.ndarray
    disparity: np.ndarray
    nonoccluded: np.ndarray | None
    calib: dict | None
    max_disparity: float
    source_dir: Path

    def __post_init__(self):
        for field in ("left", "right", "disparity", "nonoccluded"):
            object.__setattr__(self, field, _readonly(getattr(self, field)))

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the images."""
        return self.disparity.shape

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask of pixels with ground truth."""
        return np.isfinite(self.disparity)

    def depth_m(self) -> np.ndarray:
        """Ground-truth depth in metres from the disparity and ``calib`` (NaN without GT).

        Raises
        ------
        ParameterError
            If the dataset gives no focal length and baseline for this scene.
        """
        c = self.calib or {}
        if "focal_px" not in c or "baseline_m" not in c:
            raise ParameterError(
                f"scene {self.name!r} has no calibration (focal length and baseline), so its "
                "disparity cannot be turned into depth."
            )
        d = self.disparity.astype(np.float64) + float(c.get("doffs_px", 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = c["baseline_m"] * c["focal_px"] / d
        z[~(d > 0)] = np.nan
        return z.astype(np.float32)


# --------------------------------------------------------------------------- layout detection


def _files(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in folder.iterdir() if p.is_file()}


def _first(files: dict[str, Path], *names: str) -> Path | None:
    for n in names:
        if n in files:
            return files[n]
    return None


def _image_named(files: dict[str, Path], stem: str) -> Path | None:
    return _first(files, *(stem + e for e in _IMAGE_EXTS))


_KITTI_FRAME = re.compile(r"^(\d+)_10\.png$")


def _kitti_root(folder: Path) -> Path | None:
    """The KITTI ``training``-style folder at or just below `folder`, if any."""
    for cand in (folder, folder / "training"):
        if (cand / "image_2").is_dir() and (cand / "image_3").is_dir() and (
            (cand / "disp_occ_0").is_dir() or (cand / "disp_noc_0").is_dir()
        ):
            return cand
    return None


def _kitti_frames(root: Path) -> list[str]:
    gt_dir = root / "disp_occ_0" if (root / "disp_occ_0").is_dir() else root / "disp_noc_0"
    frames = []
    for p in sorted(gt_dir.iterdir()):
        m = _KITTI_FRAME.match(p.name)
        if m and (root / "image_2" / p.name).is_file():
            frames.append(m.group(1))
    return frames


def _detect(folder: Path) -> str | None:
    """Name of the scene layout of `folder`, or None if it is not a scene folder."""
    if _kitti_root(folder) is not None:
        return "kitti2015"
    files = _files(folder)
    if "im0.png" in files and "im1.png" in files and _first(files, "disp0.pfm", "disp0GT.pfm"):
        return "middlebury2014"
    if _image_named(files, "view1") and _image_named(files, "view5") and "disp1.png" in files:
        return "middlebury2005"
    if _aloe_stem(files) is not None:
        return "middlebury2006_lrgt"
    if _v2_pair(files) is not None:
        return "middlebury_v2"
    return None


def _aloe_stem(files: dict[str, Path]) -> str | None:
    for name in sorted(files):
        if name.endswith("GT.png"):
            stem = name[: -len("GT.png")]
            if stem and _image_named(files, stem + "L") and _image_named(files, stem + "R"):
                return stem
    return None


_V2_DISP = re.compile(r"^disp(\d)\.(pgm|png)$")
_V2_IM = re.compile(r"^im(\d)\.(png|ppm|pgm)$")


def _v2_pair(files: dict[str, Path]) -> tuple[Path, Path, Path] | None:
    """(left, right, gt) of a Middlebury 2001/2003 folder: ``imA``, ``imB``, ``dispA``."""
    ims = {int(m.group(1)): files[n] for n in files if (m := _V2_IM.match(n))}
    disps = {int(m.group(1)): files[n] for n in files if (m := _V2_DISP.match(n))}
    with_gt = sorted(k for k in disps if k in ims)
    if not with_gt or len(ims) < 2:
        return None
    a = with_gt[0]
    others = sorted(k for k in ims if k != a)
    if len(with_gt) > 1:  # e.g. venus/cones: GT for im2 and im6, the evaluated pair
        b = with_gt[1]
    elif len(others) == 1:
        b = others[0]
    elif a + 1 in ims:
        b = a + 1
    else:
        return None
    return ims[a], ims[b], disps[a]


# --------------------------------------------------------------------------- readers


def _read_grey_cv(path: Path) -> np.ndarray:
    """8/16-bit single-channel file (palette PNGs become their grey levels)."""
    import cv2

    if not path.is_file():
        raise FileFormatError(f"file not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH)  # grey, keeps 16 bits, applies palettes
    if img is None:
        raise FileFormatError(f"cannot decode {path} as an image (unsupported or corrupt).")
    return img


def _mask(files: dict[str, Path], name: str) -> np.ndarray | None:
    p = files.get(name)
    return None if p is None else _read_grey_cv(p) == 255


def _gt_from_8bit(path: Path, scale: float) -> np.ndarray:
    raw = _read_grey_cv(path)
    if raw.dtype != np.uint8:
        raise FileFormatError(f"{path}: expected 8-bit ground truth, got {raw.dtype}.")
    d = raw.astype(np.float32) / np.float32(scale)
    d[raw == 0] = np.nan
    return d


def _size_factor(height: int, full_height: int, path: Path) -> int:
    f = full_height / height
    k = round(f)
    if k < 1 or abs(f - k) > 0.05:
        raise FileFormatError(
            f"{path}: height {height} px is not a known size of this dataset (the full size, "
            f"{full_height} px, divided by a whole number), so the disparity scale is unknown."
        )
    return k


def _load_v2(folder: Path, files: dict[str, Path]):
    left_p, right_p, gt_p = _v2_pair(files)
    left, right = read_image(left_p), read_image(right_p)
    if gt_p.suffix.lower() == ".pgm":  # Middlebury 2001: Tsukuba's integer GT is x16, others x8
        raw = _read_grey_cv(gt_p)
        whole = raw[raw > 0] % 16 == 0
        scale = 16.0 if "tsukuba" in folder.name.lower() or whole.all() else 8.0
    else:  # Middlebury 2003: 8-bit PNG scaled by the size factor
        scale = float(_size_factor(left.shape[0], _MB2003_FULL_HEIGHT, gt_p))
    disp = _gt_from_8bit(gt_p, scale)
    all_mask = _mask(files, "all.png")
    if all_mask is not None:
        _same_size(disp, all_mask, gt_p, files["all.png"])
        disp[~all_mask] = np.nan
    nonocc = _mask(files, "nonocc.png")
    return left, right, disp, nonocc, None


def _load_mb2005(folder: Path, files: dict[str, Path]):
    left = read_image(_image_named(files, "view1"))
    right = read_image(_image_named(files, "view5"))
    gt_p = files["disp1.png"]
    k = _size_factor(left.shape[0], _MB2005_FULL_HEIGHT, gt_p)
    disp = _gt_from_8bit(gt_p, k)
    calib = None
    if "dmin.txt" in files:
        try:
            dmin = float(files["dmin.txt"].read_text().split()[0])
        except (ValueError, IndexError) as exc:
            raise FileFormatError(f"{files['dmin.txt']}: expected one number (dmin).") from exc
        calib = {"focal_px": _MB2005_FOCAL_FULL_PX / k, "baseline_m": _MB2005_BASELINE_M,
                 "doffs_px": dmin / k}
    return left, right, disp, None, calib


def _load_lrgt(folder: Path, files: dict[str, Path]):
    stem = _aloe_stem(files)
    left = read_image(_image_named(files, stem + "L"))
    right = read_image(_image_named(files, stem + "R"))
    gt_p = files[stem + "GT.png"]
    k = _size_factor(left.shape[0], _MB2005_FULL_HEIGHT, gt_p)
    return left, right, _gt_from_8bit(gt_p, k), None, None


def parse_calib_txt(path: str | os.PathLike) -> dict:
    """Read a Middlebury 2014 / ETH3D ``calib.txt`` into ``focal_px``, ``cx_px``, ``cy_px``,
    ``baseline_m`` (the file states millimetres), ``doffs_px`` and ``ndisp`` when present."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise FileFormatError(f"cannot read calibration file {path}: {exc}") from exc
    raw = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            raw[k.strip()] = v.strip()
    try:
        cam0 = np.array([float(x) for x in re.split(r"[\s;]+", raw["cam0"].strip("[] "))])
        out = {"focal_px": float(cam0[0]), "cx_px": float(cam0[2]), "cy_px": float(cam0[5]),
               "baseline_m": float(raw["baseline"]) / 1000.0,
               "doffs_px": float(raw.get("doffs", 0.0))}
        if "ndisp" in raw:
            out["ndisp"] = int(float(raw["ndisp"]))
    except (KeyError, ValueError, IndexError) as exc:
        raise FileFormatError(
            f"{path}: expected Middlebury/ETH3D calib.txt lines 'cam0=[f 0 cx; 0 f cy; 0 0 1]' "
            f"and 'baseline=<mm>'; could not parse it ({exc!r})."
        ) from exc
    return out


def _load_mb2014(folder: Path, files: dict[str, Path]):
    left, right = read_image(files["im0.png"]), read_image(files["im1.png"])
    disp = read_pfm(_first(files, "disp0.pfm", "disp0GT.pfm"))
    if disp.ndim != 2:
        raise FileFormatError(f"{folder}: disparity PFM must have one channel; got {disp.shape}.")
    disp = disp.copy()
    disp[~np.isfinite(disp)] = np.nan
    nonocc = _mask(files, "mask0nocc.png")
    calib = parse_calib_txt(files["calib.txt"]) if "calib.txt" in files else None
    return left, right, disp, nonocc, calib


def _kitti_calib(root: Path, frame: str) -> dict | None:
    p = root / "calib_cam_to_cam" / f"{frame}.txt"
    if not p.is_file():
        return None
    rows = {}
    for line in p.read_text().splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            rows[k.strip()] = v.split()
    try:
        p2 = np.array(rows["P_rect_02"], dtype=np.float64).reshape(3, 4)
        p3 = np.array(rows["P_rect_03"], dtype=np.float64).reshape(3, 4)
    except (KeyError, ValueError) as exc:
        raise FileFormatError(f"{p}: expected P_rect_02 and P_rect_03 (3x4 each).") from exc
    f = p2[0, 0]
    return {"focal_px": f, "cx_px": p2[0, 2], "cy_px": p2[1, 2],
            "baseline_m": (p2[0, 3] - p3[0, 3]) / f, "doffs_px": p3[0, 2] - p2[0, 2]}


def _load_kitti(root: Path, frame: str):
    fname = f"{frame}_10.png"
    left = read_image(root / "image_2" / fname)
    right = read_image(root / "image_3" / fname)
    occ_p, noc_p = root / "disp_occ_0" / fname, root / "disp_noc_0" / fname
    gt_p = occ_p if occ_p.is_file() else noc_p
    raw = _read_grey_cv(gt_p)
    if raw.dtype != np.uint16:
        raise FileFormatError(f"{gt_p}: KITTI disparity must be a 16-bit PNG; got {raw.dtype}.")
    disp = raw.astype(np.float32) / np.float32(256.0)
    disp[raw == 0] = np.nan
    nonocc = None
    if gt_p == occ_p and noc_p.is_file():
        nonocc = _read_grey_cv(noc_p) > 0
    elif gt_p == noc_p:
        nonocc = np.isfinite(disp)
    return left, right, disp, nonocc, _kitti_calib(root, frame)


_LOADERS = {
    "middlebury_v2": _load_v2,
    "middlebury2005": _load_mb2005,
    "middlebury2006_lrgt": _load_lrgt,
    "middlebury2014": _load_mb2014,
}


def _same_size(a: np.ndarray, b: np.ndarray, pa: Path | str, pb: Path | str) -> None:
    if a.shape[:2] != b.shape[:2]:
        raise FileFormatError(
            f"scene files differ in size: {pa} is {a.shape[1]}x{a.shape[0]} but {pb} is "
            f"{b.shape[1]}x{b.shape[0]} (WxH); the scene folder is inconsistent."
        )


def _normalise_frame(frame) -> str:
    if isinstance(frame, (int, np.integer)) and not isinstance(frame, bool):
        return f"{int(frame):06d}"
    s = str(frame)
    s = s[: -len("_10")] if s.endswith("_10") else s
    if not s.isdigit():
        raise ParameterError(f"KITTI frame must be a number such as '000046'; got {frame!r}.")
    return s


def load_scene(path: str | os.PathLike, frame: str | int | None = None) -> StereoScene:
    """Read one stereo scene (images, GT disparity, occlusion mask, calibration).

    Parameters
    ----------
    path : path-like
        A scene folder of any layout in the module docstring; for KITTI, the ``training``
        folder (or its parent).
    frame : str or int, optional
        KITTI frame id such as ``"000046"`` (or ``46``); may be omitted when the folder holds a
        single frame.  Must be None for the other layouts.

    Returns
    -------
    StereoScene

    Raises
    ------
    FileFormatError
        If the folder does not exist, has no known layout, or a file is missing, unreadable
        or of another size than the rest.

    Examples
    --------
    >>> scene = load_scene("data/tsukuba")  # doctest: +SKIP
    >>> round(scene.max_disparity)  # doctest: +SKIP
    14
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileFormatError(f"scene folder not found: {folder}")
    layout = _detect(folder)
    if layout is None:
        names = sorted(p.name for p in folder.iterdir())[:12]
        raise FileFormatError(
            f"{folder} is not a stereo scene folder of a known layout (Middlebury 2001-2006 "
            f"imN/dispN, view1/view5/disp1, im0/im1/disp0.pfm (Middlebury 2014, ETH3D) or a "
            f"KITTI 'training' folder); it holds {names}."
        )
    if layout == "kitti2015":
        root = _kitti_root(folder)
        frames = _kitti_frames(root)
        if frame is None:
            if len(frames) != 1:
                raise ParameterError(
                    f"{root} holds {len(frames)} KITTI frames; pass frame=..., one of "
                    f"{frames[:10]}."
                )
            fid = frames[0]
        else:
            fid = _normalise_frame(frame)
            if fid not in frames:
                raise FileFormatError(
                    f"KITTI frame {fid} not found in {root} (expected image_2/{fid}_10.png and "
                    f"disp_occ_0/{fid}_10.png); frames there: {frames[:10]}."
                )
        left, right, disp, nonocc, calib = _load_kitti(root, fid)
        name, source = _scene_name(root, fid), root
    else:
        if frame is not None:
            raise ParameterError(f"frame={frame!r} is only meaningful for KITTI; {folder} is a "
                                 f"{layout} scene.")
        left, right, disp, nonocc, calib = _LOADERS[layout](folder, _files(folder))
        name, source = _scene_name(folder, None), folder
    _same_size(left, right, "left image", "right image")
    _same_size(left, disp, "left image", "ground-truth disparity")
    if nonocc is not None:
        _same_size(left, nonocc, "left image", "occlusion mask")
        nonocc = nonocc & np.isfinite(disp)
    disp = np.ascontiguousarray(disp, dtype=np.float32)
    if not np.isfinite(disp).any():
        raise FileFormatError(f"{source}: the ground truth has no valid pixel.")
    log.debug("loaded %s scene %s from %s", layout, name, source)
    return StereoScene(name=name, left=left, right=right, disparity=disp, nonoccluded=nonocc,
                       calib=calib, max_disparity=float(np.nanmax(disp)), source_dir=source)


def find_scenes(root: str | os.PathLike) -> list[tuple[Path, str | None]]:
    """List every scene under `root` (or `root` itself) as ``(path, frame)`` pairs.

    ``frame`` is the KITTI frame id and None for the other layouts, so
    ``[load_scene(p, f) for p, f in find_scenes(root)]`` loads them all.  Hidden folders are
    skipped; the order is sorted by path.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileFormatError(f"dataset folder not found: {root}")
    out: list[tuple[Path, str | None]] = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        folder = Path(dirpath)
        layout = _detect(folder)
        if layout is None:
            continue
        if layout == "kitti2015":
            kroot = _kitti_root(folder)
            out.extend((kroot, f) for f in _kitti_frames(kroot))
        else:
            out.append((folder, None))
        dirnames[:] = []  # a scene's sub-folders are part of it
    return out


def prediction_path(pred_dir: str | os.PathLike, scene_name: str) -> Path:
    """Where a predicted disparity for a scene lives: ``PRED_DIR/<scene name>.pfm``."""
    return Path(pred_dir) / f"{scene_name}.pfm"


def _scene_name(path: Path, frame: str | None) -> str:
    return f"kitti_{frame}" if frame is not None else path.name


def evaluate_predictions(dataset: str | os.PathLike, pred_dir: str | os.PathLike, *,
                         skip_missing: bool = False) -> list[dict]:
    """Score the predicted disparities in `pred_dir` against every scene under `dataset`.

    A prediction is a float PFM at :func:`prediction_path` ``(pred_dir, scene.name)``, the size
    of the scene's left image, with NaN or ``inf`` where there is no estimate.

    Returns
    -------
    list of dict
        One per scene: ``scene``, ``width``, ``height`` and the keys of
        :func:`~depthkit.eval.metrics.evaluate_disparity`.

    Raises
    ------
    FileFormatError
        If there is no scene under `dataset`, or (unless `skip_missing`) a prediction is
        missing, or a prediction is not a one-channel PFM.
    ShapeError
        If a prediction's size differs from its scene's.
    """
    import sys

    from tqdm import tqdm

    from .metrics import evaluate_disparity

    scenes = find_scenes(dataset)
    if not scenes:
        raise FileFormatError(
            f"no stereo scene found under {dataset}; expected Middlebury, ETH3D or KITTI "
            "scene folders (see depthkit.eval.datasets)."
        )
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise FileFormatError(f"prediction folder not found: {pred_dir}")
    todo, missing = [], []
    for path, frame in scenes:
        p = prediction_path(pred_dir, _scene_name(path, frame))
        (todo if p.is_file() else missing).append((path, frame, p))
    if missing and not skip_missing:
        names = ", ".join(p.name for _, _, p in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise FileFormatError(
            f"{len(missing)} of {len(scenes)} predictions missing in {pred_dir}: {names}{more} "
            "(expected PRED/<scene name>.pfm)."
        )
    if not todo:
        raise FileFormatError(f"no prediction for any of the {len(scenes)} scenes in {pred_dir} "
                              "(expected PRED/<scene name>.pfm).")
    for _, _, p in missing:
        log.warning("no prediction %s; scene skipped", p)
    rows = []
    for path, frame, p in tqdm(todo, desc="eval", unit="scene", file=sys.stderr, disable=None):
        scene = load_scene(path, frame)
        pred = read_pfm(p)
        if pred.ndim != 2:
            raise FileFormatError(f"{p}: a disparity PFM must have one channel ('Pf'); got "
                                  f"shape {pred.shape}.")
        if pred.shape != scene.shape:
            raise ShapeError(
                f"{p} is {pred.shape[1]}x{pred.shape[0]} but scene {scene.name!r} is "
                f"{scene.shape[1]}x{scene.shape[0]} (WxH); predict at the scene's full size."
            )
        row = {"scene": scene.name, "width": scene.shape[1], "height": scene.shape[0]}
        row.update(evaluate_disparity(pred, scene.disparity, nonoccluded=scene.nonoccluded))
        rows.append(row)
    return rows
