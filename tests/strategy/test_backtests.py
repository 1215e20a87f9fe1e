"""End to end: a Signal DSL request through services.backtests on bundled real candles."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import date

import numpy as np
import pytest
import talib

from tradeforge.adapters.candles import MarketDataStore
from tradeforge.backtest import BacktestConfig, MarginMode, Signals, run_backtest
from tradeforge.core.candles import Candles
from tradeforge.core.errors import DataUnavailableError, TradeforgeError
from tradeforge.services.backtests import (
    TIMEFRAMES,
    BacktestCancelledError,
    BacktestOutcome,
    BacktestRequest,
    outcome_json,
    run_backtest_request,
)

BTC = "BINANCE:BTC/USDT"
ETH = "BINANCE:ETH/USDT"
SEED = (
    "oversold = rsi(close, 14) < 30\n"
    'emit_signal(oversold, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))'
)
RSI_30_70 = """r = rsi(close, 14)
emit_signal(r < 30, entry("BINANCE:BTC/USDT", "LONG", Weight(1)))
emit_signal(r > 70, exit("BINANCE:BTC/USDT"))
"""
PER_SYMBOL = """r = rsi(close, 14)
emit_signal(r < 30, entry(current_ticker, "LONG", Weight(0.5)))
emit_signal(r > 70, exit(current_ticker))
"""
H1 = date(2024, 1, 1), date(2024, 6, 30)


def request(
    script: str = SEED, universe: tuple[str, ...] = (BTC,), **kw: object
) -> BacktestRequest:
    return BacktestRequest(script, universe, H1[0], H1[1], **kw)  # type: ignore[arg-type]


def full_history(source: MarketDataStore, symbol: str, timeframe: str, end_ms: int) -> Candles:
    return source.load("binance", symbol, timeframe, None, end_ms)


def window(candles: Candles, req: BacktestRequest) -> tuple[Candles, int]:
    first = int(np.searchsorted(candles.timestamp, req.start_ms))
    return candles.slice_ms(req.start_ms, req.end_ms), first


@pytest.mark.parametrize("timeframe", ["1h", "4h"])
def test_seed_script_enters_at_the_next_open_after_an_rsi_below_30_close(
    source: MarketDataStore, timeframe: str
) -> None:
    req = request(timeframe=timeframe)
    out = run_backtest_request(req, source)
    full = full_history(source, "BTC/USDT", timeframe, req.end_ms)
    rsi_full = talib.RSI(full.close, 14)
    win, first = window(full, req)
    rsi = rsi_full[first:]
    trades = out.result.trades
    assert trades, "RSI(14) < 30 happens in H1 2024 on both timeframes"
    # Long-only with no exit: one position, entered at the first oversold close's next open.
    signal_bars = np.flatnonzero(rsi < 30)
    assert len(trades) == 1
    t = trades[0]
    assert t.entry_bar == signal_bars[0] + 1
    assert t.entry_time == win.timestamp[signal_bars[0]] + TIMEFRAMES[timeframe]
    expected_px = min(
        max(win.open[t.entry_bar] * (1 + req.slippage), win.low[t.entry_bar]), win.high[t.entry_bar]
    )
    assert t.entry_price == pytest.approx(expected_px, rel=1e-12)
    # Weight(0.5): half the equity committed as margin plus the entry fee.
    committed = t.quantity * t.entry_price * (1 + req.trading_fee)
    assert committed == pytest.approx(0.5 * req.initial_cash, rel=1e-9)
    assert t.is_open
    assert out.result.timestamp[0] == req.start_ms
    assert out.result.timestamp[-1] < req.end_ms


def test_every_entry_follows_an_oversold_close_and_every_signal_exit_an_overbought_one(
    source: MarketDataStore,
) -> None:
    req = request(RSI_30_70)
    out = run_backtest_request(req, source)
    full = full_history(source, "BTC/USDT", "1h", req.end_ms)
    win, first = window(full, req)
    rsi = talib.RSI(full.close, 14)[first:]
    assert len(out.result.trades) > 5
    for t in out.result.trades:
        assert rsi[t.entry_bar - 1] < 30
        assert t.entry_price == pytest.approx(
            np.clip(
                win.open[t.entry_bar] * (1 + req.slippage),
                win.low[t.entry_bar],
                win.high[t.entry_bar],
            ),
            rel=1e-12,
        )
        if not t.is_open:
            assert rsi[t.exit_bar - 1] > 70
            assert t.exit_price == pytest.approx(
                np.clip(
                    win.open[t.exit_bar] * (1 - req.slippage),
                    win.low[t.exit_bar],
                    win.high[t.exit_bar],
                ),
                rel=1e-12,
            )


def test_dsl_strategy_equals_the_engine_driven_with_talib_arrays(source: MarketDataStore) -> None:
    req = request(RSI_30_70, trading_fee=0.0005, slippage=0.0005)
    out = run_backtest_request(req, source)
    full = full_history(source, "BTC/USDT", "1h", req.end_ms)
    win, first = window(full, req)
    rsi = talib.RSI(full.close, 14)[first:]
    direct = run_backtest(
        win,
        Signals(entry_long=rsi < 30, exit_long=rsi > 70),
        BacktestConfig(initial_cash=10_000, fee_taker=0.0005, fee_maker=0.0005, slippage=0.0005),
        symbol=BTC,
    )
    assert np.array_equal(out.result.trade_table, direct.trade_table)
    assert np.array_equal(out.result.fill_table, direct.fill_table)
    assert np.array_equal(out.result.equity, direct.equity)
    assert out.result.stats == direct.stats


def test_warmup_makes_the_first_decision_bar_equal_its_full_history_value(
    source: MarketDataStore,
) -> None:
    req = request()
    full = full_history(source, "BTC/USDT", "1h", req.end_ms)
    _, first = window(full, req)
    value = float(talib.RSI(full.close, 14)[first])
    assert math.isfinite(value)
    # Just above the true first-bar value: the very first decision bar fires (no NaN start).
    above = f'emit_signal(rsi(close, 14) < {value + 1e-6!r}, entry("{BTC}", "LONG", Weight(1)))'
    out = run_backtest_request(request(above), source)
    assert out.result.trades[0].entry_bar == 1
    assert out.required_warmup > 14
    cov = out.coverage[BTC]
    assert cov.warmup_bars >= out.required_warmup
    assert cov.warmup_start_ms is not None
    assert cov.warmup_start_ms < req.start_ms
    # Just below it: the first bar must not fire, so the value is not merely close.
    below = f'emit_signal(rsi(close, 14) < {value - 1e-6!r}, entry("{BTC}", "LONG", Weight(1)))'
    out = run_backtest_request(request(below), source)
    assert not out.result.trades or out.result.trades[0].entry_bar != 1
    # The candles the service loaded reproduce the full-history value within 1e-6.
    loaded = full.slice_ms(cov.warmup_start_ms, req.end_ms)
    short = talib.RSI(loaded.close, 14)[cov.warmup_bars]
    assert abs(short - value) <= 1e-6 * abs(value)


def test_a_start_without_enough_history_is_ta_out_of_range_naming_a_start_that_works(
    source: MarketDataStore,
) -> None:
    # Bundled BTC/USDT 1h starts on 2018-01-01; RSI(14) needs hundreds of bars before.
    req = BacktestRequest(SEED, (BTC,), date(2018, 1, 3), date(2018, 3, 1))
    with pytest.raises(TradeforgeError) as info:
        run_backtest_request(req, source)
    assert info.value.code == "TA_OUT_OF_RANGE"
    assert "earliest start that works is 2018-01-" in info.value.message
    assert info.value.details["field"] == "start_date"
    earliest = info.value.message.split("earliest start that works is ")[1][:10]
    works = run_backtest_request(replace(req, start_date=date.fromisoformat(earliest)), source)
    assert works.coverage[BTC].warmup_bars >= works.required_warmup
    # A window that begins before the data does fails the same way.
    early = BacktestRequest(SEED, (BTC,), date(2017, 12, 1), date(2018, 3, 1))
    with pytest.raises(TradeforgeError) as info:
        run_backtest_request(early, source)
    assert info.value.code == "TA_OUT_OF_RANGE"
    # A window with no stored candles at all is DATA_UNAVAILABLE, with the stored range.
    with pytest.raises(DataUnavailableError) as missing:
        run_backtest_request(
            BacktestRequest(SEED, (BTC,), date(2030, 1, 1), date(2030, 2, 1)), source
        )
    assert "2018-01-01" in missing.value.message


def test_a_ticker_without_stored_candles_is_data_unavailable(source: MarketDataStore) -> None:
    with pytest.raises(DataUnavailableError) as info:
        run_backtest_request(request(PER_SYMBOL, (BTC, "BINANCE:NOPE/USDT")), source)
    assert "BINANCE:NOPE/USDT" in info.value.message


def test_multi_ticker_isolated_sleeves_equal_single_runs_and_cross_shares_one_account(
    source: MarketDataStore,
) -> None:
    iso = run_backtest_request(request(PER_SYMBOL, (BTC, ETH), mode="isolated"), source)
    cross = run_backtest_request(request(PER_SYMBOL, (BTC, ETH), mode="cross"), source)
    assert set(iso.result.symbols) == {BTC, ETH}
    per = iso.result.per_ticker
    assert per[BTC].num_trades > 0
    assert per[ETH].num_trades > 0
    total = per[BTC].equity + per[ETH].equity  # type: ignore[operator]
    assert np.allclose(total, iso.result.equity, rtol=1e-12)
    for ticker in (BTC, ETH):
        single = run_backtest_request(request(PER_SYMBOL, (ticker,), initial_cash=5_000), source)
        mine = [t for t in iso.result.trades if t.symbol == ticker]
        assert [(t.entry_bar, t.exit_bar) for t in mine] == [
            (t.entry_bar, t.exit_bar) for t in single.result.trades
        ]
        assert per[ticker].equity == pytest.approx(single.result.equity, rel=1e-12)
    # Cross: Weight(0.5) is half of the whole account, so positions are twice as large.
    assert cross.request.config().margin_mode is MarginMode.CROSS
    assert cross.result.equity[0] == pytest.approx(10_000, rel=0.05)
    first_iso = min(iso.result.trades, key=lambda t: t.entry_time)
    first_cross = min(cross.result.trades, key=lambda t: t.entry_time)
    assert first_cross.entry_time == first_iso.entry_time
    assert first_cross.quantity == pytest.approx(2 * first_iso.quantity, rel=1e-9)
    assert cross.fingerprint != iso.fingerprint


def test_fixed_ticker_actions_on_another_symbol_act_after_the_signal_close(
    source: MarketDataStore,
) -> None:
    script = f'emit_signal(rsi(close, 14) < 30, entry("{ETH}", "LONG", Weight(0.5)))'
    out = run_backtest_request(request(script, (BTC, ETH)), source)
    btc = full_history(source, "BTC/USDT", "1h", out.request.end_ms)
    btc_win, first = window(btc, out.request)
    rsi = talib.RSI(btc.close, 14)[first:]
    trades = out.result.trades
    # BTC/USDT only feeds the rule: the portfolio is the traded ticker, with all the cash.
    assert out.result.symbols == (ETH,)
    assert out.result.equity[0] == pytest.approx(10_000, rel=0.05)
    assert BTC in out.coverage
    assert [t.symbol for t in trades] == [ETH]
    signal = int(np.flatnonzero(rsi < 30)[0])
    assert trades[0].entry_time == btc_win.timestamp[signal] + 3_600_000


def test_state_dependent_exit_is_exact(source: MarketDataStore) -> None:
    script = RSI_30_70 + f'emit_signal(bars_since_entry >= 24, exit("{BTC}"))\n'
    out = run_backtest_request(request(script), source)
    assert out.uses_state
    full = full_history(source, "BTC/USDT", "1h", out.request.end_ms)
    _, first = window(full, out.request)
    rsi = talib.RSI(full.close, 14)[first:]
    closed = [t for t in out.result.trades if not t.is_open]
    assert len(closed) > 5
    for t in closed:
        held = t.exit_bar - t.entry_bar
        # Entry at the open of entry_bar: bars_since_entry is 0 at that close, 24 at the
        # close of entry_bar + 24, so the rule exits at the open of entry_bar + 25 ...
        if held < 25:
            assert rsi[t.exit_bar - 1] > 70
            continue
        # ... unless an entry fires on the same bar: an entry and an exit of one side on one
        # bar cancel out (the engine's rule), and the rule fires again on the next close.
        assert np.all(rsi[t.entry_bar + 24 : t.exit_bar - 1] < 30)
        assert not rsi[t.exit_bar - 1] < 30
    assert any(t.exit_bar - t.entry_bar == 25 for t in closed)


def test_redundant_state_rule_gives_the_same_result_as_the_pure_script(
    source: MarketDataStore,
) -> None:
    pure = run_backtest_request(request(RSI_30_70), source)
    gated = RSI_30_70.replace("r < 30,", "r < 30 and position_side == 0,")
    stateful = run_backtest_request(request(gated), source)
    assert stateful.uses_state
    assert not pure.uses_state
    assert np.array_equal(stateful.result.trade_table, pure.result.trade_table)
    assert np.array_equal(stateful.result.equity, pure.result.equity)


def test_pair_trade_reads_the_state_of_the_traded_ticker(source: MarketDataStore) -> None:
    # The docs' pair trade: BTC/USDT is the current symbol (data only), ETH/USDT is traded.
    script = f"""z = zscore(close("{ETH}") / close, 50)
