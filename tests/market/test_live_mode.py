"""Live mode tops stored series up from the exchange (real ccxt against the local fake)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tradeforge.adapters.candles.layered import MarketDataStore
from tradeforge.api.app import create_app
from tradeforge.config import Settings
from tradeforge.core.candles import Candles
from tradeforge.core.clock import FrozenClock

from .conftest import ms
from .fake_exchange import FakeBinance, FakeBinanceState

HOUR = 3_600_000
DAY = 24 * HOUR
BUNDLED_LAST = ms(2026, 5, 16, 18)  # newest bundled BTC/USDT 1h candle
NOW = datetime(2026, 5, 17, 0, 30, tzinfo=UTC)  # half-way into the 00:00 candle


@pytest.fixture
def fake(bundled: MarketDataStore) -> Iterator[FakeBinance]:
    # The venue's answers for the hours after the bundled set ends: real candles of the
    # previous day, re-stamped one day later (the fake only has to be a plausible venue).
    real = bundled.load("binance", "BTC/USDT", "1h", ms(2026, 5, 14), ms(2026, 5, 16, 1))
    candles = Candles.from_arrays(
        real.timestamp + DAY, real.open, real.high, real.low, real.close, real.volume
    )
    state = FakeBinanceState(spot={"BTCUSDT": candles}, open_candle_ms=ms(2026, 5, 17))
    with FakeBinance(state) as server:
        yield server


def _client(tmp_path: Path, sqlite_url: str, fake: FakeBinance, refresh: float) -> TestClient:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=sqlite_url,
        market_live=True,
        market_live_api_url=fake.base_url,
        market_live_refresh_seconds=refresh,
        environment="test",
    )
    return TestClient(create_app(settings, clock=FrozenClock(NOW)))


def _register(client: TestClient) -> dict[str, str]:
    key = client.post("/api/v1/meta/register", json={"display_name": "live"}).json()["data"]
    return {"Authorization": f"Bearer {key['api_key']}"}


def test_reads_fetch_closed_candles_after_the_newest_stored_one(
    tmp_path: Path, sqlite_url: str, fake: FakeBinance
) -> None:
    with _client(tmp_path, sqlite_url, fake, refresh=3600) as client:
        auth = _register(client)
        response = client.get(
            "/api/v1/market/ohlcv?symbol=BTC/USDT&timeframe=1h&start=2026-05-16T12:00:00Z",
            headers=auth,
        )
        assert response.status_code == 200, response.text
        candles = response.json()["data"]["candles"]
        stamps = [c["timestamp"] for c in candles]
        # Bundled up to 18:00, then 19:00..23:00 from the venue; the open 00:00 candle never.
        assert stamps[-1] == ms(2026, 5, 16, 23)
        assert stamps == list(range(ms(2026, 5, 16, 12), ms(2026, 5, 17), HOUR))
        fetched = {c["timestamp"]: c for c in candles if c["timestamp"] > BUNDLED_LAST}
        assert len(fetched) == 5
        klines = len(fake.state.paths("/api/v3/klines"))
        assert klines >= 1
        # Throttled: a second read inside the refresh interval asks the venue nothing.
        client.get("/api/v1/market/ohlcv?symbol=BTC/USDT&timeframe=1h&limit=3", headers=auth)
        assert len(fake.state.paths("/api/v3/klines")) == klines
    stored = tmp_path / "data" / "candles"
    assert any(stored.rglob("*.parquet")), "fetched candles are written to the user store"


def test_exchange_failure_degrades_to_stored_candles(
    tmp_path: Path, sqlite_url: str, fake: FakeBinance
) -> None:
    fake.state.fail_next("/api/v3/klines", 503, times=50)
    fake.state.fail_next("/api/v3/exchangeInfo", 503, times=50)
    with _client(tmp_path, sqlite_url, fake, refresh=0) as client:
        auth = _register(client)
        response = client.get(
            "/api/v1/market/ohlcv?symbol=BTC/USDT&timeframe=1h&limit=2", headers=auth
        )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["candles"][-1]["timestamp"] == BUNDLED_LAST


def test_live_mode_is_off_by_default(tmp_path: Path, sqlite_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=sqlite_url)
    assert settings.market_live is False
    app = create_app(settings)
    assert isinstance(app.state.container.market_data, MarketDataStore)
