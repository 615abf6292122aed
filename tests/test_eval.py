"""depthkit.eval: dataset readers (scale checked against OpenCV SGBM), metrics, `depthkit eval`."""

from __future__ import annotations

import doctest
import json
import shutil

import cv2
import numpy as np
import pytest

from depthkit.apps.cli import main
from depthkit.errors import FileFormatError, ParameterError, ShapeError
from depthkit.eval import (
    StereoScene,
    bad_pixel_rate,
    density,
    depth_absrel,
    depth_rmse,
    depth_within,
    end_point_error,
    evaluate_depth,
    evaluate_disparity,
    evaluate_predictions,
    find_scenes,
    kitti_d1,
    load_scene,
    metrics,
    parse_calib_txt,
    prediction_path,
)
from depthkit.io import write_pfm

# scene folder -> (name, (H, W), expected GT max in px, calib given, occlusion mask given)
SCENES = {
    "middlebury2001/tsukuba": ("tsukuba", (288, 384), 14.0, False, True),
    "middlebury2001/venus": ("venus", (383, 434), 19.1, False, True),
    "middlebury2003/cones": ("cones", (375, 450), 55.0, False, True),
    "middlebury2003/teddy": ("teddy", (375, 450), 52.75, False, True),
    "middlebury2005_thirdsize/Art": ("Art", (370, 463), 74.7, True, False),
    "middlebury2005_thirdsize/Dolls": ("Dolls", (370, 463), 73.7, True, False),
    "middlebury2005_thirdsize/Laundry": ("Laundry", (370, 447), 77.3, True, False),
    "middlebury2005_thirdsize/Reindeer": ("Reindeer", (370, 447), 67.0, True, False),
    "middlebury2006_fullsize/Aloe": ("Aloe", (1110, 1282), 211.0, False, False),
    "eth3d_twoview/playground": ("playground", (490, 941), 20.0, True, False),
    "kitti2015/training": ("kitti_000046", (375, 1242), 65.7, False, False),
}


def _sgbm(left: np.ndarray, right: np.ndarray, max_disp: float) -> np.ndarray:
    """OpenCV StereoSGBM (HH mode, block 5) as float32 pixels, NaN = invalid."""
    num = int(np.ceil((max_disp + 2) / 16.0)) * 16
    m = cv2.StereoSGBM_create(0, num, 5, P1=8 * 25, P2=32 * 25, uniquenessRatio=5,
                              mode=cv2.STEREO_SGBM_MODE_HH)
    d = m.compute(left, right).astype(np.float32) / 16.0
    d[d < 0] = np.nan
    return d


def _gray(img):
    return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img


