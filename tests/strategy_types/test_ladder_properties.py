"""Invariants of the ladder engine on random candles (hypothesis): equity is cash plus the
marked position at every close, limit fills stay inside their bar at their level (or the
open when the bar gapped past it), cutting off future candles never changes an earlier
fill, and identical inputs give byte-identical outputs."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeforge.backtest import BacktestConfig
from tradeforge.backtest.kernels import (
    FILL_BAR,
    FILL_ORDER_TYPE,
    FILL_PRICE,
    FILL_QTY,
    FILL_STATUS,
    STATUS_FILLED,
)
from tradeforge.backtest.ladder import (
    DcaSettings,
    GridSettings,
    grid_levels,
    simulate_dca,
    simulate_grid,
)
from tradeforge.core.candles import Candles

LIMIT = 1


@st.composite
def candles(draw: Any) -> Candles:
    n = draw(st.integers(min_value=2, max_value=120))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.03, n)))
    gaps = rng.normal(0.0, 0.01, n) * (rng.random(n) < 0.2)
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(gaps)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.02, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.02, n)))
    ts = np.arange(n, dtype=np.int64) * 3_600_000
    return Candles.from_arrays(ts, open_, high, low, close, np.ones(n))


configs = st.builds(
    BacktestConfig,
    initial_cash=st.just(10_000.0),
    fee_taker=st.sampled_from([0.0, 0.0005, 0.002]),
    fee_maker=st.sampled_from([0.0, 0.0002, 0.001]),
    slippage=st.sampled_from([0.0, 0.001]),
    leverage=st.sampled_from([1.0, 3.0]),
)
dcas = st.builds(
    DcaSettings,
    direction=st.sampled_from([1, -1]),
    base_order=st.sampled_from([100.0, 1000.0]),
    safety_order=st.sampled_from([100.0, 500.0]),
    safety_orders_count=st.integers(min_value=0, max_value=6),
    price_deviation=st.sampled_from([0.005, 0.02, 0.05]),
    step_scale=st.sampled_from([1.0, 1.5]),
    volume_scale=st.sampled_from([1.0, 2.0]),
    take_profit=st.sampled_from([0.01, 0.05]),
    stop_loss=st.sampled_from([None, 0.1, 0.3]),
)
grids = st.builds(
    GridSettings,
    lower_price=st.sampled_from([60.0, 80.0, 95.0]),
    upper_price=st.sampled_from([105.0, 130.0, 200.0]),
    grid_count=st.integers(min_value=2, max_value=25),
    geometric=st.booleans(),
    investment=st.sampled_from([1000.0, 9000.0]),
    trade_to_fill=st.booleans(),
    stop_loss_price=st.sampled_from([None, 50.0]),
)
starts = st.sampled_from(["instant", "every_3rd"])


def _start(kind: str, n: int) -> Any:
    return None if kind == "instant" else np.arange(n) % 3 == 2


def _run(kind: str, c: Candles, bot: Any, config: BacktestConfig, start: str) -> Any:
    if kind == "dca":
        return simulate_dca(c, bot, config, _start(start, len(c)))
    return simulate_grid(c, bot, config, _start(start, len(c)))


bots = st.one_of(st.tuples(st.just("dca"), dcas), st.tuples(st.just("grid"), grids))


@settings(max_examples=60, deadline=None)
@given(candles(), bots, configs, starts)
def test_equity_is_cash_plus_marked_position(
    c: Candles, bot: tuple[str, Any], config: BacktestConfig, start: str
) -> None:
    equity, cash, position, _, _ = _run(bot[0], c, bot[1], config, start)
    np.testing.assert_allclose(equity, cash + position * c.close, rtol=1e-9, atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(candles(), bots, configs, starts)
def test_limit_fills_inside_the_bar_at_the_level_or_the_open(
    c: Candles, bot: tuple[str, Any], config: BacktestConfig, start: str
) -> None:
    kind, settings_ = bot
    _, _, _, fills, _ = _run(kind, c, settings_, config, start)
    filled = fills[fills[:, FILL_STATUS] == STATUS_FILLED]
    assert np.all(filled[:, FILL_QTY] > 0)
    bars = filled[:, FILL_BAR].astype(np.int64)
    price = filled[:, FILL_PRICE]
    assert np.all(price >= c.low[bars] * (1 - 1e-12))
    assert np.all(price <= c.high[bars] * (1 + 1e-12))
    if kind != "grid":
        return
    levels = grid_levels(
        settings_.lower_price, settings_.upper_price, settings_.grid_count, settings_.geometric
    )
    limits = filled[filled[:, FILL_ORDER_TYPE] == LIMIT]
    for row in limits:
        bar = int(row[FILL_BAR])
        on_level = bool(np.any(levels == row[FILL_PRICE]))
        assert on_level or row[FILL_PRICE] == c.open[bar], row


@settings(max_examples=40, deadline=None)
@given(candles(), bots, configs, starts, st.floats(min_value=0.2, max_value=0.9))
def test_truncating_future_candles_never_changes_earlier_fills(
    c: Candles, bot: tuple[str, Any], config: BacktestConfig, start: str, cut: float
) -> None:
    m = max(1, int(len(c) * cut))
    short = Candles.from_arrays(
        c.timestamp[:m], c.open[:m], c.high[:m], c.low[:m], c.close[:m], c.volume[:m]
    )
    full = _run(bot[0], c, bot[1], config, start)
    part = _run(bot[0], short, bot[1], config, start)
    np.testing.assert_array_equal(full[0][:m], part[0])
    np.testing.assert_array_equal(full[2][:m], part[2])
    early = full[3][full[3][:, FILL_BAR] < m]
    np.testing.assert_array_equal(early, part[3])


@settings(max_examples=20, deadline=None)
@given(candles(), bots, configs, starts)
def test_identical_inputs_give_byte_identical_outputs(
    c: Candles, bot: tuple[str, Any], config: BacktestConfig, start: str
) -> None:
    first = _run(bot[0], c, bot[1], config, start)
    second = _run(bot[0], c, bot[1], config, start)
    for a, b in zip(first, second, strict=True):
        assert a.tobytes() == b.tobytes()
