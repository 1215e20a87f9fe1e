"""The engine's fast paths give exactly what the straightforward code gives.

* ``simulate_simple_nb`` tests only the two signals that can act on the current position
  state; it must equal a plain loop that tests all four signals on every bar.
* ``infer_timeframe_ms`` uses a one-pass kernel for int64 arrays.
* Scalar signal fields are validated without array ufuncs.
* Isolated portfolios build the position matrix row by row (a transposed view).
"""

from __future__ import annotations

import numpy as np
import pytest
import talib

from tradeforge.backtest import BacktestConfig, Signals, kernels, run_backtest, run_portfolio
from tradeforge.backtest.engine import (
    BacktestInputError,
    _run_arrays,
    _signal_arrays,
    infer_timeframe_ms,
)
from tradeforge.backtest.fills import fee_for, market_fill_price, order_quantity
from tradeforge.core.candles import Candles

from ._helpers import HOUR


def _every_bar_loop(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    sig: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    size: np.ndarray,
    size_type: np.ndarray,
    fee: float,
    slip: float,
    min_qty: float,
    step: float,
    at_close: bool,
    clamp: bool,
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, ...]], list[tuple[float, ...]]]:
    # The reference: every bar, all four signals, resolve_signal decides (no watch list).
    el, xl, es, xs = sig
    n = close.shape[0]
    equity, position = np.empty(n), np.empty(n)
    fills: list[tuple[float, ...]] = []
    trades: list[tuple[float, ...]] = []
    balance, direction, qty, entry_px, entry_fee, entry_bar = 10_000.0, 0, 0.0, 0.0, 0.0, -1
    for i in range(n):
        s = i if at_close else i - 1
        if s >= 0 and (el[s] or xl[s] or es[s] or xs[s]):
            close_it, new_dir = kernels.resolve_signal(direction, el[s], xl[s], es[s], xs[s])
            ref = close[i] if at_close else open_[i]
            if close_it:
                px = market_fill_price(ref, -direction, slip, low[i], high[i], clamp)
                f = fee_for(qty, px, fee)
                balance += direction * qty * (px - entry_px) - f
                fills.append((i, -direction, qty, px, f, 0))
                trades.append((direction, entry_bar, i, qty, entry_px, px, entry_fee, f))
                direction, qty = 0, 0.0
            if new_dir != 0 and direction == 0:
                px = market_fill_price(ref, new_dir, slip, low[i], high[i], clamp)
                q = order_quantity(
                    size[s if size.shape[0] > 1 else 0],
                    size_type[s if size_type.shape[0] > 1 else 0],
                    px, balance, balance, 1.0, fee, min_qty, step,
                )  # fmt: skip
                if q > 0.0:
                    f = fee_for(q, px, fee)
                    balance -= f
                    direction, qty, entry_px, entry_fee, entry_bar = new_dir, q, px, f, i
                    fills.append((i, new_dir, q, px, f, 0))
                else:
                    fills.append((i, new_dir, 0.0, px, 0.0, 1))
        equity[i] = balance + direction * qty * (close[i] - entry_px)
        position[i] = direction * qty
    if direction != 0:
        trades.append((direction, entry_bar, n - 1, qty, entry_px, close[n - 1], entry_fee, 0.0))
    return equity, position, fills, trades


