"""Backtest kernels: pure array functions compiled with numba.

Array convention (all kernels):

* Single-asset kernels take 1-D arrays of length ``n`` (bars). The portfolio kernel takes
  asset-major 2-D ``(k, n)`` C-contiguous inputs, one row per asset on a shared time grid
  (a single symbol's 1-D arrays reshape to ``(1, n)`` without a copy), where ``NaN`` in
  ``open`` means "this asset has no candle at this time"; its per-bar outputs are ``(n, k)``.
* Prices, sizes and money are float64; flags are bool; enumerations are int64.
* Signals at bar ``i`` are computed from bars ``0..i`` only (closed bars). The kernel decides
  when they fill: the next bar's open (default) or bar ``i``'s close (``fill_at_close``).
* Records (fills, trades) come back as 2-D float64 tables whose columns are the ``FILL_*``
  and ``TRADE_*`` constants (defined in ``kernels_common``). Bar numbers and enums are
  stored as exact float64 integers; :mod:`tradeforge.backtest.engine` turns them into typed
  results.

Three specialised kernels rather than one generic one, to keep the hot loops short:

* :func:`simulate_simple_nb`: one asset, market orders, fees, slippage, sizing; no stops,
  leverage or funding. The fast path.
* :func:`simulate_portfolio_nb`: ``k`` assets sharing one cash balance (``k == 1`` for an
  isolated sub-account), with limit/stop entries, stop-loss / take-profit / trailing stops,
  leverage, liquidation, funding and portfolio-level stops.
* :func:`sma_cross_sweep_nb`: many SMA-crossover parameter sets over one series, each
  distinct SMA computed once, only running totals kept per parameter set.

The kernels live in topical modules, re-exported here under the names every caller uses:
``kernels_common`` (record layout, order logging), ``kernels_simple`` (the fast path),
``kernels_portfolio`` (the full kernel), ``kernels_intrabar`` (lower-timeframe settling),
``kernels_records`` (per-bar views and drawdown), ``kernels_scan`` (input checks) and
``kernels_sweep`` (the SMA sweep).
"""

from __future__ import annotations

from tradeforge.backtest.kernels_common import (
    AMBIGUITY_NONE,
    AMBIGUITY_RESOLVED,
    AMBIGUITY_SUB_BAR,
    AMBIGUITY_UNRESOLVED,
    AMBIGUITY_WORST_CASE,
    FILL_ASSET,
    FILL_BAR,
    FILL_FEE,
    FILL_NCOLS,
    FILL_ORDER_TYPE,
    FILL_PRICE,
    FILL_QTY,
    FILL_REASON,
    FILL_SIDE,
    FILL_STATUS,
    REASON_END,
    REASON_ENTRY,
    REASON_LIQUIDATION,
    REASON_PORTFOLIO_STOP,
    REASON_PORTFOLIO_TAKE_PROFIT,
    REASON_SIGNAL,
    REASON_STOP,
    REASON_TAKE_PROFIT,
    REASON_TRAILING,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_REJECTED,
    TRADE_AMBIGUOUS,
    TRADE_ASSET,
    TRADE_DIRECTION,
    TRADE_ENTRY_BAR,
    TRADE_ENTRY_FEE,
    TRADE_ENTRY_PRICE,
    TRADE_EXIT_BAR,
    TRADE_EXIT_FEE,
    TRADE_EXIT_PRICE,
    TRADE_FUNDING,
    TRADE_IS_OPEN,
    TRADE_NCOLS,
    TRADE_PNL,
    TRADE_QTY,
    TRADE_REASON,
    _log_fill,
    _log_trade,
    resolve_signal,
)
from tradeforge.backtest.kernels_intrabar import (
    _stop_level,
    intrabar_exit_nb,
)
from tradeforge.backtest.kernels_portfolio import (
    _close_position,
    _equity_available,
    _open_position,
    _row,
    simulate_portfolio_nb,
)
from tradeforge.backtest.kernels_records import (
    drawdown_nb,
    in_market_nb,
    position_from_trades_nb,
)
from tradeforge.backtest.kernels_scan import (
    min_gap_nb,
    same_values_nb,
    scan_candles_nb,
    scan_candles_same_nb,
)
from tradeforge.backtest.kernels_simple import (
    LOG_ROWS_FIRST,
    _long_run,
    _simple_run,
    simulate_long_nb,
    simulate_simple_nb,
)
from tradeforge.backtest.kernels_sweep import (
    SWEEP_FEES,
    SWEEP_FINAL_EQUITY,
    SWEEP_MAX_DRAWDOWN_PCT,
    SWEEP_NCOLS,
    SWEEP_NUM_TRADES,
    SWEEP_RET_COUNT,
    SWEEP_RET_SQ_SUM,
    SWEEP_RET_SUM,
    SWEEP_WINS,
    rolling_mean_nb,
    sma_cross_sweep_nb,
    sma_table_nb,
)

__all__ = [
    "AMBIGUITY_NONE",
    "AMBIGUITY_RESOLVED",
    "AMBIGUITY_SUB_BAR",
    "AMBIGUITY_UNRESOLVED",
    "AMBIGUITY_WORST_CASE",
    "FILL_ASSET",
    "FILL_BAR",
    "FILL_FEE",
    "FILL_NCOLS",
    "FILL_ORDER_TYPE",
    "FILL_PRICE",
    "FILL_QTY",
    "FILL_REASON",
    "FILL_SIDE",
    "FILL_STATUS",
    "LOG_ROWS_FIRST",
    "REASON_END",
    "REASON_ENTRY",
    "REASON_LIQUIDATION",
    "REASON_PORTFOLIO_STOP",
    "REASON_PORTFOLIO_TAKE_PROFIT",
    "REASON_SIGNAL",
    "REASON_STOP",
    "REASON_TAKE_PROFIT",
    "REASON_TRAILING",
    "STATUS_EXPIRED",
    "STATUS_FILLED",
    "STATUS_REJECTED",
    "SWEEP_FEES",
    "SWEEP_FINAL_EQUITY",
    "SWEEP_MAX_DRAWDOWN_PCT",
    "SWEEP_NCOLS",
    "SWEEP_NUM_TRADES",
    "SWEEP_RET_COUNT",
    "SWEEP_RET_SQ_SUM",
    "SWEEP_RET_SUM",
    "SWEEP_WINS",
    "TRADE_AMBIGUOUS",
    "TRADE_ASSET",
    "TRADE_DIRECTION",
    "TRADE_ENTRY_BAR",
    "TRADE_ENTRY_FEE",
    "TRADE_ENTRY_PRICE",
    "TRADE_EXIT_BAR",
    "TRADE_EXIT_FEE",
    "TRADE_EXIT_PRICE",
    "TRADE_FUNDING",
    "TRADE_IS_OPEN",
    "TRADE_NCOLS",
    "TRADE_PNL",
    "TRADE_QTY",
    "TRADE_REASON",
    "_close_position",
    "_equity_available",
    "_log_fill",
    "_log_trade",
    "_long_run",
    "_open_position",
    "_row",
    "_simple_run",
    "_stop_level",
    "drawdown_nb",
    "in_market_nb",
    "intrabar_exit_nb",
    "min_gap_nb",
    "position_from_trades_nb",
    "resolve_signal",
    "rolling_mean_nb",
    "same_values_nb",
    "scan_candles_nb",
    "scan_candles_same_nb",
    "simulate_long_nb",
    "simulate_portfolio_nb",
    "simulate_simple_nb",
    "sma_cross_sweep_nb",
    "sma_table_nb",
]
