from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared_paths import SHARED
from tradeforge.adapters.candles.layered import MarketDataStore, open_market_data
from tradeforge.adapters.candles.parquet_store import ArrayCache, ParquetStore
from tradeforge.market.source import Origin

SHARED_DATA = SHARED / "data"


def ms(*args: int) -> int:
    """UTC milliseconds for datetime(*args)."""
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="session")
def bundled() -> MarketDataStore:
    return open_market_data(None)


@pytest.fixture
def user_store(tmp_path: Path) -> ParquetStore:
    return ParquetStore(tmp_path / "candles", origin=Origin.USER, cache=ArrayCache())


@pytest.fixture
def layered(user_store: ParquetStore, bundled: MarketDataStore) -> MarketDataStore:
    return MarketDataStore(user_store, bundled.bundled)
