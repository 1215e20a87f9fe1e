"""Columnar OHLCV candles: the one in-memory form every layer passes around.

Arrays are numpy, aligned by index, sorted by ``timestamp`` ascending with no duplicates.
``timestamp`` is the candle *open* time in UTC milliseconds (int64); prices and volume are
float64, volume in base-asset units. Gaps are allowed (an exchange outage leaves no candle);
nothing here ever invents a candle to fill one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class Candles:
    """Aligned OHLCV arrays. Build with :meth:`from_arrays` to get dtype checks."""

    timestamp: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    # The backtest engine's price check of these columns, remembered after it passed: the
    # smallest bar gap the scan found (or None), and another series' ``timestamp`` array found
    # equal to this one (or None). The next run over the same object skips the scan (see
    # ``tradeforge.backtest.engine._check_candles``); the columns are treated as immutable
    # once built. Not part of the value: no init, repr or equality.
    _price_scan: tuple[int | None, IntArray | None] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @classmethod
    def from_arrays(
        cls,
        timestamp: npt.ArrayLike,
        open: npt.ArrayLike,
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        close: npt.ArrayLike,
        volume: npt.ArrayLike,
    ) -> Candles:
        ts = np.ascontiguousarray(timestamp, dtype=np.int64)
        cols = [np.ascontiguousarray(a, dtype=np.float64) for a in (open, high, low, close, volume)]
        n = ts.shape[0]
        if any(c.shape != (n,) for c in cols) or ts.ndim != 1:
            raise ValueError("candle columns must be one-dimensional and of equal length")
        if n > 1 and not bool(np.all(np.diff(ts) > 0)):
            raise ValueError("candle timestamps must be strictly increasing")
        return cls(ts, cols[0], cols[1], cols[2], cols[3], cols[4])

    @classmethod
    def empty(cls) -> Candles:
        return cls.from_arrays([], [], [], [], [], [])

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])

    def slice_ms(self, start_ms: int | None = None, end_ms: int | None = None) -> Candles:
        """Return the candles whose open time is in ``[start_ms, end_ms)``."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.timestamp, start_ms, "left"))
        hi = len(self) if end_ms is None else int(np.searchsorted(self.timestamp, end_ms, "left"))
        return Candles(
            self.timestamp[lo:hi],
            self.open[lo:hi],
            self.high[lo:hi],
            self.low[lo:hi],
            self.close[lo:hi],
            self.volume[lo:hi],
        )
