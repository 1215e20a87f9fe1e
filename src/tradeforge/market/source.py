"""What the market-data services need from a store, as a protocol.

:class:`MarketDataSource` extends the :class:`~tradeforge.ports.CandleSource` port with a
listing of stored series and funding-rate reads. The Parquet store in
``tradeforge.adapters.candles`` implements it; services take it as a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt

from tradeforge.ports import CandleSource


class SeriesKind(StrEnum):
    OHLCV = "ohlcv"
    FUNDING_RATE = "funding_rate"


class Origin(StrEnum):
    BUNDLED = "bundled"
    USER = "user"
    BOTH = "bundled+user"


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """One stored series: candles of one timeframe, or a funding-rate history."""

    exchange_id: str
    symbol: str
    kind: SeriesKind
    timeframe: str | None
    first_ms: int
    last_ms: int
    rows: int
    origin: Origin


@dataclass(frozen=True, slots=True)
class FundingRates:
    """Funding settlements: UTC ms settlement times and rates (fraction per interval)."""

    timestamp: npt.NDArray[np.int64]
    rate: npt.NDArray[np.float64]

    @classmethod
    def from_arrays(cls, timestamp: npt.ArrayLike, rate: npt.ArrayLike) -> FundingRates:
        ts = np.ascontiguousarray(timestamp, dtype=np.int64)
        rt = np.ascontiguousarray(rate, dtype=np.float64)
        if ts.ndim != 1 or rt.shape != ts.shape:
            raise ValueError("funding columns must be one-dimensional and of equal length")
        if ts.shape[0] > 1 and not bool(np.all(np.diff(ts) > 0)):
            raise ValueError("funding timestamps must be strictly increasing")
        return cls(ts, rt)

    @classmethod
    def empty(cls) -> FundingRates:
        return cls.from_arrays([], [])

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])

    def slice_ms(self, start_ms: int | None = None, end_ms: int | None = None) -> FundingRates:
        """Return the settlements with time in ``[start_ms, end_ms)``."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.timestamp, start_ms, "left"))
        hi = len(self) if end_ms is None else int(np.searchsorted(self.timestamp, end_ms, "left"))
        return FundingRates(self.timestamp[lo:hi], self.rate[lo:hi])


class MarketDataSource(CandleSource, Protocol):
    """Read access to candles (``CandleSource``) plus series listing and funding rates."""

    def list_series(self) -> list[SeriesInfo]:
        """Return every stored series (native timeframes only, not derivable ones)."""
        ...

    def load_funding(
        self,
        exchange_id: str,
        symbol: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> FundingRates: ...
