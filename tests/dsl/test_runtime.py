"""Evaluation: results equal direct TA-Lib/numpy, CSE, alignment, warm-up, state."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from tradeforge.core.candles import Candles
from tradeforge.core.errors import DataUnavailableError
from tradeforge.dsl import (
    MarketData,
    compile_expression,
    compile_script,
    data_markdown,
    evaluate_expression,
    evaluate_many,
    operators_markdown,
    required_warmup,
    run_expression_plan,
    run_signals,
    validate,
)
from tradeforge.dsl.errors import DslError, DslLimitError, TaOutOfRangeError
from tradeforge.indicators.registry import registry

H = 3_600_000
BTC = "BINANCE:BTC/USDT"
ETH = "BINANCE:ETH/USDT"


def series(expr: str, candles: Candles, **kw) -> np.ndarray:
    return evaluate_expression(expr, candles, include_series=True, **kw).series


def test_evaluate_seed_expressions_match_talib(btc):
    assert evaluate_expression("rsi(close, 14)[-1]", btc).value == pytest.approx(
        talib.RSI(btc.close, 14)[-1]
    )
    np.testing.assert_array_equal(series("roc(close, 7)", btc), talib.ROC(btc.close, 7))
    np.testing.assert_array_equal(
        series("volume > sma(volume, 20)", btc), btc.volume > talib.SMA(btc.volume, 20)
    )
    result = evaluate_expression("close > 0", btc)
    assert result.kind == "bool"
    assert result.value is True
    assert result.timestamp == int(btc.timestamp[-1])


def test_evaluate_arithmetic_and_index_match_numpy(btc):
    out = series("(close - open) / open * 100 if close > open else -1", btc)
    exp = np.where(btc.close > btc.open, (btc.close - btc.open) / btc.open * 100, -1.0)
    np.testing.assert_allclose(out, exp)
    shifted = series("close[-3]", btc)
    assert np.isnan(shifted[:2]).all()
    np.testing.assert_array_equal(shifted[2:], btc.close[:-2])
    np.testing.assert_array_equal(series("hlc3", btc), (btc.high + btc.low + btc.close) / 3)


def test_evaluate_keyword_and_default_inputs(btc):
    np.testing.assert_array_equal(series("midpoint(period=9)", btc), talib.MIDPOINT(btc.close, 9))
    plan = compile_expression("atr(14) == atr(high, low, close, period=14)")
    res = run_expression_plan(plan, btc, include_series=True)
    valid = ~np.isnan(talib.ATR(btc.high, btc.low, btc.close, 14))
    assert res.series[valid].all()


def test_time_fields_use_utc_open_time():
    ts = np.array([0, 86_400_000 * 4 + 13 * H + 60_000 * 7], dtype=np.int64)  # Thu 1970-01-01, Mon
    c = Candles.from_arrays(ts, [1, 1], [1, 1], [1, 1], [1, 1], [1, 1])
    assert series("hour", c).tolist() == [0, 13]
    assert series("minute", c).tolist() == [0, 7]
    assert series("day_of_week", c).tolist() == [3, 0]
    assert series("day_of_month", c).tolist() == [1, 5]
    assert series("month", c).tolist() == [1, 1]
    assert series("year", c).tolist() == [1970, 1970]


def test_identical_subexpressions_are_computed_once():
    plan = compile_script(
        "a = rsi(close, 14) < 30\nb = rsi(close, 14) > 70\nc = rsi(close, 14)[-2] < 50\n"
        'emit_signal(a and c, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))\n'
        'emit_signal(b, exit("BINANCE:BTC/USDT"))',
        [BTC],
    )
    assert sum(1 for s in plan.steps if s.op == "ind") == 1
    assert sum(1 for s in plan.steps if s.op == "data") == 1


def test_multi_output_unpacking_matches_talib(btc):
    plan = compile_script(
        "m, s, h = macd(close, 12, 26, 9)\n"
        'emit_signal(crossover(m, s), entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))',
        [BTC],
    )
    run = run_signals(plan, {BTC: btc})
    m, s, _ = talib.MACD(btc.close, 12, 26, 9)
    exp = (m > s) & (np.roll(m, 1) <= np.roll(s, 1))
    exp[0] = False
    np.testing.assert_array_equal(run.signals[0].condition, exp)
    assert sum(1 for st in plan.steps if st.op == "ind" and st.params[0] == "macd") == 1


def test_higher_timeframe_value_appears_only_when_its_candle_has_closed(btc):
    out = series('tf("4h", close)', btc)
    for i in range(300, 400):
        ts = int(btc.timestamp[i])
        close_time = ts + H
        # the latest 4h bucket that has closed by this bar's close
        bucket_end = (close_time // (4 * H)) * (4 * H)
        last_1h = np.searchsorted(btc.timestamp, bucket_end - H)
        assert btc.timestamp[last_1h] == bucket_end - H
        assert out[i] == btc.close[last_1h]
    # a 4h RSI equals TA-Lib's RSI on 4h candles built by hand
    rsi4 = series('tf("4h", rsi(close, 14))', btc)
    first = int(np.argmax(btc.timestamp % (4 * H) == 0))
    closes = btc.close[first:][3::4][: (len(btc) - first) // 4]
    ref = talib.RSI(closes, 14)
    ends = btc.timestamp[first:][3::4][: len(ref)]
    idx = np.searchsorted(btc.timestamp, ends)
    np.testing.assert_allclose(rsi4[idx], ref, equal_nan=True)


def test_other_ticker_series_is_aligned_by_close_time(btc, eth, source):
    ratio = series('close("BINANCE:ETH/USDT") / close', btc, source=source)
    np.testing.assert_allclose(ratio, eth.close / btc.close)
    assert source.calls
    assert source.calls[-1][:3] == ("binance", "ETH/USDT", "1h")


def test_missing_other_ticker_without_source_raises(btc):
    with pytest.raises(DataUnavailableError):
        evaluate_expression('close("BINANCE:ETH/USDT")', btc)


def test_rank_across_universe(btc, eth):
    results = evaluate_many("rank(roc(close, 7))", {BTC: btc, ETH: eth})
    rb, re_ = talib.ROC(btc.close, 7)[-1], talib.ROC(eth.close, 7)[-1]
    assert results[BTC].value == (1.0 if rb > re_ else 0.0)
    assert results[ETH].value == (1.0 if re_ > rb else 0.0)
    scan = evaluate_many("rsi(close, 14) < 101 and volume > 0", {BTC: btc, ETH: eth})
    assert all(r.value is True for r in scan.values())


# --- no look-ahead --------------------------------------------------------------------

LOOKAHEAD_EXPRS = [
    "rsi(close, 14)",
    "ema(close, 20) - sma(close, 20)",
    'tf("4h", rsi(close, 14))',
    'tf("1d", highest(high, 3))',
    'close("BINANCE:ETH/USDT") / close',
    "crossover(ema(close, 5), ema(close, 20))",
    "barssince(close > open)",
    "zscore(close, 30)[-3]",
    "vwap_session()",
    "hma(close, 20) + stddev(close, 10)",
    "sar(high, low)",
    'tf("4h", close) - tf("1d", close) + day_of_week',
]


def _truncate(c: Candles, m: int) -> Candles:
    return Candles(c.timestamp[:m], c.open[:m], c.high[:m], c.low[:m], c.close[:m], c.volume[:m])


@pytest.mark.parametrize("expr", LOOKAHEAD_EXPRS)
def test_truncating_future_candles_never_changes_earlier_values(expr, btc, eth):
    plan = compile_expression(expr, universe=[BTC, ETH])
    base = btc.slice_ms(None, int(btc.timestamp[3000]))
    others = {ETH: eth}
    full = run_expression_plan(plan, base, ticker=BTC, others=others, include_series=True).series
    for m in (1000, 1777, 2222, 2999):
        part = run_expression_plan(
            plan, _truncate(base, m), ticker=BTC, others=others, include_series=True
        ).series
        np.testing.assert_array_equal(full[:m], part, err_msg=f"{expr} at {m}")


MULTI_OUTPUT_SCRIPT = (
    "t, k, sa, sb = ichimoku()\np, r1, s1, r2, s2, r3, s3 = pivot_points()\n"
    "st, d = supertrend(high, low, close)\nm, s, h = macd(close, 12, 26, 9)\n"
    "up = close > maximum(sa, sb) and close > p and d > 0 and h > 0\n"
    'emit_signal(up, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5), '
    "stop_loss=abs(close - st) / close))"
)


def test_multi_output_strategy_has_no_lookahead(btc):
    plan = compile_script(MULTI_OUTPUT_SCRIPT, [BTC])
    full = run_signals(plan, {BTC: btc})
    for m in (2000, 4321):
        part = run_signals(plan, {BTC: _truncate(btc, m)})
        np.testing.assert_array_equal(full.signals[0].condition[:m], part.signals[0].condition)
        np.testing.assert_array_equal(full.signals[0].stop_loss[:m], part.signals[0].stop_loss)
    assert full.signals[0].condition.any()


def test_truncating_other_ticker_future_never_changes_values(btc, eth):
    plan = compile_expression('tf("4h", ema(close("BINANCE:ETH/USDT"), 10))')
    full = run_expression_plan(plan, btc, ticker=BTC, others={ETH: eth}, include_series=True)
    cut = _truncate(eth, 5000)
    part = run_expression_plan(plan, btc, ticker=BTC, others={ETH: cut}, include_series=True)
    end = int(np.searchsorted(btc.timestamp, cut.timestamp[-1]))
    np.testing.assert_array_equal(full.series[:end], part.series[:end])


# --- warm-up ---------------------------------------------------------------------------

STRATEGY = (
    "fast = ema(close, 12)\nslow = ema(close, 26)\nr = rsi(close, 14)\n"
    'trend = tf("4h", ema(close, 20))\n'
    "up = crossover(fast, slow) and r < 70 and close > trend\n"
    'emit_signal(up, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5), '
    "stop_loss=2 * atr(14) / close))\n"
    'emit_signal(crossunder(fast, slow), exit("BINANCE:BTC/USDT"))'
)


def test_required_warmup_makes_late_start_equal_full_history(btc):
    plan = compile_script(STRATEGY, [BTC])
    warm = required_warmup(plan)
    assert warm >= ema_bars_at_least(26)
    start = int(btc.timestamp[6000])
    full = run_signals(plan, {BTC: btc}, start_ms=start)
    lo = int(btc.timestamp[6000 - warm])
    late = run_signals(plan, {BTC: btc.slice_ms(lo, None)}, start_ms=start)
    np.testing.assert_array_equal(full.timestamp, late.timestamp)
    for a, b in zip(full.signals, late.signals, strict=True):
        np.testing.assert_array_equal(a.condition, b.condition)
    np.testing.assert_allclose(
        full.signals[0].stop_loss, late.signals[0].stop_loss, rtol=1e-6, equal_nan=True
    )


def ema_bars_at_least(period: int) -> int:
    return registry()["ema"].warmup((float(period),))


def test_not_enough_history_names_earliest_start(btc):
    plan = compile_script(STRATEGY, [BTC])
    with pytest.raises(TaOutOfRangeError) as info:
        run_signals(plan, {BTC: btc}, start_ms=int(btc.timestamp[10]))
    err = info.value
    assert err.code == "TA_OUT_OF_RANGE"
    assert str(int(btc.timestamp[plan.warmup_bars])) in err.message
    assert err.details["required_warmup"] == plan.warmup_bars


def test_run_signals_loads_from_source_with_warmup(btc, source):
    plan = compile_script(STRATEGY, [BTC])
    start = int(btc.timestamp[5000])
    run = run_signals(plan, MarketData(source=source), start_ms=start, end_ms=start + 500 * H)
    assert run.timestamp[0] == start
    assert len(run.timestamp) == 500
    direct = run_signals(plan, {BTC: btc}, start_ms=start)
    np.testing.assert_array_equal(run.signals[0].condition, direct.signals[0].condition[:500])


# --- account state ---------------------------------------------------------------------


def test_state_dependent_conditions_are_evaluated_per_bar(btc):
    plan = compile_script(
        "r = rsi(close, 14)\n"
        "emit_signal(r < 30 and position_side == 0, "
        'entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))\n'
        "emit_signal(bars_since_entry > 10 or close < entry_price * 0.95, "
        'exit("BINANCE:BTC/USDT"))',
        [BTC],
    )
    assert plan.uses_state
    assert len(plan.dynamic_steps) > 0
    assert all(s.op != "ind" for s in plan.dynamic_steps)
    run = run_signals(plan, {BTC: btc}, start_ms=int(btc.timestamp[1000]))
    assert run.signals[0].condition is None
    assert run.signals[0].is_state_dependent
    r = talib.RSI(btc.close, 14)[1000:]
    for bar in range(0, 300, 7):
        flat = run.condition_at(0, bar, {"position_side": 0})
        long_ = run.condition_at(0, bar, {"position_side": 1})
        assert flat == bool(r[bar] < 30)
        assert long_ is False
    bar = 50
    price = float(btc.close[1000 + bar])
    assert run.condition_at(1, bar, {"bars_since_entry": 11, "entry_price": price}) is True
    assert run.condition_at(1, bar, {"bars_since_entry": 3, "entry_price": price}) is False
    assert run.condition_at(1, bar, {"bars_since_entry": 3, "entry_price": price * 2}) is True


def test_params_override_and_range(btc):
    script = (
        'n = param("n", 14, 2, 50)\n'
        'emit_signal(rsi(close, n) < 30, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))'
    )
    plan = compile_script(script, [BTC], params={"n": 20})
    assert plan.params[0].value == 20
    assert plan.params[0].is_integer
    run = run_signals(plan, {BTC: btc})
    np.testing.assert_array_equal(run.signals[0].condition, talib.RSI(btc.close, 20) < 30)
    with pytest.raises(TaOutOfRangeError):
        compile_script(script, [BTC], params={"n": 99})
    with pytest.raises(DslError) as info:
        compile_script(script, [BTC], params={"m": 3})
    assert "n" in info.value.suggestion


def test_validate_report(btc):
    report = validate(STRATEGY, [BTC])
    assert report.valid
    assert report.required_warmup
    assert report.tickers == [BTC]
    bad = validate("x = rsii(close)", [BTC])
    assert not bad.valid
    assert bad.errors[0]["code"] == "DSL_UNKNOWN_NAME"
    assert "rsi" in bad.errors[0]["suggestion"]
    warn = validate('emit_signal(obv() > 0, entry("BINANCE:BTC/USDT", "LONG", Weight(1)))', [BTC])
    assert warn.valid
    assert warn.warnings[0]["code"] == "DSL_PATH_DEPENDENT"


def test_funding_rate_from_market_data(btc):
    perp = "BINANCEFUTURESUSD:BTC/USDT:USDT"
    plan = compile_script(
        f'emit_signal(funding_rate > 0.0001, entry("{perp}", "SHORT", Weight(0.2)))', [perp]
    )
    ts = btc.timestamp[::8] + 60_000
    rates = np.linspace(-0.0003, 0.0003, ts.shape[0])
    run = run_signals(plan, MarketData({perp: btc}, funding={perp: (ts, rates)}))
    idx = np.searchsorted(ts, btc.timestamp + H, "right") - 1
    exp = np.where(idx >= 0, rates[np.maximum(idx, 0)], np.nan) > 0.0001
    np.testing.assert_array_equal(run.signals[0].condition, exp)
    with pytest.raises(DataUnavailableError):
        run_signals(plan, MarketData({perp: btc}))


def test_evaluation_cell_budget(btc, monkeypatch):
    from tradeforge.dsl import limits

    monkeypatch.setattr(limits, "MAX_CELLS", 100)
    with pytest.raises(DslLimitError):
        evaluate_expression("rsi(close, 14)", btc)


def test_reference_pages_list_every_name():
    ops = operators_markdown()
    for name in registry():
        assert f"`{name}(" in ops
    data = data_markdown()
    for name in ("close", "hl2", "day_of_week", "funding_rate", "position_side", "4h"):
        assert name in data


def test_memory_source_is_a_candle_source(source):
    assert source.available_range("binance", "BTC/USDT", "1h") is not None
    assert source.available_range("binance", "XRP/USDT", "1h") is None


def test_by_ticker_merges_actions_into_arrays(btc, eth):
    plan = compile_script(
        "r = rsi(close, 14)\n"
        'emit_signal(r < 30, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5), stop_loss=0.02))\n'
        'emit_signal(r < 40, entry("BINANCE:BTC/USDT", "LONG", Amount(100), take_profit=0.1))\n'
        'emit_signal(r > 70, exit("BINANCE:BTC/USDT", 0.5), exit("BINANCE:ETH/USDT"))\n'
        'emit_signal(r > 80 and position_side != 0, exit("BINANCE:BTC/USDT"))',
        [BTC, ETH],
    )
    run = run_signals(plan, {BTC: btc, ETH: eth})
    merged = run.by_ticker()
    assert set(merged) == {BTC, ETH}
    r = talib.RSI(btc.close, 14)
    b = merged[BTC]
    np.testing.assert_array_equal(b.long_entry, (r < 30) | (r < 40))
    assert not b.short_entry.any()
    np.testing.assert_array_equal(b.weight[r < 30], 0.5)
    np.testing.assert_array_equal(b.amount[(r >= 30) & (r < 40)], 100.0)
    assert np.isnan(b.amount[r < 30]).all()
    np.testing.assert_array_equal(b.stop_loss[r < 30], 0.02)
    np.testing.assert_array_equal(b.take_profit[(r >= 30) & (r < 40)], 0.1)
    np.testing.assert_array_equal(b.exit, r > 70)
    np.testing.assert_array_equal(b.exit_fraction[r > 70], 0.5)
    assert b.state_dependent == (4,)
    np.testing.assert_array_equal(merged[ETH].exit, r > 70)
    np.testing.assert_array_equal(merged[ETH].exit_fraction[r > 70], 1.0)


def test_warmup_and_name_chain_limits():
    chain = "a0 = close\n" + "".join(f"a{i} = sma(a{i - 1}, 5000)\n" for i in range(1, 60))
    with pytest.raises(DslLimitError) as info:
        compile_script(chain + 'emit_signal(a59 > 0, exit("BINANCE:BTC/USDT"))')
    assert info.value.details["limit"] == "MAX_WARMUP_BARS"
    deep = "a0 = close\n" + "".join(f"a{i} = a{i - 1} + 1\n" for i in range(1, 999))
    report = validate(deep + 'emit_signal(tf("4h", a998) > 0, exit("BINANCE:BTC/USDT"))')
    assert not report.valid
    assert report.errors[0]["code"] == "DSL_LIMIT_EXCEEDED"
    assert report.errors[0]["details"]["line"] == 1


def test_per_symbol_script_runs_for_every_universe_ticker(btc, eth):
    from tradeforge.dsl import run_universe

    plan = compile_script(
        'emit_signal(rsi(close, 14) < 30, entry(current_ticker, "LONG", Weight(0.1)))\n'
        "emit_signal(rsi(close, 14) > 70, exit(current_ticker))",
        [BTC, ETH],
    )
    assert plan.is_per_symbol
    runs = run_universe(plan, {BTC: btc, ETH: eth})
    for ticker, candles in ((BTC, btc), (ETH, eth)):
        run = runs[ticker]
        assert run.signals[0].ticker == ticker
        np.testing.assert_array_equal(run.signals[0].condition, talib.RSI(candles.close, 14) < 30)
        assert set(run.by_ticker()) == {ticker}
    with pytest.raises(DslError):
        compile_script("emit_signal(close(current_ticker) > 0, exit(current_ticker))", [BTC])
    with pytest.raises(DslError):
        compile_script("current_ticker = 1\nemit_signal(close > 0, exit(current_ticker))", [BTC])


def test_rank_series_matches_loop_over_four_symbols(loader):
    names = {
        "BINANCE:BTC/USDT": "BTC_USDT-1h",
        "BINANCE:ETH/USDT": "ETH_USDT-1h",
        "BINANCE:LTC/USDT": "LTC_USDT-1h",
        "BINANCE:XRP/USDT": "XRP_USDT-1h",
    }
    data = {t: loader(f, last=600) for t, f in names.items()}
    plan = compile_expression("rank(roc(close, 7))", universe=list(data))
    shared: dict = {}
    out = {
        t: run_expression_plan(plan, c, ticker=t, others=data, include_series=True, shared=shared)
        for t, c in data.items()
    }
    roc = {t: talib.ROC(c.close, 7) for t, c in data.items()}
    same_grid = all(np.array_equal(c.timestamp, data[BTC].timestamp) for c in data.values())
    assert same_grid
    for i in range(7, 600, 13):
        values = {t: roc[t][i] for t in data}
        for t in data:
            below = sum(v < values[t] for v in values.values())
            equal = sum(v == values[t] for v in values.values())
            assert out[t].series[i] == pytest.approx((below + (equal - 1) / 2) / 3)
    assert len(shared) == 4  # each symbol's input computed once across the four runs


def test_candles_of_another_timeframe_are_rejected(btc):
    with pytest.raises(DslError) as info:
        evaluate_expression("rsi(close, 14)", btc, timeframe="4h")
    assert info.value.code == "DSL_VALUE_ERROR"
    assert "3600 s" in info.value.message


def test_unused_names_and_expressions_are_warned():
    report = validate(
        "unused = sma(close, 3)\nm, s, h = macd(close)\nclose > 1\n"
        'emit_signal(m > s, exit("BINANCE:BTC/USDT"))',
        [BTC],
    )
    assert report.valid
    found = {(w["code"], w["line"]) for w in report.warnings}
    assert ("DSL_UNUSED", 1) in found
    assert ("DSL_UNUSED", 3) in found
    assert ("DSL_UNUSED", 2) in found  # h
    messages = " ".join(w["message"] for w in report.warnings)
    assert "'h'" in messages
    assert "'m'" not in messages