def _downscale(scene: StereoScene, k: int):
    """Grey images shrunk k times (area) and the GT sampled at block centres, divided by k."""
    h, w = scene.shape[0] // k * k, scene.shape[1] // k * k
    size = (w // k, h // k)
    left = cv2.resize(_gray(scene.left)[:h, :w], size, interpolation=cv2.INTER_AREA)
    right = cv2.resize(_gray(scene.right)[:h, :w], size, interpolation=cv2.INTER_AREA)
    return left, right, scene.disparity[k // 2:h:k, k // 2:w:k] / k


# ----------------------------------------------------------------------------- readers


def test_find_scenes_lists_every_scene(shared_data):
    found = find_scenes(shared_data)
    rel = {(p.relative_to(shared_data).as_posix(), f) for p, f in found}
    expected = {(k, "000046" if k.startswith("kitti") else None) for k in SCENES}
    assert rel == expected
    assert found == sorted(found, key=lambda t: str(t[0]))
    assert find_scenes(shared_data / "middlebury2001" / "tsukuba") == [
        (shared_data / "middlebury2001" / "tsukuba", None)]
    assert find_scenes(shared_data / "calibration") == []


@pytest.mark.parametrize("folder", sorted(SCENES))
def test_reader_scale_agrees_with_opencv_sgbm(shared_data, folder):
    name, shape, gt_max, has_calib, has_mask = SCENES[folder]
    scene = load_scene(shared_data / folder)
    assert scene.name == name and scene.shape == shape
    assert scene.left.shape[:2] == shape and scene.right.shape == scene.left.shape
    assert scene.left.dtype == np.uint8
    assert scene.disparity.dtype == np.float32
    assert scene.max_disparity == pytest.approx(gt_max, abs=0.1)
    assert np.nanmin(scene.disparity) >= 0
    assert (scene.calib is not None) == has_calib
    assert (scene.nonoccluded is not None) == has_mask
    if has_mask:
        assert scene.nonoccluded.dtype == np.bool_
        assert not (scene.nonoccluded & ~scene.valid).any()
        assert 0.6 < scene.nonoccluded.mean() < scene.valid.mean()
    # the scale check: an independent matcher agrees with the GT to well under a pixel
    k = 4 if shape[0] > 1000 else 1  # Aloe is full size: match at quarter size for speed
    left, right, gt = _downscale(scene, k) if k > 1 else (
        _gray(scene.left), _gray(scene.right), scene.disparity)
    disp = _sgbm(left, right, np.nanmax(gt))
    both = np.isfinite(disp) & np.isfinite(gt)
    assert both.mean() > 0.08  # KITTI's LiDAR GT is the sparsest, about 11 % here
    err = np.median(np.abs(disp[both] - gt[both]))
    assert err < 1.0
    # ... and a GT off by 25 % would not pass (the check can tell scales apart)
    assert np.median(np.abs(disp[both] - 1.25 * gt[both])) > err + 0.5


def test_scene_calibration_and_depth(shared_data):
    eth = load_scene(shared_data / "eth3d_twoview" / "playground")
    assert eth.calib == pytest.approx({"focal_px": 542.019, "cx_px": 541.836, "cy_px": 255.198,
                                       "baseline_m": 0.0595549, "doffs_px": 0.0, "ndisp": 941})
    z = eth.depth_m()
    assert z.dtype == np.float32 and (np.isnan(z) == np.isnan(eth.disparity)).all()
    i = np.flatnonzero(eth.valid)[1000]
    assert z.flat[i] == pytest.approx(0.0595549 * 542.019 / eth.disparity.flat[i], rel=1e-5)
    art = load_scene(shared_data / "middlebury2005_thirdsize" / "Art")
    # third size: f = 3740 / 3, dmin 200 / 3, baseline 160 mm
    assert art.calib == pytest.approx({"focal_px": 3740 / 3, "baseline_m": 0.16,
                                       "doffs_px": 200 / 3})
    assert 1.0 < np.nanmedian(art.depth_m()) < 3.0  # objects about 1.5-2.5 m from the rig
    tsukuba = load_scene(shared_data / "middlebury2001" / "tsukuba")
    with pytest.raises(ParameterError, match="has no calibration"):
        tsukuba.depth_m()


def test_middlebury2001_scale_without_the_scene_name(shared_data, tmp_path):
    # Tsukuba's GT is whole pixels x 16, the other 2001 scenes eighth pixels x 8
    shutil.copytree(shared_data / "middlebury2001" / "tsukuba", tmp_path / "scene1")
    shutil.copytree(shared_data / "middlebury2001" / "venus", tmp_path / "scene2")
    assert load_scene(tmp_path / "scene1").max_disparity == 14.0
    assert load_scene(tmp_path / "scene2").max_disparity == pytest.approx(19.125)


def test_scene_is_frozen(shared_data):
    s = load_scene(shared_data / "middlebury2001" / "tsukuba")
    with pytest.raises(AttributeError):
        s.name = "x"
    with pytest.raises(ValueError, match="read-only"):
        s.disparity[0, 0] = 1.0


def test_kitti_frames(shared_data):
    root = shared_data / "kitti2015" / "training"
    a = load_scene(root, "000046")
    b = load_scene(root, 46)
    c = load_scene(shared_data / "kitti2015")  # parent folder, single frame
    for s in (b, c):
        assert s.name == a.name == "kitti_000046"
        np.testing.assert_array_equal(s.disparity, a.disparity)
    with pytest.raises(FileFormatError, match="KITTI frame 000047 not found"):
        load_scene(root, "000047")
    with pytest.raises(ParameterError, match="KITTI frame must be a number"):
        load_scene(root, "abc")
    with pytest.raises(ParameterError, match="only meaningful for KITTI"):
        load_scene(shared_data / "middlebury2001" / "tsukuba", "000046")


def test_kitti_calib_and_noc_mask(shared_data, tmp_path):
    root = tmp_path / "training"
    shutil.copytree(shared_data / "kitti2015" / "training", root)
    (root / "disp_noc_0").mkdir()
    gt = cv2.imread(str(root / "disp_occ_0" / "000046_10.png"), cv2.IMREAD_UNCHANGED)
    noc = gt.copy()
    noc[:, :600] = 0  # pretend the left part is occluded
    cv2.imwrite(str(root / "disp_noc_0" / "000046_10.png"), noc)
    (root / "calib_cam_to_cam").mkdir()
    (root / "calib_cam_to_cam" / "000046.txt").write_text(
        "P_rect_02: 721.5 0 609.5 44.85 0 721.5 172.8 0.2163 0 0 1 0.002745\n"
        "P_rect_03: 721.5 0 609.5 -339.5 0 721.5 172.8 2.199 0 0 1 0.002729\n")
    s = load_scene(root, "000046")
    assert s.calib["baseline_m"] == pytest.approx((44.85 + 339.5) / 721.5)
    assert s.calib["focal_px"] == 721.5 and s.calib["doffs_px"] == 0.0
    assert not s.nonoccluded[:, :600].any()
    np.testing.assert_array_equal(s.nonoccluded[:, 600:], s.valid[:, 600:])


def test_reader_bad_input(shared_data, tmp_path):
    with pytest.raises(FileFormatError, match="scene folder not found"):
        load_scene(tmp_path / "nothing")
    with pytest.raises(FileFormatError, match="not a stereo scene folder of a known layout"):
        load_scene(shared_data / "calibration")
    with pytest.raises(FileFormatError, match="dataset folder not found"):
        find_scenes(tmp_path / "nothing")
    # a 2014-style folder whose GT PFM is truncated
    bad = tmp_path / "bad2014"
    bad.mkdir()
    for f in ("im0.png", "im1.png", "calib.txt"):
        shutil.copy(shared_data / "eth3d_twoview" / "playground" / f, bad / f)
    (bad / "disp0.pfm").write_bytes(b"Pf\n941 490\n-1\n" + bytes(100))
    with pytest.raises(FileFormatError, match="truncated"):
        load_scene(bad)
    # GT of another size than the images
    write_pfm(bad / "disp0.pfm", np.ones((10, 20), np.float32))
    with pytest.raises(FileFormatError, match="differ in size: left image is 941x490 but "
                                              "ground-truth disparity is 20x10"):
        load_scene(bad)
    # a broken calib.txt
    write_pfm(bad / "disp0.pfm", np.ones((490, 941), np.float32))
    (bad / "calib.txt").write_text("cam0=garbage\n")
    with pytest.raises(FileFormatError, match="expected Middlebury/ETH3D calib.txt"):
        load_scene(bad)
    with pytest.raises(FileFormatError, match="cannot read calibration file"):
        parse_calib_txt(tmp_path / "none.txt")
    # a Middlebury 2005 folder at an unknown size
    odd = tmp_path / "odd2005"
    odd.mkdir()
    img = np.zeros((100, 120, 3), np.uint8)
    for f in ("view1.png", "view5.png"):
        cv2.imwrite(str(odd / f), img)
    cv2.imwrite(str(odd / "disp1.png"), np.full((100, 120), 30, np.uint8))
    with pytest.raises(FileFormatError, match="height 100 px is not a known size"):
        load_scene(odd)
    # a corrupt image
    (odd / "view5.png").write_bytes(b"junk")
    with pytest.raises(FileFormatError, match="cannot decode image file"):
        load_scene(odd)


def test_shipped_data_checksums(repo_root):
    import hashlib

    data = repo_root / "data"
    lines = (data / "SHA256SUMS").read_text().split("\n")
    sums = dict(reversed(line.split()) for line in lines if line.strip())
    assert set(sums) == {f"tsukuba/{p.name}" for p in (data / "tsukuba").iterdir()}
    for rel, digest in sums.items():
        assert hashlib.sha256((data / rel).read_bytes()).hexdigest() == digest, rel
    scene = load_scene(data / "tsukuba")  # works from a plain checkout, no shared data needed
    assert scene.max_disparity == 14.0 and np.nanmin(scene.disparity) == 5.0


def test_shipped_tsukuba_matches_shared_copy(repo_root, shared_data):
    ours = load_scene(repo_root / "data" / "tsukuba")
    ref = load_scene(shared_data / "middlebury2001" / "tsukuba")
    assert ours.name == "tsukuba" and ours.max_disparity == 14.0
    np.testing.assert_array_equal(ours.disparity, ref.disparity)
    np.testing.assert_array_equal(ours.left, ref.left)
    np.testing.assert_array_equal(ours.nonoccluded, ref.nonoccluded)


# ----------------------------------------------------------------------------- metrics


def test_bad_pixel_rate_known_answers():
    gt = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, np.nan, 7.0, 8.0]])
    pred = np.array([[1.0, 3.5, np.nan, 4.9], [9.0, 1.0, np.inf, 8.0]])
    # 7 GT pixels; errors 0, 1.5, missing, 0.9, 4, (no GT), missing, 0
    assert bad_pixel_rate(pred, gt, 1.0) == pytest.approx(4 / 7)
    assert bad_pixel_rate(pred, gt, 2.0) == pytest.approx(3 / 7)
    assert bad_pixel_rate(pred, gt, 4.0) == pytest.approx(2 / 7)  # |err| > 4 is bad, not >=
    assert bad_pixel_rate(pred, gt, 1.0, over="estimated") == pytest.approx(2 / 5)
    mask = np.zeros((2, 4), bool)
    mask[0] = True
    assert bad_pixel_rate(pred, gt, 1.0, mask) == pytest.approx(2 / 4)
    assert np.isnan(bad_pixel_rate(pred, gt, 1.0, np.zeros((2, 4), bool)))
    assert bad_pixel_rate(gt, gt, 0.0) == 0.0
    # integer estimates are scored like floats
    assert bad_pixel_rate(np.array([[1, 2]], np.int16), np.array([[1.0, 5.0]]), 1.0) == 0.5


