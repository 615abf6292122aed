"""The Dask backend of :func:`depthkit.batch.run_depth` (imported only when a scheduler is used)."""

from __future__ import annotations

import dask
import numpy as np
from distributed import Client, WorkerPlugin
from distributed import wait as dask_wait

from .batch import SINGLE_THREADED, DepthJob, _ProcessPool, parse_local, process_chunk
from .errors import ClusterError, ParameterError

#: Dask settings of the local cluster (see :func:`local_client`)
LOCAL_CLUSTER_CONFIG = {
    # glibc's default trimming: see local_client
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    # less bookkeeping: Dask's defaults cost an idle 2-worker cluster 15 % of a core, 2 % with these
    "distributed.worker.profile.enabled": False,  # stack samples every 10 ms, for the dashboard
    "distributed.admin.tick.interval": "1s",  # event-loop health checks, 20 ms by default
    "distributed.admin.system-monitor.interval": "2s",  # psutil readings, 500 ms
    "distributed.worker.memory.monitor-interval": "1s",  # memory-limit checks, 100 ms
}


def local_client(n_workers: int) -> Client:
    """A client of a new local cluster of `n_workers` single-threaded worker processes.

    Closing the client closes the cluster.  Dask's nannies give their workers
    ``MALLOC_TRIM_THRESHOLD_=65536`` (freed memory back to the system at once), which also turns
    off glibc's adaptive mmap threshold: every large numpy temporary is then a fresh mapping,
    6x the page faults and about a fifth of a frame's time here.  These workers keep glibc's
    default, and Dask's periodic bookkeeping runs less often (``LOCAL_CLUSTER_CONFIG``).
    """
    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        # no dashboard; the scheduler's small HTTP server (health, metrics) on a free local
        # port rather than 8787, which another scheduler on this machine may hold
        return Client(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, env=SINGLE_THREADED,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})


class WarmupPlugin(WorkerPlugin):
    """Compile (or load from numba's cache) the matcher's kernels once, when a worker joins."""

    def __init__(self, sgm: dict):
        self.sgm = dict(sgm)

    def setup(self, worker):
        from .stereo import SGM

        m = SGM(**self.sgm)
        h, w = 32, max(64, m.params.num_disparities + m.params.min_disparity + 16)
        img = np.random.default_rng(0).integers(0, 255, (h, w), dtype=np.uint8)
        m.compute(img, img)


class DaskBackend(_ProcessPool):
    """Runs chunks of frames as tasks on a Dask cluster.

    The job (rig, matcher parameters, output settings) is scattered to every worker once; tasks
    carry frame indices that workers read themselves (seekable sources) or the frames.  A task
    retried after its worker died rewrites the same files.
    """

    def __init__(self, job: DepthJob, scheduler, *, connect_timeout_s: float):
        self.job, self._own = job, []
        if isinstance(scheduler, Client):
            self.client = scheduler
        elif isinstance(scheduler, str) and scheduler.startswith("local:"):
            self.client = local_client(parse_local(scheduler))
            self._own = [self.client]
        elif isinstance(scheduler, str) and "://" in scheduler:
            try:
                self.client = Client(scheduler, timeout=connect_timeout_s)
            except (OSError, TimeoutError) as exc:
                raise ClusterError(
                    f"cannot reach the Dask scheduler at {scheduler} within "
                    f"{connect_timeout_s:g} s ({exc}); is `dask scheduler` running there?"
                ) from exc
            self._own = [self.client]
        else:
            raise ParameterError(
                f"scheduler must be 'local:N', a scheduler address such as tcp://HOST:8786, "
                f"or a dask.distributed.Client; got {scheduler!r}")
        self.client.register_plugin(WarmupPlugin(job.sgm), name="depthkit-warmup")
        self.job_future = self.client.scatter(job, broadcast=True, hash=False)

    def submit(self, frames=None, uri=None, indices=None):
        return self.client.submit(process_chunk, self.job_future, frames, uri=uri,
                                  indices=indices, pure=False)

    def wait_any(self, pending):
        return dask_wait(list(pending), return_when="FIRST_COMPLETED").done

    def close(self):
        # release the scattered job first: closing a cluster that still holds it logs an error
        self.client.cancel([self.job_future])
        del self.job_future
        for obj in self._own:
            obj.close()