emit_signal(z < -2 and position_side == 0, entry("{ETH}", "LONG", Weight(0.3)))
emit_signal(z > 0 or bars_since_entry > 96, exit("{ETH}"))
"""
    out = run_backtest_request(request(script, (BTC, ETH)), source)
    assert out.uses_state
    assert out.result.symbols == (ETH,)
    trades = out.result.trades
    assert len(trades) > 3
    for t in trades:
        if not t.is_open:
            assert t.exit_bar - t.entry_bar <= 98
    assert any(t.exit_bar - t.entry_bar == 98 for t in trades if not t.is_open)


def test_partial_exits_run_and_split_the_trades(source: MarketDataStore) -> None:
    script = RSI_30_70.replace(f'exit("{BTC}")', f'exit("{BTC}", 0.5)')
    half = run_backtest_request(request(script), source).result
    full = run_backtest_request(request(RSI_30_70), source).result
    assert len(half.trades) > len({t.entry_bar for t in half.trades})
    assert len(half.trades) > len(full.trades)


def test_cancellation_between_stages_and_progress_order(source: MarketDataStore) -> None:
    seen: list[tuple[float, str]] = []
    out = run_backtest_request(request(), source, progress=lambda p, s: seen.append((p, s)))
    stages = [s for _, s in seen]
    assert stages[0] == "loading_script"
    assert stages[-1] == "done"
    assert stages.index("loading_data") < stages.index("executing")
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)
    assert out.result.trades

    def cancel_after_script() -> bool:
        return any(s == "loading_data" for _, s in calls)

    calls: list[tuple[float, str]] = []
    with pytest.raises(BacktestCancelledError) as info:
        run_backtest_request(
            request(),
            source,
            progress=lambda p, s: calls.append((p, s)),
            is_cancelled=cancel_after_script,
        )
    assert info.value.code == "BACKTEST_CANCELLED"
    assert "executing" not in [s for _, s in calls]
    with pytest.raises(BacktestCancelledError):
        run_backtest_request(request(), source, is_cancelled=lambda: True)


def test_same_request_twice_gives_the_same_fingerprint_and_result(source: MarketDataStore) -> None:
    a = run_backtest_request(request(RSI_30_70), source)
    b = run_backtest_request(request(RSI_30_70), source)
    assert a.fingerprint == b.fingerprint
    assert np.array_equal(a.result.equity, b.result.equity)
    da, db = a.to_dict(), b.to_dict()
    da.pop("timings_ms")
    db.pop("timings_ms")
    assert da == db
    # Anything that changes the result changes the fingerprint.
    c = run_backtest_request(request(RSI_30_70, trading_fee=0.001), source)
    assert c.fingerprint != a.fingerprint
    d = run_backtest_request(request(RSI_30_70.replace("< 30", "< 31")), source)
    assert d.fingerprint != a.fingerprint


def test_outcome_serialises_to_json_with_the_seed_metric_names(source: MarketDataStore) -> None:
    out = run_backtest_request(request(RSI_30_70), source)
    data = json.loads(outcome_json(out))
    for name in (
        "total_return_pct", "max_drawdown", "sharpe_ratio", "sortino_ratio", "calmar_ratio",
        "win_rate", "num_trades", "profit_factor",
    ):  # fmt: skip
        assert name in data["metrics"]
    assert data["metrics"]["num_trades"] == out.result.stats.num_trades
    assert len(data["trades"]) == len(out.result.trades)
    assert len(data["equity"]["equity"]) == len(out.result.equity)
    assert data["fingerprint"] == out.fingerprint
    assert data["warmup"]["required_bars"] == out.required_warmup
    assert data["coverage"][BTC]["complete"] is True
    small = out.to_dict(max_equity_points=100)
    assert len(small["equity"]["timestamp"]) <= 100
    assert small["equity"]["timestamp"][-1] == int(out.result.timestamp[-1])
    assert isinstance(out, BacktestOutcome)
    assert out.summary()["fingerprint"] == out.fingerprint


def test_perpetual_pays_funding_from_the_store(source: MarketDataStore) -> None:
    perp = "BINANCEFUTURESUSD:BTC/USDT:USDT"
    script = f'emit_signal(rsi(close, 14) < 30, entry("{perp}", "LONG", Weight(0.5)))'
    out = run_backtest_request(request(script, (perp,)), source)
    assert out.coverage[perp].funding_coverage == pytest.approx(1.0, abs=0.01)
    assert out.result.trades
    assert out.result.funding_paid != 0.0


def test_request_validation_names_the_field() -> None:
    with pytest.raises(TradeforgeError) as info:
        BacktestRequest.from_dict(
            {
                "script": SEED,
                "universe": [BTC],
                "start_date": "2024-01-01",
                "end_date": "2024-06-30",
                "leverage": 500,
            }
        )
    assert info.value.details["field"] == "leverage"
    with pytest.raises(TradeforgeError) as info:
        BacktestRequest.from_dict({"script": SEED, "universe": [BTC], "start_date": "2024-01-01"})
    assert info.value.details["field"] == "end_date"
    with pytest.raises(TradeforgeError) as info:
        run_backtest_request(request(PER_SYMBOL, params={"n": "x"}), MarketDataStore(None, None))
    assert info.value.details["field"] == "params"
    ok = BacktestRequest.from_dict(
        {
            "script": SEED,
            "universe": "BTC/USDT",
            "start_date": "2024-01-01",
            "end_date": "2024-02-01",
        }
    )
    assert ok.instruments()[0][0] == BTC
    assert BacktestRequest.from_dict(ok.to_dict()) == ok
