"""Numba policy in one place: caching and fastmath flags for every kernel.

``FASTMATH`` leaves out ``nnan`` and ``ninf`` because NaN marks invalid pixels.
``DEPTHKIT_NUMBA_CACHE=0`` switches on-disk caching off (numba's own ``NUMBA_CACHE_DIR``
chooses where the cache lives).
"""

from __future__ import annotations

import os

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
CACHE = os.environ.get("DEPTHKIT_NUMBA_CACHE", "1") != "0"


def _pick_threading_layer() -> None:
    """Prefer OpenMP for parallel kernels: numba's default tries TBB first and *warns* when the
    installed TBB is too old (which pytest's ``filterwarnings = error`` turns into failures).
    ``NUMBA_THREADING_LAYER`` set by the user wins."""
    if os.environ.get("NUMBA_THREADING_LAYER"):
        return
    try:
        import numba
        from numba.np.ufunc import omppool  # noqa: F401  (fails if no OpenMP runtime)
    except ImportError:
        return
    numba.config.THREADING_LAYER = "omp"


_pick_threading_layer()
