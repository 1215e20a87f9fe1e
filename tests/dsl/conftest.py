from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from shared_paths import BUNDLED
from tradeforge.core.candles import Candles

DATA = BUNDLED / "binance"  # the project's own real data (BTC/ETH 1h are bundled)
BTC = "BINANCE:BTC/USDT"
ETH = "BINANCE:ETH/USDT"


def load_candles(name: str, last: int | None = None) -> Candles:
    table = pq.read_table(DATA / f"{name}.parquet")
    cols = [
        table.column(c).to_numpy() for c in ("timestamp", "open", "high", "low", "close", "volume")
    ]
    if last is not None:
        cols = [c[-last:] for c in cols]
    return Candles.from_arrays(*cols)


class MemoryCandleSource:
    """In-memory CandleSource over real candles (tests only)."""

    def __init__(self, data: dict[tuple[str, str, str], Candles]) -> None:
        self.data = data
        self.calls: list[tuple[str, str, str, int | None, int | None]] = []

    def load(self, exchange_id, symbol, timeframe, start_ms=None, end_ms=None) -> Candles:
        self.calls.append((exchange_id, symbol, timeframe, start_ms, end_ms))
        candles = self.data.get((exchange_id, symbol, timeframe))
        if candles is None:
            return Candles.empty()
        return candles.slice_ms(start_ms, end_ms)

    def available_range(self, exchange_id, symbol, timeframe):
        candles = self.data.get((exchange_id, symbol, timeframe))
        if candles is None or len(candles) == 0:
            return None
        return int(candles.timestamp[0]), int(candles.timestamp[-1])


@pytest.fixture(scope="session")
def loader():
    """The candle loader, for tests that need other symbols or lengths."""
    return load_candles


@pytest.fixture(scope="session")
def btc() -> Candles:
    return load_candles("BTC_USDT-1h", last=8000)


@pytest.fixture(scope="session")
def eth() -> Candles:
    return load_candles("ETH_USDT-1h", last=8000)


@pytest.fixture(scope="session")
def source(btc: Candles, eth: Candles) -> MemoryCandleSource:
    return MemoryCandleSource(
        {("binance", "BTC/USDT", "1h"): btc, ("binance", "ETH/USDT", "1h"): eth}
    )
