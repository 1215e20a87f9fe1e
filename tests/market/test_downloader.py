"""The downloader drives real ccxt against a fake Binance on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest

from tradeforge.adapters.candles.layered import MarketDataStore
from tradeforge.adapters.candles.parquet_store import ParquetStore
from tradeforge.adapters.exchanges.downloader import CcxtDownloader, create_exchange
from tradeforge.core.candles import Candles
from tradeforge.core.clock import FrozenClock
from tradeforge.core.errors import (
    ExchangeRateLimitedError,
    ExchangeUnavailableError,
    InvalidInputError,
)
from tradeforge.market.symbols import resolve_exchange

from .conftest import ms
from .fake_exchange import FakeBinance, FakeBinanceState

HOUR = 3_600_000
START = ms(2024, 1, 1)
END = ms(2024, 3, 1)  # 1440 closed hours; the 2024-03-01 00:00 candle is still open


@pytest.fixture(scope="module")
def history(bundled: MarketDataStore) -> Candles:
    return bundled.load("binance", "BTC/USDT", "1h", START, END)


@pytest.fixture(scope="module")
def perp_history(bundled: MarketDataStore) -> Candles:
    return bundled.load("binancefuturesusd", "BTC/USDT:USDT", "1h", START, END)


@pytest.fixture
def fake(
    history: Candles, perp_history: Candles, bundled: MarketDataStore
) -> Iterator[FakeBinance]:
    funding = bundled.load_funding("binancefuturesusd", "BTC/USDT:USDT", START, END + 8 * HOUR)
    state = FakeBinanceState(
        spot={"BTCUSDT": history, "ETHUSDT": history},
        futures={"BTCUSDT": perp_history},
        funding={
            "BTCUSDT": list(zip(funding.timestamp.tolist(), funding.rate.tolist(), strict=True))
        },
        open_candle_ms=END,
    )
    with FakeBinance(state) as server:
        yield server


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2024, 3, 1, 0, 30, tzinfo=UTC))  # half-way into the open hour


def make(
    fake: FakeBinance,
    store: ParquetStore,
    clock: FrozenClock,
    exchange_id: str = "binance",
    **kwargs,
) -> tuple[CcxtDownloader, list[float]]:
    sleeps: list[float] = []
    exchange = create_exchange(
        resolve_exchange(exchange_id), api_base_url=fake.base_url, rate_limit_ms=1
    )
    options = {"page_limit": 500, "backoff_s": 0.5, **kwargs}
    downloader = CcxtDownloader(
        exchange_id, store, clock=clock, exchange=exchange, sleep=sleeps.append, **options
    )
    return downloader, sleeps


def klines_starts(fake: FakeBinance, path: str = "/api/v3/klines") -> list[int]:
    return [int(p["startTime"]) for p in fake.state.paths(path)]


def test_create_exchange_is_quiet_keyless_and_rate_limited(fake: FakeBinance) -> None:
    exchange = create_exchange(
        resolve_exchange("binance"), api_base_url=fake.base_url, rate_limit_ms=7
    )
    assert exchange.verbose is False
    assert exchange.enableRateLimit is True
    assert exchange.rateLimit == 7
    assert not exchange.apiKey
    assert not exchange.secret
    assert exchange.urls["api"]["public"] == f"{fake.base_url}/api/v3"
    with pytest.raises(InvalidInputError):
        create_exchange(resolve_exchange("lighter"))


def test_download_paginates_and_stores_exact_closed_candles(
    fake: FakeBinance, user_store: ParquetStore, clock: FrozenClock, history: Candles
) -> None:
    downloader, _ = make(fake, user_store, clock)
    progress: list[tuple[int, int]] = []
    result = downloader.download_ohlcv(
        "BTC/USDT", "1h", since_ms=START, progress=lambda d, t: progress.append((d, t))
    )
    assert result.fetched == result.added == 1440
    assert klines_starts(fake) == [START, START + 500 * HOUR, START + 1000 * HOUR]
    stored = user_store.read_candles("binance", "BTC/USDT", "1h")
    for column in ("timestamp", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(stored, column), getattr(history, column))
    assert int(stored.timestamp[-1]) == END - HOUR  # the open 2024-03-01 00:00 candle is not stored
    assert progress[-1] == (1440, 1440)


def test_download_resumes_after_last_stored_candle(
    fake: FakeBinance, user_store: ParquetStore, clock: FrozenClock
) -> None:
    downloader, _ = make(fake, user_store, clock)
    first = downloader.download_ohlcv("BTC/USDT", "1h", since_ms=START, until_ms=START + 700 * HOUR)
    assert first.added == 700
    fake.state.requests.clear()
    second = downloader.download_ohlcv("BTC/USDT", "1h", since_ms=START)
    assert second.added == 740
    assert klines_starts(fake) == [START + 700 * HOUR, START + 1200 * HOUR]
    fake.state.requests.clear()
    third = downloader.download_ohlcv("BTC/USDT", "1h", since_ms=START)
    assert (third.added, third.fetched) == (0, 0)
    assert klines_starts(fake) == []


def test_download_fetches_missing_head_before_stored_range(
    fake: FakeBinance, user_store: ParquetStore, clock: FrozenClock
) -> None:
    downloader, _ = make(fake, user_store, clock)
    downloader.download_ohlcv("BTC/USDT", "1h", since_ms=START + 1000 * HOUR)
    fake.state.requests.clear()
    result = downloader.download_ohlcv("BTC/USDT", "1h", since_ms=START)
    assert result.added == 1000
    assert klines_starts(fake) == [START, START + 500 * HOUR]
    assert len(user_store.read_candles("binance", "BTC/USDT", "1h")) == 1440


def test_download_never_stores_open_candle_as_clock_advances(
    fake: FakeBinance, user_store: ParquetStore, clock: FrozenClock
) -> None:
    downloader, _ = make(fake, user_store, clock, page_limit=1000)
    clock.set(datetime(2024, 2, 20, 5, 59, 59, tzinfo=UTC))
    downloader.download_ohlcv("BTC/USDT", "1h", since_ms=START, until_ms=END + 10 * HOUR)
    assert user_store.candles_range("binance", "BTC/USDT", "1h") == (START, ms(2024, 2, 20, 4))
    clock.set(datetime(2024, 2, 20, 6, 0, 0, tzinfo=UTC))  # the 05:00 candle has just closed
    result = downloader.download_ohlcv("BTC/USDT", "1h", since_ms=START)
    assert result.added == 1
    assert user_store.candles_range("binance", "BTC/USDT", "1h") == (START, ms(2024, 2, 20, 5))


@pytest.mark.parametrize(
    ("status", "body"),
    [(429, '{"code":-1003,"msg":"Too many requests."}'), (418, '{"code":-1003,"msg":"IP banned"}')],
)
def test_rate_limited_requests_are_retried_with_backoff(
    fake: FakeBinance, user_store: ParquetStore, clock: FrozenClock, status: int, body: str
) -> None:
    downloader, sleeps = make(fake, user_store, clock)
    downloader.download_ohlcv(
        "BTC/USDT", "1h", since_ms=START, until_ms=START + 10 * HOUR
    )  # markets loaded
    fake.state.fail_next("/api/v3/klines", status, body, times=2)
    result = downloader.download_ohlcv("BTC/USDT", "1h", since_ms=START)
    assert result.added == 1430
    assert sleeps == [0.5, 1.0]


def test_rate_limit_exhausting_retries_raises_rate_limited(
    fake: FakeBinance, user_store: ParquetStore, clock: FrozenClock
) -> None:
    downloader, sleeps = make(fake, user_store, clock, max_retries=2)
    fake.state.fail_next(
        "/api/v3/klines", 429, '{"code":-1003,"msg":"Too many requests."}', times=3
    )
    with pytest.raises(ExchangeRateLimitedError) as info:
        downloader.download_ohlcv("BTC/USDT", "1h", since_ms=START)
    assert info.value.code == "EXCHANGE_RATE_LIMITED"
    assert info.value.retryable
    assert sleeps == [0.5, 1.0]
    assert user_store.candles_range("binance", "BTC/USDT", "1h") is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_map_to_exchange_unavailable(
    fake: FakeBinance, user_store: ParquetStore, clock: FrozenClock, status: int
) -> None:
    downloader, sleeps = make(fake, user_store, clock, max_retries=1)
    fake.state.fail_next("/api/v3/exchangeInfo", status, "upstream down", times=2)
    with pytest.raises(ExchangeUnavailableError) as info:
        downloader.download_ohlcv("BTC/USDT", "1h", since_ms=START)
    assert info.value.retryable
    assert sleeps == [0.5]


def test_transient_failure_mid_download_keeps_earlier_pages_resumable(
    fake: FakeBinance, user_store: ParquetStore, clock: FrozenClock
) -> None:
    downloader, _ = make(fake, user_store, clock, max_retries=0)
    fake.state.fail_next("/api/v3/exchangeInfo", 503, "down")
    with pytest.raises(ExchangeUnavailableError):
        downloader.download_ohlcv("BTC/USDT", "1h", since_ms=START)
    result = downloader.download_ohlcv("BTC/USDT", "1h", since_ms=START)
    assert result.added == 1440


def test_unknown_symbol_is_a_validation_error_without_retries(
    fake: FakeBinance, user_store: ParquetStore, clock: FrozenClock
) -> None:
    downloader, sleeps = make(fake, user_store, clock)
    with pytest.raises(InvalidInputError) as info:
        downloader.download_ohlcv("DOGE/USDT", "1h", since_ms=START)
    assert info.value.code == "EXCHANGE_BAD_SYMBOL"
    assert sleeps == []


def test_exchange_side_bad_request_maps_to_validation_error(
    fake: FakeBinance, user_store: ParquetStore, clock: FrozenClock
) -> None:
    downloader, sleeps = make(fake, user_store, clock)
    fake.state.fail_next("/api/v3/klines", 400, '{"code":-1121,"msg":"Invalid symbol."}')
    with pytest.raises(InvalidInputError):
        downloader.download_ohlcv("BTC/USDT", "1h", since_ms=START)
    assert sleeps == []


def test_perpetual_candles_and_funding_rates(
    fake: FakeBinance,
    user_store: ParquetStore,
    clock: FrozenClock,
    perp_history: Candles,
    bundled: MarketDataStore,
) -> None:
    downloader, _ = make(fake, user_store, clock, exchange_id="binancefuturesusd")
    candles = downloader.download_ohlcv("BTC/USDT:USDT", "1h", since_ms=START)
    assert candles.added == len(perp_history)
    assert fake.state.paths("/fapi/v1/klines")
    funding = downloader.download_funding("BTC/USDT", since_ms=START, progress=lambda d, t: None)
    expected = bundled.load_funding(
        "binancefuturesusd", "BTC/USDT:USDT", START, ms(2024, 3, 1, 0, 30) + 1
    )
    stored = user_store.read_funding("binancefuturesusd", "BTC/USDT:USDT")
    np.testing.assert_array_equal(stored.timestamp, expected.timestamp)
    np.testing.assert_array_equal(stored.rate, expected.rate)
    assert funding.added == len(expected)
    # The settlement at 2024-03-01 08:00 is after "now" and must not be stored.
    assert int(stored.timestamp[-1]) == ms(2024, 3, 1)
    again = downloader.download_funding("BTC/USDT:USDT", since_ms=START)
    assert again.added == 0


def test_funding_for_spot_symbol_is_rejected(
    fake: FakeBinance, user_store: ParquetStore, clock: FrozenClock
) -> None:
    downloader, _ = make(fake, user_store, clock)
    with pytest.raises(InvalidInputError):
        downloader.download_funding("BTC/USDT", since_ms=START)


def test_instruments_carry_precision_and_limits(
    fake: FakeBinance, user_store: ParquetStore, clock: FrozenClock
) -> None:
    downloader, _ = make(fake, user_store, clock)
    btc = next(i for i in downloader.instruments() if i.symbol == "BTC/USDT")
    assert str(btc.price_precision) == "0.01"
    assert str(btc.min_quantity) == "0.00001"


def test_retry_after_header_sets_the_wait(
    fake: FakeBinance, user_store: ParquetStore, clock: FrozenClock
) -> None:
    downloader, sleeps = make(fake, user_store, clock)
    fake.state.fail_next(
        "/api/v3/exchangeInfo",
        429,
        '{"code":-1003,"msg":"Too many requests."}',
        headers={"Retry-After": "7"},
    )
    result = downloader.download_ohlcv("BTC/USDT", "1h", since_ms=START, until_ms=START + 5 * HOUR)
    assert result.added == 5
    assert sleeps == [7.0]
