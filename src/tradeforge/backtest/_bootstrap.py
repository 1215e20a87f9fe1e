"""Point numba's on-disk cache at the data directory before any kernel is compiled.

numba reads ``NUMBA_CACHE_DIR`` when it is first imported; ``tradeforge.backtest`` imports
this module before anything that imports numba. If numba was already imported elsewhere,
its live config is updated as well so cached kernels still land in the data directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tradeforge.config import get_settings


def configure_numba_cache() -> Path:
    """Create the numba cache directory from the settings and return it."""
    cache_dir = get_settings().numba_cache_dir
    cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(cache_dir)
    numba_module = sys.modules.get("numba")
    if numba_module is not None:  # numba came first: update the value it already read
        numba_module.config.CACHE_DIR = str(cache_dir)
    return cache_dir


NUMBA_CACHE_DIR = configure_numba_cache()
