"""``depthkit-live``: live depth from any source, in a window or headless.

The window shows the (rectified) left image and the colourised depth side by side, the frame
rate and the depth under the mouse.  Keys: space = snapshot (images, depth, point cloud),
r = start/stop recording, 3 = show the current point cloud in an Open3D window,
+/- = disparity range, q or Esc = quit.

``--headless --record DIR --frames N`` records with no window.  Recording writes each finished
frame to disk at once, with a manifest (timestamps, calibration), so a crash loses at most the
frame in flight; a camera that disconnects ends the session with a clear message and a closed,
readable recording (``recording://DIR`` plays it back).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

import depthkit as dk

log = logging.getLogger("depthkit.live")

DEFAULT_SOURCE = "sim://stereo?trajectory=orbit&frames=360&size=640x480"
WINDOW = "depthkit-live"
KEYS = "space snapshot | r record | 3 cloud | +/- disparities | q quit"


def render_mosaic(frame: dk.RGBDFrame, *, fps: float = 0.0, mouse: tuple[int, int] | None = None,
                  recording: bool = False, num_disparities: int | None = None,
                  max_depth_m: float = 4.0) -> np.ndarray:
    """Left image and colourised depth side by side (RGB uint8), with a status line."""
    import cv2

    h, w = frame.depth_m.shape
    if frame.color is None:
        left = np.zeros((h, w, 3), np.uint8)
    elif frame.color.ndim == 2:
        left = np.repeat(np.asarray(frame.color)[..., None], 3, axis=2)
    else:
        left = np.asarray(frame.color)
    if left.dtype != np.uint8:
        left = cv2.normalize(left, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    depth = dk.io.colorize_depth(frame.depth_m, min_m=0.2, max_m=max_depth_m)
    mosaic = np.ascontiguousarray(np.hstack([left, depth]))
    bar = np.zeros((28, mosaic.shape[1], 3), np.uint8)
    text = f"{fps:5.1f} fps  frame {frame.sequence}"
    if num_disparities:
        text += f"  D={num_disparities}"
    if mouse is not None:
        x, y = mouse
        x = x - w if x >= w else x
        if 0 <= x < w and 0 <= y < h:
            z = frame.depth_m[y, x]
            text += f"  ({x},{y}) " + (f"{z:.3f} m" if np.isfinite(z) else "no depth")
    cv2.putText(bar, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
    if recording:
        cv2.circle(bar, (mosaic.shape[1] - 16, 14), 7, (255, 0, 0), -1)
    return np.vstack([mosaic, bar])


class LiveApp:
    """The live loop: pipeline frames in, window (or nothing) out, snapshots and recording."""

    def __init__(self, source: str, *, num_disparities: int = 64, preset: str = "fast",
                 headless: bool = False, record_dir: str | None = None,
                 snapshot_dir: str = "snapshots", max_frames: int | None = None):
        self.source_uri = source
        self.num_disparities = int(num_disparities)
        self.preset = preset
        self.headless = headless
        self.record_dir = record_dir
        self.snapshot_dir = Path(snapshot_dir)
        self.max_frames = max_frames
        self.writer = None
        self.mouse: tuple[int, int] | None = None
        self.frame: dk.RGBDFrame | None = None
        self.pipe = None
        self.frames = 0
        self.recorded = 0
        self._recordings = 0

    # --- actions ---------------------------------------------------------------------------
    def start_recording(self, path: str | None = None) -> Path:
        from depthkit.sources.recording import RecordingWriter

        if path is None:
            self._recordings += 1
            path = self.snapshot_dir / time.strftime(f"recording-%Y%m%d-%H%M%S-{self._recordings}")
        self.writer = RecordingWriter(path, source_uri=self.source_uri)
        log.warning("recording to %s", path)
        return Path(path)

    def stop_recording(self) -> None:
        if self.writer is not None:
            self.writer.close()
            log.warning("recording closed: %d frames", len(self.writer))
            self.writer = None

    def snapshot(self) -> Path:
        """Write the current frame's colour, depth (PNG mm and PFM m), preview and cloud."""
        f = self.frame
        stem = self.snapshot_dir / f"snapshot-{f.sequence:06d}"
        if f.color is not None:
            dk.io.write_image(f"{stem}_color.png", np.asarray(f.color))
        dk.io.write_depth_png(f"{stem}_depth.png", f.depth_m)
        dk.io.write_pfm(f"{stem}_depth.pfm", f.depth_m)
        dk.io.write_image(f"{stem}_preview.png", render_mosaic(f))
        pts, cols = f.point_cloud()
        dk.io.write_ply(f"{stem}_cloud.ply", pts, cols)
        log.warning("snapshot written: %s_*", stem)
        return stem

    def show_cloud(self) -> None:
        from depthkit._optional import require

        o3d = require("open3d")
        pts, cols = self.frame.point_cloud()
        pc = dk.geometry.to_open3d(pts, cols)
        o3d.visualization.draw_geometries([pc], window_name="depthkit point cloud")

    def change_range(self, step: int) -> None:
        self.num_disparities = max(16, self.num_disparities + step)
        self.pipe.set_matcher(dk.SGM(num_disparities=self.num_disparities, preset=self.preset))

    def handle_key(self, key: int) -> bool:
        """Act on a key; return False to quit."""
        if key in (ord("q"), 27):
            return False
        if key == ord(" "):
            self.snapshot()
        elif key == ord("r"):
            self.stop_recording() if self.writer is not None else self.start_recording()
        elif key == ord("3"):
            self.show_cloud()
        elif key in (ord("+"), ord("=")):
            self.change_range(16)
        elif key in (ord("-"), ord("_")):
            self.change_range(-16)
        return True

    # --- the loop --------------------------------------------------------------------------
    def run(self) -> int:
        import cv2

        if not self.headless and sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
            raise dk.errors.DeviceError(
                "no display (DISPLAY is not set): run with --headless --record DIR, or start a "
                "virtual display (xvfb-run depthkit-live)")
        if self.record_dir:
            self.start_recording(self.record_dir)
        t_last, fps = time.perf_counter(), 0.0
        status = 0
        with dk.open(self.source_uri) as cam:
            self.pipe = dk.Pipeline(cam, matcher=dk.SGM(num_disparities=self.num_disparities,
                                                        preset=self.preset))
            if not self.headless:
                cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
                cv2.setMouseCallback(WINDOW, self._on_mouse)
            try:
                for frame in self.pipe:
                    self.frame = frame
                    self.frames += 1
                    now = time.perf_counter()
                    fps = 0.8 * fps + 0.2 / max(now - t_last, 1e-6) if self.frames > 1 else 0.0
                    t_last = now
                    if self.writer is not None:
                        self.writer.write(frame)
                        self.recorded += 1
                    if not self.headless:
                        mosaic = render_mosaic(frame, fps=fps, mouse=self.mouse,
                                               recording=self.writer is not None,
                                               num_disparities=self.num_disparities)
                        cv2.imshow(WINDOW, cv2.cvtColor(mosaic, cv2.COLOR_RGB2BGR))
                        key = cv2.waitKey(1) & 0xFF
                        if key != 0xFF and not self.handle_key(key):
                            break
                    if self.max_frames is not None and self.frames >= self.max_frames:
                        break
            except dk.errors.SourceError as exc:
                # the camera went away: keep what was recorded, say so, stop
                print(f"depthkit-live: source stopped: {exc}", file=sys.stderr)
                status = 1
            finally:
                self.pipe.close()
                self.stop_recording()
                if not self.headless:
                    cv2.destroyAllWindows()
        return status

    def _on_mouse(self, event, x, y, flags, param):
        self.mouse = (x, y)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="depthkit-live", description=__doc__.split("\n\n")[0] +
                                f" Keys: {KEYS}.")
    p.add_argument("source", nargs="?", default=DEFAULT_SOURCE,
                   help="source URI (default: the simulator, %(default)s)")
    p.add_argument("--num-disparities", type=int, default=64)
    p.add_argument("--preset", default="fast", help="SGM preset (default: fast)")
    p.add_argument("--headless", action="store_true", help="no window")
    p.add_argument("--record", metavar="DIR", help="record every frame to DIR")
    p.add_argument("--frames", type=int, default=None, help="stop after N frames")
    p.add_argument("--snapshots", default="snapshots", help="folder for snapshots")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    if args.frames is not None and args.frames < 1:
        print("depthkit-live: error: --frames must be >= 1", file=sys.stderr)
        return 2
    app = LiveApp(args.source, num_disparities=args.num_disparities, preset=args.preset,
                  headless=args.headless, record_dir=args.record, snapshot_dir=args.snapshots,
                  max_frames=args.frames)
    try:
        status = app.run()
    except dk.DepthkitError as exc:
        if args.debug:
            raise
        print(f"depthkit-live: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        app.stop_recording()
        return 130
    print(f"depthkit-live: {app.frames} frames, {app.recorded} recorded", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
