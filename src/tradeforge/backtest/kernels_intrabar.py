"""Settling an ambiguous bar from a stored lower timeframe: :func:`intrabar_exit_nb`.

Re-exported by :mod:`tradeforge.backtest.kernels` (see its docstring for the conventions).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tradeforge.backtest.fills import (
    clamp_to_bar,
    market_fill_price,
)
from tradeforge.backtest.kernels_common import (
    AMBIGUITY_RESOLVED,
    AMBIGUITY_SUB_BAR,
    AMBIGUITY_UNRESOLVED,
    REASON_LIQUIDATION,
    REASON_STOP,
    REASON_TAKE_PROFIT,
    REASON_TRAILING,
)


@njit(cache=True)
def _stop_level(direction: int, sl_px: float, peak: float, trail: float) -> tuple[float, bool]:
    # Return the active protective stop price (NaN when none) and whether it is the trailing one.
    if direction > 0:
        trail_px = peak * (1.0 - trail)
        if trail_px > sl_px or (math.isnan(sl_px) and not math.isnan(trail_px)):
            return trail_px, True
        return sl_px, False
    trail_px = peak * (1.0 + trail)
    if trail_px < sl_px or (math.isnan(sl_px) and not math.isnan(trail_px)):
        return trail_px, True
    return sl_px, False


@njit(cache=True)
def intrabar_exit_nb(
    d: int,
    sl_px: float,
    peak: float,
    trail: float,
    liq_px: float,
    tp_px: float,
    start: int,
    end: int,
    sub_ok: np.ndarray,
    sub_open: np.ndarray,
    sub_high: np.ndarray,
    sub_low: np.ndarray,
    bar_low: float,
    bar_high: float,
    slippage: float,
    clamp: bool,
) -> tuple[int, int, float]:
    """Settle an ambiguous bar with its sub-bars ``start..end-1``, in time order.

    Called only when the bar's range reached both the adverse level (stop, trailing stop or
    liquidation) and the take-profit of a position of direction ``d``. Each sub-bar is
    checked like a bar: an open beyond a level fills at that open (plus slippage for a stop),
    then the low/high against the levels; the trailing stop's peak moves with a sub-bar's
    favourable extreme only after that sub-bar is checked. Only this bar's sub-bars are read.

    ``sub_ok[s]`` is false when sub-bar ``s`` does not directly follow the previous one (or
    the bar's open): a hole before the deciding sub-bar leaves the order unknown. Prices are
    kept inside the bar's ``[bar_low, bar_high]``.

    Returns ``(ambiguity, reason, price)``: ``AMBIGUITY_RESOLVED`` with the first level hit;
    ``AMBIGUITY_SUB_BAR`` with the adverse exit when the deciding sub-bar touched both; or
    ``AMBIGUITY_UNRESOLVED`` with reason -1 (the caller assumes the worst at the bar level).
    """
    for s in range(start, end):
        if not sub_ok[s]:
            break
        stop_px, is_trail = _stop_level(d, sl_px, peak, trail)
        if d > 0:
            adverse = max(stop_px, liq_px) if not math.isnan(stop_px) else liq_px
        else:
            adverse = min(stop_px, liq_px) if not math.isnan(stop_px) else liq_px
        is_stop = adverse == stop_px and stop_px != liq_px
        stop_reason = REASON_TRAILING if is_trail else REASON_STOP
        o = clamp_to_bar(sub_open[s], bar_low, bar_high, True)
        if (d > 0 and o <= adverse) or (d < 0 and o >= adverse):
            if is_stop:
                px = market_fill_price(o, -d, slippage, bar_low, bar_high, clamp)
                return AMBIGUITY_RESOLVED, stop_reason, px
            return AMBIGUITY_RESOLVED, REASON_LIQUIDATION, o
        if (d > 0 and o > tp_px) or (d < 0 and o < tp_px):
            return AMBIGUITY_RESOLVED, REASON_TAKE_PROFIT, o
        lo = sub_low[s]
        h = sub_high[s]
        adverse_hit = lo <= adverse if d > 0 else h >= adverse
        tp_hit = h > tp_px if d > 0 else lo < tp_px
        if adverse_hit:
            code = AMBIGUITY_SUB_BAR if tp_hit else AMBIGUITY_RESOLVED
            if is_stop:
                px = market_fill_price(stop_px, -d, slippage, bar_low, bar_high, clamp)
                return code, stop_reason, px
            return code, REASON_LIQUIDATION, clamp_to_bar(liq_px, bar_low, bar_high, True)
        if tp_hit:
            return AMBIGUITY_RESOLVED, REASON_TAKE_PROFIT, tp_px
        peak = max(peak, h) if d > 0 else min(peak, lo)
    return AMBIGUITY_UNRESOLVED, -1, math.nan
