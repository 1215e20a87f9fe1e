"""Resampled candles must equal the exchange's native candles on real Binance data."""

from __future__ import annotations

import numpy as np
import pytest

from tradeforge.adapters.candles.layered import MarketDataStore
from tradeforge.adapters.candles.parquet_store import ParquetStore
from tradeforge.core.candles import Candles
from tradeforge.core.errors import InvalidInputError
from tradeforge.market.resample import resample

from .conftest import SHARED_DATA, ms


def _native(store: MarketDataStore, symbol: str, timeframe: str) -> Candles:
    assert store.bundled is not None
    return store.bundled.read_candles("binance", symbol, timeframe)


def assert_matches_native(derived: Candles, native: Candles, min_overlap: int) -> None:
    common, di, ni = np.intersect1d(derived.timestamp, native.timestamp, return_indices=True)
    assert len(common) >= min_overlap
    for column in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(derived, column)[di], getattr(native, column)[ni])
    np.testing.assert_allclose(derived.volume[di], native.volume[ni], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("symbol", ["BTC/USDT", "ETH/USDT"])
@pytest.mark.parametrize(
    ("source", "target", "min_overlap"),
    [("1m", "5m", 26_000), ("1m", "1h", 2_100), ("5m", "1h", 9_900), ("1h", "1d", 1_700)],
)
def test_resample_equals_native_candles(
    bundled: MarketDataStore, symbol: str, source: str, target: str, min_overlap: int
) -> None:
    derived = resample(_native(bundled, symbol, source), source, target)
    assert_matches_native(derived, _native(bundled, symbol, target), min_overlap)


def test_resample_chain_1m_5m_1h_1d_matches_native(bundled: MarketDataStore) -> None:
    one_minute = _native(bundled, "BTC/USDT", "1m")
    five = resample(one_minute, "1m", "5m")
    hourly = resample(five, "5m", "1h")
    daily = resample(hourly, "1h", "1d")
    assert_matches_native(hourly, _native(bundled, "BTC/USDT", "1h"), 2_100)
    # Native 1d files stop in 2022; compare with 1d built from the native 1h series instead,
    # which the test above proves equal to native daily candles where both exist.
    daily_from_native_hours = resample(_native(bundled, "BTC/USDT", "1h"), "1h", "1d")
    assert_matches_native(daily, daily_from_native_hours, 85)


def test_resample_sol_5m_to_1h_matches_native_on_shared_data() -> None:
    # SOL 5m is not in the bundled set; the shared data set has it.
    shared = ParquetStore(SHARED_DATA, writable=False)
    five = shared.read_candles("binance", "SOL/USDT", "5m")
    assert_matches_native(
        resample(five, "5m", "1h"), shared.read_candles("binance", "SOL/USDT", "1h"), 9_900
    )


def test_resample_weekly_buckets_open_on_monday(bundled: MarketDataStore) -> None:
    weekly = resample(_native(bundled, "BTC/USDT", "1d"), "1d", "1w")
    days = (weekly.timestamp // 86_400_000 + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    assert len(weekly) > 250
    assert set(days.tolist()) == {0}
    # 2020-01-06 (Monday) .. 2020-01-12: first open, last close, extremes of that week.
    daily = _native(bundled, "BTC/USDT", "1d").slice_ms(ms(2020, 1, 6), ms(2020, 1, 13))
    week = weekly.slice_ms(ms(2020, 1, 6), ms(2020, 1, 7))
    assert week.open[0] == daily.open[0]
    assert week.close[0] == daily.close[-1]
    assert week.high[0] == daily.high.max()
    assert week.low[0] == daily.low.min()


def test_resample_drops_partial_edge_buckets_and_keeps_gaps() -> None:
    step = 60_000
    # 00:03..00:21 without 00:10-00:14: buckets 00:00 (partial), 00:05, 00:15, 00:20 (partial)
    ts = [t * step for t in range(3, 22) if not 10 <= t < 15]
    n = len(ts)
    candles = Candles.from_arrays(
        ts,
        np.arange(n) + 1.0,
        np.arange(n) + 2.0,
        np.arange(n) + 0.5,
        np.arange(n) + 1.5,
        np.ones(n),
    )
    out = resample(candles, "1m", "5m")
    assert out.timestamp.tolist() == [5 * step, 15 * step]
    assert out.volume.tolist() == [5.0, 5.0]
    kept = resample(candles, "1m", "5m", keep_partial=True)
    assert kept.timestamp.tolist() == [0, 5 * step, 15 * step, 20 * step]


def test_resample_rejects_non_multiple() -> None:
    with pytest.raises(InvalidInputError):
        resample(Candles.empty(), "1h", "5m")
    with pytest.raises(InvalidInputError):
        resample(Candles.empty(), "3d", "1w")
