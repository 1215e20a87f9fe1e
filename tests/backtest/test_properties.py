"""Invariants over random candles, signals and settings (hypothesis)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeforge.backtest import (
    BacktestConfig,
    FillConvention,
    FundingRates,
    MarginMode,
    OrderType,
    Signals,
    run_backtest,
    run_portfolio,
)
from tradeforge.backtest import kernels as k
from tradeforge.core.candles import Candles

from ._helpers import T0

HOUR = 3_600_000
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def markets(draw: Any) -> tuple[Candles, Signals, BacktestConfig, FundingRates | None]:
    n = draw(st.integers(3, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(rng.normal(0, 0.01, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.03, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.03, n))
    candles = Candles.from_arrays(T0 + HOUR * np.arange(n), open_, high, low, close, np.ones(n))
    p = draw(st.floats(0.05, 0.6))
    order = draw(st.sampled_from([OrderType.MARKET, OrderType.LIMIT, OrderType.STOP]))
    use_stops = draw(st.booleans())
    signals = Signals(
        entry_long=rng.random(n) < p,
        exit_long=rng.random(n) < p,
        entry_short=rng.random(n) < p * draw(st.sampled_from([0.0, 1.0])),
        exit_short=rng.random(n) < p,
        size=draw(st.sampled_from([1.0, 0.5, 0.2])),
        order_type=order,
        order_price=close * (0.99 if order is OrderType.LIMIT else 1.01),
        stop_loss=rng.uniform(0.01, 0.1, n) if use_stops else None,
        take_profit=rng.uniform(0.01, 0.1, n) if use_stops else None,
        trailing_stop=rng.uniform(0.01, 0.1, n) if use_stops and draw(st.booleans()) else None,
    )
    config = BacktestConfig(
        initial_cash=1000.0,
        fee_taker=draw(st.sampled_from([0.0, 0.001])),
        fee_maker=draw(st.sampled_from([0.0, 0.0002])),
        slippage=draw(st.sampled_from([0.0, 0.002])),
        leverage=draw(st.sampled_from([1.0, 3.0, 20.0])),
        fill=draw(st.sampled_from(list(FillConvention))),
    )
    funding = None
    if draw(st.booleans()):
        funding = FundingRates(
            timestamp=T0 + HOUR * np.arange(0, n, 3, dtype=np.int64),
            rate=rng.normal(0, 0.001, len(range(0, n, 3))),
        )
    return candles, signals, config, funding


@FAST
@given(markets())
def test_equity_equals_cash_plus_marked_positions_at_every_bar(market: Any) -> None:
    # Arrange
    candles, signals, config, funding = market
    result = run_backtest(candles, signals, config, funding=funding)
    fills = result.fill_table[result.fill_table[:, k.FILL_STATUS] == k.STATUS_FILLED]
    funding_by_bar = np.zeros(len(candles))
    if funding is not None:
        from tradeforge.backtest import align_funding

        rates, _ = align_funding(candles.timestamp, HOUR, funding)
        held = np.concatenate(([0.0], result.position[:-1, 0]))
        funding_by_bar = held * candles.open * rates
    # Act / Assert: cash accounting rebuilt from the orders log alone
    cash = config.initial_cash
    qty = 0.0
    row = 0
    for i in range(len(candles)):
        cash -= funding_by_bar[i]
        while row < len(fills) and fills[row, k.FILL_BAR] == i:
            side, q, px, fee = fills[row, [k.FILL_SIDE, k.FILL_QTY, k.FILL_PRICE, k.FILL_FEE]]
            cash -= side * q * px + fee
            qty += side * q
            row += 1
        assert np.isclose(qty, result.position[i, 0], rtol=1e-9, atol=1e-9)
        expected = cash + qty * candles.close[i]
        assert np.isclose(result.equity[i], expected, rtol=1e-9, atol=1e-7), i


@FAST
@given(markets())
def test_no_fill_outside_the_bar_low_high(market: Any) -> None:
    candles, signals, config, funding = market
    result = run_backtest(candles, signals, config, funding=funding)
    for order in result.orders:
        if order.status == "filled":
            assert candles.low[order.bar] <= order.price <= candles.high[order.bar]


@FAST
@given(markets(), st.integers(1, 40))
def test_cutting_future_candles_never_changes_earlier_decisions(market: Any, cut: int) -> None:
    # Arrange
    candles, signals, config, funding = market
    m = min(cut, len(candles))
    head = Candles(
        *(getattr(candles, c)[:m] for c in ("timestamp", "open", "high", "low", "close", "volume"))
    )

    def cut_array(value: Any) -> Any:
        return value[:m] if isinstance(value, np.ndarray) else value

    head_signals = Signals(
        **{f: cut_array(getattr(signals, f)) for f in signals.__dataclass_fields__}
    )
    # Act
    full = run_backtest(candles, signals, config, funding=funding)
    part = run_backtest(head, head_signals, config, funding=funding)
    # Assert
    assert np.array_equal(full.equity[:m], part.equity)
    assert np.array_equal(full.position[:m], part.position)
    early = full.fill_table[full.fill_table[:, k.FILL_BAR] < m]
    assert np.array_equal(early, part.fill_table)


@FAST
@given(markets())
def test_isolated_and_cross_agree_for_one_ticker(market: Any) -> None:
    candles, signals, config, funding = market
    runs = []
    for mode in MarginMode:
        cfg = BacktestConfig(**{**_fields(config), "margin_mode": mode})
        runs.append(
            run_portfolio(
                {"X/USDT": candles},
                {"X/USDT": signals},
                cfg,
                funding=None if funding is None else {"X/USDT": funding},
            )
        )
    isolated, cross = runs
    assert np.allclose(isolated.equity, cross.equity, rtol=1e-12, atol=1e-9)
    assert np.allclose(isolated.trade_table, cross.trade_table, rtol=1e-12, atol=1e-9)
    single = run_backtest(candles, signals, config, funding=funding)
    assert np.allclose(single.equity, cross.equity, rtol=1e-12, atol=1e-9)


@FAST
@given(markets())
def test_simple_and_full_kernel_agree_when_features_are_off(market: Any) -> None:
    candles, signals, config, _ = market
    plain = Signals(entry_long=signals.entry_long, exit_long=signals.exit_long, size=signals.size)
    cfg = BacktestConfig(**{**_fields(config), "leverage": 1.0})
    simple = run_backtest(candles, plain, cfg)
    # A portfolio stop that can never trigger forces the full kernel.
    full = run_backtest(
        candles, plain, BacktestConfig(**{**_fields(cfg), "portfolio_take_profit": 1e9})
    )
    assert np.array_equal(simple.equity, full.equity)
    assert np.array_equal(simple.trade_table, full.trade_table)
    assert np.array_equal(simple.fill_table, full.fill_table)


@FAST
@given(markets())
def test_same_inputs_give_byte_identical_results(market: Any) -> None:
    candles, signals, config, funding = market
    a = run_backtest(candles, signals, config, funding=funding, script="x", parameters={"p": 1})
    b = run_backtest(candles, signals, config, funding=funding, script="x", parameters={"p": 1})
    assert a.equity.tobytes() == b.equity.tobytes()
    assert a.fill_table.tobytes() == b.fill_table.tobytes()
    assert a.trade_table.tobytes() == b.trade_table.tobytes()
    assert a.fingerprint == b.fingerprint


def _fields(config: BacktestConfig) -> dict[str, Any]:
    return {f: getattr(config, f) for f in config.__dataclass_fields__}


@FAST
@given(markets())
def test_position_state_matches_the_simulated_position(market: Any) -> None:
    candles, signals, config, funding = market
    result = run_backtest(candles, signals, config, funding=funding)
    state = result.state()
    assert np.array_equal(state.direction * state.quantity, result.position[:, 0])
    held = state.direction != 0
    assert np.all(np.isnan(state.entry_price[~held]))
    assert np.all(state.bars_since_entry[~held] == -1)
    for trade in result.trades:
        if trade.exit_bar > trade.entry_bar or trade.is_open:
            assert state.entry_price[trade.entry_bar] == trade.entry_price
            assert state.bars_since_entry[trade.entry_bar] == 0
