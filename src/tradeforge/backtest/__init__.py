"""Backtest engine: numba array kernels, shared fill rules, metrics and typed results.

Public API (everything else is internal)::

    from tradeforge.backtest import BacktestConfig, Signals, run_backtest
    result = run_backtest(candles, Signals(entry_long=rsi < 30, exit_long=rsi > 70))
    result.stats.sharpe_ratio, result.trades, result.orders, result.fingerprint.digest

The execution model and every metric formula are documented in tradeforge/docs/backtesting.md.
"""

from tradeforge.backtest import _bootstrap  # noqa: F401 - sets NUMBA_CACHE_DIR before numba loads
from tradeforge.backtest.engine import (
    BacktestConfig,
    BacktestInputError,
    FillConvention,
    FundingRates,
    MarginMode,
    OrderType,
    Signals,
    SizeType,
    SweepResult,
    align_funding,
    infer_timeframe_ms,
    run_backtest,
    run_portfolio,
    run_sma_cross_sweep,
    sma_cross_signals,
)
from tradeforge.backtest.results import (
    ENGINE_VERSION,
    Ambiguity,
    BacktestResult,
    ExitReason,
    Fingerprint,
    OrderRecord,
    PositionState,
    TickerResult,
    Trade,
    candles_sha256,
)
from tradeforge.backtest.stats import Stats, compute_stats

__all__ = [
    "ENGINE_VERSION",
    "Ambiguity",
    "BacktestConfig",
    "BacktestInputError",
    "BacktestResult",
    "ExitReason",
    "FillConvention",
    "Fingerprint",
    "FundingRates",
    "MarginMode",
    "OrderRecord",
    "OrderType",
    "PositionState",
    "Signals",
    "SizeType",
    "Stats",
    "SweepResult",
    "TickerResult",
    "Trade",
    "align_funding",
    "candles_sha256",
    "compute_stats",
    "infer_timeframe_ms",
    "run_backtest",
    "run_portfolio",
    "run_sma_cross_sweep",
    "sma_cross_signals",
]
