"""Shared builders for the backtest tests (hand-made candles and signal flags)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tradeforge.core.candles import Candles

DATA = Path(__file__).parent / "data"
HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR


def make_candles(rows: list[tuple[float, float, float, float]], start: int = T0) -> Candles:
    """Build hourly candles from (open, high, low, close) rows."""
    arr = np.asarray(rows, dtype=np.float64)
    n = arr.shape[0]
    ts = start + HOUR * np.arange(n, dtype=np.int64)
    return Candles.from_arrays(ts, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], np.ones(n))


def flags(n: int, *bars: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[list(bars)] = True
    return out
