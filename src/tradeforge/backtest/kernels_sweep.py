"""The SMA-crossover sweep: rolling means, the SMA table and :func:`sma_cross_sweep_nb`.

Re-exported by :mod:`tradeforge.backtest.kernels` (see its docstring for the conventions).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tradeforge.backtest.fills import (
    market_fill_price,
)

# Sweep-result columns.
SWEEP_FINAL_EQUITY = 0
SWEEP_NUM_TRADES = 1
SWEEP_WINS = 2
SWEEP_FEES = 3
SWEEP_MAX_DRAWDOWN_PCT = 4
SWEEP_RET_SUM = 5
SWEEP_RET_SQ_SUM = 6
SWEEP_RET_COUNT = 7
SWEEP_NCOLS = 8


@njit(cache=True)
def rolling_mean_nb(values: np.ndarray, window: int) -> np.ndarray:
    """Return the simple moving average of ``values`` (NaN for the first ``window - 1`` bars)."""
    n = values.shape[0]
    out = np.full(n, np.nan)
    if window <= 0 or window > n:
        return out
    acc = 0.0
    for i in range(window):
        acc += values[i]
    out[window - 1] = acc / window
    for i in range(window, n):
        acc += values[i] - values[i - window]
        out[i] = acc / window
    return out


@njit(cache=True)
def sma_table_nb(close: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Return a ``(len(windows), n)`` table with one SMA row per window."""
    out = np.empty((windows.shape[0], close.shape[0]), dtype=np.float64)
    for w in range(windows.shape[0]):
        out[w] = rolling_mean_nb(close, windows[w])
    return out


@njit(cache=True)
def sma_cross_sweep_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    sma: np.ndarray,
    fast_row: np.ndarray,
    slow_row: np.ndarray,
    init_cash: float,
    fee_rate: float,
    slippage: float,
    fill_at_close: bool,
    clamp: bool,
) -> np.ndarray:
    """Run one long-only SMA crossover per ``(fast_row[p], slow_row[p])`` pair of ``sma`` rows.

    Entry when the fast SMA crosses above the slow one (``f[i] > s[i]`` and
    ``f[i-1] <= s[i-1]``), exit when it crosses below; all-in (weight 1) market orders.
    Keeps only running totals per pair (``SWEEP_*`` columns; trades count closed round trips
    only, like :mod:`tradeforge.backtest.stats`); rebuild one pair's full curve
    with :func:`simulate_simple_nb` on the same signals.
    """
    n = close.shape[0]
    p_count = fast_row.shape[0]
    out = np.zeros((p_count, SWEEP_NCOLS), dtype=np.float64)
    for p in range(p_count):
        fast = sma[fast_row[p]]
        slow = sma[slow_row[p]]
        balance = init_cash
        qty = 0.0
        entry_px = 0.0
        entry_fee = 0.0
        fees = 0.0
        trades = 0
        wins = 0
        peak_eq = init_cash
        max_dd = 0.0
        prev_eq = init_cash
        ret_sum = 0.0
        ret_sq = 0.0
        ret_n = 0
        for i in range(n):
            sig = i if fill_at_close else i - 1
            if sig >= 1:
                f0 = fast[sig - 1]
                s0 = slow[sig - 1]
                f1 = fast[sig]
                s1 = slow[sig]
                ref = close[i] if fill_at_close else open_[i]
                if qty > 0.0 and f1 < s1 and f0 >= s0:
                    px = market_fill_price(ref, -1, slippage, low[i], high[i], clamp)
                    fee = qty * px * fee_rate
                    pnl = qty * (px - entry_px) - fee
                    balance += pnl
                    fees += fee
                    trades += 1
                    if pnl - entry_fee > 0.0:
                        wins += 1
                    qty = 0.0
                elif qty == 0.0 and f1 > s1 and f0 <= s0:
                    px = market_fill_price(ref, 1, slippage, low[i], high[i], clamp)
                    q = balance / (px * (1.0 + fee_rate))
                    if q > 0.0:
                        entry_fee = q * px * fee_rate
                        balance -= entry_fee
                        fees += entry_fee
                        qty = q
                        entry_px = px
            eq = balance + qty * (close[i] - entry_px)
            r = eq / prev_eq - 1.0
            ret_sum += r
            ret_sq += r * r
            ret_n += 1
            prev_eq = eq
            if eq > peak_eq:
                peak_eq = eq
            dd = 1.0 - eq / peak_eq
            if dd > max_dd:
                max_dd = dd
        out[p, SWEEP_FINAL_EQUITY] = prev_eq
        out[p, SWEEP_NUM_TRADES] = trades
        out[p, SWEEP_WINS] = wins
        out[p, SWEEP_FEES] = fees
        out[p, SWEEP_MAX_DRAWDOWN_PCT] = max_dd * 100.0
        out[p, SWEEP_RET_SUM] = ret_sum
        out[p, SWEEP_RET_SQ_SUM] = ret_sq
        out[p, SWEEP_RET_COUNT] = ret_n
    return out
