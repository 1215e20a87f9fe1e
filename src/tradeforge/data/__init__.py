"""The bundled, read-only market-data set shipped inside the package.

``bundled/`` holds real Binance (spot and USD-M perpetual), Coinbase and Bitstamp candles
in the store's Parquet layout, plus ``manifest.json`` and ``PROVENANCE.md`` (sources and
licences). Read it through ``tradeforge.adapters.candles``; never write into it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled_dir() -> Path:
    """Return the directory of the bundled data set."""
    return Path(str(resources.files(__name__) / "bundled"))
