"""`depthkit disparity` and `depthkit bench stereo`."""

from __future__ import annotations

import json

import numpy as np
import pytest

import depthkit as dk
from depthkit.apps.cli import main


def _pair(tmp_path, rng):
    import cv2

    t = cv2.GaussianBlur(rng.random((40, 80)).astype(np.float32), (0, 0), 1.2)
    t = ((t - t.min()) / (t.max() - t.min()) * 255).astype(np.uint8)
    left, right = t[:, 8:72], t[:, 12:76]  # right = left moved by 4 px
    lp, rp = tmp_path / "l.png", tmp_path / "r.png"
    dk.io.write_image(lp, left)
    dk.io.write_image(rp, right)
    return lp, rp


def test_disparity_command_writes_pfm_and_preview(tmp_path, rng, capsys):
    lp, rp = _pair(tmp_path, rng)
    out, prev = tmp_path / "d.pfm", tmp_path / "d.png"
    rc = main(["disparity", str(lp), str(rp), "-o", str(out), "--num-disparities", "16",
               "--preset", "fast", "--preview", str(prev), "--json"])
    assert rc == 0
    d = dk.io.read_pfm(out)
    assert d.shape == (40, 64)
    assert abs(np.nanmedian(d[5:-5, 20:-5]) - 4.0) < 0.2
    assert dk.io.read_image(prev).shape == (40, 64, 3)
    summary = json.loads(capsys.readouterr().out)
    assert summary["width"] == 64 and summary["preset"] == "fast"


def test_disparity_command_errors(tmp_path, rng, capsys):
    lp, _ = _pair(tmp_path, rng)
    rc = main(["disparity", str(lp), str(tmp_path / "missing.png"), "-o", str(tmp_path / "x.pfm")])
    assert rc == 1
    assert "right image not found" in capsys.readouterr().err
    rc = main(["disparity", str(lp), str(lp), "-o", str(tmp_path / "x.pfm"),
               "--num-disparities", "200"])
    assert rc == 1
    assert "smaller than the image width" in capsys.readouterr().err
    rc = main(["disparity", str(lp), str(lp), "-o", str(tmp_path / "x.png")])
    assert rc == 1  # PFM bytes under a .png name would be garbage to every image viewer
    assert "name it .pfm" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


def test_bench_command(shared_data, capsys):
    rc = main(["bench", "stereo", "--data", str(shared_data / "middlebury2001"), "--scenes",
               "tsukuba", "--presets", "fast", "--repeat", "1", "--skip-large", "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    (scene,) = res["scenes"]
    assert scene["scene"] == "tsukuba"
    assert set(scene["methods"]) == {"cv_3way", "cv_hh", "fast"}
    assert scene["methods"]["fast"]["bad2"] < 0.2  # measured 0.12 (OpenCV 3WAY 0.06)


def test_bench_unknown_name(capsys):
    assert main(["bench", "nonexistent"]) == 1
    assert "unknown benchmark 'nonexistent'" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["--preset=turbo"])
def test_disparity_usage_error(tmp_path, bad):
    with pytest.raises(SystemExit) as e:
        main(["disparity", "a", "b", "-o", str(tmp_path / "x.pfm"), bad])
    assert e.value.code == 2


def test_disparity_command_with_rig(tmp_path, rng):
    from depthkit import calibration as cal

    lp, rp = _pair(tmp_path, rng)
    intr = dk.Intrinsics(width=64, height=40, fx=50.0, fy=50.0, cx=31.5, cy=19.5)
    rig_path = tmp_path / "rig.yaml"
    cal.save_rig(dk.StereoRig.rectified_pair(intr, 0.1), rig_path)
    out = tmp_path / "d.pfm"
    rc = main(["disparity", str(lp), str(rp), "-o", str(out), "--num-disparities", "16",
               "--rig", str(rig_path)])
    assert rc == 0
    d = dk.io.read_pfm(out)
    assert d.shape == (40, 64)
    assert abs(np.nanmedian(d[5:-5, 20:-5]) - 4.0) < 0.3
