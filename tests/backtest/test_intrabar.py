"""Same-bar stop-loss / take-profit settled with a lower timeframe (``intrabar``).

Hand scenarios on one ambiguous 1h bar whose 1m sub-bars are written out, then the rules'
edges (holes, gaps, trailing stops, shorts, portfolios), then real BTC/USDT 1h with the
bundled 1m candles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import talib
from hypothesis import given
from hypothesis import strategies as st

from shared_paths import BUNDLED
from tradeforge.backtest import (
    Ambiguity,
    BacktestConfig,
    BacktestInputError,
    ExitReason,
    MarginMode,
    Signals,
    SizeType,
    run_backtest,
    run_portfolio,
)
from tradeforge.backtest import kernels as k
from tradeforge.core.candles import Candles

from ._helpers import HOUR, T0, flags, make_candles
from .test_properties import FAST, markets

MINUTE = 60_000
REL = 1e-12
NO_FEES = BacktestConfig(initial_cash=1000.0, fee_taker=0.0, fee_maker=0.0)

# Entry at bar 1's open (100); stop 95 and take-profit 105; bar 2 reaches both.
AMBIGUOUS_BAR = [
    (100, 100, 100, 100),
    (100, 101, 99, 100),
    (100, 106, 94, 100),
    (100, 100, 100, 100),
]
SL_TP = Signals(entry_long=flags(4, 0), stop_loss=0.05, take_profit=0.05)


def minutes(
    path: Sequence[tuple[float, float, float, float]], bar: int = 2, skip: Sequence[int] = ()
) -> Candles:
    """1m candles for hourly bar ``bar``: one (open, high, low, close) row per minute from
    the bar's open; the rest of the hour repeats the last close. ``skip`` drops minutes."""
    rows = list(path)
    last = rows[-1][3]
    rows += [(last, last, last, last)] * (60 - len(rows))
    keep = [m for m in range(60) if m not in set(skip)]
    arr = np.asarray([rows[m] for m in keep], dtype=np.float64)
    ts = T0 + bar * HOUR + MINUTE * np.asarray(keep, dtype=np.int64)
    return Candles.from_arrays(ts, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], np.ones(len(keep)))


UP_FIRST = [(100, 102, 99, 102), (102, 106, 101, 105.5), (105.5, 105.5, 94, 96)]
DOWN_FIRST = [(100, 101, 98, 98), (98, 98, 94, 95), (95, 106, 95, 104)]


def test_tp_first_in_the_minutes_exits_at_take_profit_tagged_resolved() -> None:
    # Act
    result = run_backtest(make_candles(AMBIGUOUS_BAR), SL_TP, NO_FEES, intrabar=minutes(UP_FIRST))
    # Assert
    (trade,) = result.trades
    assert trade.reason is ExitReason.TAKE_PROFIT
    assert trade.exit_price == pytest.approx(105.0, rel=REL)
    assert trade.exit_bar == 2
    assert trade.ambiguity is Ambiguity.RESOLVED
    assert trade.is_intrabar_resolved
    assert not trade.is_ambiguous
    assert result.final_equity == pytest.approx(1050.0, rel=REL)
    assert result.orders[-1].order_type == "limit"
    assert (result.stats.ambiguous_bars, result.stats.intrabar_resolved_bars) == (1, 1)


def test_sl_first_in_the_minutes_exits_at_stop_tagged_resolved() -> None:
    result = run_backtest(make_candles(AMBIGUOUS_BAR), SL_TP, NO_FEES, intrabar=minutes(DOWN_FIRST))
    (trade,) = result.trades
    assert trade.reason is ExitReason.STOP
    assert trade.exit_price == pytest.approx(95.0, rel=REL)
    assert trade.ambiguity is Ambiguity.RESOLVED
    assert not trade.is_ambiguous
    assert (result.stats.ambiguous_bars, result.stats.intrabar_resolved_bars) == (1, 1)


