"""Metrics against an independent, deliberately plain re-implementation (Python loops)."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import talib

from tradeforge.backtest import BacktestConfig, Signals, compute_stats, run_backtest
from tradeforge.core.candles import Candles

from ._helpers import HOUR

YEAR_MS = 365 * 24 * HOUR


def plain_metrics(
    ts: list[int], equity: list[float], initial: float, tf: int, pnl: list[float]
) -> dict[str, float | None]:
    returns = []
    prev = initial
    for e in equity:
        returns.append(e / prev - 1.0)
        prev = e
    per_year = YEAR_MS / tf
    mean = sum(returns) / len(returns)
    sd = statistics.stdev(returns)
    down = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    years = (ts[-1] - ts[0] + tf) / YEAR_MS
    cagr = ((equity[-1] / initial) ** (1 / years) - 1) * 100
    peak = initial
    worst_pct = worst_abs = 0.0
    for e in equity:
        peak = max(peak, e)
        worst_pct = max(worst_pct, (peak - e) / peak * 100)
        worst_abs = max(worst_abs, peak - e)
    wins = [p for p in pnl if p > 0]
    losses = [p for p in pnl if p < 0]
    return {
        "total_return_pct": (equity[-1] / initial - 1) * 100,
        "cagr_pct": cagr,
        "sharpe_ratio": mean / sd * math.sqrt(per_year),
        "sortino_ratio": mean / down * math.sqrt(per_year),
        "max_drawdown_pct": worst_pct,
        "max_drawdown_abs": worst_abs,
        "calmar_ratio": cagr / worst_pct,
        "win_rate_pct": len(wins) / len(pnl) * 100,
        "profit_factor": sum(wins) / -sum(losses),
        "expectancy": sum(pnl) / len(pnl),
    }


def test_stats_match_plain_implementation_on_real_data(btc_1h: Candles) -> None:
    # Arrange
    rsi = talib.RSI(btc_1h.close, 14)
    signals = Signals(entry_long=rsi < 30, exit_long=rsi > 70)
    config = BacktestConfig(fee_taker=0.0005, slippage=0.0005)
    # Act
    result = run_backtest(btc_1h, signals, config)
    stats = result.stats
    # Assert
    closed = [t for t in result.trades if not t.is_open]
    expected = plain_metrics(
        [int(x) for x in btc_1h.timestamp],
        [float(x) for x in result.equity],
        config.initial_cash,
        HOUR,
        [t.pnl for t in closed],
    )
    assert stats.num_trades == len(closed) > 5
    for name, value in expected.items():
        assert getattr(stats, name) == pytest.approx(value, rel=1e-9), name
    assert stats.avg_holding_ms == pytest.approx(
        sum(t.exit_time - t.entry_time for t in closed) / len(closed)
    )
    in_market = sum(1 for p in result.position[:, 0] if p != 0)
    assert stats.exposure_pct == pytest.approx(in_market / len(btc_1h) * 100)
    bh = (btc_1h.close[-1] / btc_1h.close[0] - 1) * 100
    assert stats.buy_and_hold_return_pct == pytest.approx(bh)
    assert stats.best_trade_pct == pytest.approx(max(t.return_pct for t in closed))
    assert stats.worst_trade_pct == pytest.approx(min(t.return_pct for t in closed))


def test_drawdown_duration_runs_from_peak_to_recovery() -> None:
    # Arrange: peak at bar 1, trough at bar 3, recovered at bar 5
    ts = np.arange(8, dtype=np.int64) * HOUR
    equity = np.array([100.0, 110.0, 100.0, 88.0, 105.0, 111.0, 90.0, 95.0])
    # Act
    stats = compute_stats(
        timestamp=ts,
        equity=equity,
        initial_equity=100.0,
        timeframe_ms=HOUR,
        trade_pnl=np.zeros(0),
        trade_return_pct=np.zeros(0),
        trade_entry_ms=np.zeros(0, dtype=np.int64),
        trade_exit_ms=np.zeros(0, dtype=np.int64),
        trade_is_open=np.zeros(0, dtype=bool),
        in_market=np.ones(8, dtype=bool),
        fees_paid=0.0,
        funding_paid=0.0,
        buy_and_hold_return_pct=None,
    )
    # Assert
    assert stats.max_drawdown_pct == pytest.approx(20.0)  # 110 -> 88
    assert stats.max_drawdown_abs == pytest.approx(22.0)
    assert stats.max_drawdown_duration_ms == 4 * HOUR  # bar 1 -> bar 5
    assert stats.longest_drawdown_ms == 4 * HOUR
    assert stats.num_trades == 0
    assert stats.win_rate_pct is None
    assert stats.profit_factor is None


def test_flat_equity_has_undefined_ratios_not_nan() -> None:
    ts = np.arange(5, dtype=np.int64) * HOUR
    stats = compute_stats(
        timestamp=ts,
        equity=np.full(5, 100.0),
        initial_equity=100.0,
        timeframe_ms=HOUR,
        trade_pnl=np.zeros(0),
        trade_return_pct=np.zeros(0),
        trade_entry_ms=np.zeros(0, dtype=np.int64),
        trade_exit_ms=np.zeros(0, dtype=np.int64),
        trade_is_open=np.zeros(0, dtype=bool),
        in_market=np.zeros(5, dtype=bool),
        fees_paid=0.0,
        funding_paid=0.0,
        buy_and_hold_return_pct=0.0,
    )
    assert stats.sharpe_ratio is None
    assert stats.sortino_ratio is None
    assert stats.calmar_ratio is None
    assert stats.max_drawdown_pct == 0.0
    assert stats.exposure_pct == 0.0
    assert all(v is None or math.isfinite(v) for v in stats.to_dict().values())
