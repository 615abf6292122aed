"""Pipeline: threads deliver every frame in order, scored against the simulator's ground truth,
and stop cleanly on errors and on close."""

import threading
import time

import numpy as np
import pytest

import depthkit as dk
from depthkit.eval import evaluate_disparity

SIM = "sim://stereo?scene=tabletop&seed=3&size=192x144&frames=4&trajectory=orbit"


@pytest.fixture(scope="module")
def sim_frames():
    with dk.open(SIM) as cam:
        return list(cam)


def _matcher():
    return dk.SGM(num_disparities=48, preset="fast")


def test_frames_in_order_and_accurate(sim_frames):
    pipe = dk.Pipeline(sim_frames, matcher=_matcher())
    out = list(pipe)
    assert [f.sequence for f in out] == [f.sequence for f in sim_frames]
    for f in out:
        assert isinstance(f, dk.RGBDFrame) and f.color is not None and f.pose is not None
        s = evaluate_disparity(f.disparity, f.ground_truth.disparity,
                               nonoccluded=~f.ground_truth.occlusion)
        assert s["bad2_est"] < 0.08 and s["density"] > 0.7
        # depth agrees with the ground truth where both exist
        gt = dk.disparity_to_depth(f.ground_truth.disparity, sim_frames[0].rig)
        ok = np.isfinite(f.depth_m) & np.isfinite(gt)
        # at 192 px wide disparities are ~10-25 px: 0.3 px of error is ~2% of depth
        assert np.median(np.abs(f.depth_m[ok] - gt[ok]) / gt[ok]) < 0.04
    st = pipe.stats()
    assert st["frames"] == 4 and st["dropped"] == 0
    assert st["stages"]["match"]["frames"] == 4 and st["stages"]["rectify"]["frames"] == 4


def test_ground_truth_pose_is_the_rectified_views(sim_frames):
    """The pipeline's frame carries the rectified view's pose, and the ground truth in that view,
    placed with it, lands where the raw left camera's own depth and pose put the surfaces."""
    f = dk.Pipeline(sim_frames[:1], matcher=_matcher()).process(sim_frames[0])
    gt = f.ground_truth
    rig = sim_frames[0].rig
    assert np.array_equal(f.pose, gt.pose)
    pts_rect, _ = dk.to_pointcloud(np.asarray(gt.depth_m, np.float32), f.intrinsics,
                                   cam2world=f.pose)
    raw = dk.Intrinsics(rig.left.width, rig.left.height, rig.left.fx, rig.left.fy, rig.left.cx,
                        rig.left.cy)  # distortion is mild: fine for a centroid
    pts_raw, _ = dk.to_pointcloud(np.asarray(gt.extras["depth_left_m"], np.float32), raw,
                                  cam2world=gt.extras["pose_left"])
    assert np.allclose(np.median(pts_rect, 0), np.median(pts_raw, 0), atol=0.05)


def test_fusion_runs_in_its_own_thread(sim_frames):
    fusion = dk.Fusion(voxel_size=0.02, max_depth_m=4.0)
    list(dk.Pipeline(sim_frames, matcher=_matcher(), fusion=fusion))
    mesh = fusion.extract_mesh()
    assert len(mesh.vertices) > 1000


class _Failing(dk.Source):
    def __init__(self, frames, fail_at):
        super().__init__("test://failing")
        self._pending, self._i, self._fail_at = frames, 0, fail_at

    def _read(self, timeout):
        if self._i == self._fail_at:
            raise dk.errors.DeviceDisconnectedError("camera unplugged")
        self._i += 1
        return self._pending[(self._i - 1) % len(self._pending)]


def test_source_error_reaches_the_consumer_and_threads_stop(sim_frames):
    before = threading.active_count()
    got = []
    with pytest.raises(dk.errors.DeviceDisconnectedError, match="unplugged"):
        for f in dk.Pipeline(_Failing(sim_frames, 2), matcher=_matcher()):
            got.append(f.sequence)
    assert len(got) <= 2
    time.sleep(0.2)
    assert threading.active_count() <= before


def test_close_stops_an_endless_source(sim_frames):
    src = _Failing(sim_frames, fail_at=-1)  # never fails, never ends
    pipe = dk.Pipeline(src, matcher=_matcher())
    it = iter(pipe)
    next(it)
    pipe.close()
    assert all(not t.is_alive() for t in pipe._threads)


def test_depth_frames_pass_through_filters(sim_frames):
    intr = dk.Intrinsics(8, 6, 10, 10, 4, 3)
    frames = [dk.DepthFrame(np.full((6, 8), 2.0, np.float32), intr, 0.1 * i, i) for i in range(3)]
    half = lambda f: dk.RGBDFrame(f.depth_m / 2, f.intrinsics, f.timestamp_s, f.sequence)  # noqa: E731
    out = list(dk.Pipeline(frames, filters=[half]))
    assert [f.sequence for f in out] == [0, 1, 2] and np.all(out[0].depth_m == 1.0)


def test_bad_arguments():
    with pytest.raises(dk.errors.ParameterError, match="drop"):
        dk.Pipeline([], drop="sometimes")
    with pytest.raises(dk.errors.ParameterError, match="StereoFrame"):
        dk.Pipeline([]).process(np.zeros((4, 4)))


def test_no_disparity_on_the_black_border_rectification_leaves(sim_frames):
    """Rectifying with alpha=1 keeps every raw pixel and leaves black corners; matching black
    against black would give disparity ~0 (depth ~infinite). Those pixels must be invalid."""
    from dataclasses import replace

    from depthkit.calibration import Rectifier, rectify_rig

    rig = rectify_rig(sim_frames[0].rig, alpha=1.0)
    rect = Rectifier(rig)
    mask = rect.valid_mask("left")
    white = np.full(mask.shape, 255, np.uint8)
    assert 0.5 < mask.mean() < 0.99
    assert np.all(rect.rectify_image(white, "left")[~mask] < 255)   # border filled, not sampled
    assert np.all(rect.rectify_image(white, "left")[mask] == 255)
    f = dk.Pipeline(matcher=_matcher()).process(replace(sim_frames[0], rig=rig))
    assert np.all(np.isnan(f.disparity[~mask])) and np.all(np.isnan(f.depth_m[~mask]))
    assert np.isfinite(f.disparity[mask]).mean() > 0.6