def test_a_minute_touching_both_levels_assumes_the_stop_and_stays_ambiguous() -> None:
    path = [(100, 102, 99, 101), (101, 106, 94, 100)]
    result = run_backtest(make_candles(AMBIGUOUS_BAR), SL_TP, NO_FEES, intrabar=minutes(path))
    (trade,) = result.trades
    assert trade.reason is ExitReason.STOP
    assert trade.exit_price == pytest.approx(95.0, rel=REL)
    assert trade.ambiguity is Ambiguity.SUB_BAR_AMBIGUOUS
    assert trade.is_ambiguous
    assert (result.stats.ambiguous_bars, result.stats.intrabar_resolved_bars) == (1, 0)


def test_no_minutes_for_the_ambiguous_bar_assumes_the_stop_tagged_unresolved() -> None:
    # Minutes exist, but only for bar 1: nothing inside bar 2.
    sub = minutes([(100, 101, 99, 100)], bar=1)
    result = run_backtest(make_candles(AMBIGUOUS_BAR), SL_TP, NO_FEES, intrabar=sub)
    (trade,) = result.trades
    assert trade.reason is ExitReason.STOP
    assert trade.exit_price == pytest.approx(95.0, rel=REL)
    assert trade.ambiguity is Ambiguity.UNRESOLVED
    assert trade.is_ambiguous


def test_hole_before_the_deciding_minute_is_unresolved() -> None:
    # Minute 1 (the one reaching 106) is missing: the order of events is unknown.
    sub = minutes(UP_FIRST, skip=[1])
    result = run_backtest(make_candles(AMBIGUOUS_BAR), SL_TP, NO_FEES, intrabar=sub)
    (trade,) = result.trades
    assert trade.reason is ExitReason.STOP
    assert trade.ambiguity is Ambiguity.UNRESOLVED


def test_hole_after_the_deciding_minute_does_not_matter() -> None:
    sub = minutes(UP_FIRST, skip=[30, 31])
    (trade,) = run_backtest(make_candles(AMBIGUOUS_BAR), SL_TP, NO_FEES, intrabar=sub).trades
    assert trade.reason is ExitReason.TAKE_PROFIT
    assert trade.ambiguity is Ambiguity.RESOLVED


def test_without_ambiguity_the_worst_case_tag_is_unchanged() -> None:
    (trade,) = run_backtest(make_candles(AMBIGUOUS_BAR), SL_TP, NO_FEES).trades
    assert trade.ambiguity is Ambiguity.WORST_CASE
    assert trade.is_ambiguous


def test_minute_gapping_through_the_stop_fills_at_its_open_plus_slippage() -> None:
    # Minute 1 opens at 94.5, below the stop (95): a gap, filled at 94.5 less 0.1 %.
    path = [(100, 100.5, 99, 99), (94.5, 106, 94, 100)]
    config = BacktestConfig(initial_cash=1000.0, fee_taker=0.0, fee_maker=0.0, slippage=0.001)
    signals = Signals(entry_long=flags(4, 0), stop_loss=0.05, take_profit=0.05)
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (100, 106, 94, 100), (100, 100, 100, 100)]
    result = run_backtest(make_candles(rows), signals, config, intrabar=minutes(path))
    (trade,) = result.trades
    entry = 100.0 * 1.001
    assert trade.entry_price == pytest.approx(entry, rel=REL)
    assert trade.reason is ExitReason.STOP
    assert trade.exit_price == pytest.approx(94.5 * 0.999, rel=REL)
    assert trade.ambiguity is Ambiguity.RESOLVED


def test_minute_gapping_through_the_take_profit_fills_at_its_open() -> None:
    path = [(100, 101, 99.5, 101), (105.5, 106, 94, 95)]
    (trade,) = run_backtest(
        make_candles(AMBIGUOUS_BAR), SL_TP, NO_FEES, intrabar=minutes(path)
    ).trades
    assert trade.reason is ExitReason.TAKE_PROFIT
    assert trade.exit_price == pytest.approx(105.5, rel=REL)


