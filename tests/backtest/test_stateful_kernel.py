"""The in-kernel evaluation of state-dependent rules against its specification, the re-run
path (``services.backtests._run_stateful``): same trades, orders, equity and fingerprint."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import tradeforge.backtest.kernels_stateful as ks
import tradeforge.dsl.stateprog as sp
import tradeforge.services.backtests as sb
from tradeforge.adapters.candles import MarketDataStore, open_market_data
from tradeforge.dsl.errors import DslError
from tradeforge.services.backtests import BacktestOutcome, BacktestRequest, run_backtest_request

BTC = "BINANCE:BTC/USDT"
H1 = date(2024, 1, 1), date(2024, 6, 30)
Q1 = date(2024, 1, 1), date(2024, 3, 1)
RERUN_NOTE = "state-dependent rules: evaluated per bar with"


@pytest.fixture(scope="module")
def source() -> MarketDataStore:
    return open_market_data(None)


@contextmanager
def in_loop(enabled: bool) -> Iterator[None]:
    saved = sb.IN_LOOP
    sb.IN_LOOP = enabled
    try:
        yield
    finally:
        sb.IN_LOOP = saved


def both(
    source: MarketDataStore, script: str, span: tuple[date, date] = H1, **kw: object
) -> tuple[BacktestOutcome, BacktestOutcome]:
    req = BacktestRequest(script, (BTC,), span[0], span[1], **kw)  # type: ignore[arg-type]
    with in_loop(True):
        fast = run_backtest_request(req, source)
    with in_loop(False):
        spec = run_backtest_request(req, source)
    return fast, spec


def assert_same(fast: BacktestOutcome, spec: BacktestOutcome) -> None:
    a, b = fast.result, spec.result
    assert a.trade_table.tobytes() == b.trade_table.tobytes()
    assert a.fill_table.tobytes() == b.fill_table.tobytes()
    assert a.equity.tobytes() == b.equity.tobytes()
    assert a.trades == b.trades
    assert a.orders == b.orders
    assert a.fingerprint.digest == b.fingerprint.digest
    assert [w for w in fast.warnings if RERUN_NOTE not in w] == [
        w for w in spec.warnings if RERUN_NOTE not in w
    ]


def runs(out: BacktestOutcome) -> float:
    return out.timings_ms["engine_runs"]


R = "r = rsi(close, 14)\n"
IN_LOOP_SCRIPTS = {
    "flat_gate_and_time_or_stop_exit": R
    + f'emit_signal(r < 30 and position_side == 0, entry("{BTC}", "LONG", Weight(1)))\n'
    + f'emit_signal(bars_since_entry > 48 or close < entry_price * 0.97, exit("{BTC}"))\n',
    "pure_rsi_with_a_time_exit": R
    + f'emit_signal(r < 30, entry("{BTC}", "LONG", Weight(1)))\n'
    + f'emit_signal(r > 70, exit("{BTC}"))\n'
    + f'emit_signal(bars_since_entry >= 24, exit("{BTC}"))\n',
    "equity_rules": R
    + f'emit_signal(r < 35 and equity > 8000, entry("{BTC}", "LONG", Weight(0.5)))\n'
    + f'emit_signal(equity < 9500 or (position_side == 1 and close > entry_price * 1.02), exit("{BTC}"))\n',  # noqa: E501
    "position_size_and_amount": R
    + f'emit_signal(r < 40 and position_size == 0, entry("{BTC}", "LONG", Amount(2500)))\n'
    + f'emit_signal(position_size * close > 2600 or bars_since_entry >= 12, exit("{BTC}"))\n',
    "exit_every_close_while_held": R
    + f'emit_signal(r < 30, entry("{BTC}", "LONG", Weight(1)))\n'
    + f'emit_signal(equity > 0 and position_side == 1, exit("{BTC}"))\n'
    + f'emit_signal(position_side == 0 and r > 60, exit("{BTC}"))\n',
    "nan_and_division_by_zero": R
    + f'emit_signal(not (entry_price > 0) and 1 / position_side > 0 and r < 35, entry("{BTC}", "LONG", Weight(0.7)))\n'  # noqa: E501
    + f'emit_signal(-(close - entry_price) / entry_price > 0.02 or bars_since_entry / 0 > 1, exit("{BTC}"))\n',  # noqa: E501
    "where_and_pure_entry_sizes": R
    + f'emit_signal(r < 25, entry("{BTC}", "LONG", Weight(0.3)))\n'
    + f'emit_signal((close if position_side == 0 else entry_price) < sma(close, 50) * 0.98 and r < 35, entry("{BTC}", "LONG", Weight(0.8)))\n'  # noqa: E501
    + f'emit_signal(r > 65 and bars_since_entry >= 3, exit("{BTC}"))\n',
    "quantity_size_and_pure_exit": R
    + f'emit_signal(r < 30 or (position_side == 0 and r < 33), entry("{BTC}", "LONG", Quantity(0.05)))\n'  # noqa: E501
    + f'emit_signal(r > 70, exit("{BTC}"))\n',
}


@pytest.mark.parametrize("name", sorted(IN_LOOP_SCRIPTS))
def test_in_kernel_rules_equal_the_rerun_path(source: MarketDataStore, name: str) -> None:
    fast, spec = both(source, IN_LOOP_SCRIPTS[name])
    assert fast.uses_state
    assert runs(fast) == 1.0
    assert runs(spec) > 1.0  # the rules fired: the oracle did re-run
    assert len(spec.result.trades) > 3
    assert_same(fast, spec)


@pytest.mark.parametrize(
    "kw", [{"trading_fee": 0.0}, {"slippage": 0.001}, {"initial_cash": 777.0}], ids=str
)
def test_in_kernel_rules_follow_the_money_settings(
    source: MarketDataStore, kw: dict[str, object]
) -> None:
    fast, spec = both(source, IN_LOOP_SCRIPTS["flat_gate_and_time_or_stop_exit"], Q1, **kw)
    assert runs(fast) == 1.0
    assert_same(fast, spec)


FALLBACK_SCRIPTS = {
    "modulo_is_not_compiled": R
    + f'emit_signal(r < 30, entry("{BTC}", "LONG", Weight(1)))\n'
    + f'emit_signal(bars_since_entry % 24 == 23, exit("{BTC}"))\n',
    "short_entries": R
    + f'emit_signal(r > 70 and position_side == 0, entry("{BTC}", "SHORT", Weight(0.5)))\n'
    + f'emit_signal(bars_since_entry >= 24, exit("{BTC}"))\n',
    "state_dependent_size": R
    + f'emit_signal(r < 30, entry("{BTC}", "LONG", Weight(0.5 if position_side == 0 else 0.2)))\n'
    + f'emit_signal(r > 70, exit("{BTC}"))\n',
    "stop_loss_orders": R
    + f'emit_signal(r < 30 and position_side == 0, entry("{BTC}", "LONG", Weight(1), stop_loss=0.02))\n'  # noqa: E501
    + f'emit_signal(bars_since_entry >= 24, exit("{BTC}"))\n',
}


@pytest.mark.parametrize("name", sorted(FALLBACK_SCRIPTS))
def test_unsupported_rules_fall_back_to_the_rerun_path(source: MarketDataStore, name: str) -> None:
    fast, spec = both(source, FALLBACK_SCRIPTS[name], Q1)
    assert fast.uses_state
    assert runs(fast) == runs(spec) > 1.0
    assert_same(fast, spec)


def test_leverage_falls_back_to_the_rerun_path(source: MarketDataStore) -> None:
    fast, spec = both(source, IN_LOOP_SCRIPTS["flat_gate_and_time_or_stop_exit"], Q1, leverage=2)
    assert runs(fast) == runs(spec) > 1.0
    assert_same(fast, spec)


def test_partial_exit_rules_fall_back_to_the_rerun_path(source: MarketDataStore) -> None:
    script = R + (
        f'emit_signal(r < 30, entry("{BTC}", "LONG", Weight(1)))\n'
        f'emit_signal(bars_since_entry >= 5, exit("{BTC}", 0.5))\n'
    )
    fast, spec = both(source, script, Q1)
    assert fast.uses_state
    assert runs(fast) == runs(spec) > 1.0
    assert_same(fast, spec)
    entries = {t.entry_bar for t in fast.result.trades}
    assert len(fast.result.trades) > len(entries)  # some positions closed in parts


def test_opcodes_agree_between_the_compiler_and_the_kernel() -> None:
    names = [n for n in dir(sp) if n.startswith("OP_")]
    assert len(names) == 18
    for n in names:
        assert getattr(ks, "_" + n[3:]) == getattr(sp, n)


# --- random expressions over the compiled operations ---------------------------------------

STATE = ["position_side", "position_size", "entry_price", "bars_since_entry", "equity"]
SERIES = ["close", "open", "r", "sma(close, 20)", "volume"]
CONSTS = ["0", "1", "0.5", "2", "24", "30", "-1", "10000", "40000", "0.97"]

numbers = st.recursive(
    st.sampled_from(STATE + SERIES + CONSTS),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        inner.map(lambda x: f"(-{x})"),
    ),
    max_leaves=4,
)
comparisons = st.tuples(numbers, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), numbers).map(
    lambda t: f"({t[0]} {t[1]} {t[2]})"
)
conditions = st.recursive(
    comparisons,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        inner.map(lambda x: f"(not {x})"),
        st.tuples(numbers, inner, numbers, st.sampled_from(["<", ">"]), numbers).map(
            lambda t: f"(({t[0]} if {t[1]} else {t[2]}) {t[3]} {t[4]})"
        ),
    ),
    max_leaves=3,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entry=conditions,
    exit_=conditions,
    weight=st.sampled_from(["0.3", "1"]),
    pure_exit=st.booleans(),
)
def test_random_rules_equal_the_rerun_path(
    source: MarketDataStore, entry: str, exit_: str, weight: str, pure_exit: bool
) -> None:
    # "or position_side > 5" (never true) keeps each rule state-dependent.
    script = (
        R
        + f'emit_signal({entry} or position_side > 5, entry("{BTC}", "LONG", Weight({weight})))\n'
        + f'emit_signal({exit_} or position_side > 5, exit("{BTC}"))\n'
        + (f'emit_signal(r > 70, exit("{BTC}"))\n' if pure_exit else "")
    )
    try:
        fast, spec = both(source, script, (date(2024, 2, 1), date(2024, 3, 1)))
    except DslError:  # constant folding rejects e.g. 0 / 0: not a script
        reject()
    assert runs(fast) == 1.0
    assert_same(fast, spec)
