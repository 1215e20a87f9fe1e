"""The generated scripts themselves: they compile for every timeframe and mode, and the
cross-sectional rebalance schedule (civil-date arithmetic in the DSL) equals
``open_time // bar_ms % rebalance_period == 0`` across leap years."""

from __future__ import annotations

import numpy as np
import pytest

from tradeforge.adapters.candles import open_market_data
from tradeforge.dsl import compile_script, run_signals
from tradeforge.services.strategy_types import (
    TIMEFRAME_MINUTES,
    CrossSectionalParams,
    PairTradingParams,
    generate_script,
)

BTC, ETH = "BINANCE:BTC/USDT", "BINANCE:ETH/USDT"


@pytest.mark.parametrize("timeframe", list(TIMEFRAME_MINUTES))
@pytest.mark.parametrize("mode", ["isolated", "cross"])
def test_generated_scripts_compile(timeframe: str, mode: str) -> None:
    pair = generate_script(
        "pair_trading", PairTradingParams(leg_a=BTC, leg_b=ETH, stop_z=None), (), timeframe, mode
    )
    assert "stop" not in pair.script.split("# reverted")[1]
    compile_script(pair.script, pair.universe, timeframe=timeframe)
    cross = generate_script(
        "cross_sectional",
        CrossSectionalParams(
            ranking_expression="roc(close, 5)", top_n=1, bottom_n=1, direction="long_short"
        ),
        (BTC, ETH, "BINANCE:LTC/USDT"),
        timeframe,
        mode,
    )
    plan = compile_script(cross.script, cross.universe, timeframe=timeframe)
    assert plan.is_per_symbol
    weight = "Weight(1)" if mode == "isolated" else "Weight(0.5)"
    assert cross.script.count(weight) == 2


@pytest.mark.parametrize(("timeframe", "period"), [("1h", 24 * 7), ("1h", 5), ("1d", 3)])
def test_rebalance_schedule_is_bars_since_the_epoch(timeframe: str, period: int) -> None:
    generated = generate_script(
        "cross_sectional",
        CrossSectionalParams(ranking_expression="close", top_n=1, rebalance_period=period),
        (BTC, ETH),
        timeframe,
    )
    lines = generated.script.splitlines()
    first = next(i for i, x in enumerate(lines) if x.startswith("shift_a = "))
    last = next(i for i, x in enumerate(lines) if x.startswith("rebalance = "))
    script = "\n".join([*lines[first : last + 1], "emit_signal(rebalance, exit(current_ticker))"])
    candles = open_market_data(None).load("binance", "BTC/USDT", timeframe)
    start, end = 1577836800000, 1735689600000  # 2020-01-01 .. 2025-01-01 (two leap years)
    plan = compile_script(script, [BTC], timeframe=timeframe)
    run = run_signals(plan, {BTC: candles}, ticker=BTC, start_ms=start, end_ms=end)
    exits = run.by_ticker()[BTC].exit
    step = TIMEFRAME_MINUTES[timeframe] * 60_000
    expected = run.timestamp // step % period == 0
    assert exits.shape == expected.shape
    assert exits.sum() > 50
    np.testing.assert_array_equal(exits, expected)