def test_short_position_mirrors_the_rules() -> None:
    # Short at 100: stop 105, take-profit 95. The minutes fall to 94 first.
    signals = Signals(entry_short=flags(4, 0), stop_loss=0.05, take_profit=0.05)
    path = [(100, 100, 96, 96), (96, 96, 94, 94.5), (94.5, 106, 94.5, 105)]
    (trade,) = run_backtest(
        make_candles(AMBIGUOUS_BAR), signals, NO_FEES, intrabar=minutes(path)
    ).trades
    assert trade.side == "short"
    assert trade.reason is ExitReason.TAKE_PROFIT
    assert trade.exit_price == pytest.approx(95.0, rel=REL)
    assert trade.ambiguity is Ambiguity.RESOLVED


def test_trailing_stop_ratchets_with_each_minute_before_it_is_hit() -> None:
    # Trailing 3 % and take-profit 10 %: bar 2 spans 89..111. The minutes climb to 108
    # (the trail moves to 104.76), then fall through it: a trailing exit at 104.76.
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (100, 111, 89, 100), (100, 100, 100, 100)]
    signals = Signals(entry_long=flags(4, 0), trailing_stop=0.03, take_profit=0.10)
    path = [(100, 104, 99.5, 104), (104, 108, 104, 107), (107, 107, 89, 90), (90, 111, 90, 100)]
    (trade,) = run_backtest(make_candles(rows), signals, NO_FEES, intrabar=minutes(path)).trades
    assert trade.reason is ExitReason.TRAILING
    assert trade.exit_price == pytest.approx(108.0 * 0.97, rel=REL)
    assert trade.ambiguity is Ambiguity.RESOLVED
    # Without the minutes: the trail from bar 1's high (101 * 0.97) is assumed, the worse exit.
    (worst,) = run_backtest(make_candles(rows), signals, NO_FEES).trades
    assert worst.exit_price == pytest.approx(101.0 * 0.97, rel=REL)
    assert worst.ambiguity is Ambiguity.WORST_CASE


def test_minutes_of_later_bars_are_never_read() -> None:
    # Bar 3's minutes say "up"; bar 2 has none. Bar 2 stays unresolved (no look-ahead).
    sub = minutes(UP_FIRST, bar=3)
    (trade,) = run_backtest(make_candles(AMBIGUOUS_BAR), SL_TP, NO_FEES, intrabar=sub).trades
    assert trade.exit_bar == 2
    assert trade.ambiguity is Ambiguity.UNRESOLVED


@pytest.mark.parametrize("mode", list(MarginMode))
def test_portfolio_uses_each_symbols_own_minutes(mode: MarginMode) -> None:
    # Two symbols with the same bars: A's minutes say TP first, B has none.
    candles = {"A/USDT": make_candles(AMBIGUOUS_BAR), "B/USDT": make_candles(AMBIGUOUS_BAR)}
    signals = dict.fromkeys(candles, SL_TP)
    config = BacktestConfig(initial_cash=2000.0, fee_taker=0.0, fee_maker=0.0, margin_mode=mode)
    if mode is MarginMode.CROSS:
        signals = {
            s: Signals(entry_long=flags(4, 0), size=0.5, stop_loss=0.05, take_profit=0.05)
            for s in candles
        }
    result = run_portfolio(candles, signals, config, intrabar={"A/USDT": minutes(UP_FIRST)})
    by_symbol = {t.symbol: t for t in result.trades}
    assert by_symbol["A/USDT"].reason is ExitReason.TAKE_PROFIT
    assert by_symbol["A/USDT"].ambiguity is Ambiguity.RESOLVED
    assert by_symbol["B/USDT"].reason is ExitReason.STOP
    assert by_symbol["B/USDT"].ambiguity is Ambiguity.WORST_CASE
    assert (result.stats.ambiguous_bars, result.stats.intrabar_resolved_bars) == (2, 1)
    assert result.fingerprint.intrabar_sha256 is not None
    assert set(result.fingerprint.intrabar_sha256) == {"A/USDT"}


def test_intrabar_candles_are_hashed_into_the_fingerprint() -> None:
    candles = make_candles(AMBIGUOUS_BAR)
    plain = run_backtest(candles, SL_TP, NO_FEES)
    with_minutes = run_backtest(candles, SL_TP, NO_FEES, intrabar=minutes(UP_FIRST))
    other_minutes = run_backtest(candles, SL_TP, NO_FEES, intrabar=minutes(DOWN_FIRST))
    digests = {r.fingerprint.digest for r in (plain, with_minutes, other_minutes)}
    assert len(digests) == 3
    assert "intrabar_sha256" not in plain.fingerprint.to_dict()
    assert with_minutes.fingerprint.to_dict()["intrabar_sha256"].keys() == {""}


