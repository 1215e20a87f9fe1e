from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tradeforge.adapters.candles.layered import MarketDataStore
from tradeforge.adapters.candles.parquet_store import (
    ArrayCache,
    ParquetStore,
    parse_file_name,
    symbol_stem,
)
from tradeforge.core.candles import Candles
from tradeforge.core.errors import InvalidInputError
from tradeforge.market.source import FundingRates, Origin, SeriesKind
from tradeforge.ports import CandleSource

from .conftest import ms

HOUR = 3_600_000


def hourly(start_ms: int, n: int, price: float = 100.0) -> Candles:
    ts = start_ms + HOUR * np.arange(n, dtype=np.int64)
    base = price + np.arange(n, dtype=np.float64)
    return Candles.from_arrays(ts, base, base + 2, base - 1, base + 1, np.full(n, 3.0))


def test_write_then_read_round_trips_exactly(user_store: ParquetStore) -> None:
    candles = hourly(ms(2024, 1, 1), 50)
    result = user_store.write_candles("binance", "BTC/USDT", "1h", candles)
    assert (result.added, result.replaced, result.total) == (50, 0, 50)
    back = user_store.read_candles("binance", "BTC/USDT", "1h")
    for column in ("timestamp", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(back, column), getattr(candles, column))
    path = user_store.candles_path("binance", "BTC/USDT", "1h")
    assert path.name == "BTC_USDT-1h.parquet"
    assert pq.read_schema(path).names == ["timestamp", "open", "high", "low", "close", "volume"]


def test_append_deduplicates_and_new_values_win(user_store: ParquetStore) -> None:
    user_store.write_candles("binance", "BTC/USDT", "1h", hourly(ms(2024, 1, 1), 10))
    # Overlap 5 hours (one with a changed close), extend by 5.
    update = hourly(ms(2024, 1, 1), 15).slice_ms(ms(2024, 1, 1, 5))
    close = update.close.copy()
    close[0] = 999.0
    update = Candles.from_arrays(
        update.timestamp, update.open, update.high, update.low, close, update.volume
    )
    result = user_store.write_candles("binance", "BTC/USDT", "1h", update)
    assert (result.added, result.replaced, result.total) == (5, 1, 15)
    stored = user_store.read_candles("binance", "BTC/USDT", "1h")
    assert len(stored) == 15
    assert bool(np.all(np.diff(stored.timestamp) == HOUR))
    assert stored.close[5] == 999.0
    again = user_store.write_candles("binance", "BTC/USDT", "1h", update)
    assert (again.added, again.replaced) == (0, 0)


def test_write_out_of_order_batches_stays_sorted(user_store: ParquetStore) -> None:
    user_store.write_candles("binance", "ETH/USDT", "1h", hourly(ms(2024, 2, 1), 5))
    user_store.write_candles("binance", "ETH/USDT", "1h", hourly(ms(2024, 1, 1), 5))
    stored = user_store.read_candles("binance", "ETH/USDT", "1h")
    assert stored.timestamp[0] == ms(2024, 1, 1)
    assert bool(np.all(np.diff(stored.timestamp) > 0))


def test_write_rejects_misaligned_open_times(user_store: ParquetStore) -> None:
    bad = Candles.from_arrays([ms(2024, 1, 1, 0, 30)], [1.0], [1.0], [1.0], [1.0], [1.0])
    with pytest.raises(InvalidInputError):
        user_store.write_candles("binance", "BTC/USDT", "1h", bad)


def test_range_read_and_available_range(user_store: ParquetStore) -> None:
    user_store.write_candles("binance", "BTC/USDT", "1h", hourly(ms(2024, 1, 1), 48))
    store = MarketDataStore(user_store, None)
    window = store.load("binance", "BTC/USDT", "1h", ms(2024, 1, 1, 10), ms(2024, 1, 1, 20))
    assert window.timestamp[0] == ms(2024, 1, 1, 10)
    assert window.timestamp[-1] == ms(2024, 1, 1, 19)
    assert store.available_range("binance", "BTC/USDT", "1h") == (
        ms(2024, 1, 1),
        ms(2024, 1, 2, 23),
    )
    assert store.load("binance", "BTC/USDT", "1h", ms(2025, 1, 1)).timestamp.size == 0
    assert store.available_range("binance", "NOPE/USDT", "1h") is None


def test_cache_is_invalidated_when_the_file_changes(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path, cache=ArrayCache())
    store.write_candles("binance", "BTC/USDT", "1h", hourly(ms(2024, 1, 1), 3))
    first = store.read_candles("binance", "BTC/USDT", "1h")
    assert store.read_candles("binance", "BTC/USDT", "1h").timestamp is first.timestamp  # cached
    store.write_candles("binance", "BTC/USDT", "1h", hourly(ms(2024, 1, 1, 3), 2))
    assert len(store.read_candles("binance", "BTC/USDT", "1h")) == 5
    assert not first.timestamp.flags.writeable  # cached arrays cannot be mutated by callers


def test_cache_evicts_least_recently_used_beyond_its_budget() -> None:
    cache = ArrayCache(max_bytes=1000)
    a = {"x": np.zeros(60)}  # 480 bytes each
    cache.put(("a", 0, 0), a)
    cache.put(("b", 0, 0), {"x": np.zeros(60)})
    assert cache.get(("a", 0, 0)) is a
    cache.put(("c", 0, 0), {"x": np.zeros(60)})
    assert cache.get(("b", 0, 0)) is None
    assert cache.get(("a", 0, 0)) is a


def test_bundled_store_is_read_only(bundled: MarketDataStore) -> None:
    assert bundled.bundled is not None
    with pytest.raises(InvalidInputError):
        bundled.bundled.write_candles("binance", "BTC/USDT", "1h", hourly(ms(2030, 1, 1), 1))


