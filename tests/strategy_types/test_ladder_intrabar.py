"""Lower-timeframe resolution in the ladder engine: a 1h bar where a DCA deal's stop and
take-profit (a grid's stop-loss and a resting sell) were both in range is settled by walking
its 1m sub-bars in time order, as the signal engine does (tradeforge/docs/backtesting.md,
"DCA and grid"). Without a lower timeframe the results are byte-identical to before."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import numpy as np
import pytest

from tradeforge.adapters.candles import open_market_data
from tradeforge.backtest import BacktestConfig, BacktestInputError, ExitReason
from tradeforge.backtest.ladder import (
    DcaSettings,
    GridSettings,
    ladder_intrabar,
    run_dca,
    run_grid,
)
from tradeforge.backtest.results import Ambiguity, BacktestResult
from tradeforge.core.candles import Candles
from tradeforge.services.backtests import BacktestRequest, run_backtest_request
from tradeforge.services.strategy_types import DcaParams, GridParams, generate_script

BTC = "BINANCE:BTC/USDT"
HOUR, MINUTE = 3_600_000, 60_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
CONFIG = BacktestConfig(initial_cash=10_000.0, fee_maker=0.0, fee_taker=0.0, slippage=0.0)


def bars(*rows: tuple[float, float, float, float]) -> Candles:
    data = np.array(rows, dtype=np.float64)
    ts = np.arange(len(rows), dtype=np.int64) * HOUR + T0
    return Candles.from_arrays(
        ts, data[:, 0], data[:, 1], data[:, 2], data[:, 3], np.ones(len(rows))
    )


def minutes(bar: int, path: list[tuple[int, float, float, float, float]]) -> Candles:
    """1m candles inside hour ``bar``: ``(minute, open, high, low, close)`` rows."""
    ts = [T0 + bar * HOUR + m * MINUTE for m, *_ in path]
    cols = np.array([row[1:] for row in path], dtype=np.float64)
    return Candles.from_arrays(ts, cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3], np.ones(len(ts)))


def flat_hour(bar: int, price: float) -> list[tuple[int, float, float, float, float]]:
    return [(m, price, price, price, price) for m in range(60)]


def hour_path(bar: int, *legs: tuple[int, float]) -> Candles:
    """A full hour of 1m candles moving in straight lines through ``(minute, price)``."""
    points = np.interp(np.arange(61), [m for m, _ in legs], [p for _, p in legs])
    rows = [
        (m, points[m], max(points[m], points[m + 1]), min(points[m], points[m + 1]), points[m + 1])
        for m in range(60)
    ]
    return minutes(bar, rows)


def join(*parts: Candles) -> Candles:
    return Candles.from_arrays(
        np.concatenate([p.timestamp for p in parts]),
        np.concatenate([p.open for p in parts]),
        np.concatenate([p.high for p in parts]),
        np.concatenate([p.low for p in parts]),
        np.concatenate([p.close for p in parts]),
        np.concatenate([p.volume for p in parts]),
    )


def dca(**overrides: Any) -> DcaSettings:
    values: dict[str, Any] = {
        "direction": 1,
        "base_order": 100.0,
        "safety_order": 100.0,
        "safety_orders_count": 0,
        "price_deviation": 0.01,
        "step_scale": 1.0,
        "volume_scale": 1.0,
        "take_profit": 0.02,
        "stop_loss": 0.02,
    }
    values.update(overrides)
    return DcaSettings(**values)


# Bar 0 opens the deal at 100 (take-profit 102, stop 98); bar 1 reaches both, 97 to 103.
DEAL = bars((100, 100.5, 99.5, 100), (100, 103, 97, 100), (100, 100.5, 99.5, 100))
TP_FIRST = join(
    minutes(0, flat_hour(0, 100)), hour_path(1, (0, 100), (20, 103), (40, 97), (60, 100))
)
SL_FIRST = join(
    minutes(0, flat_hour(0, 100)), hour_path(1, (0, 100), (20, 97), (40, 103), (60, 100))
)


def closed(result: BacktestResult) -> list[Any]:
    return [t for t in result.trades if not t.is_open]


def test_take_profit_first_in_the_minutes_exits_at_the_take_profit() -> None:
    result = run_dca(DEAL, dca(), CONFIG, intrabar=TP_FIRST)
    (deal, *_) = closed(result)
    assert deal.reason is ExitReason.TAKE_PROFIT
    assert deal.exit_price == pytest.approx(102.0)
    assert deal.exit_time == T0 + HOUR
    assert deal.ambiguity is Ambiguity.RESOLVED
    assert not deal.is_ambiguous
    assert result.stats.ambiguous_bars == 1
    assert result.stats.intrabar_resolved_bars == 1
    exits = [o for o in result.orders if o.side == "sell"]
    assert exits[0].order_type == "limit"
    assert exits[0].price == pytest.approx(102.0)


def test_stop_first_in_the_minutes_exits_at_the_stop() -> None:
    result = run_dca(DEAL, dca(), CONFIG, intrabar=SL_FIRST)
    (deal, *_) = closed(result)
    assert deal.reason is ExitReason.STOP
    assert deal.exit_price == pytest.approx(98.0)
    assert deal.ambiguity is Ambiguity.RESOLVED
    assert result.stats.intrabar_resolved_bars == 1


def test_without_a_lower_timeframe_the_worst_case_is_assumed() -> None:
    result = run_dca(DEAL, dca(), CONFIG)
    (deal, *_) = closed(result)
    assert deal.reason is ExitReason.STOP
    assert deal.exit_price == pytest.approx(98.0)
    assert deal.ambiguity is Ambiguity.WORST_CASE
    assert deal.is_ambiguous
    assert result.stats.ambiguous_bars == 1
    assert result.stats.intrabar_resolved_bars == 0


def test_missing_minutes_fall_back_to_the_worst_case_tagged_unresolved() -> None:
    only_bar_0 = minutes(0, flat_hour(0, 100))
    result = run_dca(DEAL, dca(), CONFIG, intrabar=only_bar_0)
    (deal, *_) = closed(result)
    assert deal.reason is ExitReason.STOP
    assert deal.exit_price == pytest.approx(98.0)
    assert deal.ambiguity is Ambiguity.UNRESOLVED
    assert deal.is_ambiguous
    assert result.stats.ambiguous_bars == 1
    assert result.stats.intrabar_resolved_bars == 0


def test_a_hole_before_the_deciding_minute_leaves_the_bar_unresolved() -> None:
    path = hour_path(1, (0, 100), (20, 103), (40, 97), (60, 100))
    keep = np.r_[0:5, 6:60]  # minute 5 is missing: the order after it is unknown
    holed = Candles.from_arrays(
        path.timestamp[keep], path.open[keep], path.high[keep], path.low[keep],
        path.close[keep], path.volume[keep],
    )  # fmt: skip
    result = run_dca(DEAL, dca(), CONFIG, intrabar=join(minutes(0, flat_hour(0, 100)), holed))
    assert closed(result)[0].ambiguity is Ambiguity.UNRESOLVED
    assert closed(result)[0].reason is ExitReason.STOP


def test_a_minute_that_touches_both_is_sub_bar_ambiguous() -> None:
    both = minutes(1, [(0, 100, 100.5, 99.5, 100), (1, 100, 103, 97, 100)])
    result = run_dca(DEAL, dca(), CONFIG, intrabar=join(minutes(0, flat_hour(0, 100)), both))
    (deal, *_) = closed(result)
    assert deal.reason is ExitReason.STOP
    assert deal.ambiguity is Ambiguity.SUB_BAR_AMBIGUOUS
    assert deal.is_ambiguous
    assert result.stats.intrabar_resolved_bars == 0


def test_a_short_deal_is_mirrored() -> None:
    # Short at 100: take-profit 98 below, stop 102 above; the minutes fall to 97 first.
    result = run_dca(DEAL, dca(direction=-1), CONFIG, intrabar=SL_FIRST)
    (deal, *_) = closed(result)
    assert deal.side == "short"
    assert deal.reason is ExitReason.TAKE_PROFIT
    assert deal.exit_price == pytest.approx(98.0)
    assert deal.ambiguity is Ambiguity.RESOLVED


def test_a_stop_gapped_through_inside_the_bar_fills_at_that_minutes_open() -> None:
    gap = minutes(
        1,
        [(0, 100, 100.4, 99.8, 100), (1, 100, 103, 100, 101), (2, 96.5, 97, 96.5, 97)]
        + [(m, 97, 98, 97, 98) for m in range(3, 60)],
    )
    bar = bars((100, 100.5, 99.5, 100), (100, 103, 96.5, 98), (98, 98.5, 97.5, 98))
    # The take-profit printed first (minute 1), so the gap does not matter here ...
    first = closed(run_dca(bar, dca(), CONFIG, intrabar=join(minutes(0, flat_hour(0, 100)), gap)))
    assert first[0].reason is ExitReason.TAKE_PROFIT
    # ... with a take-profit out of reach in minute 1, the stop fills at minute 2's open.
    late = closed(
        run_dca(
            bars((100, 100.5, 99.5, 100), (100, 103.5, 96.5, 98), (98, 98.5, 97.5, 98)),
            dca(take_profit=0.034),
            CONFIG,
            intrabar=join(
                minutes(0, flat_hour(0, 100)),
                minutes(
                    1,
                    [
                        (0, 100, 100.4, 99.8, 100),
                        (1, 100, 101, 100, 101),
                        (2, 96.5, 97, 96.5, 97),
                        (3, 97, 103.5, 97, 103),
                    ],
                ),
            ),
        )
    )
    assert late[0].reason is ExitReason.STOP
    assert late[0].exit_price == pytest.approx(96.5)
    assert late[0].ambiguity is Ambiguity.RESOLVED


def test_safety_order_against_take_profit_is_settled_too() -> None:
    # No stop: the safety order at 99 and the take-profit at 102 are both in bar 1. Worst
    # case: the safety order fills and the re-placed take-profit waits for the next bar.
    settings = dca(safety_orders_count=1, stop_loss=None)
    worst = run_dca(DEAL, settings, CONFIG)
    assert sum(o.reason is ExitReason.SAFETY_ORDER for o in worst.orders) == 1
    assert worst.trades[0].ambiguity is Ambiguity.WORST_CASE
    # The minutes say the take-profit came first: the deal closes before the safety order.
    resolved = run_dca(DEAL, settings, CONFIG, intrabar=TP_FIRST)
    assert not any(o.reason is ExitReason.SAFETY_ORDER for o in resolved.orders if o.bar == 1)
    deal = resolved.trades[0]
    assert deal.reason is ExitReason.TAKE_PROFIT
    assert deal.exit_price == pytest.approx(102.0)
    assert deal.ambiguity is Ambiguity.RESOLVED
    # Down first: the safety order fills (at 99, the deal averages down), tagged resolved.
    down = run_dca(DEAL, settings, CONFIG, intrabar=SL_FIRST)
    fills = [o for o in down.orders if o.reason is ExitReason.SAFETY_ORDER]
    assert len(fills) == 1
    assert fills[0].price == pytest.approx(99.0)
    assert fills[0].bar == 1
    assert down.trades[0].ambiguity is Ambiguity.RESOLVED


# Grid 90 / 95 / 100 / 105 / 110 with a stop-loss at 85, started at 101: bar 0 buys the lot
# of cell [100, 105] at 100; its sell at 105 rests from bar 1, which trades 84 to 106.
GRID = GridSettings(90.0, 110.0, 5, investment=3_000.0, stop_loss_price=85.0)
GRID_BARS = bars((101, 101.5, 99.5, 100.5), (100.5, 106, 84, 90), (90, 91, 89, 90))


def test_grid_sell_first_in_the_minutes_fills_before_the_stop() -> None:
    up_first = join(
        minutes(0, flat_hour(0, 100.5)), hour_path(1, (0, 100.5), (15, 106), (45, 84), (60, 90))
    )
    result = run_grid(GRID_BARS, GRID, CONFIG, intrabar=up_first)
    by_reason = Counter(t.reason for t in result.trades)
    assert by_reason == {ExitReason.TAKE_PROFIT: 1, ExitReason.STOP: 2}
    sold = next(t for t in result.trades if t.reason is ExitReason.TAKE_PROFIT)
    assert (sold.entry_price, sold.exit_price) == (100.0, 105.0)
    stopped = [t for t in result.trades if t.reason is ExitReason.STOP]
    assert sorted(t.entry_price for t in stopped) == [90.0, 95.0]
    assert all(t.exit_price == 85.0 for t in stopped)
    assert {t.ambiguity for t in result.trades} == {Ambiguity.RESOLVED}
    assert result.stats.intrabar_resolved_bars == 3


def test_grid_stop_first_in_the_minutes_sells_every_lot_at_the_stop() -> None:
    down_first = join(
        minutes(0, flat_hour(0, 100.5)), hour_path(1, (0, 100.5), (15, 84), (45, 106), (60, 90))
    )
    result = run_grid(GRID_BARS, GRID, CONFIG, intrabar=down_first)
    assert [t.reason for t in result.trades] == [ExitReason.STOP] * 3
    assert all(t.exit_price == 85.0 for t in result.trades)
    assert {t.ambiguity for t in result.trades} == {Ambiguity.RESOLVED}
    worst = run_grid(GRID_BARS, GRID, CONFIG)
    assert [t.reason for t in worst.trades] == [ExitReason.STOP] * 3
    assert {t.ambiguity for t in worst.trades} == {Ambiguity.WORST_CASE}
    missing = run_grid(GRID_BARS, GRID, CONFIG, intrabar=minutes(0, flat_hour(0, 100.5)))
    assert {t.ambiguity for t in missing.trades} == {Ambiguity.UNRESOLVED}
    assert np.array_equal(missing.equity, worst.equity)


def test_intrabar_must_divide_the_bars() -> None:
    odd = Candles.from_arrays(
        T0 + np.arange(10, dtype=np.int64) * 7 * MINUTE, *(np.full(10, 100.0),) * 4, np.ones(10)
    )
    with pytest.raises(BacktestInputError, match="divide"):
        run_dca(DEAL, dca(), CONFIG, intrabar=odd)


def test_layout_matches_the_signal_engine_rule() -> None:
    sub = join(minutes(0, flat_hour(0, 100)), minutes(1, [(0, 1, 1, 1, 1), (2, 1, 1, 1, 1)]))
    layout = ladder_intrabar(DEAL.timestamp, HOUR, sub)
    assert layout.start.tolist() == [0, 60, 62]
    assert layout.end.tolist() == [60, 62, 62]
    assert layout.ok[:61].all()
    assert not layout.ok[61]


# -- bundled real data: BINANCE BTC/USDT 1h with the 1m that overlaps it -------------------

START, END = 1_747_699_200_000, 1_755_475_200_000  # 2025-05-20 .. 2025-08-18
REAL = BacktestConfig(initial_cash=10_000.0, fee_maker=0.0002, fee_taker=0.0005, slippage=0.0005)


@pytest.fixture(scope="module")
def btc() -> tuple[Candles, Candles]:
    source = open_market_data(None)
    hours = source.load("binance", "BTC/USDT", "1h", START, END)
    mins = source.load("binance", "BTC/USDT", "1m", START, END)
    assert len(hours) == 2160
    assert len(mins) == 129_600
    return hours, mins


def test_real_dca_settles_every_ambiguous_deal(btc: tuple[Candles, Candles]) -> None:
    hours, mins = btc
    settings = dca(safety_orders_count=2, price_deviation=0.003, take_profit=0.004, stop_loss=0.004)
    worst = run_dca(hours, settings, REAL, symbol="BTC/USDT")
    real = run_dca(hours, settings, REAL, symbol="BTC/USDT", intrabar=mins)
    worst_tags = Counter(t.ambiguity for t in worst.trades)
    tags = Counter(t.ambiguity for t in real.trades)
    assert worst_tags[Ambiguity.WORST_CASE] >= 20
    assert set(worst_tags) == {Ambiguity.NONE, Ambiguity.WORST_CASE}
    # Every ambiguous bar of the window has its minutes: nothing is left unresolved.
    assert tags[Ambiguity.RESOLVED] >= worst_tags[Ambiguity.WORST_CASE]
    assert Ambiguity.WORST_CASE not in tags
    assert Ambiguity.UNRESOLVED not in tags
    assert real.stats.intrabar_resolved_bars == tags[Ambiguity.RESOLVED]
    assert real.stats.ambiguous_bars == len(real.trades) - tags[Ambiguity.NONE]
    # Each take-profit the minutes settled printed before the deal's stop in that hour.
    checked = 0
    for t in real.trades:
        if t.ambiguity is Ambiguity.RESOLVED and t.reason is ExitReason.TAKE_PROFIT:
            i = int(np.searchsorted(mins.timestamp, t.exit_time))
            high, low = mins.high[i : i + 60], mins.low[i : i + 60]
            tp_minute = int(np.argmax(high >= t.exit_price - 1e-9))
            assert high[tp_minute] >= t.exit_price - 1e-9
            stop_hits = np.flatnonzero(low <= t.entry_price * (1 - 0.004))
            assert stop_hits.size == 0 or tp_minute < stop_hits[0]
            checked += 1
    assert checked >= 5
    # The worst case is never better than what the minutes show.
    assert real.equity[-1] >= worst.equity[-1]
    assert real.fingerprint.digest != worst.fingerprint.digest


def test_real_grid_sells_before_the_stop(btc: tuple[Candles, Candles]) -> None:
    hours, mins = btc
    grid = GridSettings(
        100_000, 112_000, 25, investment=5_000, trade_to_fill=True, stop_loss_price=99_700
    )
    worst = run_grid(hours, grid, REAL, symbol="BTC/USDT")
    real = run_grid(hours, grid, REAL, symbol="BTC/USDT", intrabar=mins)
    stop_bar = max(t.exit_time for t in worst.trades if t.reason is ExitReason.STOP)
    assert {t.ambiguity for t in worst.trades if t.exit_time == stop_bar} == {Ambiguity.WORST_CASE}
    settled = [t for t in real.trades if t.exit_time == stop_bar]
    assert {t.ambiguity for t in settled} == {Ambiguity.RESOLVED}
    # The minutes show a sell line traded before the stop: one lot more took profit.
    sells = sum(t.reason is ExitReason.TAKE_PROFIT for t in settled)
    assert sells >= 1
    levels = np.linspace(100_000, 112_000, 25)
    for t in settled:
        if t.reason is ExitReason.TAKE_PROFIT:
            assert np.isclose(levels, t.exit_price).any()
    assert real.equity[-1] > worst.equity[-1]


@pytest.mark.parametrize("direction", [1, -1])
def test_intrabar_changes_nothing_before_the_first_ambiguous_bar(
    btc: tuple[Candles, Candles], direction: int
) -> None:
    hours, mins = btc
    settings = dca(direction=direction, safety_orders_count=3, price_deviation=0.005,
                   take_profit=0.006, stop_loss=0.006)  # fmt: skip
    worst = run_dca(hours, settings, REAL)
    real = run_dca(hours, settings, REAL, intrabar=mins)
    assert set(np.unique(worst.trade_table[:, 12])) <= {0.0, 1.0}  # none / worst case
    first = min(t.exit_time for t in worst.trades if t.is_ambiguous)
    bar = int(np.searchsorted(hours.timestamp, first))
    assert worst.equity[:bar].tobytes() == real.equity[:bar].tobytes()
    before = worst.fill_table[worst.fill_table[:, 0] < bar]
    assert before.tobytes() == real.fill_table[: before.shape[0]].tobytes()


# -- the service: a lower timeframe is loaded for every dca and for a grid stop_loss_price


def _service_run(kind: str, params: dict[str, Any]) -> BacktestResult:
    model = DcaParams if kind == "dca" else GridParams
    generated = generate_script(kind, model.model_validate(params), (BTC,), "1h")
    request = BacktestRequest(
        strategy_type=kind,
        strategy_params=generated.params,
        script=generated.script,
        universe=(BTC,),
        start_date=date(2025, 6, 1),
        end_date=date(2025, 6, 30),
    )
    return run_backtest_request(request, open_market_data(None)).result


DCA_PARAMS = {
    "base_order": 100,
    "safety_order": 100,
    "safety_orders_count": 2,
    "price_deviation_pct": 0.3,
    "take_profit_pct": 0.4,
}


def test_service_loads_the_minutes_for_every_dca() -> None:
    with_stop = _service_run("dca", dict(DCA_PARAMS, stop_loss_pct=0.4))
    assert set(with_stop.intrabar) == {BTC}
    tags = Counter(t.ambiguity for t in with_stop.trades)
    assert tags[Ambiguity.RESOLVED] > 0
    assert Ambiguity.WORST_CASE not in tags
    assert with_stop.stats.intrabar_resolved_bars == tags[Ambiguity.RESOLVED]
    # Without a stop, a safety order and the take-profit can still share a bar.
    without = _service_run("dca", DCA_PARAMS)
    assert set(without.intrabar) == {BTC}
    assert Ambiguity.WORST_CASE not in {t.ambiguity for t in without.trades}


def test_service_loads_the_minutes_for_a_grid_stop_loss_price() -> None:
    grid = {"lower_price": 100_000, "upper_price": 112_000, "grid_count": 25, "investment": 5000}
    assert _service_run("grid", grid).intrabar == {}
    assert set(_service_run("grid", dict(grid, stop_loss_price=99_700)).intrabar) == {BTC}