@pytest.mark.parametrize("step", [HOUR, 7 * MINUTE], ids=["same-timeframe", "does-not-divide"])
def test_intrabar_timeframe_must_divide_the_bars(step: int) -> None:
    ts = T0 + step * np.arange(3, dtype=np.int64)
    prices = np.full(3, 100.0)
    sub = Candles.from_arrays(ts, prices, prices, prices, prices, prices)
    with pytest.raises(BacktestInputError) as info:
        run_backtest(make_candles(AMBIGUOUS_BAR), SL_TP, NO_FEES, intrabar=sub)
    assert info.value.details["field"] == "intrabar"


def test_portfolio_rejects_intrabar_for_unknown_symbols() -> None:
    with pytest.raises(BacktestInputError):
        run_portfolio(
            {"A/USDT": make_candles(AMBIGUOUS_BAR)},
            {"A/USDT": SL_TP},
            NO_FEES,
            intrabar={"Z/USDT": minutes(UP_FIRST)},
        )


# --- real data: bundled BTC/USDT 1h with the bundled 1m (about 90 days overlap) -----------


def _bundled(name: str) -> Candles:
    table = pq.read_table(BUNDLED / "binance" / f"{name}.parquet")
    cols = ("timestamp", "open", "high", "low", "close", "volume")
    return Candles.from_arrays(*(table.column(c).to_numpy() for c in cols))


def test_real_btc_1h_with_bundled_1m_resolves_ambiguous_trades_and_changes_only_them() -> None:
    # Arrange: the 1h bars the 1m candles cover; RSI long/short with tight 0.3 % / 0.4 %
    # stops so that some bars reach both levels. A fixed quantity keeps trades independent.
    minute = _bundled("BTC_USDT-1m")
    hourly = _bundled("BTC_USDT-1h").slice_ms(
        int(minute.timestamp[0]), int(minute.timestamp[-1]) + MINUTE
    )
    rsi = talib.RSI(hourly.close, 14)
    signals = Signals(
        entry_long=rsi < 40,
        entry_short=rsi > 60,
        size=0.02,
        size_type=SizeType.QUANTITY,
        stop_loss=0.003,
        take_profit=0.004,
    )
    config = BacktestConfig(fee_taker=0.0005, fee_maker=0.0002, slippage=0.0005)
    # Act
    plain = run_backtest(hourly, signals, config, symbol="BTC/USDT")
    resolved = run_backtest(hourly, signals, config, symbol="BTC/USDT", intrabar=minute)
    # Assert: some ambiguous bars, all settled by the minutes (every hour has its 60)
    assert len(hourly) > 2000
    assert plain.stats.ambiguous_bars >= 10
    assert plain.stats.intrabar_resolved_bars == 0
    assert resolved.stats.ambiguous_bars == plain.stats.ambiguous_bars
    assert resolved.stats.intrabar_resolved_bars > 0
    assert len(plain.trades) == len(resolved.trades)
    changed = 0
    took_profit = 0
    for a, b in zip(plain.trades, resolved.trades, strict=True):
        assert (a.entry_bar, a.exit_bar, a.side, a.quantity) == (
            b.entry_bar,
            b.exit_bar,
            b.side,
            b.quantity,
        )
        assert a.entry_price == b.entry_price
        if a.ambiguity is Ambiguity.NONE:
            assert a == b  # untouched trades are identical, field for field
            continue
        assert a.ambiguity is Ambiguity.WORST_CASE
        assert b.ambiguity in (Ambiguity.RESOLVED, Ambiguity.SUB_BAR_AMBIGUOUS)
        bar = b.exit_bar
        assert hourly.low[bar] <= b.exit_price <= hourly.high[bar]
        if b.reason is ExitReason.TAKE_PROFIT:
            took_profit += 1
            assert b.pnl > a.pnl
        else:
            assert (b.exit_price, b.reason) == (a.exit_price, a.reason)
        changed += b.pnl != a.pnl
    assert took_profit > 0
    assert changed == took_profit
    # Equity only moves from the first bar a take-profit replaced the assumed stop.
    first = min(b.exit_bar for b in resolved.trades if b.reason is ExitReason.TAKE_PROFIT
                and b.ambiguity is Ambiguity.RESOLVED)  # fmt: skip
    assert np.array_equal(plain.equity[:first], resolved.equity[:first])
    assert resolved.final_equity > plain.final_equity
    ambiguous = plain.trade_table[:, k.TRADE_AMBIGUOUS] != 0
    assert np.array_equal(plain.trade_table[~ambiguous], resolved.trade_table[~ambiguous])


