"""Numba policy in one place: caching and fastmath flags for every kernel.

``FASTMATH`` leaves out ``nnan`` and ``ninf`` because NaN marks invalid pixels.
``DEPTHKIT_NUMBA_CACHE=0`` switches on-disk caching off (numba's own ``NUMBA_CACHE_DIR``
chooses where the cache lives).
"""

from __future__ import annotations

import os

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
CACHE = os.environ.get("DEPTHKIT_NUMBA_CACHE", "1") != "0"
