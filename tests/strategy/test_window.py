"""The decision window includes both the start day and the end day (UTC)."""

from __future__ import annotations

from datetime import date

import pytest

from tradeforge.adapters.candles import MarketDataStore
from tradeforge.core.errors import InvalidInputError
from tradeforge.services.backtests import BacktestRequest, run_backtest_request

SCRIPT = 'emit_signal(close > 0, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))'


def _request(start: date, end: date) -> BacktestRequest:
    return BacktestRequest(
        script=SCRIPT, universe=["BINANCE:BTC/USDT"], start_date=start, end_date=end
    )


def test_end_day_is_included(source: MarketDataStore) -> None:
    outcome = run_backtest_request(_request(date(2024, 6, 29), date(2024, 6, 30)), source)
    stamps = outcome.result.timestamp
    assert stamps[0] == 1719619200000  # 2024-06-29T00:00Z
    assert stamps[-1] == 1719788400000  # 2024-06-30T23:00Z, the end day's last hourly bar
    assert len(stamps) == 48


def test_single_day_window_is_allowed_and_reversed_dates_are_refused(
    source: MarketDataStore,
) -> None:
    one_day = run_backtest_request(_request(date(2024, 6, 30), date(2024, 6, 30)), source)
    assert len(one_day.result.timestamp) == 24
    with pytest.raises(InvalidInputError) as refused:
        _request(date(2024, 6, 30), date(2024, 6, 29)).validate()
    assert refused.value.details["field"] == "end_date"