def test_user_data_overrides_and_extends_bundled(
    layered: MarketDataStore, user_store: ParquetStore
) -> None:
    source: CandleSource = layered  # mypy checks the protocol; load/available_range below
    bundled_range = source.available_range("binance", "BTC/USDT", "1h")
    assert bundled_range is not None
    last = bundled_range[1]
    own = hourly(last - HOUR, 4, price=5.0)  # overrides the last two bundled hours, adds two
    user_store.write_candles("binance", "BTC/USDT", "1h", own)
    merged = layered.load("binance", "BTC/USDT", "1h", last - 5 * HOUR)
    assert merged.timestamp[-1] == last + 2 * HOUR
    assert bool(np.all(np.diff(merged.timestamp) == HOUR))
    assert merged.open[-4] == 5.0  # the user's candles replaced the bundled ones
    assert merged.open[-5] != 5.0
    assert layered.available_range("binance", "BTC/USDT", "1h") == (
        bundled_range[0],
        last + 2 * HOUR,
    )
    info = [
        s
        for s in layered.list_series()
        if s.symbol == "BTC/USDT" and s.timeframe == "1h" and s.exchange_id == "binance"
    ]
    assert info[0].origin is Origin.BOTH


def test_derived_timeframe_extends_native_daily_with_resampled_hours(
    bundled: MarketDataStore,
) -> None:
    native_end = ms(2022, 10, 10)
    daily = bundled.load("binance", "BTC/USDT", "1d", ms(2022, 10, 1), ms(2022, 11, 1))
    assert daily.timestamp[0] == ms(2022, 10, 1)
    assert ms(2022, 10, 31) in daily.timestamp.tolist()
    assert bool(np.all(np.diff(daily.timestamp) == 86_400_000))
    assert native_end in daily.timestamp.tolist()
    four_hour = bundled.load("binance", "ETH/USDT", "4h", ms(2024, 1, 1), ms(2024, 1, 2))
    assert four_hour.timestamp.tolist() == [ms(2024, 1, 1, h) for h in range(0, 24, 4)]
    rng = bundled.available_range("binance", "ETH/USDT", "4h")
    assert rng is not None
    assert rng[0] == ms(2018, 1, 1)


def test_derived_timeframe_unavailable_without_a_lower_source(bundled: MarketDataStore) -> None:
    assert bundled.available_range("binance", "ATOM/USDT", "1h") is None
    assert len(bundled.load("binance", "ATOM/USDT", "1h")) == 0


def test_funding_rates_write_merge_and_layer(
    layered: MarketDataStore, user_store: ParquetStore
) -> None:
    symbol = "BTC/USDT:USDT"
    bundled_rates = layered.load_funding("binancefuturesusd", symbol)
    assert len(bundled_rates) > 7000
    last = int(bundled_rates.timestamp[-1])
    new = FundingRates.from_arrays([last, last + 8 * HOUR], [0.5, 0.25])
    result = user_store.write_funding("binancefuturesusd", symbol, new)
    assert result.added == 2
    merged = layered.load_funding("binancefuturesusd", symbol, last)
    assert merged.timestamp.tolist() == [last, last + 8 * HOUR]
    assert merged.rate.tolist() == [0.5, 0.25]
    assert layered.funding_range("binancefuturesusd", symbol) == (
        int(bundled_rates.timestamp[0]),
        last + 8 * HOUR,
    )
    assert (
        user_store.funding_path("binancefuturesusd", symbol).name
        == "BTC_USDT_USDT-funding_rate.parquet"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("BTC_USDT-1h.parquet", ("BTC/USDT", SeriesKind.OHLCV, "1h")),
        ("BTC_USDT_USDT-5m.parquet", ("BTC/USDT:USDT", SeriesKind.OHLCV, "5m")),
        ("ETH_USDT_USDT-funding_rate.parquet", ("ETH/USDT:USDT", SeriesKind.FUNDING_RATE, None)),
        ("123456789012-1h.parquet", ("123456789012", SeriesKind.OHLCV, "1h")),
        ("BTC_USDT-7x.parquet", None),
        ("notes.txt", None),
    ],
)
def test_parse_file_name(name: str, expected: tuple[str, SeriesKind, str | None] | None) -> None:
    assert parse_file_name(name) == expected
    if expected is not None:
        assert symbol_stem(expected[0]) == name.rsplit("-", 1)[0]


def test_list_series_covers_bundled_manifest(bundled: MarketDataStore) -> None:
    import json

    from tradeforge.data import bundled_dir

    manifest = json.loads((bundled_dir() / "manifest.json").read_text())
    series = bundled.list_series()
    assert len(series) == len(manifest["files"])
    by_file = {f["file"]: f for f in manifest["files"]}
    btc = by_file["binance/BTC_USDT-1h.parquet"]
    info = next(
        s for s in series if (s.exchange_id, s.symbol, s.timeframe) == ("binance", "BTC/USDT", "1h")
    )
    assert info.rows == btc["rows"]
    size = sum(p.stat().st_size for p in bundled_dir().rglob("*") if p.is_file())
    assert size < 35 * 1024 * 1024
    assert os.access(bundled_dir() / "PROVENANCE.md", os.R_OK)


def test_load_inside_native_range_returns_native_candles_only(bundled: MarketDataStore) -> None:
    assert bundled.bundled is not None
    native = bundled.bundled.read_candles("binance", "BTC/USDT", "1d").slice_ms(
        ms(2019, 1, 1), ms(2019, 2, 1)
    )
    loaded = bundled.load("binance", "BTC/USDT", "1d", ms(2019, 1, 1), ms(2019, 2, 1))
    assert len(loaded) == 31
    np.testing.assert_array_equal(loaded.volume, native.volume)
