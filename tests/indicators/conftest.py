from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from shared_paths import BUNDLED
from tradeforge.core.candles import Candles

DATA = BUNDLED / "binance"  # the project's own real data (BTC/ETH 1h are bundled)


def load_candles(name: str, last: int | None = None) -> Candles:
    table = pq.read_table(DATA / f"{name}.parquet")
    cols = [
        table.column(c).to_numpy() for c in ("timestamp", "open", "high", "low", "close", "volume")
    ]
    if last is not None:
        cols = [c[-last:] for c in cols]
    return Candles.from_arrays(*cols)


@pytest.fixture(scope="session")
def btc() -> Candles:
    return load_candles("BTC_USDT-1h", last=6000)


@pytest.fixture(scope="session")
def eth() -> Candles:
    return load_candles("ETH_USDT-1h", last=6000)
