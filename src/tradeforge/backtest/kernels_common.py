"""Kernel record layout: exit reasons, ambiguity and status codes, the fill and trade
table columns, and the helpers every signal kernel uses to decide and log orders.

Re-exported by :mod:`tradeforge.backtest.kernels` (see its docstring for the conventions).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Exit reasons.
REASON_SIGNAL = 0
REASON_STOP = 1
REASON_TAKE_PROFIT = 2
REASON_TRAILING = 3
REASON_LIQUIDATION = 4
REASON_END = 5
REASON_PORTFOLIO_STOP = 6
REASON_PORTFOLIO_TAKE_PROFIT = 7
REASON_ENTRY = 8  # fills that open a position

# How a bar where the adverse level and the take-profit were both in range was settled
# (the ``TRADE_AMBIGUOUS`` column; 0 when the exit bar was not ambiguous).
AMBIGUITY_NONE = 0
AMBIGUITY_WORST_CASE = 1  # no lower timeframe given: the adverse level is assumed
AMBIGUITY_RESOLVED = 2  # the lower timeframe showed which level printed first
AMBIGUITY_SUB_BAR = 3  # the deciding sub-bar touched both levels: worst case again
AMBIGUITY_UNRESOLVED = 4  # sub-bars missing (or none reached a level): worst case

# Order status in the orders log.
STATUS_FILLED = 0
STATUS_REJECTED = 1  # below the minimum size, or no collateral left
STATUS_EXPIRED = 2  # a limit/stop entry that did not fill during its bar

# Fill-record columns.
FILL_BAR = 0
FILL_ASSET = 1
FILL_SIDE = 2
FILL_QTY = 3
FILL_PRICE = 4
FILL_FEE = 5
FILL_REASON = 6
FILL_ORDER_TYPE = 7
FILL_STATUS = 8
FILL_NCOLS = 9

# Trade-record columns.
TRADE_ASSET = 0
TRADE_DIRECTION = 1
TRADE_ENTRY_BAR = 2
TRADE_EXIT_BAR = 3
TRADE_QTY = 4
TRADE_ENTRY_PRICE = 5
TRADE_EXIT_PRICE = 6
TRADE_ENTRY_FEE = 7
TRADE_EXIT_FEE = 8
TRADE_FUNDING = 9
TRADE_PNL = 10
TRADE_REASON = 11
TRADE_AMBIGUOUS = 12  # an AMBIGUITY_* code (0 or 1 unless a lower timeframe was given)
TRADE_IS_OPEN = 13
TRADE_NCOLS = 14


@njit(cache=True)
def resolve_signal(direction: int, el: bool, xl: bool, es: bool, xs: bool) -> tuple[bool, int]:
    """Return ``(close_current, new_direction)`` for one bar's signals and the position side.

    An entry and an exit for the same side on one bar cancel out. An opposite entry closes
    the position and opens the other side (a reversal). Entries in the direction already held
    are ignored (no pyramiding).
    """
    go_long = el and not xl and not es
    go_short = es and not xs and not el
    if direction > 0:
        close_it = (xl and not el) or go_short
        return close_it, (-1 if go_short else 0)
    if direction < 0:
        close_it = (xs and not es) or go_long
        return close_it, (1 if go_long else 0)
    if go_long:
        return False, 1
    if go_short:
        return False, -1
    return False, 0


@njit(cache=True)
def _log_fill(
    fills: np.ndarray,
    nf: int,
    bar: int,
    asset: int,
    side: int,
    qty: float,
    price: float,
    fee: float,
    reason: int,
    order_type: int,
    status: int,
) -> int:
    if nf >= fills.shape[0]:  # capacity is a proven bound; never write past it regardless
        return nf + 1
    fills[nf, FILL_BAR] = bar
    fills[nf, FILL_ASSET] = asset
    fills[nf, FILL_SIDE] = side
    fills[nf, FILL_QTY] = qty
    fills[nf, FILL_PRICE] = price
    fills[nf, FILL_FEE] = fee
    fills[nf, FILL_REASON] = reason
    fills[nf, FILL_ORDER_TYPE] = order_type
    fills[nf, FILL_STATUS] = status
    return nf + 1


@njit(cache=True)
def _log_trade(
    trades: np.ndarray,
    nt: int,
    asset: int,
    direction: int,
    entry_bar: int,
    exit_bar: int,
    qty: float,
    entry_price: float,
    exit_price: float,
    entry_fee: float,
    exit_fee: float,
    funding: float,
    reason: int,
    ambiguity: int,
    is_open: bool,
) -> int:
    if nt >= trades.shape[0]:
        return nt + 1
    trades[nt, TRADE_ASSET] = asset
    trades[nt, TRADE_DIRECTION] = direction
    trades[nt, TRADE_ENTRY_BAR] = entry_bar
    trades[nt, TRADE_EXIT_BAR] = exit_bar
    trades[nt, TRADE_QTY] = qty
    trades[nt, TRADE_ENTRY_PRICE] = entry_price
    trades[nt, TRADE_EXIT_PRICE] = exit_price
    trades[nt, TRADE_ENTRY_FEE] = entry_fee
    trades[nt, TRADE_EXIT_FEE] = exit_fee
    trades[nt, TRADE_FUNDING] = funding
    gross = direction * qty * (exit_price - entry_price)
    trades[nt, TRADE_PNL] = gross - entry_fee - exit_fee - funding
    trades[nt, TRADE_REASON] = reason
    trades[nt, TRADE_AMBIGUOUS] = ambiguity
    trades[nt, TRADE_IS_OPEN] = 1.0 if is_open else 0.0
    return nt + 1