def test_other_disparity_metrics_known_answers():
    gt = np.array([[10.0, 100.0, 100.0, 50.0, np.nan]])
    pred = np.array([[14.0, 104.0, 106.0, np.nan, 3.0]])
    assert end_point_error(pred, gt) == pytest.approx((4 + 4 + 6) / 3)
    assert density(pred) == pytest.approx(4 / 5)
    assert density(pred, mask=np.isfinite(gt)) == pytest.approx(3 / 4)
    # D1: >3 px AND >5 %: 10->14 yes, 100->104 no (4 < 5), 100->106 yes, missing yes
    assert kitti_d1(pred, gt) == pytest.approx(3 / 4)
    assert kitti_d1(pred, gt, over="estimated") == pytest.approx(2 / 3)
    s = evaluate_disparity(pred, gt, nonoccluded=np.array([[True, True, False, False, False]]))
    assert set(s) == {"bad1", "bad2", "bad4", "bad2_nonocc", "bad2_est", "epe", "density", "d1"}
    assert s["bad1"] == s["bad2"] == pytest.approx(4 / 4)
    assert s["bad4"] == pytest.approx(2 / 4)  # 4.0 is not > 4; 6 and the missing one are
    assert s["bad2_nonocc"] == pytest.approx(2 / 2)
    assert s["bad2_est"] == pytest.approx(3 / 3)
    assert s["epe"] == pytest.approx(14 / 3) and s["density"] == pytest.approx(0.8)
    assert s["d1"] == pytest.approx(0.75)
    assert np.isnan(evaluate_disparity(pred, gt)["bad2_nonocc"])
    assert all(isinstance(v, float) for v in s.values())


