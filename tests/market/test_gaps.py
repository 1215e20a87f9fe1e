from __future__ import annotations

from tradeforge.adapters.candles.layered import MarketDataStore
from tradeforge.market.gaps import find_gaps, find_misaligned

from .conftest import ms


def test_find_gaps_reports_binance_outage_2018_02_08(bundled: MarketDataStore) -> None:
    candles = bundled.load("binance", "BTC/USDT", "1h")
    gaps = find_gaps(candles, "1h")
    outage = [g for g in gaps if g.start_ms == ms(2018, 2, 8, 1)]
    assert len(outage) == 1
    assert outage[0].end_ms == ms(2018, 2, 9, 10)
    assert outage[0].missing == 33
    assert max(g.missing for g in gaps) == 33
    # The manifest lists 27 gaps / 122 missing hours for this file.
    assert len(gaps) == 27
    assert sum(g.missing for g in gaps) == 122
    assert "33 missing from 2018-02-08T01:00Z" in outage[0].describe()


def test_find_gaps_none_on_continuous_series(bundled: MarketDataStore) -> None:
    assert find_gaps(bundled.load("binance", "BTC/USDT", "1m"), "1m") == []
    assert find_misaligned(bundled.load("binance", "BTC/USDT", "1m"), "1m") is None


def test_load_never_fills_gaps(bundled: MarketDataStore) -> None:
    window = bundled.load("binance", "BTC/USDT", "1h", ms(2018, 2, 8), ms(2018, 2, 10))
    assert len(window) == 48 - 33
    four_hour = bundled.load("binance", "BTC/USDT", "4h", ms(2018, 2, 8), ms(2018, 2, 10))
    # Buckets 04:00 .. 08:00 of Feb 9 hold no hour at all: no candle is invented for them.
    assert ms(2018, 2, 8, 4) not in four_hour.timestamp.tolist()
    assert ms(2018, 2, 9, 8) in four_hour.timestamp.tolist()
