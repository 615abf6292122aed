"""The live app: headless recording reads back; the window under Xvfb shows both panels."""

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import depthkit as dk
from depthkit.apps.live import main, render_mosaic

SIM = "sim://stereo?trajectory=orbit&frames=40&size=160x120&seed=2"


def test_headless_records_frames_that_read_back(tmp_path):
    rec = tmp_path / "rec"
    assert main([SIM, "--headless", "--record", str(rec), "--frames", "3",
                 "--num-disparities", "32"]) == 0
    with dk.open(f"recording://{rec}") as r:
        frames = list(r)
        assert r.rig is not None or frames[0].intrinsics is not None
    assert [f.sequence for f in frames] == [0, 1, 2]
    f = frames[0]
    assert isinstance(f, dk.RGBDFrame) and f.color.shape == (120, 160, 3)
    valid = np.isfinite(f.depth_m)
    assert valid.mean() > 0.6
    assert 0.3 < np.nanmedian(f.depth_m) < 4.0


class _Unplugged(dk.Source):
    """Delivers two simulated frames, then reports the camera gone."""

    def __init__(self, frames):
        super().__init__("test://unplugged")
        self._pending = frames

    def _read(self, timeout):
        if not self._pending:
            raise dk.errors.DeviceDisconnectedError("device 123 was unplugged")
        return self._pending.pop(0)


def test_disconnect_ends_with_message_and_readable_recording(tmp_path, monkeypatch, capsys):
    from depthkit.apps import live

    with dk.open(SIM.replace("frames=40", "frames=2")) as cam:
        frames = list(cam)
    monkeypatch.setattr(live.dk, "open", lambda uri: _Unplugged(list(frames)))
    rec = tmp_path / "rec"
    assert main(["test://unplugged", "--headless", "--record", str(rec),
                 "--num-disparities", "32"]) == 1
    assert "unplugged" in capsys.readouterr().err
    monkeypatch.undo()
    with dk.open(f"recording://{rec}") as r:
        assert len(list(r)) == 2


def test_mosaic_has_both_panels_and_depth_readout():
    intr = dk.Intrinsics(40, 30, 30, 30, 20, 15)
    depth = np.linspace(0.5, 3.0, 40 * 30, dtype=np.float32).reshape(30, 40)
    color = np.full((30, 40, 3), 200, np.uint8)
    m = render_mosaic(dk.RGBDFrame(depth, intr, color=color), fps=12.5, mouse=(45, 10))
    assert m.shape == (30 + 28, 80, 3)
    assert np.all(m[:30, :40] == 200) and m[:30, 40:].std() > 20


def _free_display() -> int:
    for n in range(90, 140):
        if not os.path.exists(f"/tmp/.X11-unix/X{n}") and not os.path.exists(f"/tmp/.X{n}-lock"):
            return n
    pytest.skip("no free X display number")


@pytest.mark.skipif(shutil.which("Xvfb") is None,
                    reason="Xvfb not installed (make test installs it)")
def test_window_under_xvfb_shows_a_non_empty_mosaic(tmp_path):
    mss = pytest.importorskip("mss")
    n = _free_display()
    xvfb = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "DISPLAY": f":{n}"}
    app = None
    try:
        for _ in range(100):
            if os.path.exists(f"/tmp/.X11-unix/X{n}"):
                break
            time.sleep(0.05)
        app = subprocess.Popen([sys.executable, "-m", "depthkit.apps.live", SIM,
                                "--num-disparities", "32", "--frames", "40",
                                "--snapshots", str(tmp_path)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shot = None
        deadline = time.monotonic() + 180
        with mss.MSS(display=f":{n}") as grabber:
            while time.monotonic() < deadline and app.poll() is None:
                img = np.array(grabber.grab(grabber.monitors[0]))[..., :3]
                ys, xs = np.nonzero(img.sum(axis=2))
                if len(xs) and xs.max() - xs.min() >= 300:   # the 2 x 160 px mosaic is up
                    time.sleep(0.3)
                    shot = np.array(grabber.grab(grabber.monitors[0]))[..., :3]
                    break
                time.sleep(0.1)
        assert shot is not None, "the live window never showed a mosaic"
        ys, xs = np.nonzero(shot.sum(axis=2))
        x0, y0 = xs.min(), ys.min()
        left = shot[y0:y0 + 120, x0:x0 + 160].astype(float)
        right = shot[y0:y0 + 120, x0 + 160:x0 + 320].astype(float)
        assert left.std() > 10, "left image panel is empty"
        assert right.std() > 10 and (right.sum(axis=2) > 0).mean() > 0.5, "depth panel is empty"
        # the depth panel is colour-mapped: its channels differ, unlike a grey image
        assert np.abs(right[..., 0] - right[..., 2]).mean() > 10
    finally:
        if app is not None:
            app.kill()
            app.wait(timeout=30)
        xvfb.terminate()
        xvfb.wait(timeout=30)


def test_no_display_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert main([SIM, "--frames", "1"]) == 1
    assert "--headless" in capsys.readouterr().err


