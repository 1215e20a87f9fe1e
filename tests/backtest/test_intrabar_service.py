"""The backtest service loads a stored lower timeframe and hands it to the engine."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from tradeforge.adapters.candles import MarketDataStore, open_market_data
from tradeforge.backtest import Ambiguity
from tradeforge.services import backtests
from tradeforge.services.backtests import BacktestRequest, run_backtest_request

BTC = "BINANCE:BTC/USDT"
# Tight stops on RSI entries: some hourly bars reach both levels.
SCRIPT = """r = rsi(close, 14)
emit_signal(r < 40, entry("BINANCE:BTC/USDT", "LONG", Weight(1), stop_loss=0.003, take_profit=0.004))
emit_signal(r > 60, entry("BINANCE:BTC/USDT", "SHORT", Weight(1), stop_loss=0.003, take_profit=0.004))
"""  # noqa: E501


@pytest.fixture(scope="module")
def source() -> MarketDataStore:
    return open_market_data(None)  # the bundled data set (BTC/USDT 1m: 2025-05-20..08-18)


def test_hourly_request_inside_the_stored_1m_resolves_ambiguous_bars(
    source: MarketDataStore,
) -> None:
    # Act
    req = BacktestRequest(SCRIPT, (BTC,), date(2025, 6, 1), date(2025, 7, 31))
    outcome = run_backtest_request(req, source)
    # Assert
    result = outcome.result
    assert result.fingerprint.intrabar_sha256 is not None
    assert result.stats.ambiguous_bars > 0
    assert result.stats.intrabar_resolved_bars == result.stats.ambiguous_bars
    data = outcome.to_dict()
    assert data["metrics"]["intrabar_resolved_bars"] == result.stats.intrabar_resolved_bars
    assert {t["ambiguity"] for t in data["trades"]} == {"none", "resolved"}
    assert "intrabar_sha256" in data["fingerprint_inputs"]


def test_request_outside_the_stored_lower_timeframes_keeps_the_worst_case(
    source: MarketDataStore,
) -> None:
    req = BacktestRequest(SCRIPT, (BTC,), date(2024, 1, 1), date(2024, 3, 1))
    outcome = run_backtest_request(req, source)
    result = outcome.result
    assert result.fingerprint.intrabar_sha256 is None
    assert "intrabar_sha256" not in outcome.to_dict()["fingerprint_inputs"]
    assert result.stats.intrabar_resolved_bars == 0
    assert all(t.ambiguity in (Ambiguity.NONE, Ambiguity.WORST_CASE) for t in result.trades)


def test_1m_request_loads_no_lower_timeframe(source: MarketDataStore) -> None:
    req = BacktestRequest(SCRIPT, (BTC,), date(2025, 6, 1), date(2025, 6, 3), timeframe="1m")
    outcome = run_backtest_request(req, source)
    assert outcome.result.fingerprint.intrabar_sha256 is None
    assert outcome.result.stats.intrabar_resolved_bars == 0


def test_the_row_cap_passes_over_a_too_fine_lower_timeframe(
    source: MarketDataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    req = BacktestRequest(SCRIPT, (BTC,), date(2025, 6, 1), date(2025, 7, 31))
    # 61 days are ~88k 1m candles and ~17.6k 5m ones: under a 50k cap the 5m settles them.
    monkeypatch.setattr(backtests, "MAX_INTRABAR_ROWS", 50_000)
    result = run_backtest_request(req, source).result
    step = np.diff(result.intrabar[BTC].timestamp)
    assert int(step.min()) == 5 * 60_000
    assert result.stats.intrabar_resolved_bars > 0
    # Under a 1k cap no lower timeframe fits (30m would be ~2.9k): the worst case is kept.
    monkeypatch.setattr(backtests, "MAX_INTRABAR_ROWS", 1_000)
    result = run_backtest_request(req, source).result
    assert result.fingerprint.intrabar_sha256 is None
    assert result.stats.ambiguous_bars > 0
    assert result.stats.intrabar_resolved_bars == 0