@pytest.mark.parametrize("seed", range(12))
def test_simple_kernel_equals_every_bar_loop(btc_1h: Candles, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    start = int(rng.integers(0, len(btc_1h) - n))
    o, h, lo, c = (
        np.ascontiguousarray(getattr(btc_1h, name)[start : start + n])
        for name in ("open", "high", "low", "close")
    )
    rates = rng.uniform(0.0, 0.3, 4)
    sig = tuple(rng.random(n) < rates[j] for j in range(4))
    if seed % 3 == 0:  # long-only
        sig = (sig[0], sig[1], np.zeros(n, dtype=bool), np.zeros(n, dtype=bool))
    if seed % 2:
        size, size_type = rng.uniform(0.05, 1.5, n), rng.integers(0, 3, n)
    else:
        size, size_type = np.array([0.7]), np.array([0])
    capacity = int(np.count_nonzero(sig[0]) + np.count_nonzero(sig[2]))
    for at_close in (False, True):
        for clamp in (False, True):
            for min_qty, step in ((0.0, 0.0), (0.05, 0.01)):
                equity, position, fills, trades = kernels.simulate_simple_nb(
                    o, h, lo, c, sig[0], sig[1], sig[2], sig[3], size, size_type, 10_000.0,
                    0.001, 0.0005, min_qty, step, at_close, clamp, capacity, True,
                )  # fmt: skip
                ref = _every_bar_loop(
                    o, h, lo, c, sig, size, size_type, 0.001, 0.0005, min_qty, step, at_close, clamp
                )
                assert equity.tobytes() == ref[0].tobytes()
                assert position.tobytes() == ref[1].tobytes()
                lean = kernels.simulate_simple_nb(
                    o, h, lo, c, sig[0], sig[1], sig[2], sig[3], size, size_type, 10_000.0,
                    0.001, 0.0005, min_qty, step, at_close, clamp, capacity, False,
                )  # fmt: skip
                assert lean[1].shape == (0,)
                assert lean[0].tobytes() == equity.tobytes()
                assert lean[2].tobytes() == fills.tobytes()
                assert lean[3].tobytes() == trades.tobytes()
                got_fills = [
                    tuple(r[[kernels.FILL_BAR, kernels.FILL_SIDE, kernels.FILL_QTY]])
                    + tuple(r[[kernels.FILL_PRICE, kernels.FILL_FEE, kernels.FILL_STATUS]])
                    for r in fills
                ]
                assert got_fills == [tuple(float(v) for v in f) for f in ref[2]]
                cols_t = [
                    kernels.TRADE_DIRECTION, kernels.TRADE_ENTRY_BAR, kernels.TRADE_EXIT_BAR,
                    kernels.TRADE_QTY, kernels.TRADE_ENTRY_PRICE, kernels.TRADE_EXIT_PRICE,
                    kernels.TRADE_ENTRY_FEE, kernels.TRADE_EXIT_FEE,
                ]  # fmt: skip
                assert [tuple(r[cols_t]) for r in trades] == [
                    tuple(float(v) for v in t) for t in ref[3]
                ]


@pytest.mark.parametrize("seed", range(6))
def test_lazy_position_equals_the_kernel_curve(btc_1h: Candles, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = len(btc_1h)
    signals = Signals(
        entry_long=rng.random(n) < 0.05,
        exit_long=rng.random(n) < 0.05,
        exit_short=rng.random(n) < 0.05,  # shorts entries would pick the full kernel
        size=rng.uniform(0.2, 1.0, n) if seed % 2 else 0.5,
    )
    result = run_backtest(btc_1h, signals)
    assert result.held is None
    a = _signal_arrays(signals, n)
    _, position, _, _ = _run_arrays(btc_1h, a, BacktestConfig(), 10_000.0, None)
    assert position is not None
    assert result.position.shape == (n, 1)
    assert result.position.tobytes() == position.tobytes()


def test_infer_timeframe_kernel_equals_numpy_diff() -> None:
    rng = np.random.default_rng(7)
    for n in (2, 3, 17, 1000):
        ts = np.cumsum(rng.integers(1, 10_000, n)).astype(np.int64)
        expected = int(np.min(np.diff(ts)))
        assert infer_timeframe_ms(ts) == expected
        assert infer_timeframe_ms(ts.astype(np.int32)) == expected  # numpy fallback
        strided = np.repeat(ts, 2)[::2]  # not contiguous: numpy fallback
        assert infer_timeframe_ms(strided) == expected
    assert infer_timeframe_ms(np.array([5], dtype=np.int64)) == 60_000


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("size", 0.0),
        ("size", float("nan")),
        ("size", float("inf")),
        ("size", -1.0),
        ("stop_loss", 0.0),
        ("stop_loss", -0.01),
        ("take_profit", 0.0),
        ("trailing_stop", float("-inf")),
    ],
)
def test_invalid_scalar_signal_fields_are_rejected(
    btc_1h: Candles, field: str, value: float
) -> None:
    entries = np.zeros(len(btc_1h), dtype=bool)
    with pytest.raises(BacktestInputError, match=f"signals.{field}"):
        run_backtest(btc_1h, Signals(entry_long=entries, **{field: value}))  # type: ignore[arg-type]
    per_bar = np.full(len(btc_1h), value)
    with pytest.raises(BacktestInputError, match=f"signals.{field}"):
        run_backtest(btc_1h, Signals(entry_long=entries, **{field: per_bar}))  # type: ignore[arg-type]


