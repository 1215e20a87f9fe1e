"""Hand-computed scenarios: every expected number is derived in the test from first principles
(cash accounting: a buy pays quantity * price + fee, a sell receives quantity * price - fee)."""

from __future__ import annotations

import numpy as np
import pytest

from tradeforge.backtest import (
    BacktestConfig,
    ExitReason,
    FillConvention,
    FundingRates,
    OrderType,
    Signals,
    SizeType,
    run_backtest,
)

from ._helpers import HOUR, T0, flags, make_candles

REL = 1e-12

ROUND_TRIP = [
    (100.0, 101.0, 99.0, 100.0),  # 0: entry signal
    (100.0, 102.0, 99.0, 101.0),  # 1: buy at the open + 1 % slippage = 101
    (105.0, 106.0, 104.0, 105.0),  # 2: exit signal
    (110.0, 111.0, 108.0, 109.0),  # 3: sell at the open - 1 % slippage = 108.9
    (109.0, 110.0, 108.0, 109.0),
]


def test_round_trip_next_open_fee_and_slippage_matches_cash_accounting() -> None:
    # Arrange
    candles = make_candles(ROUND_TRIP)
    signals = Signals(entry_long=flags(5, 0), exit_long=flags(5, 2))
    config = BacktestConfig(initial_cash=1000.0, fee_taker=0.001, slippage=0.01)
    # Act
    result = run_backtest(candles, signals, config, symbol="BTC/USDT")
    # Assert
    buy, sell = 100.0 * 1.01, 110.0 * 0.99
    qty = 1000.0 / (buy * 1.001)  # all cash: quantity * price * (1 + fee) = 1000
    fee_in, fee_out = qty * buy * 0.001, qty * sell * 0.001
    cash_after_sell = 1000.0 - qty * buy - fee_in + qty * sell - fee_out
    (trade,) = result.trades
    assert trade.entry_price == pytest.approx(buy, rel=REL)
    assert trade.exit_price == pytest.approx(sell, rel=REL)
    assert trade.quantity == pytest.approx(qty, rel=REL)
    assert trade.entry_fee == pytest.approx(fee_in, rel=REL)
    assert trade.exit_fee == pytest.approx(fee_out, rel=REL)
    assert trade.pnl == pytest.approx(cash_after_sell - 1000.0, rel=1e-10)
    assert (trade.entry_time, trade.exit_time) == (T0 + HOUR, T0 + 3 * HOUR)
    assert trade.reason is ExitReason.SIGNAL
    assert result.equity[1] == pytest.approx(1000.0 - qty * buy - fee_in + qty * 101.0, rel=REL)
    assert result.final_equity == pytest.approx(cash_after_sell, rel=REL)
    assert result.stats.fees_paid == pytest.approx(fee_in + fee_out, rel=REL)
    assert [o.side for o in result.orders] == ["buy", "sell"]


@pytest.mark.parametrize(
    ("clamp", "exit_price"),
    [(True, 104.0), (False, 105.0 * 0.99)],
    ids=["clamped-to-low", "unclamped"],
)
def test_round_trip_signal_close_fills_at_signal_bar_close(clamp: bool, exit_price: float) -> None:
    # Arrange: the slipped exit (103.95) is below bar 2's low (104)
    candles = make_candles(ROUND_TRIP)
    signals = Signals(entry_long=flags(5, 0), exit_long=flags(5, 2))
    config = BacktestConfig(
        initial_cash=1000.0,
        fee_taker=0.0,
        slippage=0.01,
        fill=FillConvention.SIGNAL_CLOSE,
        clamp_fills_to_bar=clamp,
    )
    # Act
    (trade,) = run_backtest(candles, signals, config).trades
    # Assert
    assert trade.entry_bar == 0
    assert trade.exit_bar == 2
    assert trade.entry_price == pytest.approx(101.0, rel=REL)  # 100 * 1.01 = the bar's high
    assert trade.exit_price == pytest.approx(exit_price, rel=REL)


def test_stop_and_take_profit_in_same_bar_assumes_stop_and_tags_trade() -> None:
    # Arrange
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (100, 106, 94, 100), (100, 100, 100, 100)]
    signals = Signals(entry_long=flags(4, 0), stop_loss=0.05, take_profit=0.05)
    config = BacktestConfig(initial_cash=1000.0, fee_taker=0.0, fee_maker=0.0)
    # Act
    result = run_backtest(make_candles(rows), signals, config)
    # Assert
    (trade,) = result.trades
    assert trade.reason is ExitReason.STOP
    assert trade.is_ambiguous
    assert trade.exit_price == pytest.approx(95.0, rel=REL)
    assert trade.pnl == pytest.approx(10.0 * (95.0 - 100.0), rel=REL)
    assert result.final_equity == pytest.approx(950.0, rel=REL)


