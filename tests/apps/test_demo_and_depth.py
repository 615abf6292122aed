"""`depthkit demo` end to end at small size, and `depthkit depth` against the API, with a real
interruption and --resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import depthkit as dk
from depthkit.apps.cli import main


def test_demo_writes_everything_with_metrics_in_bounds(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--frames", "3", "--size", "256x192"]) == 0
    for name in ("disparity.pfm", "cloud.ply", "mesh.ply", "report.html", "summary.json",
                 "left.png", "disparity.png", "disparity_error.png", "depth.png"):
        assert (out / name).stat().st_size > 0, name
    s = json.loads((out / "summary.json").read_text())
    assert s["frames"] == 3
    assert s["stereo"]["bad2"] < 0.20 and s["stereo"]["bad2_est"] < 0.05
    assert s["depth"]["within5"] > 0.75
    assert s["fusion"]["accuracy_over_mean_depth"] < 0.015 and s["fusion"]["mesh_vertices"] > 1000
    disp = dk.io.read_pfm(out / "disparity.pfm")
    assert disp.shape == (192, 256) and np.isfinite(disp).mean() > 0.7
    assert "<img src='data:image/png;base64," in (out / "report.html").read_text()


def test_depth_cli_matches_the_api(tmp_path, shared_data):
    scene = shared_data / "middlebury2001" / "tsukuba"
    out = tmp_path / "d"
    rc = main(["depth", f"middlebury://{scene}", "-o", str(out), "--num-disparities", "16",
               "--save", "disparity,preview", "--no-progress"])
    assert rc == 0
    sc = dk.eval.load_scene(scene)
    ref = dk.SGM(num_disparities=16).compute(np.asarray(sc.left), np.asarray(sc.right))
    got = dk.io.read_pfm(out / "000000_disparity.pfm")
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    assert np.allclose(got[np.isfinite(got)], ref[np.isfinite(ref)])
    assert (out / "000000_preview.png").exists()
    assert json.loads((out / "summary.json").read_text())["frames_done"] == 1


def _outputs(out: Path) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != "summary.json"}


def test_interrupted_run_resumes_without_duplicates_or_half_files(tmp_path):
    uri = "sim://stereo?scene=room&size=160x120&frames=6&rectified=1&trajectory=walk"
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "depthkit.apps.cli", "depth", uri, "-o", str(out),
           "--num-disparities", "32", "--preset", "fast", "--save", "disparity,depth",
           "--depth-format", "png,pfm", "--no-progress"]
    log = open(tmp_path / "stderr.txt", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir() and any(out.glob("000001_*")):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    log.close()
    before = _outputs(out)
    assert not (out / "summary.json").exists() or proc.returncode == 0
    summary = dk.batch.run_depth(uri, out, save=("disparity", "depth"),
                                 depth_formats=("png", "pfm"), resume=True, progress=False,
                                 sgm={"num_disparities": 32, "preset": "fast"})
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.startswith(".")], "temporary files left behind"
    expected = sorted(f"{i:06d}_{k}" for i in range(6)
                      for k in ("disparity.pfm", "depth.png", "depth.pfm")) + ["summary.json"]
    assert names == expected
    assert summary["frames_done"] + summary["frames_skipped"] == 6
    # finished frames (all their outputs there before the resume) were skipped, not recomputed
    after = _outputs(out)
    kinds = ("disparity.pfm", "depth.png", "depth.pfm")
    complete = {f"{i:06d}" for i in range(6)
                if all(f"{i:06d}_{k}" in before for k in kinds)}
    assert summary["frames_skipped"] == len(complete)
    for key in complete:
        for k in kinds:
            assert after[f"{key}_{k}"] == before[f"{key}_{k}"]
    for p in out.glob("*_disparity.pfm"):  # every file is whole
        assert dk.io.read_pfm(p).shape == (120, 160)


def test_depth_cli_reports_bad_source(capsys, tmp_path):
    assert main(["depth", "nosuch://x", "-o", str(tmp_path)]) == 1
    assert "unknown source scheme" in capsys.readouterr().err


@pytest.mark.slow
def test_depth_cli_workers_match_serial(tmp_path):
    uri = "sim://stereo?scene=tabletop&size=160x120&frames=3&rectified=1"
    kw = dict(save=("disparity",), sgm={"num_disparities": 32, "preset": "fast"}, progress=False)
    dk.batch.run_depth(uri, tmp_path / "a", workers=1, **kw)
    s = dk.batch.run_depth(uri, tmp_path / "b", workers=2, **kw)
    assert s["frames_done"] == 3
    for i in range(3):
        a = dk.io.read_pfm(tmp_path / "a" / f"{i:06d}_disparity.pfm")
        b = dk.io.read_pfm(tmp_path / "b" / f"{i:06d}_disparity.pfm")
        assert np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_corrupt_file_fails_its_frame_and_the_run_goes_on(tmp_path, workers, corrupt_pairs):
    uri, check = corrupt_pairs
    s = dk.batch.run_depth(uri, tmp_path / "out", workers=workers, save=("disparity",),
                           sgm={"num_disparities": 16}, progress=False)
    check(s, tmp_path / "out")


def test_depth_cli_lists_the_failed_frame(tmp_path, capsys, corrupt_pairs):
    uri, _ = corrupt_pairs
    assert main(["depth", uri, "-o", str(tmp_path / "out"), "--save", "disparity",
                 "--num-disparities", "16", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "3 frames written" in err and "1 failed" in err
    assert "frame 000002: FileFormatError" in err and "L2.png" in err


def test_missing_calibration_is_one_clear_error_before_any_work(tmp_path, corrupt_pairs):
    uri, _ = corrupt_pairs
    raw = uri.replace("?rectified=1", "")  # the same pairs, not declared rectified
    kw = dict(save=("disparity",), sgm={"num_disparities": 16}, progress=False)
    with pytest.raises(dk.errors.CalibrationError, match="not rectified.*--rig"):
        dk.batch.run_depth(raw, tmp_path / "a", **kw)  # read by index
    with dk.open(raw) as src, pytest.raises(dk.errors.CalibrationError, match="--rig"):
        dk.batch.run_depth(src, tmp_path / "b", **kw)  # read in order
    assert not list((tmp_path / "a").iterdir()) and not list((tmp_path / "b").iterdir())


def test_output_path_that_is_a_file_is_a_clear_error(tmp_path):
    f = tmp_path / "out.png"
    f.write_bytes(b"x")
    with pytest.raises(dk.errors.ParameterError, match="exists and is not a folder"):
        dk.batch.run_depth("sim://stereo?size=64x48&frames=1&rectified=1", f,
                           sgm={"num_disparities": 16}, progress=False)


def test_cli_file_system_errors_are_one_line(tmp_path, capsys):
    f = tmp_path / "a_file"
    f.write_bytes(b"x")
    assert main(["demo", "--out", str(f), "--frames", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("depthkit demo: error: File exists") and str(f) in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