# --- properties over random markets ---------------------------------------------------------

QUARTER = 15 * MINUTE


def quarters(candles: Candles, seed: int, drop: float) -> Candles:
    """Four 15m sub-bars per bar that visit the bar's open, both extremes (in a random order)
    and its close; a share ``drop`` of them is left out (holes)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(len(candles)):
        o, h, lo, c = candles.open[i], candles.high[i], candles.low[i], candles.close[i]
        first, second = (h, lo) if rng.random() < 0.5 else (lo, h)
        points = [o, first, second, c, c]
        for q in range(4):
            a, b = points[q], points[q + 1]
            if rng.random() >= drop or (i == 0 and q < 2):  # keep the 15m step inferable
                ts = int(candles.timestamp[i]) + q * QUARTER
                rows.append((ts, a, max(a, b), min(a, b), b))
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    return Candles.from_arrays(
        arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4], np.ones(len(arr))
    )


@FAST
@given(markets(), st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.3]))
def test_with_intrabar_every_fill_stays_inside_its_bar(market: Any, seed: int, drop: float) -> None:
    candles, signals, config, funding = market
    sub = quarters(candles, seed, drop)
    result = run_backtest(candles, signals, config, funding=funding, intrabar=sub)
    for order in result.orders:
        if order.status == "filled":
            assert candles.low[order.bar] <= order.price <= candles.high[order.bar]


@FAST
@given(markets(), st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.3]))
def test_intrabar_changes_nothing_before_the_first_ambiguous_bar(
    market: Any, seed: int, drop: float
) -> None:
    # Arrange
    candles, signals, config, funding = market
    sub = quarters(candles, seed, drop)
    # Act
    plain = run_backtest(candles, signals, config, funding=funding)
    fine = run_backtest(candles, signals, config, funding=funding, intrabar=sub)
    # Assert: identical up to the first ambiguous exit bar; byte-identical without one
    tt = plain.trade_table
    ambiguous = tt[:, k.TRADE_AMBIGUOUS] != 0
    first = int(tt[ambiguous, k.TRADE_EXIT_BAR].min()) if ambiguous.any() else len(candles)
    assert fine.equity[:first].tobytes() == plain.equity[:first].tobytes()
    early = plain.fill_table[:, k.FILL_BAR] < first
    assert np.array_equal(fine.fill_table[: int(early.sum())], plain.fill_table[early])
    if not ambiguous.any():
        assert fine.equity.tobytes() == plain.equity.tobytes()
        assert fine.trade_table.tobytes() == plain.trade_table.tobytes()
        assert fine.fill_table.tobytes() == plain.fill_table.tobytes()
    else:
        # The first ambiguous bar still exits the position in that bar.
        row = int(np.flatnonzero(ambiguous)[0])
        assert fine.trade_table[row, k.TRADE_EXIT_BAR] == first
        assert fine.trade_table[row, k.TRADE_AMBIGUOUS] != k.AMBIGUITY_NONE
    codes = fine.trade_table[:, k.TRADE_AMBIGUOUS]
    assert fine.stats.ambiguous_bars == int(np.count_nonzero(codes))
    if drop == 0.0:  # complete sub-bars that visit both extremes never leave a bar unresolved
        assert not np.any(codes == k.AMBIGUITY_UNRESOLVED)
