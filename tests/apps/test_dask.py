"""`depthkit depth` on a real Dask cluster (scheduler and workers as subprocesses on 127.0.0.1):
outputs equal the local run bit for bit, a worker killed mid-run loses and duplicates nothing,
and an unreachable scheduler is a clear error."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import depthkit as dk

distributed = pytest.importorskip("distributed")

SIM = "sim://stereo?scene=tabletop&seed=4&size=128x96&frames=40&rectified=1&trajectory=orbit"
KW = dict(save=("disparity", "depth"), depth_formats=("png", "pfm"),
          sgm={"num_disparities": 32, "preset": "fast"}, progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("dask") / "log.txt"
    out = open(log, "wb")  # noqa: SIM115 - closed at teardown
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    sched = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                              "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             stdout=out, stderr=out, env=env)
    addr = f"tcp://127.0.0.1:{port}"
    workers = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", addr,
                                 "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                                 "--no-dashboard"], stdout=out, stderr=out, env=env)
               for _ in range(2)]
    try:
        with distributed.Client(addr, timeout=60) as c:
            c.wait_for_workers(2, timeout=120)
        yield addr, workers
    finally:
        for p in [*workers, sched]:
            if p.poll() is None:
                p.terminate()
        for p in [*workers, sched]:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        out.close()


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    s = dk.batch.run_depth(SIM, out, **KW)
    assert s["frames_done"] == 40
    return out


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.name != "summary.json"}


def test_cluster_run_equals_local_run_bit_for_bit(cluster, local_reference, tmp_path):
    addr, _ = cluster
    s = dk.batch.run_depth(SIM, tmp_path, scheduler=addr, **KW)
    assert s["frames_done"] == 40 and s["frames_failed"] == 0
    assert _files(tmp_path) == _files(local_reference)
    assert sum(w["frames"] for w in s["per_worker"].values()) == 40
    assert all(a.startswith("tcp://127.0.0.1") for a in s["per_worker"])


def test_cluster_run_on_real_pairs(cluster, shared_data, tmp_path):
    addr, _ = cluster
    uri = f"middlebury://{shared_data / 'middlebury2001'}"
    kw = dict(save=("disparity",), sgm={"num_disparities": 32}, progress=False)
    a = dk.batch.run_depth(uri, tmp_path / "local", **kw)
    b = dk.batch.run_depth(uri, tmp_path / "dask", scheduler=addr, **kw)
    assert a["frames_done"] == b["frames_done"] == 2
    assert _files(tmp_path / "local") == _files(tmp_path / "dask")


def test_killed_worker_loses_and_duplicates_nothing(cluster, local_reference, tmp_path):
    addr, workers = cluster
    victim = workers[0]
    result = {}

    def run():
        result["summary"] = dk.batch.run_depth(SIM, tmp_path, scheduler=addr, chunk_size=2, **KW)

    th = threading.Thread(target=run)
    th.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(tmp_path.glob("*_disparity.pfm"))) < 6:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    th.join(timeout=300)
    assert not th.is_alive()
    s = result["summary"]
    assert s["frames_done"] == 40 and s["frames_failed"] == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert not [n for n in names if n.startswith(".")], "a half-written temporary file remains"
    assert _files(tmp_path) == _files(local_reference)  # every frame exactly once, whole


def test_unreachable_scheduler_is_a_clear_error_in_bounded_time(tmp_path):
    port = _free_port()  # nothing listens there
    t = time.monotonic()
    with pytest.raises(dk.errors.ClusterError, match="cannot reach the Dask scheduler"):
        dk.batch.run_depth(SIM, tmp_path, scheduler=f"tcp://127.0.0.1:{port}",
                           connect_timeout_s=3, **KW)
    assert time.monotonic() - t < 30


def test_live_cameras_and_bad_schedulers_are_refused(tmp_path):
    with pytest.raises(dk.errors.ParameterError, match="live camera"):
        dk.batch.run_depth("uvc://0,1", tmp_path, scheduler="local:1", **KW)
    with pytest.raises(dk.errors.ParameterError, match="local:N"):
        dk.batch.run_depth(SIM, tmp_path, scheduler="local:0", **KW)
    with pytest.raises(dk.errors.ParameterError, match="not both"):
        dk.batch.run_depth(SIM, tmp_path, scheduler="local:1", workers=2, **KW)


def test_cli_on_a_local_cluster_equals_local_run_and_keeps_dask_quiet(local_reference, tmp_path):
    import json

    cmd = [sys.executable, "-m", "depthkit.apps.cli", "depth", SIM, "-o", str(tmp_path),
           "--scheduler", "local:2", "--max-frames", "10", "--save", "disparity,depth",
           "--depth-format", "png,pfm", "--num-disparities", "32", "--preset", "fast",
           "--json", "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["frames_done"] == 10 and s["frames_failed"] == 0 and s["scheduler"] == "local:2"
    assert sum(w["frames"] for w in s["per_worker"].values()) == 10
    ref = {k: v for k, v in _files(local_reference).items() if int(k[:6]) < 10}
    assert _files(tmp_path) == ref
    # Dask's INFO log of every connection (and a traceback as the client closes) stays out
    assert "distributed" not in r.stderr, r.stderr


def _worker_settings():
    import os

    import dask

    return {"trim": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
            "numba_threads": os.environ.get("NUMBA_NUM_THREADS"),
            "profile": dask.config.get("distributed.worker.profile.enabled"),
            "pid": os.getpid()}


def test_local_client_workers_are_single_threaded_and_keep_glibc_trimming():
    """Dask's MALLOC_TRIM_THRESHOLD_=65536 made every frame ~20 % slower (6x page faults)."""
    import psutil

    had_trim = "MALLOC_TRIM_THRESHOLD_" in os.environ
    client = dk.batch.local_client(2)
    try:
        client.wait_for_workers(2, timeout=120)
        settings = list(client.run(_worker_settings).values())
    finally:
        client.close()
    assert len(settings) == 2
    for s in settings:
        assert s["trim"] is None and s["numba_threads"] == "1" and s["profile"] is False
    # the nannies write their pre-spawn variables into this process's environment too
    assert had_trim or "MALLOC_TRIM_THRESHOLD_" not in os.environ
    # closing the client closed its cluster
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(psutil.pid_exists(s["pid"]) for s in settings):
        time.sleep(0.1)
    assert not any(psutil.pid_exists(s["pid"]) for s in settings)
    with pytest.raises(dk.errors.ParameterError, match="at least one worker"):
        dk.batch.local_client(0)


@pytest.mark.parametrize("n, chunk, workers", [(48, 4, 2), (40, 2, 2), (10, 4, 1), (3, 4, 8),
                                               (1000, 4, 16), (0, 4, 2)])
def test_guided_chunks_cover_every_frame_once_and_shrink_at_the_end(n, chunk, workers):
    chunks = dk.batch.guided_chunks(n, chunk, workers)
    assert [i for c in chunks for i in c] == list(range(n))  # in order, each once
    sizes = [len(c) for c in chunks]
    assert all(1 <= s <= chunk for s in sizes)
    assert sizes == sorted(sizes, reverse=True)
    if n:
        assert sizes[-1] == 1  # the last task is one frame
    if n >= 8 * chunk * workers:
        assert sum(s == chunk for s in sizes) * chunk >= 0.75 * n  # most tasks are full


def test_a_corrupt_file_is_reported_not_retried(cluster, tmp_path, corrupt_pairs):
    addr, _ = cluster
    uri, check = corrupt_pairs
    s = dk.batch.run_depth(uri, tmp_path / "out", scheduler=addr, save=("disparity",),
                           sgm={"num_disparities": 16}, progress=False)
    check(s, tmp_path / "out")
