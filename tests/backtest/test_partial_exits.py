"""Partial exits (``Signals.exit_fraction``): hand-computed scenarios, properties, and the
DSL's ``exit(ticker, fraction)`` through the service."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeforge.adapters.candles import MarketDataStore, open_market_data
from tradeforge.backtest import (
    BacktestConfig,
    BacktestInputError,
    BacktestResult,
    ExitReason,
    FillConvention,
    MarginMode,
    Signals,
    SizeType,
    run_backtest,
    run_portfolio,
)
from tradeforge.backtest import kernels as k
from tradeforge.core.candles import Candles
from tradeforge.services.backtests import BacktestRequest, run_backtest_request

from ._helpers import T0, flags, make_candles

AT_CLOSE = BacktestConfig(fill=FillConvention.SIGNAL_CLOSE, fee_taker=0.001)


def flat(prices: list[float]) -> Candles:
    """Candles whose bars trade at one price each (open = high = low = close)."""
    return make_candles([(p, p, p, p) for p in prices])


def one_btc(n: int, entry: int, exits: tuple[int, ...], fraction: float, **kw: object) -> Signals:
    return Signals(
        entry_long=flags(n, entry),
        exit_long=flags(n, *exits),
        exit_fraction=fraction,
        size=1.0,
        size_type=SizeType.QUANTITY,
        **kw,  # type: ignore[arg-type]
    )


# --- hand-computed scenarios -----------------------------------------------------------------


def test_half_exit_splits_the_trade_with_pro_rata_fees() -> None:
    candles = flat([100, 100, 110, 120, 120])
    sig = one_btc(5, 0, (2,), 0.5)
    sig = Signals(
        **{**sig.__dict__, "exit_long": flags(5, 2, 3), "exit_fraction": [1, 1, 0.5, 1, 1]}
    )
    r = run_backtest(candles, sig, AT_CLOSE)
    a, b = r.trades
    assert (a.entry_bar, a.exit_bar, a.quantity, a.entry_price, a.exit_price) == (
        0,
        2,
        0.5,
        100,
        110,
    )
    assert a.entry_fee == pytest.approx(0.05)
    assert a.exit_fee == pytest.approx(0.055)
    assert a.pnl == pytest.approx(5 - 0.05 - 0.055)
    assert a.reason is ExitReason.SIGNAL
    assert not a.is_open
    assert (b.entry_bar, b.exit_bar, b.quantity, b.exit_price) == (0, 3, 0.5, 120)
    assert b.entry_fee == pytest.approx(0.05)
    assert b.exit_fee == pytest.approx(0.06)
    assert b.pnl == pytest.approx(10 - 0.05 - 0.06)
    assert b.reason is ExitReason.SIGNAL
    np.testing.assert_allclose(r.position[:, 0], [1, 1, 0.5, 0, 0])
    assert r.final_equity == pytest.approx(10_000 - 0.1 + 5 - 0.055 + 10 - 0.06)
    assert r.fees_paid == pytest.approx(0.1 + 0.055 + 0.06)
    state = r.state()
    np.testing.assert_allclose(state.quantity, [1, 1, 0.5, 0, 0])
    assert [o.quantity for o in r.orders] == [1.0, 0.5, 0.5]


def test_partial_exit_at_the_next_open_with_slippage() -> None:
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (110, 111, 109, 110), (110, 111, 109, 110)]
    config = BacktestConfig(fee_taker=0.001, slippage=0.001)
    r = run_backtest(make_candles(rows), one_btc(4, 0, (1,), 0.5), config)
    a, b = r.trades
    entry_px = 100 * 1.001
    exit_px = 110 * 0.999
    assert a.exit_bar == 2
    assert a.quantity == 0.5
    assert a.entry_price == pytest.approx(entry_px)
    assert a.exit_price == pytest.approx(exit_px)
    assert a.exit_fee == pytest.approx(0.5 * exit_px * 0.001)
    assert a.entry_fee == pytest.approx(0.5 * entry_px * 0.001)
    assert b.is_open
    assert b.quantity == 0.5
    assert b.entry_fee == pytest.approx(a.entry_fee)


def test_three_successive_half_exits() -> None:
    candles = flat([100, 100, 110, 120, 130, 140])
    r = run_backtest(candles, one_btc(6, 0, (1, 2, 3), 0.5), AT_CLOSE)
    qty = [t.quantity for t in r.trades]
    assert qty == [0.5, 0.25, 0.125, 0.125]
    assert [t.exit_bar for t in r.trades] == [1, 2, 3, 5]
    assert [t.is_open for t in r.trades] == [False, False, False, True]
    for t in r.trades:
        assert t.entry_bar == 0
        assert t.entry_price == 100
        assert t.entry_fee == pytest.approx(0.1 * t.quantity)
    assert r.trades[1].pnl == pytest.approx(0.25 * 10 - 0.025 - 0.25 * 110 * 0.001)
    np.testing.assert_allclose(r.position[:, 0], [1, 0.5, 0.25, 0.125, 0.125, 0.125])
    assert r.final_equity == pytest.approx(
        10_000 - 0.1 + 0.5 * 0 + 0.25 * 10 + 0.125 * 20 + 0.125 * 40
        - (0.5 * 100 + 0.25 * 110 + 0.125 * 120) * 0.001
    )  # fmt: skip


def test_partial_exit_of_a_short() -> None:
    candles = flat([100, 95, 90, 90])
    sig = Signals(
        entry_short=flags(4, 0), exit_short=flags(4, 2), exit_fraction=0.25, size=2.0,
        size_type=SizeType.QUANTITY,
    )  # fmt: skip
    r = run_backtest(candles, sig, AT_CLOSE)
    a, b = r.trades
    assert a.side == "short"
    assert a.quantity == 0.5
    assert a.exit_price == 90
    assert a.entry_fee == pytest.approx(0.2 * 0.25)
    assert a.exit_fee == pytest.approx(0.045)
    assert a.pnl == pytest.approx(0.5 * 10 - 0.05 - 0.045)
    assert b.is_open
    assert b.quantity == 1.5
    assert b.entry_fee == pytest.approx(0.15)
    np.testing.assert_allclose(r.position[:, 0], [-2, -2, -1.5, -1.5])
    assert r.final_equity == pytest.approx(10_000 - 0.2 - 0.045 + 0.5 * 10 + 1.5 * 10)


def test_partial_exit_releases_margin_under_leverage() -> None:
    # One shared account at 2x: A takes all the collateral; halving A frees half of its
    # margin, which B's same-bar entry (exits run before entries) then uses.
    candles = {"A": flat([100, 100, 100]), "B": flat([50, 50, 50])}
    config = BacktestConfig(
        initial_cash=1_000, leverage=2, fee_taker=0.001, fill=FillConvention.SIGNAL_CLOSE,
        margin_mode=MarginMode.CROSS,
    )  # fmt: skip

    def run(fraction: float) -> BacktestResult:
        signals = {
            "A": Signals(entry_long=flags(3, 0), exit_long=flags(3, 1), exit_fraction=fraction),
            "B": Signals(entry_long=flags(3, 1)),
        }
        return run_portfolio(candles, signals, config)

    r = run(0.5)
    a_qty = 1_000 / (100 * (0.5 + 0.001))
    balance = 1_000 - a_qty * 100 * 0.001 - a_qty / 2 * 100 * 0.001
    free = balance - a_qty / 2 * 100 / 2  # the remaining margin stays locked
    b_qty = free / (50 * (0.5 + 0.001))
    entries = [o for o in r.orders if o.reason == "entry"]
    assert [o.symbol for o in entries] == ["A", "B"]
    assert entries[0].quantity == pytest.approx(a_qty)
    assert entries[1].quantity == pytest.approx(b_qty)
    assert entries[1].status == "filled"
    # A full exit frees everything; a 10% exit frees a tenth.
    full = [o for o in run(1.0).orders if o.reason == "entry"][1].quantity
    tenth = [o for o in run(0.1).orders if o.reason == "entry"][1].quantity
    assert full > entries[1].quantity > tenth > 0
    for res in (r, run(0.1)):
        check_equity_identity(res)


def test_remainder_below_min_size_closes_everything() -> None:
    candles = flat([100, 100, 110, 110])
    config = BacktestConfig(fill=FillConvention.SIGNAL_CLOSE, min_quantity=0.4, quantity_step=0.1)
    r = run_backtest(candles, one_btc(4, 0, (2,), 0.7), config)
    (t,) = r.trades
    assert t.quantity == 1.0
    assert t.exit_bar == 2
    assert not t.is_open
    # 0.25 rounds down to the step (0.2), below the minimum: the exit does nothing.
    r = run_backtest(candles, one_btc(4, 0, (2,), 0.25), config)
    (t,) = r.trades
    assert t.is_open
    assert t.quantity == 1.0
    # 0.45 rounds to 0.4: allowed, the remainder 0.6 stays open.
    r = run_backtest(candles, one_btc(4, 0, (2,), 0.45), config)
    assert [t.quantity for t in r.trades] == pytest.approx([0.4, 0.6])


def test_stop_loss_hits_the_remainder() -> None:
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (105, 105, 105, 105), (100, 101, 85, 88)]
    sig = one_btc(4, 0, (1,), 0.5, stop_loss=0.1)
    r = run_backtest(make_candles(rows), sig, AT_CLOSE)
    a, b = r.trades
    assert a.reason is ExitReason.SIGNAL
    assert a.quantity == 0.5
    assert a.exit_bar == 1
    assert b.reason is ExitReason.STOP
    assert b.quantity == 0.5
    assert b.exit_bar == 3
    assert b.exit_price == pytest.approx(90)
    assert b.entry_fee == pytest.approx(0.05)
    assert b.pnl == pytest.approx(0.5 * -10 - 0.05 - 0.5 * 90 * 0.001)


def test_reversal_and_full_fractions_close_everything() -> None:
    candles = flat([100, 100, 110, 110])
    sig = Signals(
        entry_long=flags(4, 0), exit_long=flags(4, 2), entry_short=flags(4, 2),
        exit_fraction=0.5,
    )  # fmt: skip
    r = run_backtest(candles, sig, AT_CLOSE)
    assert [t.side for t in r.trades] == ["long", "short"]
    assert r.trades[0].exit_bar == 2
    assert r.trades[1].entry_bar == 2
    r = run_backtest(candles, one_btc(4, 0, (2,), 1.0 - 1e-13), AT_CLOSE)
    assert len(r.trades) == 1
    assert not r.trades[0].is_open


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5])
def test_fractions_outside_the_range_are_rejected(bad: float) -> None:
    with pytest.raises(BacktestInputError):
        run_backtest(flat([100, 100]), one_btc(2, 0, (1,), bad), AT_CLOSE)


# --- properties -------------------------------------------------------------------------------


def check_equity_identity(r: BacktestResult) -> None:
    """equity == cash + marked positions at every close (no funding)."""
    n = r.timestamp.shape[0]
    fills, trades = r.fill_table, r.trade_table
    cash = np.full(n, float(r.initial_equity))
    filled = fills[fills[:, k.FILL_STATUS] == k.STATUS_FILLED]
    for f in filled:
        cash[int(f[k.FILL_BAR]) :] -= f[k.FILL_FEE]
    for t in trades[trades[:, k.TRADE_IS_OPEN] == 0]:
        gross = (
            t[k.TRADE_DIRECTION] * t[k.TRADE_QTY] * (t[k.TRADE_EXIT_PRICE] - t[k.TRADE_ENTRY_PRICE])
        )
        cash[int(t[k.TRADE_EXIT_BAR]) :] += gross
    marked = np.zeros(n)
    for col, s in enumerate(r.symbols):
        state = r.state(s)
        close = r.candles[s].close
        held = state.direction != 0
        marked[held] += (
            state.direction[held] * state.quantity[held] * (close[held] - state.entry_price[held])
        )
        np.testing.assert_allclose(r.position[:, col], state.direction * state.quantity, atol=1e-9)
    np.testing.assert_allclose(r.equity, cash + marked, rtol=1e-10, atol=1e-7)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Candles, Signals, BacktestConfig]:
    n = draw(st.integers(5, 40))
    steps = draw(st.lists(st.floats(-0.05, 0.05), min_size=n, max_size=n))
    close = 100 * np.exp(np.cumsum(steps))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    candles = Candles.from_arrays(
        T0 + 3_600_000 * np.arange(n), open_, high, low, close, np.ones(n)
    )

    def mask(p: float) -> np.ndarray:
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))) & (
            np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))) < p
        )

    frac = np.array(
        draw(st.lists(st.sampled_from([0.1, 0.25, 0.5, 0.75, 1.0]), min_size=n, max_size=n))
    )
    signals = Signals(
        entry_long=mask(0.6), exit_long=mask(0.9), entry_short=mask(0.3), exit_short=mask(0.9),
        exit_fraction=frac, size=draw(st.sampled_from([0.5, 1.0])),
        stop_loss=draw(st.sampled_from([None, 0.03])),
        trailing_stop=draw(st.sampled_from([None, 0.05])),
    )  # fmt: skip
    config = BacktestConfig(
        fee_taker=0.001, slippage=draw(st.sampled_from([0.0, 0.001])),
        fill=draw(st.sampled_from(list(FillConvention))),
        leverage=draw(st.sampled_from([1.0, 3.0])),
        quantity_step=draw(st.sampled_from([0.0, 0.001])),
        min_quantity=draw(st.sampled_from([0.0, 0.01])),
    )  # fmt: skip
    return candles, signals, config


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_equity_is_cash_plus_marked_positions(
    case: tuple[Candles, Signals, BacktestConfig],
) -> None:
    candles, signals, config = case
    check_equity_identity(run_backtest(candles, signals, config))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_closed_quantities_add_up_to_the_opened(
    case: tuple[Candles, Signals, BacktestConfig],
) -> None:
    candles, signals, config = case
    r = run_backtest(candles, signals, config)
    fills = r.fill_table
    opened = fills[
        (fills[:, k.FILL_REASON] == k.REASON_ENTRY) & (fills[:, k.FILL_STATUS] == k.STATUS_FILLED)
    ]
    trades = r.trade_table
    assert len(opened) == len(np.unique(trades[:, k.TRADE_ENTRY_BAR]))
    for f in opened:
        parts = trades[trades[:, k.TRADE_ENTRY_BAR] == f[k.FILL_BAR]]
        assert parts[:, k.TRADE_QTY].sum() == pytest.approx(f[k.FILL_QTY], rel=1e-12)
        assert (parts[:, k.TRADE_QTY] > 0).all()
        assert parts[:, k.TRADE_IS_OPEN].sum() <= 1
        assert parts[:, k.TRADE_ENTRY_FEE].sum() == pytest.approx(f[k.FILL_FEE], rel=1e-9)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_full_fractions_are_byte_identical(case: tuple[Candles, Signals, BacktestConfig]) -> None:
    candles, signals, config = case
    base = Signals(**{**signals.__dict__, "exit_fraction": None})
    today = run_backtest(candles, base, config)
    for frac in (1.0, np.ones(len(candles.close)), np.full(len(candles.close), np.nan)):
        same = run_backtest(candles, Signals(**{**signals.__dict__, "exit_fraction": frac}), config)
        assert same.equity.tobytes() == today.equity.tobytes()
        assert same.fill_table.tobytes() == today.fill_table.tobytes()
        assert same.trade_table.tobytes() == today.trade_table.tobytes()
        assert same.position.tobytes() == today.position.tobytes()


# --- the DSL through the service --------------------------------------------------------------

BTC = "BINANCE:BTC/USDT"
RSI_HALF = f"""r = rsi(close, 14)
emit_signal(r < 30, entry("{BTC}", "LONG", Weight(1)))
emit_signal(r > 70, exit("{BTC}", 0.5))
"""


@pytest.fixture(scope="module")
def source() -> MarketDataStore:
    return open_market_data(None)


def test_dsl_partial_exit_runs_through_the_service(source: MarketDataStore) -> None:
    req = BacktestRequest(RSI_HALF, (BTC,), date(2024, 1, 1), date(2024, 6, 30))
    out = run_backtest_request(req, source)
    r = out.result
    trades = r.trades
    entries = [o for o in r.orders if o.reason == "entry" and o.status == "filled"]
    exits = [o for o in r.orders if o.reason != "entry" and o.status == "filled"]
    assert len(entries) == len({t.entry_bar for t in trades}) >= 1
    # Every exit fill is one closed trade; at most the last position is still open.
    assert len(trades) == len(exits) + sum(t.is_open for t in trades)
    assert len(trades) >= len(entries) + 2  # positions were closed in parts
    for e in entries:
        parts = [t for t in trades if t.entry_time == e.time]
        assert sum(t.quantity for t in parts) == pytest.approx(e.quantity, rel=1e-12)
        closed = [t.quantity for t in parts if not t.is_open]
        # Each signal exit halves what is left.
        np.testing.assert_allclose(closed, e.quantity * 0.5 ** np.arange(1, len(closed) + 1))
    assert all(t.reason is ExitReason.SIGNAL for t in trades if not t.is_open)
    full = run_backtest_request(
        BacktestRequest(RSI_HALF.replace(", 0.5)", ")"), (BTC,), req.start_date, req.end_date),
        source,
    ).result
    assert len({t.entry_bar for t in full.trades}) == len(full.trades)  # one trade each
