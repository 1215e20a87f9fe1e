"""The spec's examples stay valid; no look-ahead as a hypothesis property."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeforge.core.candles import Candles
from tradeforge.dsl import compile_expression, compile_script, run_expression_plan, run_signals

SPEC = Path(__file__).resolve().parents[2] / "src" / "tradeforge" / "docs" / "signal-dsl.md"
BTC = "BINANCE:BTC/USDT"
ETH = "BINANCE:ETH/USDT"
BARS = 2500


def _examples() -> list[str]:
    text = SPEC.read_text()
    section = text[text.index("## 11. Examples") :]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_spec_strategy_examples_compile():
    blocks = _examples()
    assert len(blocks) == 3
    for block in blocks[:2]:
        plan = compile_script(block, [BTC, ETH])
        assert plan.signals
    for line in blocks[2].splitlines():
        if line and not line.startswith("#"):
            compile_expression(line)


def _cut(c: Candles, m: int) -> Candles:
    return Candles(c.timestamp[:m], c.open[:m], c.high[:m], c.low[:m], c.close[:m], c.volume[:m])


PROPERTY_SCRIPT = (
    'trend = tf("4h", ema(close, 20)) < close\n'
    "r = rsi(close, 14)\n"
    'ratio = zscore(close("BINANCE:ETH/USDT") / close, 30)\n'
    "emit_signal(crossover(r, 30) and trend and ratio[-2] < 1, "
    'entry("BINANCE:BTC/USDT", "LONG", Weight(0.5), stop_loss=atr(14) / close))\n'
    'emit_signal(barssince(r > 70) == 0, exit("BINANCE:BTC/USDT"))'
)
PLAN = compile_script(PROPERTY_SCRIPT, [BTC, ETH])


@pytest.fixture(scope="module")
def pair(loader):
    btc = loader("BTC_USDT-1h", last=BARS)
    eth = loader("ETH_USDT-1h", last=BARS)
    return btc, eth, run_signals(PLAN, {BTC: btc, ETH: eth})


@settings(max_examples=25, deadline=None)
@given(m=st.integers(min_value=1, max_value=BARS - 1))
def test_signals_never_change_when_future_candles_are_removed(pair, m: int):
    btc, eth, full = pair
    part = run_signals(PLAN, {BTC: _cut(btc, m), ETH: eth})
    for f, p in zip(full.signals, part.signals, strict=True):
        np.testing.assert_array_equal(f.condition[:m], p.condition)
        if f.stop_loss is not None:
            np.testing.assert_array_equal(f.stop_loss[:m], p.stop_loss)


@settings(max_examples=15, deadline=None)
@given(
    expr=st.sampled_from(['tf("1d", close)', 'tf("12h", atr(14))', "rsi(close, 14)[-5]"]),
    m=st.integers(min_value=30, max_value=BARS - 1),
)
def test_expression_values_never_change_when_future_candles_are_removed(pair, expr: str, m: int):
    btc = pair[0]
    plan = compile_expression(expr)
    full = run_expression_plan(plan, btc, include_series=True).series
    part = run_expression_plan(plan, _cut(btc, m), include_series=True).series
    np.testing.assert_array_equal(full[:m], part)