def test_gap_through_stop_fills_at_open_plus_slippage() -> None:
    # Arrange: entry at 101 (slipped), stop 5 % below = 95.95; bar 2 opens at 90
    rows = [(100, 100, 100, 100), (100, 102, 99, 100), (90, 92, 85, 91), (91, 92, 90, 91)]
    signals = Signals(entry_long=flags(4, 0), stop_loss=0.05)
    config = BacktestConfig(initial_cash=1000.0, fee_taker=0.0, slippage=0.01)
    # Act
    (trade,) = run_backtest(make_candles(rows), signals, config).trades
    # Assert
    qty = 1000.0 / 101.0
    assert trade.reason is ExitReason.STOP
    assert not trade.is_ambiguous
    assert trade.exit_bar == 2
    assert trade.exit_price == pytest.approx(90.0 * 0.99, rel=REL)
    assert trade.pnl == pytest.approx(qty * (89.1 - 101.0), rel=1e-10)


def test_gap_through_take_profit_fills_at_open_with_maker_fee() -> None:
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (120, 121, 119, 120), (120, 120, 120, 120)]
    signals = Signals(entry_long=flags(4, 0), take_profit=0.1)
    config = BacktestConfig(initial_cash=1000.0, fee_taker=0.0, fee_maker=0.002)
    (trade,) = run_backtest(make_candles(rows), signals, config).trades
    assert trade.reason is ExitReason.TAKE_PROFIT
    assert trade.exit_price == 120.0
    assert trade.exit_fee == pytest.approx(10.0 * 120.0 * 0.002, rel=REL)


def test_short_round_trip_profits_when_price_falls() -> None:
    # Arrange
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (90, 91, 89, 90), (80, 81, 79, 80)]
    signals = Signals(entry_short=flags(4, 0), exit_short=flags(4, 2))
    config = BacktestConfig(initial_cash=1000.0, fee_taker=0.001)
    # Act
    result = run_backtest(make_candles(rows), signals, config)
    # Assert
    qty = 1000.0 / (100.0 * 1.001)
    fee_in, fee_out = qty * 100.0 * 0.001, qty * 80.0 * 0.001
    (trade,) = result.trades
    assert trade.side == "short"
    assert trade.pnl == pytest.approx(qty * (100.0 - 80.0) - fee_in - fee_out, rel=1e-10)
    # Equity at bar 2's close: cash from the short sale minus the cost to buy back at 90.
    assert result.equity[2] == pytest.approx(1000.0 + qty * 100.0 - fee_in - qty * 90.0, rel=REL)
    assert result.final_equity == pytest.approx(1000.0 + trade.pnl, rel=REL)
    assert [o.side for o in result.orders] == ["sell", "buy"]


def test_leveraged_long_is_liquidated_at_maintenance_margin_with_fee() -> None:
    # Arrange: 10x, maintenance 0.5 %, liquidation fee 0.5 %: the liquidation leaves exactly 0
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (99, 99.5, 89, 90), (90, 91, 89, 90)]
    config = BacktestConfig(
        initial_cash=1000.0,
        fee_taker=0.0,
        leverage=10.0,
        maintenance_margin=0.005,
        liquidation_fee=0.005,
    )
    # Act
    result = run_backtest(make_candles(rows), Signals(entry_long=flags(4, 0)), config)
    # Assert
    qty = 1000.0 / (100.0 / 10.0)  # margin = notional / leverage = all the cash
    liq = 100.0 * (1 - 1 / 10) / (1 - 0.005)
    (trade,) = result.trades
    assert trade.quantity == pytest.approx(qty, rel=REL)
    assert trade.reason is ExitReason.LIQUIDATION
    assert trade.exit_price == pytest.approx(liq, rel=REL)
    assert trade.exit_fee == pytest.approx(0.005 * qty * liq, rel=REL)
    assert result.final_equity == pytest.approx(0.0, abs=1e-9)
    assert result.orders[-1].order_type == "liquidation"


def test_gap_through_liquidation_price_charges_the_loss_beyond_margin() -> None:
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (85, 86, 84, 85), (85, 85, 85, 85)]
    config = BacktestConfig(initial_cash=1000.0, fee_taker=0.0, leverage=10.0)
    result = run_backtest(make_candles(rows), Signals(entry_long=flags(4, 0)), config)
    (trade,) = result.trades
    assert trade.exit_price == 85.0
    assert result.final_equity == pytest.approx(1000.0 + 100 * (85 - 100) - 0.005 * 100 * 85)


