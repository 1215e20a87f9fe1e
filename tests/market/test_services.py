from __future__ import annotations

import numpy as np
import pytest

from tradeforge.adapters.candles.layered import MarketDataStore
from tradeforge.adapters.candles.parquet_store import ParquetStore
from tradeforge.core.candles import Candles
from tradeforge.core.errors import DataUnavailableError, InvalidInputError
from tradeforge.market.catalog import MarketType
from tradeforge.services import market as svc

from .conftest import ms

HOUR = 3_600_000


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "hint"),
    [
        ({"limit": 0}, "limit", "1..500"),
        ({"limit": 501}, "limit", "1..500"),
        ({"exchange_id": "binanse"}, "exchange_id", "'binance'"),
        ({"market_type": "futures"}, "market_type", "perpetual"),
        ({"category": "hot"}, "category", "trending"),
        ({"sector": "defy"}, "sector", "'DeFi'"),
    ],
)
def test_list_symbols_rejects_bad_filters(
    bundled: MarketDataStore, kwargs: dict, field: str, hint: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        svc.list_symbols(bundled, **kwargs)
    assert info.value.code == "VALIDATION_ERROR"
    assert info.value.details["field"] == field
    assert hint in info.value.suggestion


@pytest.mark.parametrize(
    ("exchange", "symbol", "timeframe", "kwargs", "hint"),
    [
        ("binance", "ETH/USTD", "1h", {}, "'ETH/USDT'"),
        ("binance", "BTCUSDX", "1h", {}, "BTC/USDT"),
        ("binanse", "BTC/USDT", "1h", {}, "'binance'"),
        ("binance", "BTC/USDT", "1hr", {}, "'1h'"),
        ("binance", "BTC/USDT", "1h", {"limit": 5001}, "1..5000"),
        ("binance", "BTC/USDT", "1h", {"start_ms": 10, "end_ms": 5}, "Swap"),
        ("binance", "BTC/USDT", "1h", {"cursor": "not-a-cursor"}, "next_cursor"),
    ],
)
def test_get_ohlcv_validation_errors(
    bundled: MarketDataStore, exchange: str, symbol: str, timeframe: str, kwargs: dict, hint: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        svc.get_ohlcv(bundled, exchange, symbol, timeframe, **kwargs)
    assert info.value.code == "VALIDATION_ERROR"
    assert hint in info.value.suggestion


def test_get_ohlcv_outside_range_names_available_range(bundled: MarketDataStore) -> None:
    with pytest.raises(DataUnavailableError) as info:
        svc.get_ohlcv(bundled, "binance", "BTC/USDT", "1h", start_ms=ms(2030, 1, 1))
    assert info.value.code == "DATA_UNAVAILABLE"
    assert "2018-01-01T00:00:00Z .. 2026-05-16T18:00:00Z" in info.value.suggestion
    with pytest.raises(DataUnavailableError) as info:
        svc.get_ohlcv(bundled, "binance", "BTC/USDT", "1h", end_ms=ms(2017, 1, 1))
    assert "2018-01-01" in info.value.suggestion


def test_get_ohlcv_missing_timeframe_lists_stored_ones(bundled: MarketDataStore) -> None:
    with pytest.raises(DataUnavailableError) as info:
        svc.get_ohlcv(bundled, "binance", "SOL/USDT", "1m")
    assert "1h, 1d" in info.value.suggestion


def test_get_ohlcv_window_inside_a_gap_is_unavailable(bundled: MarketDataStore) -> None:
    with pytest.raises(DataUnavailableError) as info:
        svc.get_ohlcv(
            bundled,
            "binance",
            "BTC/USDT",
            "1h",
            start_ms=ms(2018, 2, 8, 2),
            end_ms=ms(2018, 2, 8, 6),
        )
    assert "gap" in info.value.suggestion


# -- behaviour -------------------------------------------------------------------------------


def test_get_ohlcv_pages_forward_with_cursor(bundled: MarketDataStore) -> None:
    seen: list[int] = []
    page = svc.get_ohlcv(
        bundled,
        "binance",
        "BTC/USDT",
        "1h",
        start_ms=ms(2018, 2, 7),
        end_ms=ms(2018, 2, 10),
        limit=20,
    )
    while True:
        seen.extend(page.candles.timestamp.tolist())
        if page.next_cursor is None:
            break
        page = svc.get_ohlcv(
            bundled,
            "binance",
            "BTC/USDT",
            "1h",
            end_ms=ms(2018, 2, 10),
            limit=20,
            cursor=page.next_cursor,
        )
    expected = bundled.load(
        "binance", "BTC/USDT", "1h", ms(2018, 2, 7), ms(2018, 2, 10)
    ).timestamp.tolist()
    assert seen == expected
    assert len(seen) == 72 - 33


def test_get_ohlcv_without_start_returns_latest(bundled: MarketDataStore) -> None:
    page = svc.get_ohlcv(bundled, "binance", "BTC/USDT", "1h", limit=3)
    assert page.candles.timestamp.tolist() == [ms(2026, 5, 16, h) for h in (16, 17, 18)]
    assert page.next_cursor is None
    assert page.available_last_ms == ms(2026, 5, 16, 18)
    row = page.rows()[-1]
    assert row[0] == ms(2026, 5, 16, 18)
    assert type(row[0]) is int
    assert row[4] == page.candles.close[-1]


def test_get_ohlcv_accepts_other_notations_and_derived_timeframes(bundled: MarketDataStore) -> None:
    page = svc.get_ohlcv(
        bundled, "binance", "BINANCE:ETH/USDT", "4h", start_ms=ms(2024, 1, 1), limit=6
    )
    assert page.symbol == "ETH/USDT"
    assert page.candles.timestamp.tolist() == [ms(2024, 1, 1, h) for h in range(0, 24, 4)]
    concatenated = svc.get_ohlcv(
        bundled, "binance", "ETHUSDT", "4h", start_ms=ms(2024, 1, 1), limit=6
    )
    np.testing.assert_array_equal(concatenated.candles.close, page.candles.close)


def test_get_ticker_from_last_24_hours(bundled: MarketDataStore) -> None:
    ticker = svc.get_ticker(bundled, "binance", "BTC/USDT")
    day = bundled.load("binance", "BTC/USDT", "1h", ms(2026, 5, 15, 19), ms(2026, 5, 16, 19))
    assert len(day) == 24
    assert ticker.timeframe == "1h"
    assert ticker.as_of_ms == ms(2026, 5, 16, 19)
    assert ticker.last_price == day.close[-1]
    assert ticker.open_24h == day.open[0]
    assert ticker.volume_24h == pytest.approx(float(day.volume.sum()))
    assert ticker.change_24h_pct == pytest.approx((day.close[-1] / day.open[0] - 1) * 100)
    assert ticker.high_24h == day.high.max()


def test_get_tickers_limits_batch_size(bundled: MarketDataStore) -> None:
    tickers = svc.get_tickers(bundled, "binance", ["BTC/USDT", "ETH/USDT"])
    assert [t.symbol for t in tickers] == ["BTC/USDT", "ETH/USDT"]
    with pytest.raises(InvalidInputError):
        svc.get_tickers(bundled, "binance", [])
    with pytest.raises(InvalidInputError) as info:
        svc.get_tickers(bundled, "binance", ["BTC/USDT"] * 21)
    assert "20" in info.value.suggestion


def test_list_symbols_filters(bundled: MarketDataStore) -> None:
    perps = svc.list_symbols(bundled, market_type="perpetual")
    assert perps
    assert all(s.market_type is MarketType.PERPETUAL for s in perps)
    assert all(s.has_funding for s in perps)
    binance = svc.list_symbols(bundled, exchange_id="binance", limit=500)
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT"} <= {s.symbol for s in binance}
    assert all(s.exchange_id == "binance" for s in binance)
    btc = next(s for s in binance if s.symbol == "BTC/USDT")
    assert btc.timeframes == ("1m", "5m", "1h", "1d")
    assert btc.first_ms == ms(2017, 8, 17)
    memes = svc.list_symbols(bundled, sector="meme")
    assert {s.symbol for s in memes} == {"DOGE/USDT", "DOGE/USDT:USDT"}
    assert len(svc.list_symbols(bundled, limit=2)) == 2


def test_list_symbols_top_market_cap_ranks_by_30_day_quote_volume(
    tmp_path, bundled: MarketDataStore
) -> None:
    user = ParquetStore(tmp_path)
    store = MarketDataStore(user, None)
    ts = ms(2024, 1, 1) + HOUR * np.arange(24 * 40)
    ones = np.ones(ts.size)
    for symbol, price, volume in (
        ("AAA/USDT", 10.0, 1.0),
        ("BBB/USDT", 1.0, 50.0),
        ("CCC/USDT", 100.0, 0.01),
    ):
        user.write_candles(
            "binance",
            symbol,
            "1h",
            Candles.from_arrays(
                ts, ones * price, ones * price, ones * price, ones * price, ones * volume
            ),
        )
    ranked = svc.list_symbols(store, category="top_market_cap")
    assert [s.symbol for s in ranked] == ["BBB/USDT", "AAA/USDT", "CCC/USDT"]
    assert ranked[0].score == pytest.approx(50.0 * 24 * 30)


def test_list_symbols_trending_prefers_big_moves_on_rising_volume(tmp_path) -> None:
    user = ParquetStore(tmp_path)
    store = MarketDataStore(user, None)
    n = 24 * 40
    ts = ms(2024, 1, 1) + HOUR * np.arange(n)
    flat = np.full(n, 10.0)
    rising = np.where(np.arange(n) >= n - 24 * 7, 15.0, 10.0)  # +50% in the last week
    surge = np.where(np.arange(n) >= n - 24 * 7, 5.0, 1.0)
    user.write_candles(
        "binance", "FLAT/USDT", "1h", Candles.from_arrays(ts, flat, flat, flat, flat, np.ones(n))
    )
    user.write_candles(
        "binance",
        "MOVE/USDT",
        "1h",
        Candles.from_arrays(ts, rising, rising, rising, rising, np.ones(n)),
    )
    user.write_candles(
        "binance", "HOT/USDT", "1h", Candles.from_arrays(ts, rising, rising, rising, rising, surge)
    )
    ranked = svc.list_symbols(store, category="trending")
    assert [s.symbol for s in ranked] == ["HOT/USDT", "MOVE/USDT", "FLAT/USDT"]
    assert ranked[-1].score == 0.0


def test_get_funding_rates_pages_and_validates(bundled: MarketDataStore) -> None:
    page = svc.get_funding_rates(
        bundled, "binancefuturesusd", "BTC/USDT:USDT", start_ms=ms(2024, 1, 1), limit=3
    )
    assert page.rates.timestamp.tolist() == [ms(2024, 1, 1), ms(2024, 1, 1, 8), ms(2024, 1, 1, 16)]
    assert page.next_cursor is not None
    nxt = svc.get_funding_rates(
        bundled, "binancefuturesusd", "BTC/USDT", cursor=page.next_cursor, limit=1
    )
    assert nxt.rates.timestamp.tolist() == [ms(2024, 1, 2)]
    with pytest.raises(InvalidInputError) as info:
        svc.get_funding_rates(bundled, "binance", "BTC/USDT")
    assert info.value.code == "VALIDATION_ERROR"
    with pytest.raises(DataUnavailableError):
        svc.get_funding_rates(
            bundled, "binancefuturesusd", "BTC/USDT:USDT", start_ms=ms(2031, 1, 1)
        )


def test_cursor_round_trip() -> None:
    assert svc.decode_cursor(svc.encode_cursor(1_700_000_000_000)) == 1_700_000_000_000


def test_get_gaps_reports_outage_window(bundled: MarketDataStore) -> None:
    gaps = svc.get_gaps(
        bundled, "binance", "BTC/USDT", "1h", start_ms=ms(2018, 2, 1), end_ms=ms(2018, 3, 1)
    )
    assert [(g.start_ms, g.missing) for g in gaps] == [(ms(2018, 2, 8, 1), 33)]


def test_get_ticker_falls_back_to_daily_candles(bundled: MarketDataStore) -> None:
    ticker = svc.get_ticker(bundled, "binance", "ATOM/USDT")
    assert ticker.timeframe == "1d"
    assert ticker.as_of_ms == ms(2022, 10, 11)
