"""Per-bar views rebuilt from the trade table, and the drawdown pass of the metrics.

Re-exported by :mod:`tradeforge.backtest.kernels` (see its docstring for the conventions).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tradeforge.backtest.kernels_common import (
    TRADE_ASSET,
    TRADE_DIRECTION,
    TRADE_ENTRY_BAR,
    TRADE_EXIT_BAR,
    TRADE_IS_OPEN,
    TRADE_QTY,
)


@njit(cache=True)
def position_from_trades_nb(trades: np.ndarray, n: int, k: int) -> np.ndarray:
    """Return the ``(n, k)`` signed position after each bar, rebuilt from a trade table.

    A trade is held at the closes of ``[entry bar, exit bar)`` (an open trade up to the last
    bar) with ``direction * quantity``; 0.0 elsewhere. This is exactly the curve
    :func:`simulate_simple_nb` marks with ``with_position``.
    """
    out = np.zeros((n, k), dtype=np.float64)
    for r in range(trades.shape[0]):
        start = int(trades[r, TRADE_ENTRY_BAR])
        stop = n if trades[r, TRADE_IS_OPEN] != 0.0 else int(trades[r, TRADE_EXIT_BAR])
        col = int(trades[r, TRADE_ASSET])
        held = trades[r, TRADE_DIRECTION] * trades[r, TRADE_QTY]
        for i in range(start, stop):
            out[i, col] = held
    return out


@njit(cache=True)
def in_market_nb(trades: np.ndarray, n: int) -> np.ndarray:
    """Return whether any position is held at each bar's close, from a trade table.

    Equal to ``np.any(position_from_trades_nb(trades, n, k) != 0.0, axis=1)`` without the
    ``(n, k)`` matrix.
    """
    out = np.zeros(n, dtype=np.bool_)
    for r in range(trades.shape[0]):
        if trades[r, TRADE_DIRECTION] * trades[r, TRADE_QTY] == 0.0:
            continue
        start = int(trades[r, TRADE_ENTRY_BAR])
        stop = n if trades[r, TRADE_IS_OPEN] != 0.0 else int(trades[r, TRADE_EXIT_BAR])
        for i in range(start, stop):
            out[i] = True
    return out


@njit(cache=True)
def drawdown_nb(
    equity: np.ndarray, timestamp: np.ndarray, initial: float
) -> tuple[bool, float, float, int, int]:
    """One pass of :func:`tradeforge.backtest.stats.drawdown_stats` for finite equity.

    Returns ``(ok, max_dd_pct, max_dd_abs, max_dd_duration_ms, longest_dd_ms)``; ``ok`` is
    false (and the rest meaningless) when an equity value is not finite, for the array path.
    """
    n = equity.shape[0]
    peak = initial
    best_abs = 0.0
    best_pct = -1.0
    worst = -1
    ep_start = 0
    ep_end = -1
    last_peak = -1
    last_bound = timestamp[0] if n > 0 else 0
    longest = 0
    for i in range(n):
        e = equity[i]
        if not math.isfinite(e):
            return False, 0.0, 0.0, 0, 0
        m = e if e > initial else initial
        if m > peak:
            peak = m
        dd = peak - e
        pct = (dd / peak if peak > 0 else 0.0) * 100.0
        if i == 0 or dd > best_abs:
            best_abs = dd
        if pct > best_pct:  # the first bar of the largest percentage, like argmax
            best_pct = pct
            worst = i
            ep_start = timestamp[last_peak] if last_peak >= 0 else timestamp[0]
            ep_end = -1
        if dd <= 0.0:
            longest = max(longest, timestamp[i] - last_bound)
            last_bound = timestamp[i]
            last_peak = i
            if i > worst and ep_end < 0:
                ep_end = i
    if n == 0 or best_abs <= 0.0:
        return True, 0.0, 0.0, 0, 0
    longest = max(longest, timestamp[n - 1] - last_bound)
    end_ts = timestamp[ep_end] if ep_end >= 0 else timestamp[n - 1]
    return True, best_pct, best_abs, int(end_ts - ep_start), int(longest)