@pytest.mark.parametrize(("entry", "sign"), [("entry_long", 1.0), ("entry_short", -1.0)])
def test_funding_is_paid_and_received_on_the_carried_position(entry: str, sign: float) -> None:
    # Arrange: one unit held from bar 1; +0.1 % settles at bar 2's open, -0.2 % at bar 3's
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (100, 100, 100, 100), (110, 110, 110, 110)]
    candles = make_candles(rows)
    signals = Signals(size=1.0, size_type=SizeType.QUANTITY, **{entry: flags(4, 0)})
    funding = FundingRates(
        timestamp=np.array([T0 + 2 * HOUR, T0 + 3 * HOUR], dtype=np.int64),
        rate=np.array([0.001, -0.002]),
    )
    config = BacktestConfig(initial_cash=1000.0, fee_taker=0.0)
    # Act
    result = run_backtest(candles, signals, config, funding=funding)
    # Assert
    paid = sign * (1 * 100 * 0.001 - 1 * 110 * 0.002)  # long pays 0.1, receives 0.22
    (trade,) = result.trades
    assert trade.is_open
    assert trade.reason is ExitReason.END
    assert trade.funding == pytest.approx(paid, rel=REL)
    assert result.stats.funding_paid == pytest.approx(paid, rel=REL)
    assert result.final_equity == pytest.approx(1000.0 + sign * 10.0 - paid, rel=REL)
    assert result.funding_coverage[""] == 1.0


def test_funding_coverage_reports_the_share_of_the_period_with_data() -> None:
    rows = [(100.0, 100.0, 100.0, 100.0)] * 48
    funding = FundingRates(
        timestamp=T0 + 8 * HOUR * np.arange(3, dtype=np.int64), rate=np.full(3, 0.0001)
    )
    result = run_backtest(make_candles(rows), Signals(), funding=funding)
    assert result.funding_coverage[""] == pytest.approx(0.5)


def test_limit_entry_needs_price_to_trade_through_not_touch() -> None:
    # Arrange: limit buy at 95 each bar; bar 1 only touches 95, bar 2 trades through
    rows = [(100, 100, 100, 100), (100, 101, 95, 100), (100, 101, 94, 99), (99, 99, 99, 99)]
    signals = Signals(
        entry_long=flags(4, 0, 1),
        order_type=OrderType.LIMIT,
        order_price=95.0,
    )
    config = BacktestConfig(initial_cash=950.0, fee_maker=0.0)
    # Act
    result = run_backtest(make_candles(rows), signals, config)
    # Assert
    assert [o.status for o in result.orders] == ["expired", "filled"]
    (trade,) = result.trades
    assert (trade.entry_bar, trade.entry_price, trade.quantity) == (2, 95.0, 10.0)


def test_limit_entry_on_gap_fills_at_open_and_stop_entry_gap_fills_at_open_plus_slippage() -> None:
    rows = [(100, 100, 100, 100), (93, 94, 92, 93), (93, 93, 93, 93)]
    limit = run_backtest(
        make_candles(rows),
        Signals(entry_long=flags(3, 0), order_type=OrderType.LIMIT, order_price=95.0),
    )
    assert limit.trades[0].entry_price == 93.0
    rows = [(100, 100, 100, 100), (107, 110, 106, 108), (108, 108, 108, 108)]
    stop = run_backtest(
        make_candles(rows),
        Signals(entry_long=flags(3, 0), order_type=OrderType.STOP, order_price=105.0),
        BacktestConfig(slippage=0.01),
    )
    assert stop.trades[0].entry_price == pytest.approx(107.0 * 1.01, rel=REL)


def test_trailing_stop_follows_the_high_and_exits_with_reason_trailing() -> None:
    rows = [
        (100, 100, 100, 100),
        (100, 101, 99, 100),  # entry at 100
        (110, 120, 109, 118),  # peak 120 after the bar
        (118, 119, 107, 110),  # trail level 108 is hit
        (110, 110, 110, 110),
    ]
    signals = Signals(entry_long=flags(5, 0), trailing_stop=0.1)
    config = BacktestConfig(initial_cash=1000.0, fee_taker=0.0)
    (trade,) = run_backtest(make_candles(rows), signals, config).trades
    assert trade.reason is ExitReason.TRAILING
    assert trade.exit_price == pytest.approx(108.0, rel=REL)


