"""The ladder engine on tiny hand-made candles: every price, quantity and fee is computed
by hand in the test, from the rules in tradeforge/docs/backtesting.md ("DCA and grid")."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tradeforge.backtest import BacktestConfig, BacktestInputError, ExitReason
from tradeforge.backtest.fills import liquidation_fill_price
from tradeforge.backtest.ladder import (
    DcaSettings,
    GridSettings,
    dca_safety_orders,
    grid_levels,
    run_dca,
    run_grid,
    simulate_dca,
    simulate_grid,
)
from tradeforge.core.candles import Candles

HOUR = 3_600_000
MAKER, TAKER = 0.001, 0.002
CONFIG = BacktestConfig(initial_cash=10_000.0, fee_maker=MAKER, fee_taker=TAKER, slippage=0.0)


def bars(*rows: tuple[float, float, float, float]) -> Candles:
    data = np.array(rows, dtype=np.float64)
    ts = np.arange(len(rows), dtype=np.int64) * HOUR + 1_704_067_200_000
    return Candles.from_arrays(
        ts, data[:, 0], data[:, 1], data[:, 2], data[:, 3], np.ones(len(rows))
    )


def dca(**overrides: Any) -> DcaSettings:
    values: dict[str, Any] = {
        "direction": 1,
        "base_order": 100.0,
        "safety_order": 100.0,
        "safety_orders_count": 2,
        "price_deviation": 0.10,
        "step_scale": 2.0,
        "volume_scale": 2.0,
        "take_profit": 0.10,
        "stop_loss": None,
    }
    values.update(overrides)
    return DcaSettings(**values)


def test_safety_order_formula_cumulative_deviation_and_volume() -> None:
    dev, amount = dca_safety_orders(dca(safety_orders_count=4, price_deviation=0.01))
    # d_i = 1% * (1 + 2 + 4 + ...), a_i = 100 * 2^(i-1)
    assert dev == pytest.approx([0.01, 0.03, 0.07, 0.15])
    assert amount == pytest.approx([100, 200, 400, 800])


def test_grid_levels_arithmetic_and_geometric() -> None:
    assert grid_levels(90, 110, 5, False) == pytest.approx([90, 95, 100, 105, 110])
    geo = grid_levels(100, 400, 3, True)
    assert geo == pytest.approx([100, 200, 400])
    assert geo[0] == 100
    assert geo[-1] == 400


def test_dca_deal_with_two_safety_fills_closes_at_average_take_profit() -> None:
    candles = bars(
        (100, 101, 99, 100),  # 0: base order at the open, 1 unit at 100
        (100, 100, 89, 92),  # 1: safety 1 trades through 90
        (92, 95, 69, 75),  # 2: safety 2 trades through 70
        (75, 0.0, 74, 80),  # 3: high set below to the take-profit exactly (a touch)
        (80, 95, 79, 90),  # 4: trades through the take-profit
    )
    q0, q1, q2 = 100 / 100, 100 / 90, 200 / 70
    qty = q0 + q1 + q2
    avg = 400 / qty
    tp = avg * 1.10
    high = candles.high.copy()
    high[3] = tp
    candles = Candles.from_arrays(
        candles.timestamp, candles.open, high, candles.low, candles.close, candles.volume
    )
    result = run_dca(candles, dca(), CONFIG, symbol="T/USDT")
    filled = [o for o in result.orders if o.status == "filled"]
    assert [(o.bar, o.side, o.order_type, o.reason) for o in filled] == [
        (0, "buy", "market", ExitReason.ENTRY),
        (1, "buy", "limit", ExitReason.SAFETY_ORDER),
        (2, "buy", "limit", ExitReason.SAFETY_ORDER),
        (4, "sell", "limit", ExitReason.TAKE_PROFIT),
    ]
    assert [o.price for o in filled] == pytest.approx([100, 90, 70, tp], rel=1e-12)
    assert [o.quantity for o in filled] == pytest.approx([q0, q1, q2, qty], rel=1e-12)
    fees = [100 * TAKER, 100 * MAKER, 200 * MAKER, qty * tp * MAKER]
    assert [o.fee for o in filled] == pytest.approx(fees, rel=1e-12)
    (trade,) = result.trades  # the next deal would open at bar 5: there is none
    assert trade.entry_bar == 0
    assert trade.exit_bar == 4
    assert trade.quantity == pytest.approx(qty, rel=1e-12)
    assert trade.entry_price == pytest.approx(avg, rel=1e-12)
    assert trade.exit_price == pytest.approx(tp, rel=1e-12)
    assert trade.entry_fee == pytest.approx(sum(fees[:3]), rel=1e-12)
    pnl = 400 * 0.10 - sum(fees)
    assert trade.pnl == pytest.approx(pnl, rel=1e-9)
    assert result.final_equity == pytest.approx(10_000 + pnl, rel=1e-12)
    assert not trade.is_ambiguous
    assert trade.reason is ExitReason.TAKE_PROFIT


def test_dca_safety_order_gapped_past_fills_at_the_open() -> None:
    candles = bars((100, 101, 99, 100), (85, 86, 84, 85))
    result = run_dca(candles, dca(safety_orders_count=1), CONFIG)
    safety = [o for o in result.orders if o.reason is ExitReason.SAFETY_ORDER]
    assert len(safety) == 1
    assert safety[0].price == 85  # the open, better than the 90 limit
    assert safety[0].quantity == pytest.approx(100 / 85)


def test_dca_touching_a_safety_level_does_not_fill() -> None:
    candles = bars((100, 101, 99, 100), (95, 96, 90, 93), (93, 94, 90, 92))
    result = run_dca(candles, dca(safety_orders_count=1), CONFIG)
    assert not [o for o in result.orders if o.reason is ExitReason.SAFETY_ORDER]
    (trade,) = result.trades
    assert trade.is_open
    assert trade.reason is ExitReason.END
    assert trade.exit_price == 92


def test_dca_stop_loss_from_average_after_a_safety_fill() -> None:
    # The base stop rests at 88, below safety 1 at 90, which bar 1 fills first; the average
    # becomes 200 / (1 + 100/90) = 94.7368..., the 12 % stop 83.368..., traded by bar 2.
    candles = bars((100, 101, 99, 100), (100, 100, 89, 91), (91, 92, 80, 82), (82, 83, 81, 82))
    settings = dca(safety_orders_count=1, stop_loss=0.12, price_deviation=0.10)
    result = run_dca(candles, settings, CONFIG)
    qty = 1 + 100 / 90
    avg = 200 / qty
    stop = avg * 0.88
    trade = result.trades[0]
    assert trade.reason is ExitReason.STOP
    assert trade.exit_bar == 2
    assert trade.exit_price == pytest.approx(stop, rel=1e-12)
    assert trade.exit_fee == pytest.approx(qty * stop * TAKER, rel=1e-12)
    # A new deal opens at the next open (no start condition: always ready).
    assert result.orders[-1].bar == 3
    assert result.orders[-1].reason is ExitReason.ENTRY


def test_dca_stop_level_equal_to_a_safety_level_fills_the_stop_first() -> None:
    candles = bars((100, 101, 99, 100), (100, 100, 89, 91))
    result = run_dca(candles, dca(safety_orders_count=1, stop_loss=0.10), CONFIG)
    assert [o.reason for o in result.orders] == [ExitReason.ENTRY, ExitReason.STOP]


def test_dca_take_profit_after_safety_fill_waits_for_the_next_bar() -> None:
    # Bar 1 trades through safety 1 (90) and through the old take-profit (110): the worse
    # order is assumed (safety first), the re-placed take-profit rests from bar 2.
    candles = bars((100, 101, 99, 100), (100, 111, 89, 99), (99, 106, 98, 104))
    result = run_dca(candles, dca(safety_orders_count=1, take_profit=0.05), CONFIG)
    qty = 1 + 100 / 90
    tp = 200 / qty * 1.05
    trade = result.trades[0]
    assert trade.exit_bar == 2
    assert trade.exit_price == pytest.approx(tp, rel=1e-12)
    assert trade.is_ambiguous


def test_short_dca_mirrors_the_long_one() -> None:
    candles = bars((100, 101, 99, 100), (100, 111, 100, 108), (108, 108, 94, 95))
    settings = dca(direction=-1, safety_orders_count=1)
    result = run_dca(candles, settings, CONFIG)
    q0, q1 = 1.0, 100 / 110
    avg = 200 / (q0 + q1)
    tp = avg * 0.90
    filled = [o for o in result.orders if o.status == "filled"]
    assert [(o.side, o.price) for o in filled] == [
        ("sell", 100),
        ("sell", pytest.approx(110)),
        ("buy", pytest.approx(tp, rel=1e-12)),
    ]
    (trade,) = result.trades
    assert trade.side == "short"
    fees = 100 * TAKER + 100 * MAKER + (q0 + q1) * tp * MAKER
    assert trade.pnl == pytest.approx(200 * 0.10 - fees, rel=1e-9)


def test_dca_start_condition_opens_the_deal_at_the_next_open() -> None:
    candles = bars((100, 101, 99, 100), (100, 101, 99, 100), (102, 103, 101, 102))
    start = np.array([False, True, False])
    result = run_dca(candles, dca(), CONFIG, start=start)
    assert [(o.bar, o.price) for o in result.orders] == [(2, 102)]


GRID = GridSettings(lower_price=90, upper_price=110, grid_count=5, investment=1000)


def test_grid_buy_sell_pairs_with_exact_pnl() -> None:
    candles = bars(
        (102, 103, 99, 100),  # 0: start at 102; buy at 100 trades through
        (100, 106, 100, 104),  # 1: its sell at 105 fills; the buy at 100 returns from bar 2
        (104, 104, 94, 96),  # 2: buys at 100 and 95 fill
        (96, 100, 95, 99),  # 3: the sell at 100 is only touched; 95 is only touched
        (106, 107, 105.5, 106),  # 4: gap above both sells: they fill at the open
    )
    result = run_grid(candles, GRID, CONFIG)
    per_cell = 1000 / 3  # three cells start with a buy (90, 95, 100 are below 102)
    q95, q100 = per_cell / 95, per_cell / 100
    filled = [(o.bar, o.side, o.price, o.quantity) for o in result.orders]
    assert filled == [
        (0, "buy", 100, pytest.approx(q100)),
        (1, "sell", 105, pytest.approx(q100)),
        (2, "buy", 100, pytest.approx(q100)),
        (2, "buy", 95, pytest.approx(q95)),
        (4, "sell", 106, pytest.approx(q95)),
        (4, "sell", 106, pytest.approx(q100)),
    ]
    pairs = [(t.entry_bar, t.exit_bar, t.entry_price, t.exit_price) for t in result.trades]
    assert pairs == [(0, 1, 100, 105), (2, 4, 95, 106), (2, 4, 100, 106)]
    expected = [
        q100 * 5 - q100 * 100 * MAKER - q100 * 105 * MAKER,
        q95 * 11 - q95 * 95 * MAKER - q95 * 106 * MAKER,
        q100 * 6 - q100 * 100 * MAKER - q100 * 106 * MAKER,
    ]
    assert [t.pnl for t in result.trades] == pytest.approx(expected, rel=1e-12)
    assert result.final_equity == pytest.approx(10_000 + sum(expected), rel=1e-12)


def test_grid_trade_to_fill_buys_the_cells_above_at_market() -> None:
    settings = GridSettings(90, 110, 5, investment=1000, trade_to_fill=True)
    candles = bars((102, 103, 101, 102), (102, 106, 102, 104))
    result = run_grid(candles, settings, CONFIG)
    # Four cells get an order: 90, 95, 100 buys and the 105 cell bought at market.
    lot = 1000 / 4 / 105
    first = result.orders[0]
    assert (first.bar, first.side, first.order_type, first.price) == (0, "buy", "market", 102)
    assert first.quantity == pytest.approx(lot)
    assert first.fee == pytest.approx(lot * 102 * TAKER)
    # Its sell at 110 is not reached; the lot is an open trade marked at the last close.
    (trade,) = result.trades
    assert trade.is_open
    assert trade.entry_price == 102
    assert trade.exit_price == 104


def test_grid_stop_loss_price_sells_every_lot_with_a_stop() -> None:
    settings = GridSettings(90, 110, 5, investment=1000, stop_loss_price=85)
    candles = bars((102, 103, 99, 100), (100, 100, 84, 86), (86, 120, 80, 100))
    result = run_grid(candles, settings, CONFIG)
    per_cell = 1000 / 3
    lots = [per_cell / 100, per_cell / 95, per_cell / 90]
    stop = result.orders[-1]
    assert (stop.bar, stop.side, stop.order_type, stop.price) == (1, "sell", "stop", 85)
    assert stop.quantity == pytest.approx(sum(lots))
    assert [t.reason for t in result.trades] == [ExitReason.STOP] * 3
    assert not any(o.bar == 2 for o in result.orders)  # the grid has stopped


def test_grid_stop_condition_with_stop_exit_sells_at_the_next_open() -> None:
    settings = GridSettings(90, 110, 5, investment=1000, stop_exit=True)
    candles = bars((102, 103, 99, 100), (100, 101, 99.5, 100), (98, 99, 97, 98))
    stop = np.array([False, True, False])
    result = run_grid(candles, settings, CONFIG, stop=stop)
    last = result.orders[-1]
    assert (last.bar, last.side, last.order_type, last.price) == (2, "sell", "market", 98)
    assert last.reason is ExitReason.SIGNAL


def test_grid_rejects_invalid_settings() -> None:
    with pytest.raises(BacktestInputError):
        run_grid(bars((1, 1, 1, 1)), GridSettings(100, 90, 5), CONFIG)


def test_equity_is_cash_plus_marked_position_every_bar() -> None:
    candles = bars((102, 103, 99, 100), (100, 106, 100, 104), (104, 104, 94, 96))
    for out in (
        simulate_grid(candles, GRID, CONFIG),
        simulate_dca(candles, dca(), CONFIG),
    ):
        equity, cash, position, _, _ = out
        np.testing.assert_allclose(equity, cash + position * candles.close, rtol=1e-12)


def test_dca_portfolio_take_profit_closes_and_stops_the_bot() -> None:
    # The deal's take-profit at 110 lifts equity above 10,000 * 1.0005: the bot stops,
    # so no new deal opens at bar 2's open.
    config = BacktestConfig(
        initial_cash=10_000.0, fee_maker=MAKER, fee_taker=TAKER, portfolio_take_profit=0.0005
    )
    candles = bars((100, 101, 99, 100), (100, 111, 99, 105), (105, 106, 104, 105))
    result = run_dca(candles, dca(), config)
    assert [o.bar for o in result.orders] == [0, 1]
    assert result.trades[0].reason is ExitReason.TAKE_PROFIT


def test_grid_portfolio_stop_sells_every_lot_at_the_next_open() -> None:
    config = BacktestConfig(
        initial_cash=10_000.0, fee_maker=MAKER, fee_taker=TAKER, portfolio_stop_loss=0.01
    )
    settings = GridSettings(90, 110, 5, investment=10_000)
    candles = bars((102, 103, 99, 100), (100, 100, 85, 86), (86, 87, 80, 81), (81, 82, 80, 81))
    result = run_grid(candles, settings, config)
    last = result.orders[-1]
    assert (last.bar, last.order_type, last.price) == (2, "market", 86)
    assert last.reason is ExitReason.PORTFOLIO_STOP
    assert {t.reason for t in result.trades} == {ExitReason.PORTFOLIO_STOP}
    assert result.position[-1, 0] == 0


def test_leveraged_short_dca_is_liquidated_above_its_average() -> None:
    config = BacktestConfig(initial_cash=10_000.0, fee_maker=MAKER, fee_taker=TAKER, leverage=10)
    settings = dca(direction=-1, safety_orders_count=0)
    candles = bars((100, 101, 99, 100), (100, 115, 99, 112))
    result = run_dca(candles, settings, config)
    liq = 100 * (1 + 1 / 10) / (1 + config.maintenance_margin)
    (trade,) = result.trades
    assert trade.reason is ExitReason.LIQUIDATION
    assert trade.exit_price == pytest.approx(liq, rel=1e-12)
    assert trade.exit_fee == pytest.approx(liq * config.liquidation_fee, rel=1e-12)


@pytest.mark.parametrize(
    ("bar", "liq", "direction", "expected"),
    [
        ((100, 101, 90, 95), 92, 1, 92),  # traded through: at the liquidation price
        ((91, 101, 90, 95), 92, 1, 91),  # opened beyond it: at the open
        ((100, 101, 93, 95), 92, 1, None),  # not reached
        ((100, 108, 99, 105), 107, -1, 107),
        ((109, 110, 99, 105), 107, -1, 109),
    ],
)
def test_liquidation_fill_price_rule(
    bar: tuple[float, float, float, float], liq: float, direction: int, expected: float | None
) -> None:
    o, h, lo, _ = bar
    price = liquidation_fill_price(o, h, lo, liq, direction)
    assert (np.isnan(price) and expected is None) or price == expected
