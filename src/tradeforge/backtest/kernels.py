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
  and ``TRADE_*`` constants below. Bar numbers and enums are stored as exact float64 integers;
  :mod:`tradeforge.backtest.engine` turns them into typed results.

Three specialised kernels rather than one generic one, to keep the hot loops short:

* :func:`simulate_simple_nb`: one asset, market orders, fees, slippage, sizing; no stops,
  leverage or funding. The fast path.
* :func:`simulate_portfolio_nb`: ``k`` assets sharing one cash balance (``k == 1`` for an
  isolated sub-account), with limit/stop entries, stop-loss / take-profit / trailing stops,
  leverage, liquidation, funding and portfolio-level stops.
* :func:`sma_cross_sweep_nb`: many SMA-crossover parameter sets over one series, each
  distinct SMA computed once, only running totals kept per parameter set.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tradeforge.backtest.fills import (
    ORDER_LIMIT,
    ORDER_LIQUIDATION,
    ORDER_MARKET,
    ORDER_STOP,
    clamp_to_bar,
    fee_for,
    limit_fill_price,
    liquidation_price,
    market_fill_price,
    order_quantity,
    stop_fill_price,
)

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


# Log tables are first sized at most this many rows: a table sized by the proven bound
# (entry-signal bars) can reach megabytes on 1m data, and such allocations come back as fresh
# pages on every call. A run that needs more rows is repeated with the full bound.
LOG_ROWS_FIRST = 2048