def test_nan_scalar_stops_mean_no_stop(btc_1h: Candles) -> None:
    rsi = talib.RSI(btc_1h.close, 14)
    plain = run_backtest(btc_1h, Signals(entry_long=rsi < 30, exit_long=rsi > 70))
    nan_stops = run_backtest(
        btc_1h,
        Signals(
            entry_long=rsi < 30,
            exit_long=rsi > 70,
            stop_loss=float("nan"),
            take_profit=np.nan,
            trailing_stop=float("nan"),
        ),
    )
    assert plain.equity.tobytes() == nan_stops.equity.tobytes()
    assert plain.trade_table.tobytes() == nan_stops.trade_table.tobytes()


@pytest.mark.parametrize("shift", [0, HOUR // 2])
@pytest.mark.parametrize("b_stop", [None, 0.03])
def test_isolated_position_matrix_matches_single_runs(
    btc_1h: Candles, shift: int, b_stop: float | None
) -> None:
    # b_stop picks the full kernel for symbol B; A always runs the fast kernel.
    rsi = talib.RSI(btc_1h.close, 14)
    signals_a = Signals(entry_long=rsi < 30, exit_long=rsi > 70)
    signals_b = Signals(entry_long=rsi < 35, exit_long=rsi > 65, stop_loss=b_stop)
    other = Candles(
        btc_1h.timestamp + shift,
        *(getattr(btc_1h, c) for c in ("open", "high", "low", "close", "volume")),
    )
    result = run_portfolio({"A": btc_1h, "B": other}, {"A": signals_a, "B": signals_b})
    sleeve = BacktestConfig(initial_cash=5_000.0)
    alone_a = run_backtest(btc_1h, signals_a, sleeve)
    alone_b = run_backtest(other, signals_b, sleeve)
    assert result.position.shape == (len(result.timestamp), 2)
    if shift == 0:
        assert result.position[:, 0].tobytes() == alone_a.position[:, 0].tobytes()
        assert result.position[:, 1].tobytes() == alone_b.position[:, 0].tobytes()
    else:
        rows_a = np.searchsorted(result.timestamp, btc_1h.timestamp)
        rows_b = np.searchsorted(result.timestamp, other.timestamp)
        assert np.array_equal(result.position[rows_a, 0], alone_a.position[:, 0])
        assert np.array_equal(result.position[rows_b, 1], alone_b.position[:, 0])
    in_market = np.any(result.position != 0.0, axis=1)
    assert in_market.any()
    assert result.stats.num_trades == len(result.trades) - sum(t.is_open for t in result.trades)


def _with_price(candles: Candles, column: str, bars: slice, value: float) -> Candles:
    cols = {c: getattr(candles, c).copy() for c in ("open", "high", "low", "close", "volume")}
    cols[column][bars] = value
    return Candles(candles.timestamp, **cols)


@pytest.mark.parametrize("column", ["open", "close"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_price_scan_rejects_non_finite_prices(btc_1h: Candles, column: str, value: float) -> None:
    bad = _with_price(btc_1h, column, slice(7, 8), value)
    with pytest.raises(BacktestInputError, match="NaN prices"):
        run_backtest(bad, Signals())
    with pytest.raises(BacktestInputError, match="NaN prices"):
        run_portfolio({"A": btc_1h, "B": bad}, {"A": Signals(), "B": Signals()})


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_huge_finite_prices_keep_the_sum_rule(btc_1h: Candles) -> None:
    # Beyond the scan's bound the original rule decides: the price sums must be finite.
    fine = _with_price(btc_1h, "close", slice(0, 2), 1e301)
    assert run_backtest(fine, Signals()).timeframe_ms == HOUR
    overflow = _with_price(btc_1h, "open", slice(0, 100), 1e307)
    with pytest.raises(BacktestInputError, match="NaN prices"):
        run_backtest(overflow, Signals())


def test_inferred_timeframe_is_the_smallest_gap(btc_1h: Candles) -> None:
    result = run_backtest(btc_1h, Signals())
    assert result.timeframe_ms == infer_timeframe_ms(btc_1h.timestamp) == HOUR
    one = Candles(
        *(getattr(btc_1h, c)[:1] for c in ("timestamp", "open", "high", "low", "close", "volume"))
    )
    assert run_backtest(one, Signals()).timeframe_ms == 60_000
    assert run_backtest(btc_1h, Signals(), timeframe_ms=60_000).timeframe_ms == 60_000
