"""Cross-check against vectorbt figures recorded by benchmarks/bench_backtest.py.

vectorbt is not installed in the test environment; its results on the bundled sample are a
fixture. With vectorbt's conventions (no fill clamping; ``signal_close`` fills, or signals
shifted one bar and filled at the open for ``next_open``) trades and final equity must agree
within 1e-9 relative.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import talib

from tradeforge.backtest import (
    BacktestConfig,
    FillConvention,
    Signals,
    run_backtest,
    sma_cross_signals,
)
from tradeforge.core.candles import Candles

from ._helpers import DATA

FIXTURE = json.loads((DATA / "vectorbt_w1.json").read_text())
REL = 1e-9


def _signals(name: str, candles: Candles) -> Signals:
    if name.startswith("sma_10_30"):
        return sma_cross_signals(candles.close, 10, 30)
    rsi = talib.RSI(candles.close, 14)
    return Signals(entry_long=rsi < 30, exit_long=rsi > 70)


@pytest.mark.parametrize("name", sorted(FIXTURE["cases"]))
def test_trades_and_final_equity_match_vectorbt(btc_1h: Candles, name: str) -> None:
    # Arrange
    case: dict[str, Any] = FIXTURE["cases"][name]
    fill = FillConvention.NEXT_OPEN if name.endswith("next_open") else FillConvention.SIGNAL_CLOSE
    config = BacktestConfig(
        initial_cash=10_000.0,
        fee_taker=0.0005,
        slippage=0.0005,
        fill=fill,
        clamp_fills_to_bar=False,
    )
    # Act
    result = run_backtest(btc_1h, _signals(name, btc_1h), config)
    # Assert
    assert len(result.trades) == len(case["trades"]) > 0
    for ours, theirs in zip(result.trades, case["trades"], strict=True):
        assert (ours.entry_bar, ours.exit_bar) == (theirs["entry_idx"], theirs["exit_idx"])
        assert ours.is_open == theirs["is_open"]
        assert ours.entry_price == pytest.approx(theirs["entry_price"], rel=REL)
        assert ours.exit_price == pytest.approx(theirs["exit_price"], rel=REL)
        assert ours.quantity == pytest.approx(theirs["size"], rel=REL)
        assert ours.entry_fee == pytest.approx(theirs["entry_fees"], rel=REL)
        assert ours.exit_fee == pytest.approx(theirs["exit_fees"], rel=REL, abs=1e-12)
        assert ours.pnl == pytest.approx(theirs["pnl"], rel=REL)
    assert result.final_equity == pytest.approx(case["final_value"], rel=REL)
    assert np.isfinite(result.equity).all()
