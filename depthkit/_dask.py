"""The Dask backend of :func:`depthkit.batch.run_depth` (imported only when a scheduler is used)."""

from __future__ import annotations

import numpy as np
from distributed import Client, LocalCluster, WorkerPlugin
from distributed import wait as dask_wait

from .batch import SINGLE_THREADED, DepthJob, _ProcessPool, parse_local, process_chunk
from .errors import ClusterError, ParameterError


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
            cluster = LocalCluster(n_workers=parse_local(scheduler), threads_per_worker=1,
                                   processes=True, dashboard_address=None, env=SINGLE_THREADED)
            self.client = Client(cluster)
            self._own = [self.client, cluster]
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
