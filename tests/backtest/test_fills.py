"""Fill rules, one row per case (these are the rules paper trading will reuse)."""

from __future__ import annotations

import math

import pytest

from tradeforge.backtest import BacktestConfig, ExitReason, Signals, run_backtest
from tradeforge.backtest.fills import (
    limit_fill_price,
    liquidation_price,
    market_fill_price,
    order_quantity,
    round_quantity,
    stop_fill_price,
)

from ._helpers import flags, make_candles

NAN = math.nan


@pytest.mark.parametrize(
    ("open_", "high", "low", "limit", "side", "expected"),
    [
        (100, 101, 95, 95, 1, NAN),  # buy limit touched only
        (100, 101, 94, 95, 1, 95),  # traded through: at the limit
        (93, 94, 92, 95, 1, 93),  # gapped below: at the open
        (100, 105, 99, 105, -1, NAN),  # sell limit touched only
        (100, 106, 99, 105, -1, 105),
        (107, 108, 106, 105, -1, 107),
    ],
)
def test_limit_fill_price_requires_trading_through(
    open_: float, high: float, low: float, limit: float, side: int, expected: float
) -> None:
    got = limit_fill_price(open_, high, low, limit, side)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


@pytest.mark.parametrize(
    ("open_", "high", "low", "stop", "side", "expected"),
    [
        (100, 104, 99, 105, 1, NAN),  # buy stop not reached
        (100, 105, 99, 105, 1, 105 * 1.01),  # touched: at the stop plus slippage
        (107, 110, 106, 105, 1, 107 * 1.01),  # gapped above: at the open plus slippage
        (100, 101, 96, 95, -1, NAN),
        (100, 101, 95, 95, -1, 95 * 0.99),
        (90, 96, 88, 95, -1, 90 * 0.99),
    ],
)
def test_stop_fill_price_triggers_on_touch_and_gaps_fill_at_open(
    open_: float, high: float, low: float, stop: float, side: int, expected: float
) -> None:
    got = stop_fill_price(open_, high, low, stop, side, 0.01, False)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("reference", "side", "clamp", "expected"),
    [(100, 1, False, 101), (100, -1, False, 99), (100, 1, True, 100.5), (100, -1, True, 99.5)],
)
def test_market_fill_price_applies_slippage_and_clamps_to_bar(
    reference: float, side: int, clamp: bool, expected: float
) -> None:
    assert market_fill_price(reference, side, 0.01, 99.5, 100.5, clamp) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("direction", "leverage", "expected"),
    [(1, 1.0, 0.0), (1, 10.0, 90 / 0.995), (-1, 10.0, 110 / 1.005), (-1, 1.0, 200 / 1.005)],
)
def test_liquidation_price_isolated_margin(
    direction: int, leverage: float, expected: float
) -> None:
    assert liquidation_price(100.0, direction, leverage, 0.005) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("qty", "step", "expected"), [(0.3, 0.1, 0.3), (9.99000999, 0.01, 9.99), (1.5, 0.0, 1.5)]
)
def test_round_quantity_rounds_down_to_the_step(qty: float, step: float, expected: float) -> None:
    assert round_quantity(qty, step) == pytest.approx(expected)


def test_order_quantity_caps_to_available_collateral_and_rejects_below_minimum() -> None:
    # An amount larger than the account shrinks to what the cash pays for, fee included.
    assert order_quantity(5000.0, 1, 100.0, 1000.0, 1000.0, 1.0, 0.0, 0.0, 0.0) == 10.0
    assert order_quantity(1.0, 0, 100.0, 1000.0, 1000.0, 2.0, 0.0, 0.0, 0.0) == 20.0
    assert order_quantity(1.0, 2, 100.0, 1000.0, 1000.0, 1.0, 0.0, 2.0, 0.0) == 0.0


@pytest.mark.parametrize(("high", "filled"), [(105.0, False), (105.01, True)])
def test_take_profit_fills_only_when_high_trades_through(high: float, filled: bool) -> None:
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (101, high, 100, 101), (101, 101, 101, 101)]
    signals = Signals(entry_long=flags(4, 0), take_profit=0.05)
    result = run_backtest(make_candles(rows), signals, BacktestConfig(fee_taker=0.0))
    (trade,) = result.trades
    assert (trade.reason is ExitReason.TAKE_PROFIT) is filled
    if filled:
        assert trade.exit_price == pytest.approx(105.0)