@njit(cache=True)
def simulate_simple_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entry_long: np.ndarray,
    exit_long: np.ndarray,
    entry_short: np.ndarray,
    exit_short: np.ndarray,
    size: np.ndarray,
    size_type: np.ndarray,
    init_cash: float,
    fee_rate: float,
    slippage: float,
    min_qty: float,
    qty_step: float,
    fill_at_close: bool,
    clamp: bool,
    capacity: int,
    with_position: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run one asset with market orders only (1x, no stops, no funding).

    ``size`` and ``size_type`` have one value per bar, or a single value for every bar.

    ``capacity`` bounds the records: the number of entry-signal bars (every order-log line
    is an entry attempt or the exit of a filled entry, so there are at most ``2 * capacity``
    lines and ``capacity`` trades). The tables are first sized at most ``LOG_ROWS_FIRST``
    rows; a run that needs more is repeated with the full bound. Returns ``(equity,
    position, fills, trades)``: equity marked at each close, the signed position quantity
    after each bar (an empty array unless ``with_position``; it equals ``direction *
    quantity`` of the trade held at that close, 0.0 when flat), and the fill and trade tables.
    """
    fill_bound = 2 * capacity + 2
    trade_bound = capacity + 2
    equity, position, fills, nf, trades, nt = _simple_run(
        open_, high, low, close, entry_long, exit_long, entry_short, exit_short, size,
        size_type, init_cash, fee_rate, slippage, min_qty, qty_step, fill_at_close, clamp,
        min(fill_bound, LOG_ROWS_FIRST), min(trade_bound, LOG_ROWS_FIRST // 2), with_position,
    )  # fmt: skip
    if nf > fills.shape[0] or nt > trades.shape[0]:
        equity, position, fills, nf, trades, nt = _simple_run(
            open_, high, low, close, entry_long, exit_long, entry_short, exit_short, size,
            size_type, init_cash, fee_rate, slippage, min_qty, qty_step, fill_at_close, clamp,
            fill_bound, trade_bound, with_position,
        )  # fmt: skip
        if nf > fills.shape[0] or nt > trades.shape[0]:
            raise RuntimeError("order log capacity exceeded")
    if not with_position:
        position = position[:0]
    return equity, position, fills[:nf].copy(), trades[:nt].copy()


@njit(cache=True)
def simulate_long_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entry_long: np.ndarray,
    exit_long: np.ndarray,
    size: np.ndarray,
    size_type: np.ndarray,
    init_cash: float,
    fee_rate: float,
    slippage: float,
    min_qty: float,
    qty_step: float,
    fill_at_close: bool,
    clamp: bool,
    capacity: int,
    equity_out: np.ndarray,
    fill_buffer: np.ndarray,
    trade_buffer: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run :func:`simulate_simple_nb` for signals without short entries, without the position
    curve: returns ``(equity, fills, trades)``, byte-identical to that kernel's.

    ``capacity`` is the number of entry-long bars. The equity is written into ``equity_out``
    when it has one slot per bar (a buffer the caller reuses), else into a new array. The
    logs are first written into ``fill_buffer``/``trade_buffer`` (buffers the caller reuses;
    too small ones are replaced by new arrays) and returned as copies.
    """
    fill_bound = 2 * capacity + 2
    trade_bound = capacity + 2
    equity, fills, nf, trades, nt = _long_run(
        open_, high, low, close, entry_long, exit_long, size, size_type, init_cash, fee_rate,
        slippage, min_qty, qty_step, fill_at_close, clamp, min(fill_bound, LOG_ROWS_FIRST),
        min(trade_bound, LOG_ROWS_FIRST // 2), equity_out, fill_buffer, trade_buffer,
    )  # fmt: skip
    if nf > fills.shape[0] or nt > trades.shape[0]:
        equity, fills, nf, trades, nt = _long_run(
            open_, high, low, close, entry_long, exit_long, size, size_type, init_cash,
            fee_rate, slippage, min_qty, qty_step, fill_at_close, clamp, fill_bound, trade_bound,
            equity_out, fill_buffer, trade_buffer,
        )  # fmt: skip
        if nf > fills.shape[0] or nt > trades.shape[0]:
            raise RuntimeError("order log capacity exceeded")
    return equity, fills[:nf].copy(), trades[:nt].copy()


@njit(cache=True)
def _simple_run(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entry_long: np.ndarray,
    exit_long: np.ndarray,
    entry_short: np.ndarray,
    exit_short: np.ndarray,
    size: np.ndarray,
    size_type: np.ndarray,
    init_cash: float,
    fee_rate: float,
    slippage: float,
    min_qty: float,
    qty_step: float,
    fill_at_close: bool,
    clamp: bool,
    fill_rows: int,
    trade_rows: int,
    with_position: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray, int]:
    # simulate_simple_nb with tables of the given sizes; returns (equity, position, fills,
    # fill count, trades, trade count). A count above its table's rows means the table was
    # too small (_log_fill/_log_trade never write past the end): run again with more rows.
    n = close.shape[0]
    equity = np.empty(n, dtype=np.float64)
    # Without with_position every bar writes one scratch slot (index i * 0): a store without
    # a branch in the hot loop, and no n-sized allocation.
    position = np.empty(n if with_position else 1, dtype=np.float64)
    pstep = 1 if with_position else 0
    fills = np.empty((fill_rows, FILL_NCOLS), dtype=np.float64)
    trades = np.empty((trade_rows, TRADE_NCOLS), dtype=np.float64)
    nf = 0
    nt = 0
    balance = init_cash
    direction = 0
    qty = 0.0
    held = 0.0  # direction * qty, refreshed whenever the position changes
    entry_px = 0.0
    entry_fee = 0.0
    entry_bar = -1
    for i in range(n):
        sig = i if fill_at_close else i - 1
        # Bitwise | reads all four flags without a branch per flag.
        if sig >= 0 and (entry_long[sig] | exit_long[sig] | entry_short[sig] | exit_short[sig]):
            close_it, new_dir = resolve_signal(
                direction, entry_long[sig], exit_long[sig], entry_short[sig], exit_short[sig]
            )
            ref = close[i] if fill_at_close else open_[i]
            if close_it:
                side = -direction
                px = market_fill_price(ref, side, slippage, low[i], high[i], clamp)
                fee = fee_for(qty, px, fee_rate)
                balance += direction * qty * (px - entry_px) - fee
                nf = _log_fill(
                    fills, nf, i, 0, side, qty, px, fee, REASON_SIGNAL, ORDER_MARKET, STATUS_FILLED
                )
                nt = _log_trade(
                    trades, nt, 0, direction, entry_bar, i, qty, entry_px, px, entry_fee, fee,
                    0.0, REASON_SIGNAL, AMBIGUITY_NONE, False,
                )  # fmt: skip
                direction = 0
                qty = 0.0
            if new_dir != 0 and direction == 0:
                px = market_fill_price(ref, new_dir, slippage, low[i], high[i], clamp)
                q = order_quantity(
                    size[sig if size.shape[0] > 1 else 0],
                    size_type[sig if size_type.shape[0] > 1 else 0],
                    px, balance, balance, 1.0, fee_rate, min_qty,
                    qty_step,
                )  # fmt: skip
                if q > 0.0:
                    fee = fee_for(q, px, fee_rate)
                    balance -= fee
                    direction = new_dir
                    qty = q
                    entry_px = px
                    entry_fee = fee
                    entry_bar = i
                    nf = _log_fill(
                        fills, nf, i, 0, new_dir, q, px, fee, REASON_ENTRY, ORDER_MARKET,
                        STATUS_FILLED,
                    )  # fmt: skip
                else:
                    nf = _log_fill(
                        fills, nf, i, 0, new_dir, 0.0, px, 0.0, REASON_ENTRY, ORDER_MARKET,
                        STATUS_REJECTED,
                    )  # fmt: skip
            held = direction * qty
        # Same value as balance + direction * qty * (close - entry_px): held is that product.
        equity[i] = balance + held * (close[i] - entry_px)
        position[i * pstep] = held
    if direction != 0:
        nt = _log_trade(
            trades, nt, 0, direction, entry_bar, n - 1, qty, entry_px, close[n - 1], entry_fee,
            0.0, 0.0, REASON_END, AMBIGUITY_NONE, True,
        )  # fmt: skip
    return equity, position, fills, nf, trades, nt


@njit(cache=True)
def _long_run(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entry_long: np.ndarray,
    exit_long: np.ndarray,
    size: np.ndarray,
    size_type: np.ndarray,
    init_cash: float,
    fee_rate: float,
    slippage: float,
    min_qty: float,
    qty_step: float,
    fill_at_close: bool,
    clamp: bool,
    fill_rows: int,
    trade_rows: int,
    equity_out: np.ndarray,
    fill_buffer: np.ndarray,
    trade_buffer: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, int]:
    # _simple_run without short entries and without the position curve: the bar loop reads
    # two signal arrays and stores only the equity (each saves about a fifth of its time).
    # With no short entry the short exits cannot act, so the records are the same. The bar
    # loop is _simple_run's, written out again: moving the signal bar into a shared helper
    # made both loops three times slower (reference counting on every call).
    n = close.shape[0]
    equity = equity_out if equity_out.shape[0] == n else np.empty(n, dtype=np.float64)
    if fill_buffer.shape[0] >= fill_rows:
        fills = fill_buffer[:fill_rows]
    else:
        fills = np.empty((fill_rows, FILL_NCOLS), dtype=np.float64)
    if trade_buffer.shape[0] >= trade_rows:
        trades = trade_buffer[:trade_rows]
    else:
        trades = np.empty((trade_rows, TRADE_NCOLS), dtype=np.float64)
    nf = 0
    nt = 0
    balance = init_cash
    direction = 0
    qty = 0.0
    held = 0.0
    entry_px = 0.0
    entry_fee = 0.0
    entry_bar = -1
    for i in range(n):
        sig = i if fill_at_close else i - 1
        if sig >= 0 and (entry_long[sig] | exit_long[sig]):
            close_it, new_dir = resolve_signal(
                direction, entry_long[sig], exit_long[sig], False, False
            )
            ref = close[i] if fill_at_close else open_[i]
            if close_it:
                side = -direction
                px = market_fill_price(ref, side, slippage, low[i], high[i], clamp)
                fee = fee_for(qty, px, fee_rate)
                balance += direction * qty * (px - entry_px) - fee
                nf = _log_fill(
                    fills, nf, i, 0, side, qty, px, fee, REASON_SIGNAL, ORDER_MARKET, STATUS_FILLED
                )
                nt = _log_trade(
                    trades, nt, 0, direction, entry_bar, i, qty, entry_px, px, entry_fee, fee,
                    0.0, REASON_SIGNAL, AMBIGUITY_NONE, False,
                )  # fmt: skip
                direction = 0
                qty = 0.0
            if new_dir != 0 and direction == 0:
                px = market_fill_price(ref, new_dir, slippage, low[i], high[i], clamp)
                q = order_quantity(
                    size[sig if size.shape[0] > 1 else 0],
                    size_type[sig if size_type.shape[0] > 1 else 0],
                    px, balance, balance, 1.0, fee_rate, min_qty,
                    qty_step,
                )  # fmt: skip
                if q > 0.0:
                    fee = fee_for(q, px, fee_rate)
                    balance -= fee
                    direction = new_dir
                    qty = q
                    entry_px = px
                    entry_fee = fee
                    entry_bar = i
                    nf = _log_fill(
                        fills, nf, i, 0, new_dir, q, px, fee, REASON_ENTRY, ORDER_MARKET,
                        STATUS_FILLED,
                    )  # fmt: skip
                else:
                    nf = _log_fill(
                        fills, nf, i, 0, new_dir, 0.0, px, 0.0, REASON_ENTRY, ORDER_MARKET,
                        STATUS_REJECTED,
                    )  # fmt: skip
            held = direction * qty
        # Same value as balance + direction * qty * (close - entry_px): held is that product.
        equity[i] = balance + held * (close[i] - entry_px)
    if direction != 0:
        nt = _log_trade(
            trades, nt, 0, direction, entry_bar, n - 1, qty, entry_px, close[n - 1], entry_fee,
            0.0, 0.0, REASON_END, AMBIGUITY_NONE, True,
        )  # fmt: skip
    return equity, fills, nf, trades, nt


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


@njit(cache=True)
def _row(values: np.ndarray, bar: int) -> int:
    # Column of a per-bar (k, n) input for ``bar``; a (k, 1) input holds one value per asset
    # for every bar.
    return bar if values.shape[1] > 1 else 0


@njit(cache=True)
def _equity_available(
    balance: float,
    direction: np.ndarray,
    qty: np.ndarray,
    entry_px: np.ndarray,
    margin: np.ndarray,
    mark: np.ndarray,
) -> tuple[float, float]:
    upnl = 0.0
    locked = 0.0
    for j in range(direction.shape[0]):
        if direction[j] != 0:
            upnl += direction[j] * qty[j] * (mark[j] - entry_px[j])
            locked += margin[j]
    # Unrealised losses reduce the collateral available for new entries; profits do not.
    return balance + upnl, balance - locked + min(upnl, 0.0)


@njit(cache=True)
def simulate_portfolio_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entry_long: np.ndarray,
    exit_long: np.ndarray,
    entry_short: np.ndarray,
    exit_short: np.ndarray,
    size: np.ndarray,
    size_type: np.ndarray,
    order_type: np.ndarray,
    order_price: np.ndarray,
    sl_pct: np.ndarray,
    tp_pct: np.ndarray,
    trail_pct: np.ndarray,
    funding_rate: np.ndarray,
    leverage: np.ndarray,
    min_qty: np.ndarray,
    qty_step: np.ndarray,
    init_cash: float,
    fee_maker: float,
    fee_taker: float,
    slippage: float,
    maint_margin: float,
    liq_fee: float,
    portfolio_sl: float,
    portfolio_tp: float,
    fill_at_close: bool,
    clamp: bool,
    capacity: int,
    sub_start: np.ndarray,
    sub_end: np.ndarray,
    sub_ok: np.ndarray,
    sub_open: np.ndarray,
    sub_high: np.ndarray,
    sub_low: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run ``k`` assets on one shared balance with every order and risk feature.

    Per-bar inputs are asset-major ``(k, n)`` (one row per asset, see the module docstring).
    ``size``, ``size_type``, ``order_type``, ``order_price``, ``sl_pct``, ``tp_pct``,
    ``trail_pct`` and ``funding_rate`` may also be ``(k, 1)``: one value per asset for every
    bar. ``leverage``, ``min_qty`` and ``qty_step`` have one value per asset.

    Per-bar phases for each asset that has a candle: (1) funding on the carried position at
    the open; (2) gaps through a stop, take-profit or liquidation price fill at the open;
    (3) next-open mode: the previous signal's exit, then its entry (market at the open, or a
    limit/stop order resting during the bar); (4) intrabar stop-loss / trailing / take-profit /
    liquidation checks against the bar's low and high, worst case first; (5) signal-close
    mode: the signal's exit and entry at the close. Exits of every asset run before entries so
    freed collateral is available. Equity is marked at each close; portfolio-level stops are
    checked there and close everything at the next fill point.

    ``capacity`` is the number of entry-signal cells over all assets (see
    :func:`simulate_simple_nb`). The ``sub_*`` arrays carry an optional lower timeframe
    (see :func:`intrabar_exit_nb`): ``sub_start``/``sub_end`` are ``(n, k)`` int64 offsets of
    the sub-bars inside each bar into the flat ``sub_open``/``sub_high``/``sub_low``/``sub_ok``
    arrays (a start of -1: no lower timeframe for that asset); pass ``(0, 0)``-shaped offsets
    (and empty arrays) for none at all.

    Returns ``(equity, balance, position, funding, fills, trades)``; ``position`` and
    ``funding`` are ``(n, k)``: signed quantity after each bar and funding paid in each bar
    (``funding`` is ``(0, k)`` when every rate is zero).
    """
    k, n = close.shape
    equity = np.empty(n, dtype=np.float64)
    balance_out = np.empty(n, dtype=np.float64)
    position = np.zeros((n, k), dtype=np.float64)
    # Without any funding rate nothing is ever paid: skip the (n, k) table (fresh pages).
    has_funding = False
    for j in range(k):
        for r in range(funding_rate.shape[1]):
            has_funding = has_funding or funding_rate[j, r] != 0.0
    funding_out = np.zeros((n if has_funding else 0, k), dtype=np.float64)
    fills = np.empty((2 * capacity + 2 * k + 8, FILL_NCOLS), dtype=np.float64)
    trades = np.empty((capacity + k + 8, TRADE_NCOLS), dtype=np.float64)
    nf = 0
    nt = 0
    balance = init_cash
    direction = np.zeros(k, dtype=np.int64)
    qty = np.zeros(k, dtype=np.float64)
    entry_px = np.zeros(k, dtype=np.float64)
    margin = np.zeros(k, dtype=np.float64)
    entry_fee = np.zeros(k, dtype=np.float64)
    entry_bar = np.full(k, -1, dtype=np.int64)
    funding_acc = np.zeros(k, dtype=np.float64)
    sl_px = np.full(k, np.nan)
    tp_px = np.full(k, np.nan)
    trail = np.full(k, np.nan)
    peak = np.zeros(k, dtype=np.float64)
    liq_px = np.zeros(k, dtype=np.float64)
    ambiguity = np.zeros(k, dtype=np.int64)  # AMBIGUITY_* of the exit in this bar
    mark = np.zeros(k, dtype=np.float64)
    entered_intrabar = np.zeros(k, dtype=np.bool_)
    pending = np.full(k, -1, dtype=np.int64)  # signal bar awaiting the next open
    resting = np.full(k, -1, dtype=np.int64)  # signal bar of a resting limit/stop entry
    entry_dir = np.zeros(k, dtype=np.int64)  # side of the entry still to place this bar
    exit_all_reason = -1
    halted = False
    has_intrabar = sub_start.shape[0] > 0
    for j in range(k):
        mark[j] = np.nan

    for i in range(n):
        # Phase 1-2: funding, then gaps through protective levels at the open.
        for j in range(k):
            o = open_[j, i]
            if math.isnan(o):
                continue
            mark[j] = o
            entered_intrabar[j] = False
            entry_dir[j] = 0
            d = direction[j]
            if d == 0:
                continue
            rate = funding_rate[j, _row(funding_rate, i)]
            if rate != 0.0:
                pay = d * qty[j] * o * rate
                balance -= pay
                funding_acc[j] += pay
                funding_out[i, j] = pay
            stop_px, is_trail = _stop_level(d, sl_px[j], peak[j], trail[j])
            px = math.nan
            reason = -1
            otype = ORDER_MARKET
            fee_rate = fee_taker
            if (d > 0 and o <= liq_px[j]) or (d < 0 and o >= liq_px[j]):
                px = o
                reason = REASON_LIQUIDATION
                otype = ORDER_LIQUIDATION
                fee_rate = liq_fee
            elif (d > 0 and o <= stop_px) or (d < 0 and o >= stop_px):
                px = market_fill_price(o, -d, slippage, low[j, i], high[j, i], clamp)
                reason = REASON_TRAILING if is_trail else REASON_STOP
                otype = ORDER_STOP
            elif (d > 0 and o > tp_px[j]) or (d < 0 and o < tp_px[j]):
                px = o
                reason = REASON_TAKE_PROFIT
                otype = ORDER_LIMIT
                fee_rate = fee_maker
            if reason >= 0:
                fee = fee_for(qty[j], px, fee_rate)
                balance += d * qty[j] * (px - entry_px[j]) - fee
                nf = _log_fill(fills, nf, i, j, -d, qty[j], px, fee, reason, otype, STATUS_FILLED)
                nt = _log_trade(
                    trades, nt, j, d, entry_bar[j], i, qty[j], entry_px[j], px, entry_fee[j],
                    fee, funding_acc[j], reason, AMBIGUITY_NONE, False,
                )  # fmt: skip
                direction[j] = 0
                qty[j] = 0.0
                margin[j] = 0.0
            elif d > 0:
                peak[j] = max(peak[j], o)
            else:
                peak[j] = min(peak[j], o)

        # Phase 3a: exits at the open (previous bar's signal, or a portfolio stop).
        if not fill_at_close:
            for j in range(k):
                o = open_[j, i]
                if math.isnan(o):
                    continue
                sig = pending[j]
                pending[j] = -1
                d = direction[j]
                close_it = False
                reason = REASON_SIGNAL
                if exit_all_reason >= 0:
                    close_it = d != 0
                    reason = exit_all_reason
                elif sig >= 0:
                    close_it, entry_dir[j] = resolve_signal(
                        d, entry_long[j, sig], exit_long[j, sig], entry_short[j, sig],
                        exit_short[j, sig],
                    )  # fmt: skip
                    if entry_dir[j] != 0:
                        resting[j] = sig
                if close_it and d != 0:
                    balance, nf, nt = _close_position(
                        j, i, d, o, reason, low[j, i], high[j, i], slippage, clamp,
                        fee_taker, balance, fills, nf, trades, nt, direction, qty, entry_px,
                        margin, entry_fee, entry_bar, funding_acc,
                    )  # fmt: skip

        # Phase 3b: entries placed for this bar (market at the open, or resting limit/stop).
        for j in range(k):
            o = open_[j, i]
            if math.isnan(o):
                continue
            sig = resting[j]
            resting[j] = -1
            if sig < 0:
                continue
            new_dir = entry_dir[j]
            if fill_at_close:
                new_dir = 1 if entry_long[j, sig] else -1
            if new_dir == 0 or direction[j] != 0 or halted or exit_all_reason >= 0:
                continue
            otype = order_type[j, _row(order_type, sig)]
            h = high[j, i]
            lo = low[j, i]
            if otype == ORDER_LIMIT:
                px = limit_fill_price(o, h, lo, order_price[j, _row(order_price, sig)], new_dir)
                fee_rate = fee_maker
            elif otype == ORDER_STOP:
                limit = order_price[j, _row(order_price, sig)]
                px = stop_fill_price(o, h, lo, limit, new_dir, slippage, clamp)
                fee_rate = fee_taker
            else:
                px = market_fill_price(o, new_dir, slippage, lo, h, clamp)
                fee_rate = fee_taker
            if math.isnan(px):
                nf = _log_fill(
                    fills, nf, i, j, new_dir, 0.0, order_price[j, _row(order_price, sig)], 0.0,
                    REASON_ENTRY, otype,
                    STATUS_EXPIRED,
                )  # fmt: skip
                continue
            eq, avail = _equity_available(balance, direction, qty, entry_px, margin, mark)
            q = order_quantity(
                size[j, _row(size, sig)], size_type[j, _row(size_type, sig)], px, eq, avail,
                leverage[j], fee_rate,
                min_qty[j], qty_step[j],
            )  # fmt: skip
            balance, nf = _open_position(
                j, i, sig, new_dir, q, px, fee_rate, otype, balance, fills, nf, direction, qty,
                entry_px, margin, entry_fee, entry_bar, funding_acc, sl_px, tp_px, trail, peak,
                liq_px, ambiguity, leverage, sl_pct, tp_pct, trail_pct, maint_margin,
            )  # fmt: skip
            entered_intrabar[j] = otype != ORDER_MARKET

        # Phase 4: intrabar protective exits, worst case first.
        for j in range(k):
            o = open_[j, i]
            d = direction[j]
            if math.isnan(o) or d == 0:
                continue
            h = high[j, i]
            lo = low[j, i]
            stop_px, is_trail = _stop_level(d, sl_px[j], peak[j], trail[j])
            if d > 0:
                adverse_px = max(stop_px, liq_px[j]) if not math.isnan(stop_px) else liq_px[j]
                adverse_hit = lo <= adverse_px
                tp_hit = h > tp_px[j]
            else:
                adverse_px = min(stop_px, liq_px[j]) if not math.isnan(stop_px) else liq_px[j]
                adverse_hit = h >= adverse_px
                tp_hit = lo < tp_px[j]
            if entered_intrabar[j]:
                tp_hit = False  # the favourable extreme may have printed before the entry
            reason = -1
            px = math.nan
            otype = ORDER_MARKET
            fee_rate = fee_taker
            if adverse_hit:
                ambiguity[j] = AMBIGUITY_NONE
                sub_reason = -1
                if tp_hit:
                    ambiguity[j] = AMBIGUITY_WORST_CASE
                    if has_intrabar and sub_start[i, j] >= 0:
                        code, sub_reason, px = intrabar_exit_nb(
                            d, sl_px[j], peak[j], trail[j], liq_px[j], tp_px[j],
                            sub_start[i, j], sub_end[i, j], sub_ok, sub_open, sub_high,
                            sub_low, lo, h, slippage, clamp,
                        )  # fmt: skip
                        ambiguity[j] = code
                if sub_reason >= 0:  # the lower timeframe (or its deciding sub-bar) decided
                    reason = sub_reason
                    if reason == REASON_TAKE_PROFIT:
                        otype = ORDER_LIMIT
                        fee_rate = fee_maker
                    elif reason == REASON_LIQUIDATION:
                        otype = ORDER_LIQUIDATION
                        fee_rate = liq_fee
                    else:
                        otype = ORDER_STOP
                elif adverse_px == stop_px and stop_px != liq_px[j]:
                    px = market_fill_price(stop_px, -d, slippage, lo, h, clamp)
                    reason = REASON_TRAILING if is_trail else REASON_STOP
                    otype = ORDER_STOP
                    fee_rate = fee_taker
                else:
                    px = clamp_to_bar(liq_px[j], lo, h, True)
                    reason = REASON_LIQUIDATION
                    otype = ORDER_LIQUIDATION
                    fee_rate = liq_fee
            elif tp_hit:
                px = tp_px[j]
                reason = REASON_TAKE_PROFIT
                otype = ORDER_LIMIT
                fee_rate = fee_maker
            if reason >= 0:
                fee = fee_for(qty[j], px, fee_rate)
                balance += d * qty[j] * (px - entry_px[j]) - fee
                nf = _log_fill(fills, nf, i, j, -d, qty[j], px, fee, reason, otype, STATUS_FILLED)
                nt = _log_trade(
                    trades, nt, j, d, entry_bar[j], i, qty[j], entry_px[j], px, entry_fee[j],
                    fee, funding_acc[j], reason, ambiguity[j], False,
                )  # fmt: skip
                direction[j] = 0
                qty[j] = 0.0
                margin[j] = 0.0
            elif d > 0:
                peak[j] = max(peak[j], h)
            else:
                peak[j] = min(peak[j], lo)

        # Phase 5: signal-close mode fills at this bar's close (exits first, then entries).
        if fill_at_close:
            for j in range(k):
                c = close[j, i]
                if math.isnan(open_[j, i]):
                    continue
                mark[j] = c
                d = direction[j]
                close_it = False
                reason = REASON_SIGNAL
                new_dir = 0
                if exit_all_reason >= 0:
                    close_it = d != 0
                    reason = exit_all_reason
                else:
                    close_it, new_dir = resolve_signal(
                        d, entry_long[j, i], exit_long[j, i], entry_short[j, i], exit_short[j, i]
                    )
                entry_dir[j] = new_dir
                if close_it and d != 0:
                    balance, nf, nt = _close_position(
                        j, i, d, c, reason, low[j, i], high[j, i], slippage, clamp,
                        fee_taker, balance, fills, nf, trades, nt, direction, qty, entry_px,
                        margin, entry_fee, entry_bar, funding_acc,
                    )  # fmt: skip
            for j in range(k):
                new_dir = entry_dir[j]
                if new_dir == 0 or math.isnan(open_[j, i]) or direction[j] != 0:
                    continue
                if halted or exit_all_reason >= 0:
                    continue
                if order_type[j, _row(order_type, i)] != ORDER_MARKET:
                    resting[j] = i  # a limit/stop entry rests during the next bar
                    continue
                c = close[j, i]
                px = market_fill_price(c, new_dir, slippage, low[j, i], high[j, i], clamp)
                eq, avail = _equity_available(balance, direction, qty, entry_px, margin, mark)
                q = order_quantity(
                    size[j, _row(size, i)], size_type[j, _row(size_type, i)], px, eq, avail,
                    leverage[j], fee_taker,
                    min_qty[j], qty_step[j],
                )  # fmt: skip
                balance, nf = _open_position(
                    j, i, i, new_dir, q, px, fee_taker, ORDER_MARKET, balance, fills, nf,
                    direction, qty, entry_px, margin, entry_fee, entry_bar, funding_acc, sl_px,
                    tp_px, trail, peak, liq_px, ambiguity, leverage, sl_pct, tp_pct, trail_pct,
                    maint_margin,
                )  # fmt: skip

        # Phase 6: mark to the close, portfolio-level stops, queue the next open's orders.
        for j in range(k):
            if not math.isnan(open_[j, i]):
                mark[j] = close[j, i]
            position[i, j] = direction[j] * qty[j]
        eq, _ = _equity_available(balance, direction, qty, entry_px, margin, mark)
        equity[i] = eq
        balance_out[i] = balance
        if exit_all_reason >= 0:
            still_open = False
            for j in range(k):
                still_open = still_open or direction[j] != 0
            if not still_open:
                exit_all_reason = -1
                halted = True
        elif not halted:
            if portfolio_sl > 0.0 and eq <= init_cash * (1.0 - portfolio_sl):
                exit_all_reason = REASON_PORTFOLIO_STOP
            elif portfolio_tp > 0.0 and eq >= init_cash * (1.0 + portfolio_tp):
                exit_all_reason = REASON_PORTFOLIO_TAKE_PROFIT
            if exit_all_reason >= 0 and fill_at_close:
                # Signal-close convention: close everything at this same close.
                for j in range(k):
                    d = direction[j]
                    if d == 0 or math.isnan(open_[j, i]):
                        continue
                    balance, nf, nt = _close_position(
                        j, i, d, close[j, i], exit_all_reason, low[j, i], high[j, i], slippage,
                        clamp, fee_taker, balance, fills, nf, trades, nt, direction, qty, entry_px,
                        margin, entry_fee, entry_bar, funding_acc,
                    )  # fmt: skip
                    position[i, j] = 0.0
                equity[i], _ = _equity_available(balance, direction, qty, entry_px, margin, mark)
                balance_out[i] = balance
        if not fill_at_close:
            for j in range(k):
                if not math.isnan(open_[j, i]):
                    pending[j] = i

    for j in range(k):
        if direction[j] != 0:
            nt = _log_trade(
                trades, nt, j, direction[j], entry_bar[j], n - 1, qty[j], entry_px[j], mark[j],
                entry_fee[j], 0.0, funding_acc[j], REASON_END, AMBIGUITY_NONE, True,
            )  # fmt: skip
    if nf > fills.shape[0] or nt > trades.shape[0]:
        raise RuntimeError("order log capacity exceeded")
    return equity, balance_out, position, funding_out, fills[:nf].copy(), trades[:nt].copy()


@njit(cache=True)
def _close_position(
    j: int,
    i: int,
    d: int,
    ref_px: float,
    reason: int,
    bar_low: float,
    bar_high: float,
    slippage: float,
    clamp: bool,
    fee_taker: float,
    balance: float,
    fills: np.ndarray,
    nf: int,
    trades: np.ndarray,
    nt: int,
    direction: np.ndarray,
    qty: np.ndarray,
    entry_px: np.ndarray,
    margin: np.ndarray,
    entry_fee: np.ndarray,
    entry_bar: np.ndarray,
    funding_acc: np.ndarray,
) -> tuple[float, int, int]:
    """Close position ``j`` (direction ``d``) at market from ``ref_px`` in bar ``i``; log the
    fill and the trade. The mirror of :func:`_open_position`."""
    px = market_fill_price(ref_px, -d, slippage, bar_low, bar_high, clamp)
    fee = fee_for(qty[j], px, fee_taker)
    balance += d * qty[j] * (px - entry_px[j]) - fee
    nf = _log_fill(fills, nf, i, j, -d, qty[j], px, fee, reason, ORDER_MARKET, STATUS_FILLED)
    nt = _log_trade(
        trades, nt, j, d, entry_bar[j], i, qty[j], entry_px[j], px,
        entry_fee[j], fee, funding_acc[j], reason, AMBIGUITY_NONE, False,
    )  # fmt: skip
    direction[j] = 0
    qty[j] = 0.0
    margin[j] = 0.0
    return balance, nf, nt


@njit(cache=True)
def _open_position(
    j: int,
    i: int,
    sig: int,
    new_dir: int,
    q: float,
    px: float,
    fee_rate: float,
    otype: int,
    balance: float,
    fills: np.ndarray,
    nf: int,
    direction: np.ndarray,
    qty: np.ndarray,
    entry_px: np.ndarray,
    margin: np.ndarray,
    entry_fee: np.ndarray,
    entry_bar: np.ndarray,
    funding_acc: np.ndarray,
    sl_px: np.ndarray,
    tp_px: np.ndarray,
    trail: np.ndarray,
    peak: np.ndarray,
    liq_px: np.ndarray,
    ambiguity: np.ndarray,
    leverage: np.ndarray,
    sl_pct: np.ndarray,
    tp_pct: np.ndarray,
    trail_pct: np.ndarray,
    maint_margin: float,
) -> tuple[float, int]:
    if q <= 0.0:
        nf = _log_fill(fills, nf, i, j, new_dir, 0.0, px, 0.0, REASON_ENTRY, otype, STATUS_REJECTED)
        return balance, nf
    fee = fee_for(q, px, fee_rate)
    balance -= fee
    direction[j] = new_dir
    qty[j] = q
    entry_px[j] = px
    margin[j] = q * px / leverage[j]
    entry_fee[j] = fee
    entry_bar[j] = i
    funding_acc[j] = 0.0
    sl_px[j] = px * (1.0 - new_dir * sl_pct[j, _row(sl_pct, sig)])
    tp_px[j] = px * (1.0 + new_dir * tp_pct[j, _row(tp_pct, sig)])
    trail[j] = trail_pct[j, _row(trail_pct, sig)]
    peak[j] = px
    liq_px[j] = liquidation_price(px, new_dir, leverage[j], maint_margin)
    ambiguity[j] = AMBIGUITY_NONE
    nf = _log_fill(fills, nf, i, j, new_dir, q, px, fee, REASON_ENTRY, otype, STATUS_FILLED)
    return balance, nf


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


@njit(cache=True)
def min_gap_nb(timestamp: np.ndarray) -> int:
    """Return the smallest difference between consecutive values (``n >= 2``), in one pass.

    Equal to ``np.min(np.diff(timestamp))`` without the temporary difference array.
    """
    best = timestamp[1] - timestamp[0]
    for i in range(1, timestamp.shape[0]):
        best = min(best, timestamp[i] - timestamp[i - 1])
    return int(best)


@njit(cache=True)
def same_values_nb(a: np.ndarray, b: np.ndarray) -> bool:
    """Return whether two arrays of equal length hold the same values (stops at the first
    difference); ``np.array_equal`` without its temporary boolean array."""
    for i in range(a.shape[0]):  # noqa: SIM110 - a generator is not compiled by numba
        if a[i] != b[i]:
            return False
    return True


@njit(cache=True)
def scan_candles_nb(
    timestamp: np.ndarray, open_bits: np.ndarray, close_bits: np.ndarray, limit_bits: int
) -> tuple[int, int]:
    """Return ``(smallest timestamp gap, count of prices with magnitude >= the limit)``.

    ``open_bits``/``close_bits`` are the float64 prices viewed as int64: masking the sign
    bit leaves an integer that orders like ``abs(price)``, with inf and NaN above every
    finite value, so the count vectorises and is 0 exactly when every price is finite and
    below ``limit_bits`` (the bits of a positive float64). The gap is 0 for fewer than 2 bars.
    """
    n = timestamp.shape[0]
    best = timestamp[1] - timestamp[0] if n > 1 else 0
    for i in range(1, n):
        best = min(best, timestamp[i] - timestamp[i - 1])
    over = 0
    for i in range(n):
        over += (open_bits[i] & 0x7FFFFFFFFFFFFFFF) >= limit_bits
        over += (close_bits[i] & 0x7FFFFFFFFFFFFFFF) >= limit_bits
    return int(best), int(over)


@njit(cache=True)
def scan_candles_same_nb(
    timestamp: np.ndarray,
    reference: np.ndarray,
    open_bits: np.ndarray,
    close_bits: np.ndarray,
    limit_bits: int,
) -> tuple[int, int, bool]:
    """:func:`scan_candles_nb` that also returns whether ``timestamp`` equals ``reference``
    (an array of the same length), in the same pass over the times."""
    n = timestamp.shape[0]
    best = timestamp[1] - timestamp[0] if n > 1 else 0
    same = n == 0 or timestamp[0] == reference[0]
    for i in range(1, n):
        best = min(best, timestamp[i] - timestamp[i - 1])
        same &= timestamp[i] == reference[i]
    over = 0
    for i in range(n):
        over += (open_bits[i] & 0x7FFFFFFFFFFFFFFF) >= limit_bits
        over += (close_bits[i] & 0x7FFFFFFFFFFFFFFF) >= limit_bits
    return int(best), int(over), same


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
