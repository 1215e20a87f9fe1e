"""The performance paths added for the 2x-of-the-floor work give exactly the general results.

* ``simulate_long_nb`` (no short entries, no position curve) equals ``simulate_simple_nb``
  byte for byte, also when its first, small log tables overflow and it runs again.
* Isolated sleeves on a shared grid defer their equity curves; asking for one recomputes it.
* Cross mode passes one-value-per-symbol fields as ``(k, 1)`` rows; per-bar fields agree.
"""

from __future__ import annotations

import numpy as np
import pytest
import talib

from tradeforge.backtest import (
    BacktestConfig,
    MarginMode,
    Signals,
    SizeType,
    kernels,
    run_backtest,
    run_portfolio,
)
from tradeforge.core.candles import Candles


@pytest.mark.parametrize("seed", range(8))
def test_long_kernel_equals_simple_kernel(btc_1h: Candles, seed: int) -> None:
    # Arrange: random long signals; dense ones overflow the first tables (LOG_ROWS_FIRST)
    rng = np.random.default_rng(seed)
    n = len(btc_1h)
    density = (0.02, 0.3, 0.6, 0.9)[seed % 4]
    el = rng.random(n) < density
    xl = rng.random(n) < density
    if seed >= 6:  # alternate entry and exit bars: ~1,200 trades overflow the first tables
        el = np.arange(n) % 2 == 0
        xl = ~el
    xs = rng.random(n) < 0.1  # short exits without short entries cannot act
    es = np.zeros(n, dtype=bool)
    if seed % 2:
        size, size_type = rng.uniform(0.05, 1.5, n), rng.integers(0, 3, n)
    else:
        size, size_type = np.array([0.7]), np.array([0])
    cap = int(np.count_nonzero(el))
    o, h, lo, c = btc_1h.open, btc_1h.high, btc_1h.low, btc_1h.close
    for at_close in (False, True):
        for clamp in (False, True):
            # Act
            ref = kernels.simulate_simple_nb(
                o, h, lo, c, el, xl, es, xs, size, size_type, 10_000.0, 0.001, 0.0005, 0.0,
                0.0, at_close, clamp, cap, False,
            )  # fmt: skip
            out = np.empty(n)
            logs = (  # none (allocated), then reused buffers, dirty from the previous run
                (np.empty((0, kernels.FILL_NCOLS)), np.empty((0, kernels.TRADE_NCOLS))),
                (
                    np.full((kernels.LOG_ROWS_FIRST, kernels.FILL_NCOLS), 7.0),
                    np.full((kernels.LOG_ROWS_FIRST // 2, kernels.TRADE_NCOLS), 7.0),
                ),
            )
            for buffer, (fill_buf, trade_buf) in zip((np.empty(0), out), logs, strict=True):
                equity, fills, trades = kernels.simulate_long_nb(
                    o, h, lo, c, el, xl, size, size_type, 10_000.0, 0.001, 0.0005, 0.0, 0.0,
                    at_close, clamp, cap, buffer, fill_buf, trade_buf,
                )  # fmt: skip
                # Assert
                assert equity.tobytes() == ref[0].tobytes()
                assert fills.tobytes() == ref[2].tobytes()
                assert trades.tobytes() == ref[3].tobytes()
            assert out.tobytes() == ref[0].tobytes()  # written into the caller's buffer
    if seed >= 6:
        assert len(ref[3]) > kernels.LOG_ROWS_FIRST // 2


def test_deferred_sleeve_curves_equal_single_runs(btc_1h: Candles) -> None:
    # Arrange: three symbols on one grid; C has a stop (full kernel, curve kept eagerly)
    rsi = talib.RSI(btc_1h.close, 14)
    signals = {
        "A": Signals(entry_long=rsi < 30, exit_long=rsi > 70),
        "B": Signals(entry_long=rsi < 40, exit_long=rsi > 60, size=0.5),
        "C": Signals(entry_long=rsi < 35, exit_long=rsi > 65, stop_loss=0.02),
    }
    candles = dict.fromkeys(signals, btc_1h)
    # Act
    result = run_portfolio(candles, signals, BacktestConfig(initial_cash=30_000.0))
    # Assert
    total = np.zeros(len(btc_1h))
    for s in signals:
        alone = run_backtest(btc_1h, signals[s], BacktestConfig(initial_cash=10_000.0))
        curve = result.per_ticker[s].equity
        assert curve is not None
        assert curve.tobytes() == alone.equity.tobytes()
        total += alone.equity
    assert result.equity.tobytes() == total.tobytes()
    assert list(result.ticker_equity) == ["A", "B", "C"]
    assert len(result.ticker_equity) == 3


@pytest.mark.parametrize("per_bar", [False, True])
def test_cross_mode_broadcast_fields_equal_per_bar_fields(btc_1h: Candles, per_bar: bool) -> None:
    # The same sizes and stops given once per symbol, or repeated on every bar.
    rsi = talib.RSI(btc_1h.close, 14)
    n = len(btc_1h)

    def field(value: float) -> float | np.ndarray:
        return np.full(n, value) if per_bar else value

    signals = {
        "A": Signals(
            entry_long=rsi < 30, exit_long=rsi > 70, size=field(0.4), stop_loss=field(0.03)
        ),
        "B": Signals(
            entry_short=rsi > 70,
            exit_short=rsi < 30,
            size=field(2_000.0),
            size_type=SizeType.AMOUNT,
            take_profit=field(0.05),
        ),
    }
    config = BacktestConfig(margin_mode=MarginMode.CROSS, leverage=2.0)
    result = run_portfolio({"A": btc_1h, "B": btc_1h}, signals, config)
    reference = run_portfolio(
        {"A": btc_1h, "B": btc_1h},
        {
            "A": Signals(
                entry_long=rsi < 30,
                exit_long=rsi > 70,
                size=np.full(n, 0.4),
                stop_loss=np.full(n, 0.03),
            ),
            "B": Signals(
                entry_short=rsi > 70,
                exit_short=rsi < 30,
                size=np.full(n, 2_000.0),
                size_type=[SizeType.AMOUNT] * n,
                take_profit=np.full(n, 0.05),
            ),
        },
        config,
    )
    assert len(result.trades) > 10
    assert result.equity.tobytes() == reference.equity.tobytes()
    assert result.trade_table.tobytes() == reference.trade_table.tobytes()
    assert result.fill_table.tobytes() == reference.fill_table.tobytes()


def _drawdown_reference(
    equity: np.ndarray, timestamp: np.ndarray, initial: float
) -> tuple[float, float, int, int]:
    # The array formulation (stats.drawdown_stats before its compiled pass).
    peaks = np.maximum.accumulate(np.maximum(equity, initial))
    dd_abs = peaks - equity
    with np.errstate(divide="ignore", invalid="ignore"):
        dd_pct = np.where(peaks > 0, dd_abs / peaks, 0.0) * 100.0
    if dd_abs.size == 0 or float(dd_abs.max()) <= 0.0:
        return 0.0, 0.0, 0, 0
    worst = int(np.argmax(dd_pct))
    peak_idx = np.flatnonzero(dd_abs <= 0.0)
    before = peak_idx[peak_idx < worst]
    ep_start = int(timestamp[before[-1]]) if before.size else int(timestamp[0])
    after = peak_idx[peak_idx > worst]
    ep_end = int(timestamp[after[0]]) if after.size else int(timestamp[-1])
    bounds = np.concatenate(([timestamp[0]], timestamp[peak_idx], [timestamp[-1]]))
    longest = int(np.max(np.diff(bounds))) if bounds.size > 1 else 0
    return float(dd_pct[worst]), float(dd_abs.max()), ep_end - ep_start, longest


@pytest.mark.parametrize("seed", range(40))
def test_compiled_drawdown_equals_the_array_formulation(seed: int) -> None:
    from tradeforge.backtest.stats import drawdown_stats

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    steps = rng.normal(0, 0.02, n) * (rng.random(n) < 0.7)  # flat stretches: equal peaks
    equity = 1000.0 * np.exp(np.cumsum(steps))
    if seed % 5 == 0:
        equity = np.round(equity, 0)  # exact ties
    if seed % 7 == 0:
        equity = np.full(n, 1000.0)  # never below the peak
    ts = np.cumsum(rng.integers(1, 5, n)).astype(np.int64) * 3_600_000
    initial = float(rng.choice([1000.0, 900.0, 1100.0]))
    assert drawdown_stats(equity, ts, initial) == _drawdown_reference(equity, ts, initial)


def test_in_market_from_trades_equals_the_position_matrix(btc_1h: Candles) -> None:
    rsi = talib.RSI(btc_1h.close, 14)
    signals = {
        "A": Signals(entry_long=rsi < 30, exit_long=rsi > 70),
        "B": Signals(entry_long=rsi < 45, exit_long=rsi > 55, entry_short=rsi > 75),
    }
    result = run_portfolio(dict.fromkeys(signals, btc_1h), signals)
    expected = np.any(result.position != 0.0, axis=1)
    got = kernels.in_market_nb(result.trade_table, len(btc_1h))
    assert got.tobytes() == expected.tobytes()
    single = run_backtest(btc_1h, signals["A"])
    assert single.held is None
    exposure = single.stats.exposure_pct
    assert exposure == np.count_nonzero(single.position[:, 0]) / len(btc_1h) * 100.0