def test_depth_metrics_known_answers():
    gt = np.array([[1.0, 2.0, 4.0, 5.0, np.nan, 0.0]])
    pred = np.array([[1.005, 2.06, 3.0, np.nan, 1.0, 1.0]])
    # scored: 4 GT pixels with depth > 0; estimated: the first three
    assert depth_rmse(pred, gt) == pytest.approx(np.sqrt((0.005**2 + 0.06**2 + 1.0) / 3))
    assert depth_absrel(pred, gt) == pytest.approx((0.005 + 0.03 + 0.25) / 3)
    assert depth_within(pred, gt, 0.01) == pytest.approx(1 / 4)
    assert depth_within(pred, gt, 0.05) == pytest.approx(2 / 4)
    assert depth_within(pred, gt, 0.05, over="estimated") == pytest.approx(2 / 3)
    s = evaluate_depth(pred, gt)
    assert s["within1"] == 0.25 and s["within5"] == 0.5 and s["density"] == 0.75
    assert s["rmse"] == depth_rmse(pred, gt)


def test_metric_docstring_examples():
    assert doctest.testmod(metrics, extraglobs={"np": np}).failed == 0


def test_metrics_bad_input():
    a, b = np.zeros((3, 4)), np.zeros((4, 3))
    with pytest.raises(ShapeError, match=r"`pred` and `gt` must have the same shape; got \(3, 4\)"):
        bad_pixel_rate(a, b, 1.0)
    with pytest.raises(ShapeError, match=r"`pred` and `gt` must have the same shape"):
        evaluate_disparity(a, b)
    with pytest.raises(ShapeError, match=r"`gt` must be an \(H, W\) map"):
        end_point_error(a, np.zeros(12))
    with pytest.raises(ShapeError, match="`mask` must have the shape of `gt`"):
        bad_pixel_rate(a, a, 1.0, np.ones((2, 2), bool))
    with pytest.raises(ShapeError, match="`mask` must be a boolean array; got dtype int64"):
        bad_pixel_rate(a, a, 1.0, np.ones((3, 4), np.int64))
    with pytest.raises(ShapeError, match="`mask` must be a boolean array of shape"):
        density(a, mask=np.ones((3, 4), np.uint8))
    with pytest.raises(ShapeError, match="real numeric array; got dtype complex"):
        bad_pixel_rate(a.astype(complex), a, 1.0)
    with pytest.raises(ParameterError, match="over must be 'all' or 'estimated'; got 'some'"):
        bad_pixel_rate(a, a, 1.0, over="some")
    with pytest.raises(ParameterError, match="threshold must be a finite number >= 0"):
        bad_pixel_rate(a, a, -1.0)
    with pytest.raises(ParameterError, match="relative must be > 0"):
        depth_within(a, a, 0.0)


