"""Engine boundary: validation, multi-symbol runs, sweeps, fingerprints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import talib

from tradeforge.backtest import (
    ENGINE_VERSION,
    BacktestConfig,
    BacktestInputError,
    FillConvention,
    MarginMode,
    Signals,
    candles_sha256,
    run_backtest,
    run_portfolio,
    run_sma_cross_sweep,
    sma_cross_signals,
)
from tradeforge.core.candles import Candles
from tradeforge.core.errors import InvalidInputError

from ._helpers import HOUR, T0, flags, make_candles

FLAT = [(100.0, 100.0, 100.0, 100.0)] * 5


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (BacktestConfig(leverage=0.5), "config.leverage"),
        (BacktestConfig(leverage=101), "config.leverage"),
        (BacktestConfig(initial_cash=0), "config.initial_cash"),
        (BacktestConfig(fee_taker=-0.001), "config.fee_taker"),
        (BacktestConfig(portfolio_stop_loss=1.5), "config.portfolio_stop_loss"),
    ],
)
def test_invalid_config_raises_validation_error_naming_the_field(
    config: BacktestConfig, field: str
) -> None:
    with pytest.raises(BacktestInputError) as info:
        run_backtest(make_candles(FLAT), Signals(), config)
    assert isinstance(info.value, InvalidInputError)
    assert info.value.code == "BACKTEST_INVALID_INPUT"
    assert info.value.details["field"] == field


def test_signal_of_wrong_length_is_rejected_with_suggestion() -> None:
    with pytest.raises(BacktestInputError, match=r"entry_long has shape \(3,\)") as info:
        run_backtest(make_candles(FLAT), Signals(entry_long=np.zeros(3, dtype=bool)))
    assert "same candles" in info.value.suggestion


def test_empty_candles_and_bad_stop_are_rejected() -> None:
    with pytest.raises(BacktestInputError, match="no candles"):
        run_backtest(Candles.empty(), Signals())
    with pytest.raises(BacktestInputError, match="stop_loss"):
        run_backtest(make_candles(FLAT), Signals(stop_loss=-0.1))
    with pytest.raises(BacktestInputError, match="order_price"):
        run_backtest(make_candles(FLAT), Signals(entry_long=True, order_type="limit"))


def test_fingerprint_changes_with_candles_script_and_parameters() -> None:
    candles = make_candles(FLAT)
    base = run_backtest(candles, Signals(), script="a", parameters={"n": 14}).fingerprint
    assert base.engine_version == ENGINE_VERSION
    assert base.candles_sha256[""] == candles_sha256(candles)
    assert json.loads(json.dumps(base.to_dict()))["digest"] == base.digest
    other_params = run_backtest(candles, Signals(), script="a", parameters={"n": 15})
    other_script = run_backtest(candles, Signals(), script="b", parameters={"n": 14})
    moved = make_candles([(*r[:3], 101.0) for r in FLAT])
    other_candles = run_backtest(moved, Signals(), script="a", parameters={"n": 14})
    digests = {
        base.digest,
        other_params.fingerprint.digest,
        other_script.fingerprint.digest,
        other_candles.fingerprint.digest,
    }
    assert len(digests) == 4


def test_cross_portfolio_shares_cash_and_handles_missing_bars() -> None:
    # Arrange: B has no candle at hour 2; each symbol gets half the equity when entering
    a = make_candles([(100, 100, 100, 100), (100, 100, 100, 100), (110, 110, 110, 110)] * 2)
    rows_b = [(50, 50, 50, 50)] * 6
    b_full = make_candles(rows_b)
    keep = np.array([0, 1, 3, 4, 5])
    b = Candles(
        *(getattr(b_full, c)[keep] for c in ("timestamp", "open", "high", "low", "close", "volume"))
    )
    signals = {
        "A/USDT": Signals(entry_long=flags(6, 0), size=0.5),
        "B/USDT": Signals(entry_long=flags(5, 1), size=0.5),
    }
    config = BacktestConfig(initial_cash=1000.0, fee_taker=0.0, margin_mode=MarginMode.CROSS)
    # Act
    result = run_portfolio({"A/USDT": a, "B/USDT": b}, signals, config)
    # Assert
    assert result.symbols == ("A/USDT", "B/USDT")
    assert np.array_equal(result.timestamp, a.timestamp)
    qty_a = 500.0 / 100.0  # half of 1000 at bar 1
    # B's signal at its bar 1 (hour 1) fills at its next candle, hour 3 (hour 2 is missing).
    # Equity then: 1000 - 500 + 5 * 100 (A at 100) = 1000; half is 500 -> 10 units at 50.
    trades = {t.symbol: t for t in result.trades}
    assert trades["A/USDT"].quantity == qty_a
    assert trades["B/USDT"].entry_time == T0 + 3 * HOUR
    assert trades["B/USDT"].quantity == pytest.approx(10.0)
    assert result.equity[2] == pytest.approx(1000.0 + qty_a * 10)  # B flat, A marked at 110
    per = result.per_ticker
    assert per["A/USDT"].num_trades == 0
    assert per["B/USDT"].equity is None


def test_isolated_portfolio_splits_cash_into_equal_sleeves(btc_1h: Candles) -> None:
    rsi = talib.RSI(btc_1h.close, 14)
    signals = Signals(entry_long=rsi < 30, exit_long=rsi > 70)
    config = BacktestConfig(initial_cash=2000.0)
    shifted = Candles(
        btc_1h.timestamp + HOUR // 2,
        *(getattr(btc_1h, c) for c in ("open", "high", "low", "close", "volume")),
    )
    result = run_portfolio({"A": btc_1h, "B": shifted}, {"A": signals, "B": signals}, config)
    alone = run_backtest(btc_1h, signals, BacktestConfig(initial_cash=1000.0))
    assert result.per_ticker["A"].equity is not None
    assert np.array_equal(result.per_ticker["A"].equity, alone.equity)
    assert result.final_equity == pytest.approx(2 * alone.final_equity)
    assert len(result.timestamp) == 2 * len(btc_1h)
    times = [o.time for o in result.orders]
    assert times == sorted(times)


def test_sweep_totals_equal_full_single_runs(btc_1h: Candles) -> None:
    # Arrange
    config = BacktestConfig(fee_taker=0.0005, slippage=0.0005)
    # Act
    sweep = run_sma_cross_sweep(btc_1h, range(5, 30, 5), range(20, 80, 10), config)
    # Assert
    assert len(sweep) == sum(1 for f in range(5, 30, 5) for s in range(20, 80, 10) if f < s)
    for i in (0, len(sweep) // 2, len(sweep) - 1):
        fast, slow = int(sweep.fast[i]), int(sweep.slow[i])
        single = run_backtest(btc_1h, sma_cross_signals(btc_1h.close, fast, slow), config)
        assert sweep.final_equity[i] == single.final_equity
        assert sweep.num_trades[i] == single.stats.num_trades
        assert sweep.max_drawdown_pct[i] == pytest.approx(single.stats.max_drawdown_pct, rel=1e-12)
        assert sweep.sharpe_ratio[i] == pytest.approx(single.stats.sharpe_ratio, rel=1e-9)
        assert sweep.fees_paid[i] == pytest.approx(single.stats.fees_paid, rel=1e-12)
    assert sweep.best() in set(zip(sweep.fast.tolist(), sweep.slow.tolist(), strict=True))


def test_sweep_signal_close_matches_single_run(btc_1h: Candles) -> None:
    config = BacktestConfig(fill=FillConvention.SIGNAL_CLOSE, clamp_fills_to_bar=False)
    sweep = run_sma_cross_sweep(btc_1h, [10], [50], config)
    single = run_backtest(btc_1h, sma_cross_signals(btc_1h.close, 10, 50), config)
    assert sweep.final_equity[0] == single.final_equity


def test_numba_cache_dir_points_inside_the_data_dir() -> None:
    import os

    import numba

    from tradeforge.backtest._bootstrap import NUMBA_CACHE_DIR
    from tradeforge.config import get_settings

    assert get_settings().numba_cache_dir == NUMBA_CACHE_DIR
    assert os.environ["NUMBA_CACHE_DIR"] == str(NUMBA_CACHE_DIR)
    assert str(NUMBA_CACHE_DIR) == numba.config.CACHE_DIR
    assert NUMBA_CACHE_DIR.is_dir()