def test_quantity_step_and_minimum_size_round_down_or_reject() -> None:
    rows = [(100, 100, 100, 100)] * 3
    config = BacktestConfig(initial_cash=1000.0, fee_taker=0.001, quantity_step=0.01)
    result = run_backtest(make_candles(rows), Signals(entry_long=flags(3, 0)), config)
    assert result.trades[0].quantity == pytest.approx(9.99, rel=REL)  # 9.99000999 rounded down
    small = BacktestConfig(initial_cash=40.0, min_quantity=0.5)
    rejected = run_backtest(make_candles(rows), Signals(entry_long=flags(3, 0)), small)
    assert rejected.trades == []
    assert [o.status for o in rejected.orders] == ["rejected"]


@pytest.mark.parametrize(
    ("size", "size_type", "qty"),
    [(0.5, SizeType.WEIGHT, 5.0), (300.0, SizeType.AMOUNT, 3.0), (2.0, SizeType.QUANTITY, 2.0)],
)
def test_sizing_modes_set_the_entry_quantity(size: float, size_type: SizeType, qty: float) -> None:
    rows = [(100, 100, 100, 100)] * 3
    signals = Signals(entry_long=flags(3, 0), size=size, size_type=size_type)
    config = BacktestConfig(initial_cash=1000.0, fee_taker=0.0)
    assert run_backtest(make_candles(rows), signals, config).trades[0].quantity == qty


def test_portfolio_stop_closes_everything_and_stops_trading() -> None:
    # Arrange: -15 % at bar 2's close breaches the 10 % portfolio stop
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (90, 90, 85, 85), (86, 86, 86, 86)] + [
        (86.0, 86.0, 86.0, 86.0)
    ] * 3
    signals = Signals(entry_long=flags(7, 0, 4), exit_long=flags(7, 3))
    config = BacktestConfig(initial_cash=1000.0, fee_taker=0.0, portfolio_stop_loss=0.1)
    # Act
    result = run_backtest(make_candles(rows), signals, config)
    # Assert
    (trade,) = result.trades
    assert trade.reason is ExitReason.PORTFOLIO_STOP
    assert (trade.exit_bar, trade.exit_price) == (3, 86.0)
    assert np.all(result.position[4:] == 0.0)


def test_reversal_closes_long_and_opens_short_at_same_open() -> None:
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (110, 110, 110, 110), (105, 105, 105, 105)]
    signals = Signals(entry_long=flags(4, 0), entry_short=flags(4, 1))
    result = run_backtest(make_candles(rows), signals, BacktestConfig(fee_taker=0.0))
    long, short = result.trades
    assert (long.side, long.exit_bar, long.reason) == ("long", 2, ExitReason.SIGNAL)
    assert (short.side, short.entry_bar, short.is_open) == ("short", 2, True)


def test_portfolio_stop_in_signal_close_convention_closes_at_the_same_close() -> None:
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (90, 90, 85, 85), (86, 86, 86, 86)]
    signals = Signals(entry_long=flags(4, 0))
    config = BacktestConfig(
        initial_cash=1000.0,
        fee_taker=0.0,
        portfolio_stop_loss=0.1,
        fill=FillConvention.SIGNAL_CLOSE,
    )
    (trade,) = run_backtest(make_candles(rows), signals, config).trades
    assert (trade.reason, trade.exit_bar, trade.exit_price) == (
        ExitReason.PORTFOLIO_STOP,
        2,
        85.0,
    )


def test_cross_mode_runs_exits_before_entries_so_freed_cash_is_reused() -> None:
    from tradeforge.backtest import MarginMode, run_portfolio

    # A is sold and B bought at the same open; B (sorted after A anyway) must see A's cash,
    # and so must A when it is the one bought: name the buyer "A" to test the ordering.
    flat = [(100.0, 100.0, 100.0, 100.0)] * 4
    candles = {"A": make_candles(flat), "B": make_candles(flat)}
    signals = {
        "A": Signals(entry_long=flags(4, 1)),
        "B": Signals(entry_long=flags(4, 0), exit_long=flags(4, 1)),
    }
    config = BacktestConfig(initial_cash=1000.0, fee_taker=0.0, margin_mode=MarginMode.CROSS)
    result = run_portfolio(candles, signals, config)
    bought_a = [o for o in result.orders if o.symbol == "A"]
    assert bought_a[0].bar == 2
    assert bought_a[0].quantity == pytest.approx(10.0)