# ----------------------------------------------------------------------------- depthkit eval


@pytest.fixture
def small_dataset(shared_data, tmp_path):
    """Two small scenes and their predictions: perfect for tsukuba, GT + 3 px for venus."""
    root = tmp_path / "ds"
    for folder in ("middlebury2001/tsukuba", "middlebury2001/venus"):
        shutil.copytree(shared_data / folder, root / folder)
    pred = tmp_path / "pred"
    for p, f in find_scenes(root):
        s = load_scene(p, f)
        d = np.nan_to_num(s.disparity, nan=np.inf)  # inf, as Middlebury marks "no estimate"
        write_pfm(prediction_path(pred, s.name), d + (3.0 if s.name == "venus" else 0.0))
    return root, pred


def test_evaluate_predictions(small_dataset):
    root, pred = small_dataset
    rows = evaluate_predictions(root, pred)
    assert [r["scene"] for r in rows] == ["tsukuba", "venus"]
    t, v = rows
    assert (t["width"], t["height"]) == (384, 288)
    assert t["bad1"] == t["bad2_nonocc"] == t["d1"] == 0.0 and t["epe"] == 0.0
    assert t["density"] == pytest.approx(load_scene(root / "middlebury2001/tsukuba").valid.mean())
    assert v["bad2"] == 1.0 and v["bad4"] == 0.0 and v["epe"] == pytest.approx(3.0)


def test_cli_eval_table_and_json(small_dataset, capsys):
    root, pred = small_dataset
    assert main(["eval", "--dataset", str(root), "--pred", str(pred)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["scene", "size", "bad1%", "bad2%"]
    assert out[2].split()[:4] == ["tsukuba", "384x288", "0.00", "0.00"]
    assert out[3].split()[:4] == ["venus", "434x383", "100.00", "100.00"]
    assert out[-1].split()[:3] == ["mean", "50.00", "50.00"]
    assert main(["eval", "--dataset", str(root), "--pred", str(pred), "--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert [s["scene"] for s in js["scenes"]] == ["tsukuba", "venus"]
    assert js["scenes"][1]["epe"] == pytest.approx(3.0)
    assert js["mean"]["bad2"] == pytest.approx(0.5)


def test_cli_eval_errors_are_one_line(small_dataset, tmp_path, capsys):
    root, pred = small_dataset
    (pred / "venus.pfm").unlink()
    assert main(["eval", "--dataset", str(root), "--pred", str(pred)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "1 of 2 predictions missing" in err and "venus.pfm" in err
    # --skip-missing scores what is there
    assert main(["eval", "--dataset", str(root), "--pred", str(pred), "--skip-missing",
                 "--json"]) == 0
    assert [s["scene"] for s in json.loads(capsys.readouterr().out)["scenes"]] == ["tsukuba"]
    write_pfm(pred / "tsukuba.pfm", np.zeros((10, 10), np.float32))
    assert main(["eval", "--dataset", str(root / "middlebury2001" / "tsukuba"),
                 "--pred", str(pred)]) == 1
    assert "is 10x10 but scene 'tsukuba' is 384x288" in capsys.readouterr().err
    write_pfm(pred / "tsukuba.pfm", np.zeros((288, 384, 3), np.float32))
    with pytest.raises(FileFormatError, match="must have one channel"):
        evaluate_predictions(root / "middlebury2001" / "tsukuba", pred)
    with pytest.raises(FileFormatError, match="no prediction for any of the 1 scenes"):
        evaluate_predictions(root / "middlebury2001" / "venus", pred, skip_missing=True)
    with pytest.raises(FileFormatError, match="no stereo scene found under"):
        evaluate_predictions(tmp_path / "pred", pred)
    with pytest.raises(FileFormatError, match="prediction folder not found"):
        evaluate_predictions(root, tmp_path / "nope")
    assert main(["eval", "--dataset", str(tmp_path / "nope"), "--pred", str(pred)]) == 1
    assert "dataset folder not found" in capsys.readouterr().err
