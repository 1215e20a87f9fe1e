"""Ladder kernels: one symbol, several resting orders, one pyramided position.

The signal kernels in :mod:`tradeforge.backtest.kernels` hold at most one position per
symbol. These two kernels simulate the parameter-based bots that need more:

* :func:`simulate_dca_nb`: DCA deals. A market base order, safety orders resting at growing
  adverse deviations (they add to the position: average entry price), a take-profit limit
  re-placed from the average after each safety fill, a stop-loss from the average.
* :func:`simulate_grid_nb`: a long grid. One lot per grid cell (the interval between two
  adjacent levels): a buy limit at the cell's lower level, and once it filled, a sell limit
  at its upper level; each buy/sell pair is one trade (per-lot accounting).

Array convention as in :mod:`tradeforge.backtest.kernels`: 1-D float64 candles, bool
start/stop arrays decided at each bar's close (acted on at the next open), records as float64
tables with the ``FILL_*`` / ``TRADE_*`` columns of that module. Prices are computed by the
shared fill rules of :mod:`tradeforge.backtest.fills` (limit through-not-touch, gaps at the
open, stops plus slippage), so paper trading can reuse them unchanged.

Accounting is futures-style like the signal kernels: ``balance`` holds deposits, realised
PnL, fees and funding; ``equity = balance + direction * qty * (close - avg_entry)``. The
``cash`` curve is the spot-style view of the same account, ``balance - direction * qty *
avg_entry``, so ``equity == cash + position * close`` at every close (a tested invariant).

Within a bar the path is assumed to be: the open, then the adverse extreme, then the
favourable one (long: open -> low -> high), the worst case for a long ladder. Orders created
by a fill in a bar rest from the next bar; see tradeforge/docs/backtesting.md, "DCA and grid".
Given a lower timeframe, a bar where that order matters (a deal's take-profit against its
adverse path, a grid's sells against its stop) is settled by its sub-bars in time order
(:func:`dca_intrabar_nb`, :func:`grid_intrabar_nb`), and trades carry the signal kernels'
``AMBIGUITY_*`` codes in ``TRADE_AMBIGUOUS``.
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
    liquidation_fill_price,
    liquidation_price,
    market_fill_price,
    order_quantity,
    round_quantity,
    stop_fill_price,
)
from tradeforge.backtest.kernels import (
    AMBIGUITY_NONE,
    AMBIGUITY_RESOLVED,
    AMBIGUITY_SUB_BAR,
    AMBIGUITY_UNRESOLVED,
    AMBIGUITY_WORST_CASE,
    FILL_NCOLS,
    REASON_END,
    REASON_ENTRY,
    REASON_LIQUIDATION,
    REASON_PORTFOLIO_STOP,
    REASON_PORTFOLIO_TAKE_PROFIT,
    REASON_SIGNAL,
    REASON_STOP,
    REASON_TAKE_PROFIT,
    STATUS_FILLED,
    STATUS_REJECTED,
    TRADE_NCOLS,
)
from tradeforge.backtest.kernels_common import _log_fill, _log_trade

#: A fill that adds to an open DCA deal (``ExitReason.SAFETY_ORDER`` in the results).
REASON_SAFETY_ORDER = 9

# Grid cell states.
CELL_IDLE = 0  # no order (never activated, rejected, or the grid stopped)
CELL_BUY = 1  # a buy limit rests at the cell's lower level
CELL_SELL = 2  # a lot is held; a sell limit rests at the cell's upper level
CELL_KEPT = 3  # a lot is held without an order (grid stopped without stop exit)


@njit(cache=True)
def _grow(table: np.ndarray) -> np.ndarray:
    out = np.empty((table.shape[0] * 2 + 16, table.shape[1]), dtype=np.float64)
    out[: table.shape[0]] = table
    return out


@njit(cache=True)
def _fill(
    fills: np.ndarray,
    nf: int,
    bar: int,
    side: int,
    qty: float,
    price: float,
    fee: float,
    reason: int,
    order_type: int,
    status: int,
) -> tuple[np.ndarray, int]:
    """Log a fill on asset 0, growing the table when it is full (ladders have no tight
    bound on their number of fills)."""
    if nf >= fills.shape[0]:
        fills = _grow(fills)
    return fills, _log_fill(fills, nf, bar, 0, side, qty, price, fee, reason, order_type, status)


@njit(cache=True)
def _trade(
    trades: np.ndarray,
    nt: int,
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
) -> tuple[np.ndarray, int]:
    """Log a trade on asset 0, growing the table when it is full."""
    if nt >= trades.shape[0]:
        trades = _grow(trades)
    nt = _log_trade(
        trades,
        nt,
        0,
        direction,
        entry_bar,
        exit_bar,
        qty,
        entry_price,
        exit_price,
        entry_fee,
        exit_fee,
        funding,
        reason,
        ambiguity,
        is_open,
    )
    return trades, nt


@njit(cache=True)
def _adverse_stop(
    direction: int, sl_px: float, liq_px: float, leverage: float
) -> tuple[float, bool]:
    # The first protective level the adverse path reaches (NaN: none) and whether it is the
    # liquidation. A 1x long is never liquidated (its price is 0).
    has_liq = not (direction > 0 and leverage <= 1.0)
    if math.isnan(sl_px):
        return (liq_px, True) if has_liq else (math.nan, False)
    if not has_liq:
        return sl_px, False
    if direction > 0:
        return (liq_px, True) if liq_px > sl_px else (sl_px, False)
    return (liq_px, True) if liq_px < sl_px else (sl_px, False)


@njit(cache=True)
def _protective_fill(
    open_: float,
    high: float,
    low: float,
    level: float,
    is_liq: bool,
    direction: int,
    slippage: float,
    clamp: bool,
) -> float:
    # Fill price of the stop-loss (a stop order) or the liquidation at ``level``, or NaN.
    if math.isnan(level):
        return math.nan
    if is_liq:
        return liquidation_fill_price(open_, high, low, level, direction)
    return stop_fill_price(open_, high, low, level, -direction, slippage, clamp)


@njit(cache=True)
def _ambiguity_rank(code: int) -> int:
    if code == AMBIGUITY_NONE:
        return 0
    if code == AMBIGUITY_RESOLVED:
        return 1
    return 2 + code


@njit(cache=True)
def merge_ambiguity(current: int, code: int) -> int:
    """The tag of a trade that spans several settled bars: the least certain one wins
    (none < resolved < worst case < sub-bar ambiguous < unresolved)."""
    rank_current = _ambiguity_rank(current)
    rank_code = _ambiguity_rank(code)
    return code if rank_code > rank_current else current


@njit(cache=True)
def _adverse_touched(
    d: int, o: float, h: float, lo: float, so_level: float, stop_level: float
) -> bool:
    # Whether a price segment (open, high, low) reaches the next safety order (a limit:
    # through, not touch) or the stop / liquidation (touch) of a ``d`` deal.
    if d > 0:
        so = not math.isnan(so_level) and (o < so_level or lo < so_level)
        stop = not math.isnan(stop_level) and (o <= stop_level or lo <= stop_level)
    else:
        so = not math.isnan(so_level) and (o > so_level or h > so_level)
        stop = not math.isnan(stop_level) and (o >= stop_level or h >= stop_level)
    return so or stop


@njit(cache=True)
def dca_intrabar_nb(
    d: int,
    tp_px: float,
    so_level: float,
    stop_level: float,
    start: int,
    end: int,
    sub_ok: np.ndarray,
    sub_open: np.ndarray,
    sub_high: np.ndarray,
    sub_low: np.ndarray,
    bar_open: float,
    bar_low: float,
    bar_high: float,
) -> tuple[int, bool, float]:
    """Settle a DCA bar whose range reached both the take-profit and the adverse path (the
    next safety order, or the stop / liquidation) with its sub-bars ``start..end-1``.

    The adverse levels are first reached in price order whatever the path, so only the
    take-profit against the first adverse level is in question. Each sub-bar is read like a
    bar: an open beyond a level decides at that open, then its low and high.

    Returns ``(ambiguity, tp_first, price)``: with ``tp_first`` the deal closes at the
    take-profit for ``price`` (``tp_px``, or the sub-bar's open when it opened beyond it);
    otherwise the adverse path goes first from ``price``, the open of the deciding sub-bar
    (the bar's open when ``AMBIGUITY_UNRESOLVED``: a hole, or no sub-bar reached a level).
    ``AMBIGUITY_SUB_BAR``: the deciding sub-bar reached both; the adverse order is assumed.
    """
    for s in range(start, end):
        if not sub_ok[s]:
            break
        o = clamp_to_bar(sub_open[s], bar_low, bar_high, True)
        h = sub_high[s]
        lo = sub_low[s]
        if _adverse_touched(d, o, o, o, so_level, stop_level):
            return AMBIGUITY_RESOLVED, False, o
        if (d > 0 and o > tp_px) or (d < 0 and o < tp_px):
            return AMBIGUITY_RESOLVED, True, o
        tp_hit = h > tp_px if d > 0 else lo < tp_px
        if _adverse_touched(d, o, h, lo, so_level, stop_level):
            return (AMBIGUITY_SUB_BAR if tp_hit else AMBIGUITY_RESOLVED), False, o
        if tp_hit:
            return AMBIGUITY_RESOLVED, True, tp_px
    return AMBIGUITY_UNRESOLVED, False, bar_open


@njit(cache=True)
def grid_intrabar_nb(
    stop_level: float,
    start: int,
    end: int,
    sub_ok: np.ndarray,
    sub_open: np.ndarray,
    sub_high: np.ndarray,
    sub_low: np.ndarray,
    bar_open: float,
    bar_low: float,
    bar_high: float,
) -> tuple[int, float, float, float]:
    """Find the sub-bar (of ``start..end-1``, in time order) where a grid's stop-loss (or
    liquidation) at ``stop_level`` is first touched.

    Returns ``(ambiguity, before, open, high)``: ``before`` is the highest price traded
    before that sub-bar (its open included: the sells below it filled first), ``open`` its
    open (the stop fills from there) and ``high`` its high (``-inf`` when it opened at or
    below the stop). ``AMBIGUITY_UNRESOLVED`` (a hole, or no sub-bar touched the stop) comes
    with ``before = -inf`` and the bar's open: the worst case, no sell before the stop.
    """
    before = -math.inf
    for s in range(start, end):
        if not sub_ok[s]:
            break
        o = clamp_to_bar(sub_open[s], bar_low, bar_high, True)
        if o <= stop_level:
            return AMBIGUITY_RESOLVED, before, o, -math.inf
        before = max(before, o)
        if sub_low[s] <= stop_level:
            return AMBIGUITY_RESOLVED, before, o, sub_high[s]
        before = max(before, sub_high[s])
    return AMBIGUITY_UNRESOLVED, -math.inf, bar_open, -math.inf


@njit(cache=True)
def dca_safety_levels(
    deviation: float, step_scale: float, volume_scale: float, amount: float, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return the cumulative deviations (fractions) and quote amounts of ``count`` safety
    orders: ``d_i = deviation * (1 + s + ... + s^(i-1))``, ``a_i = amount * v^(i-1)``."""
    dev = np.empty(count, dtype=np.float64)
    amt = np.empty(count, dtype=np.float64)
    step = deviation
    acc = 0.0
    size = amount
    for i in range(count):
        acc += step
        dev[i] = acc
        amt[i] = size
        step *= step_scale
        size *= volume_scale
    return dev, amt


@njit(cache=True)
def simulate_dca_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    start: np.ndarray,
    start_at_first_open: bool,
    funding_rate: np.ndarray,
    direction: int,
    base_amount: float,
    so_deviation: np.ndarray,
    so_amount: np.ndarray,
    take_profit: float,
    stop_loss: float,
    leverage: float,
    init_cash: float,
    fee_maker: float,
    fee_taker: float,
    slippage: float,
    maint_margin: float,
    liq_fee: float,
    min_qty: float,
    qty_step: float,
    portfolio_sl: float,
    portfolio_tp: float,
    clamp: bool,
    sub_start: np.ndarray,
    sub_end: np.ndarray,
    sub_ok: np.ndarray,
    sub_open: np.ndarray,
    sub_high: np.ndarray,
    sub_low: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run DCA deals on one symbol; return ``(equity, cash, position, fills, trades)``.

    A deal opens with a market base order of ``base_amount`` (quote notional) at the open
    after a close where ``start`` holds (or at bar 0's open with ``start_at_first_open``).
    Safety order ``i`` is a limit at ``base_fill * (1 - direction * so_deviation[i])`` for
    ``so_amount[i]`` quote; all rest from the deal's open. The take-profit is a limit at
    ``avg * (1 + direction * take_profit)``; the stop-loss (NaN: none) a stop at
    ``avg * (1 - direction * stop_loss)``. Each deal is one trade. ``funding_rate`` is the
    rate charged at each bar's open (zeros for spot).

    A lower timeframe (``sub_*``, empty arrays for none; the sub-bars of bar ``i`` are
    ``sub_start[i]..sub_end[i]-1``, ``sub_ok`` false after a hole) settles the bars where
    the take-profit and the adverse path were both in range (:func:`dca_intrabar_nb`);
    without it the adverse order is assumed and the deal tagged ``AMBIGUITY_WORST_CASE``.
    """
    n = close.shape[0]
    d = direction
    has_intrabar = sub_start.shape[0] > 0
    so_count = so_deviation.shape[0]
    equity = np.empty(n, dtype=np.float64)
    cash = np.empty(n, dtype=np.float64)
    position = np.empty(n, dtype=np.float64)
    fills = np.empty((64, FILL_NCOLS), dtype=np.float64)
    trades = np.empty((16, TRADE_NCOLS), dtype=np.float64)
    so_px = np.full(so_count, np.nan)
    nf = 0
    nt = 0
    balance = init_cash
    qty = 0.0
    cost = 0.0  # sum of fill quantity * fill price of the open deal
    deal_fee = 0.0
    deal_funding = 0.0
    deal_bar = -1
    so_next = 0
    tp_px = math.nan
    sl_px = math.nan
    liq_px = 0.0
    ambiguity = AMBIGUITY_NONE  # of the open deal (merge_ambiguity over its bars)
    pending_start = start_at_first_open
    exit_all = -1
    halted = False
    for i in range(n):
        o = open_[i]
        h = high[i]
        lo = low[i]
        if qty > 0.0 and funding_rate[i] != 0.0:
            pay = d * qty * o * funding_rate[i]
            balance -= pay
            deal_funding += pay
        # Market orders decided at the previous close: a portfolio stop, or a new deal.
        if exit_all >= 0:
            if qty > 0.0:
                px = market_fill_price(o, -d, slippage, lo, h, clamp)
                fee = fee_for(qty, px, fee_taker)
                balance += d * (qty * px - cost) - fee
                fills, nf = _fill(fills, nf, i, -d, qty, px, fee, exit_all, ORDER_MARKET, 0)
                trades, nt = _trade(
                    trades, nt, d, deal_bar, i, qty, cost / qty, px, deal_fee, fee, deal_funding,
                    exit_all, AMBIGUITY_NONE, False,
                )  # fmt: skip
                qty = 0.0
                cost = 0.0
            exit_all = -1
            halted = True
        elif pending_start and not halted and qty == 0.0:
            px = market_fill_price(o, d, slippage, lo, h, clamp)
            avail = balance
            q = order_quantity(
                base_amount, 1, px, balance, avail, leverage, fee_taker, min_qty, qty_step
            )
            if q > 0.0:
                fee = fee_for(q, px, fee_taker)
                balance -= fee
                qty = q
                cost = q * px
                deal_fee = fee
                deal_funding = 0.0
                deal_bar = i
                ambiguity = AMBIGUITY_NONE
                fills, nf = _fill(fills, nf, i, d, q, px, fee, REASON_ENTRY, ORDER_MARKET, 0)
                for s in range(so_count):
                    so_px[s] = px * (1.0 - d * so_deviation[s])
                    if not so_px[s] > 0.0:
                        so_px[s] = math.nan
                so_next = 0
                tp_px = px * (1.0 + d * take_profit)
                sl_px = px * (1.0 - d * stop_loss)
                liq_px = liquidation_price(px, d, leverage, maint_margin)
            else:
                fills, nf = _fill(
                    fills, nf, i, d, 0.0, px, 0.0, REASON_ENTRY, ORDER_MARKET, STATUS_REJECTED
                )
                halted = True  # not enough collateral for a base order: the bot stops
        pending_start = False

        if qty > 0.0:
            # A take-profit the bar opens beyond fills at the open, before anything else.
            closed = False
            if (d > 0 and o > tp_px) or (d < 0 and o < tp_px):
                px = o
                fee = fee_for(qty, px, fee_maker)
                balance += d * (qty * px - cost) - fee
                fills, nf = _fill(fills, nf, i, -d, qty, px, fee, REASON_TAKE_PROFIT, 1, 0)
                trades, nt = _trade(
                    trades, nt, d, deal_bar, i, qty, cost / qty, px, deal_fee, fee, deal_funding,
                    REASON_TAKE_PROFIT, ambiguity, False,
                )  # fmt: skip
                qty = 0.0
                cost = 0.0
                closed = True
            # The take-profit and the adverse path both in range: the lower timeframe, when
            # given, says which came first; else the adverse order is assumed (worst case).
            code = AMBIGUITY_WORST_CASE
            oa = o  # where the adverse path starts (a later sub-bar's open once settled)
            if has_intrabar and not closed:
                stop_level, _ = _adverse_stop(d, sl_px, liq_px, leverage)
                level = so_px[so_next] if so_next < so_count else math.nan
                tp_in = h > tp_px if d > 0 else lo < tp_px
                if tp_in and _adverse_touched(d, o, h, lo, level, stop_level):
                    code, tp_first, px = dca_intrabar_nb(
                        d, tp_px, level, stop_level, sub_start[i], sub_end[i], sub_ok,
                        sub_open, sub_high, sub_low, o, lo, h,
                    )  # fmt: skip
                    if tp_first:
                        fee = fee_for(qty, px, fee_maker)
                        balance += d * (qty * px - cost) - fee
                        fills, nf = _fill(
                            fills, nf, i, -d, qty, px, fee, REASON_TAKE_PROFIT, ORDER_LIMIT, 0
                        )
                        trades, nt = _trade(
                            trades, nt, d, deal_bar, i, qty, cost / qty, px, deal_fee, fee,
                            deal_funding, REASON_TAKE_PROFIT, merge_ambiguity(ambiguity, code),
                            False,
                        )  # fmt: skip
                        qty = 0.0
                        cost = 0.0
                        closed = True
                    else:
                        oa = px
            # The adverse path: safety orders and the stop / liquidation in price order.
            so_filled = False
            while not closed:
                stop_level, is_liq = _adverse_stop(d, sl_px, liq_px, leverage)
                level = so_px[so_next] if so_next < so_count else math.nan
                so_first = not math.isnan(level) and (
                    math.isnan(stop_level)
                    or (d > 0 and level > stop_level)
                    or (d < 0 and level < stop_level)
                )
                if so_first:
                    px = limit_fill_price(oa, h, lo, level, d)
                    if math.isnan(px):
                        break
                    avg = cost / qty
                    upnl = d * qty * (px - avg)
                    eq = balance + upnl
                    avail = balance - cost / leverage + min(upnl, 0.0)
                    q = order_quantity(
                        so_amount[so_next], 1, px, eq, avail, leverage, fee_maker, min_qty,
                        qty_step,
                    )  # fmt: skip
                    so_next += 1
                    if q <= 0.0:
                        fills, nf = _fill(
                            fills, nf, i, d, 0.0, px, 0.0, REASON_SAFETY_ORDER, ORDER_LIMIT,
                            STATUS_REJECTED,
                        )  # fmt: skip
                        continue
                    fee = fee_for(q, px, fee_maker)
                    balance -= fee
                    qty += q
                    cost += q * px
                    deal_fee += fee
                    avg = cost / qty
                    sl_px = avg * (1.0 - d * stop_loss)
                    liq_px = liquidation_price(avg, d, leverage, maint_margin)
                    so_filled = True
                    fills, nf = _fill(
                        fills, nf, i, d, q, px, fee, REASON_SAFETY_ORDER, ORDER_LIMIT,
                        STATUS_FILLED,
                    )  # fmt: skip
                    continue
                px = _protective_fill(oa, h, lo, stop_level, is_liq, d, slippage, clamp)
                if not math.isnan(px):
                    if is_liq:
                        reason, otype, rate = REASON_LIQUIDATION, ORDER_LIQUIDATION, liq_fee
                    else:
                        reason, otype, rate = REASON_STOP, ORDER_STOP, fee_taker
                    # Worst case assumed: the take-profit may have traded first.
                    tp_hit = (d > 0 and h > tp_px) or (d < 0 and lo < tp_px)
                    fee = fee_for(qty, px, rate)
                    balance += d * (qty * px - cost) - fee
                    fills, nf = _fill(fills, nf, i, -d, qty, px, fee, reason, otype, 0)
                    trades, nt = _trade(
                        trades, nt, d, deal_bar, i, qty, cost / qty, px, deal_fee, fee,
                        deal_funding, reason,
                        merge_ambiguity(ambiguity, code) if tp_hit else ambiguity, False,
                    )  # fmt: skip
                    qty = 0.0
                    cost = 0.0
                    closed = True
                break
            if not closed:
                tp_hit = not math.isnan(limit_fill_price(o, h, lo, tp_px, -d))
                if so_filled:
                    # The take-profit is re-placed from the new average and rests from the
                    # next bar; had the old one traded before the safety fills, the deal would
                    # have closed: flagged, the worse order assumed.
                    if tp_hit:
                        ambiguity = merge_ambiguity(ambiguity, code)
                    tp_px = (cost / qty) * (1.0 + d * take_profit)
                elif tp_hit:
                    px = tp_px
                    fee = fee_for(qty, px, fee_maker)
                    balance += d * (qty * px - cost) - fee
                    fills, nf = _fill(fills, nf, i, -d, qty, px, fee, REASON_TAKE_PROFIT, 1, 0)
                    trades, nt = _trade(
                        trades, nt, d, deal_bar, i, qty, cost / qty, px, deal_fee, fee,
                        deal_funding, REASON_TAKE_PROFIT, ambiguity, False,
                    )  # fmt: skip
                    qty = 0.0
                    cost = 0.0

        c = close[i]
        held = d * qty
        equity[i] = balance + held * c - d * cost
        cash[i] = balance - d * cost
        position[i] = held
        if halted or exit_all >= 0:
            continue
        if portfolio_sl > 0.0 and equity[i] <= init_cash * (1.0 - portfolio_sl):
            exit_all = REASON_PORTFOLIO_STOP
        elif portfolio_tp > 0.0 and equity[i] >= init_cash * (1.0 + portfolio_tp):
            exit_all = REASON_PORTFOLIO_TAKE_PROFIT
        elif qty == 0.0 and start[i]:
            pending_start = True

    if qty > 0.0:
        trades, nt = _trade(
            trades, nt, d, deal_bar, n - 1, qty, cost / qty, close[n - 1], deal_fee, 0.0,
            deal_funding, REASON_END, ambiguity, True,
        )  # fmt: skip
    return equity, cash, position, fills[:nf].copy(), trades[:nt].copy()


@njit(cache=True)
def grid_lots(
    levels: np.ndarray, reference: float, budget: float, trade_to_fill: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Return each cell's lot quantity and whether it starts holding (trade-to-fill).

    Cell ``c`` spans ``[levels[c], levels[c + 1]]``. Cells whose lower level is below
    ``reference`` (the start price) start with a buy there; with ``trade_to_fill`` the others
    start with a lot bought at market. ``budget`` (quote notional) is split equally across
    the cells that get an order: lot ``= budget / active / levels[c]`` base units.
    """
    cells = levels.shape[0] - 1
    qty = np.zeros(cells, dtype=np.float64)
    held = np.zeros(cells, dtype=np.bool_)
    active = 0
    for c in range(cells):
        if levels[c] < reference or trade_to_fill:
            active += 1
    if active == 0:
        return qty, held
    per_cell = budget / active
    for c in range(cells):
        if levels[c] < reference:
            qty[c] = per_cell / levels[c]
        elif trade_to_fill:
            qty[c] = per_cell / levels[c]
            held[c] = True
    return qty, held


@njit(cache=True)
def simulate_grid_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    start: np.ndarray,
    stop: np.ndarray,
    start_at_first_open: bool,
    funding_rate: np.ndarray,
    levels: np.ndarray,
    investment: float,
    investment_is_base: bool,
    trade_to_fill: bool,
    stop_exit: bool,
    stop_loss_price: float,
    leverage: float,
    init_cash: float,
    fee_maker: float,
    fee_taker: float,
    slippage: float,
    maint_margin: float,
    liq_fee: float,
    min_qty: float,
    qty_step: float,
    portfolio_sl: float,
    portfolio_tp: float,
    clamp: bool,
    sub_start: np.ndarray,
    sub_end: np.ndarray,
    sub_ok: np.ndarray,
    sub_open: np.ndarray,
    sub_high: np.ndarray,
    sub_low: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run a long grid on one symbol; return ``(equity, cash, position, fills, trades)``.

    The grid starts once, at the open after a close where ``start`` holds (or at bar 0's
    open with ``start_at_first_open``), and stops for good at the open after a close where
    ``stop`` holds (cancelling its orders; selling its lots at market with ``stop_exit``),
    when the bar trades to ``stop_loss_price`` (NaN: none; a sell stop for every lot), on
    liquidation, or on a portfolio stop. The quote budget is ``investment * leverage``
    (``investment`` in base units is valued at the start bar's open); see :func:`grid_lots`.
    Each lot's buy and sell is one trade; lots still held at the end are open trades.

    A lower timeframe (``sub_*`` as in :func:`simulate_dca_nb`) settles the bars where the
    stop (or liquidation) and a resting sell were both in range (:func:`grid_intrabar_nb`).
    """
    n = close.shape[0]
    has_intrabar = sub_start.shape[0] > 0
    cells = levels.shape[0] - 1
    equity = np.empty(n, dtype=np.float64)
    cash = np.empty(n, dtype=np.float64)
    position = np.empty(n, dtype=np.float64)
    fills = np.empty((64, FILL_NCOLS), dtype=np.float64)
    trades = np.empty((64, TRADE_NCOLS), dtype=np.float64)
    state = np.zeros(cells, dtype=np.int64)
    lot_qty = np.zeros(cells, dtype=np.float64)
    lot_px = np.zeros(cells, dtype=np.float64)
    lot_fee = np.zeros(cells, dtype=np.float64)
    lot_funding = np.zeros(cells, dtype=np.float64)
    lot_bar = np.zeros(cells, dtype=np.int64)
    rest_from = np.zeros(cells, dtype=np.int64)
    nf = 0
    nt = 0
    balance = init_cash
    qty = 0.0
    cost = 0.0
    started = False
    active = False
    pending_start = start_at_first_open
    pending_stop = False
    exit_all = -1
    # Loose bounds that keep the per-bar loops near the price: no cell above hi_buy rests a
    # buy, no cell below lo_sell holds a lot (tightened as the loops pass over cells).
    hi_buy = -1
    lo_sell = cells
    for i in range(n):
        o = open_[i]
        h = high[i]
        lo = low[i]
        changed = False
        if qty > 0.0 and funding_rate[i] != 0.0:
            for c in range(cells):
                if state[c] >= CELL_SELL:
                    pay = lot_qty[c] * o * funding_rate[i]
                    balance -= pay
                    lot_funding[c] += pay
        # Market actions decided at the previous close.
        if exit_all >= 0 or pending_stop:
            reason = exit_all if exit_all >= 0 else REASON_SIGNAL
            sell_all = exit_all >= 0 or stop_exit
            if sell_all and qty > 0.0:
                px = market_fill_price(o, -1, slippage, lo, h, clamp)
                fills, nf, trades, nt, balance = _close_lots(
                    fills, nf, trades, nt, balance, i, px, fee_taker, reason, ORDER_MARKET,
                    False, state, lot_qty, lot_px, lot_fee, lot_funding, lot_bar, qty,
                )  # fmt: skip
                qty = 0.0
                cost = 0.0
            for c in range(cells):
                state[c] = CELL_KEPT if state[c] >= CELL_SELL else CELL_IDLE
            active = False
            exit_all = -1
            pending_stop = False
            changed = True
        elif pending_start and not started:
            started = True
            active = True
            budget = investment * leverage
            if investment_is_base:
                budget *= o
            lots, held = grid_lots(levels, o, budget, trade_to_fill)
            buy_qty = 0.0
            for c in range(cells):
                q = round_quantity(lots[c], qty_step)
                if q <= 0.0 or q < min_qty:
                    continue
                lot_qty[c] = q
                rest_from[c] = i
                if held[c]:
                    buy_qty += q
                    state[c] = CELL_SELL
                    lo_sell = min(lo_sell, c)
                else:
                    state[c] = CELL_BUY
                    hi_buy = max(hi_buy, c)
            changed = True
            if buy_qty > 0.0:
                # Trade to fill: one market buy for the lots of the cells above the price.
                px = market_fill_price(o, 1, slippage, lo, h, clamp)
                fee = fee_for(buy_qty, px, fee_taker)
                if buy_qty * px / leverage + fee <= balance:
                    balance -= fee
                    fills, nf = _fill(fills, nf, i, 1, buy_qty, px, fee, REASON_ENTRY, 0, 0)
                    for c in range(cells):
                        if state[c] == CELL_SELL:
                            lot_px[c] = px
                            lot_fee[c] = fee * lot_qty[c] / buy_qty
                            lot_funding[c] = 0.0
                            lot_bar[c] = i
                            qty += lot_qty[c]
                            cost += lot_qty[c] * px
                else:
                    fills, nf = _fill(
                        fills, nf, i, 1, 0.0, px, 0.0, REASON_ENTRY, ORDER_MARKET,
                        STATUS_REJECTED,
                    )  # fmt: skip
                    for c in range(cells):
                        if state[c] == CELL_SELL:
                            state[c] = CELL_IDLE
        pending_start = False

        if active:
            # 1. Sells the bar opens above fill at the open (the first price of the bar):
            # those of cells c with levels[c + 1] < open, i.e. c + 1 < below_open.
            below_open = np.searchsorted(levels, o)
            for c in range(lo_sell, below_open - 1):
                if state[c] == CELL_SELL and rest_from[c] <= i:
                    fills, nf, trades, nt, balance = _sell_lot(
                        fills, nf, trades, nt, balance, i, c, o, fee_maker, AMBIGUITY_NONE,
                        state, lot_qty, lot_px, lot_fee, lot_funding, lot_bar, rest_from,
                    )  # fmt: skip
                    qty -= lot_qty[c]
                    cost -= lot_qty[c] * lot_px[c]
                    hi_buy = max(hi_buy, c)
                    changed = True
            # 2. The way down: buys from the highest level, the stop / liquidation in order.
            stopped = False
            top = -1
            for c in range(hi_buy, -1, -1):
                if state[c] != CELL_BUY:
                    continue
                if top < 0:
                    top = c
                if rest_from[c] > i:
                    continue
                stop_level, _ = _grid_stop(qty, cost, stop_loss_price, leverage, maint_margin)
                if not math.isnan(stop_level) and stop_level >= levels[c]:
                    break  # the stop comes first on the way down
                px = limit_fill_price(o, h, lo, levels[c], 1)
                if math.isnan(px):
                    break  # lower levels are not reached either
                upnl = qty * px - cost
                avail = balance - cost / leverage + min(upnl, 0.0)
                fee = fee_for(lot_qty[c], px, fee_maker)
                if lot_qty[c] * px / leverage + fee > avail:
                    fills, nf = _fill(
                        fills, nf, i, 1, 0.0, px, 0.0, REASON_ENTRY, ORDER_LIMIT, STATUS_REJECTED
                    )
                    state[c] = CELL_IDLE
                    continue
                balance -= fee
                fills, nf = _fill(fills, nf, i, 1, lot_qty[c], px, fee, REASON_ENTRY, 1, 0)
                state[c] = CELL_SELL
                lo_sell = min(lo_sell, c)
                changed = True
                rest_from[c] = i + 1
                lot_px[c] = px
                lot_fee[c] = fee
                lot_funding[c] = 0.0
                lot_bar[c] = i
                qty += lot_qty[c]
                cost += lot_qty[c] * px
            hi_buy = top
            stop_level, is_liq = _grid_stop(qty, cost, stop_loss_price, leverage, maint_margin)
            if qty > 0.0 or not is_liq:
                px = _protective_fill(o, h, lo, stop_level, is_liq, 1, slippage, clamp)
                code = AMBIGUITY_NONE
                if not math.isnan(px):
                    # Worst case: a sell that could also have filled in this bar is flagged.
                    sell_hit = False
                    for c in range(cells):
                        if state[c] == CELL_SELL and rest_from[c] <= i and h > levels[c + 1]:
                            sell_hit = True
                    if sell_hit:
                        code = AMBIGUITY_WORST_CASE
                    if sell_hit and has_intrabar and qty > 0.0:
                        # The lower timeframe: the sells traded before the sub-bar that
                        # touched the stop fill first (at their level); one in that sub-bar's
                        # range too leaves it sub-bar ambiguous (not filled, worst case).
                        code, before, o_stop, h_stop = grid_intrabar_nb(
                            stop_level, sub_start[i], sub_end[i], sub_ok, sub_open, sub_high,
                            sub_low, o, lo, h,
                        )  # fmt: skip
                        sold = False
                        for c in range(cells):
                            if state[c] != CELL_SELL or rest_from[c] > i:
                                continue
                            if before > levels[c + 1]:
                                fills, nf, trades, nt, balance = _sell_lot(
                                    fills, nf, trades, nt, balance, i, c, levels[c + 1],
                                    fee_maker, AMBIGUITY_RESOLVED, state, lot_qty, lot_px,
                                    lot_fee, lot_funding, lot_bar, rest_from,
                                )  # fmt: skip
                                hi_buy = max(hi_buy, c)
                                sold = True
                            elif h_stop > levels[c + 1]:
                                code = AMBIGUITY_SUB_BAR
                        if sold:
                            qty = 0.0
                            cost = 0.0
                            for c in range(cells):
                                if state[c] >= CELL_SELL:
                                    qty += lot_qty[c]
                                    cost += lot_qty[c] * lot_px[c]
                            stop_level, is_liq = _grid_stop(
                                qty, cost, stop_loss_price, leverage, maint_margin
                            )
                            changed = True
                        px = math.nan
                        if qty > 0.0 or not is_liq:
                            px = _protective_fill(
                                o_stop, h, lo, stop_level, is_liq, 1, slippage, clamp
                            )
                if not math.isnan(px):
                    if qty > 0.0:
                        if is_liq:
                            reason, otype, rate = REASON_LIQUIDATION, ORDER_LIQUIDATION, liq_fee
                        else:
                            reason, otype, rate = REASON_STOP, ORDER_STOP, fee_taker
                        fills, nf, trades, nt, balance = _close_lots(
                            fills, nf, trades, nt, balance, i, px, rate, reason, otype, code,
                            state, lot_qty, lot_px, lot_fee, lot_funding, lot_bar, qty,
                        )  # fmt: skip
                    qty = 0.0
                    cost = 0.0
                    for c in range(cells):
                        state[c] = CELL_IDLE
                    active = False
                    stopped = True
                    changed = True
            # 3. The way up: sells resting since an earlier bar fill at their level, those
            # of cells c with levels[c + 1] < high, i.e. c + 1 < below_high.
            if not stopped:
                below_high = np.searchsorted(levels, h)
                lowest = -1
                for c in range(lo_sell, below_high - 1):
                    if state[c] != CELL_SELL:
                        continue
                    if lowest < 0:
                        lowest = c
                    if rest_from[c] > i:
                        continue
                    fills, nf, trades, nt, balance = _sell_lot(
                        fills, nf, trades, nt, balance, i, c, levels[c + 1], fee_maker,
                        AMBIGUITY_NONE, state, lot_qty, lot_px, lot_fee, lot_funding, lot_bar,
                        rest_from,
                    )  # fmt: skip
                    qty -= lot_qty[c]
                    cost -= lot_qty[c] * lot_px[c]
                    hi_buy = max(hi_buy, c)
                    changed = True
                if lowest >= 0:
                    lo_sell = lowest
                elif below_high - 1 > lo_sell:
                    lo_sell = below_high - 1
            if changed:
                # Re-add the held lots: running sums would drift by rounding over many fills.
                qty = 0.0
                cost = 0.0
                for c in range(cells):
                    if state[c] >= CELL_SELL:
                        qty += lot_qty[c]
                        cost += lot_qty[c] * lot_px[c]

        cl = close[i]
        equity[i] = balance + qty * cl - cost
        cash[i] = balance - cost
        position[i] = qty
        if not active:
            if not started and start[i]:
                pending_start = True
            continue
        if portfolio_sl > 0.0 and equity[i] <= init_cash * (1.0 - portfolio_sl):
            exit_all = REASON_PORTFOLIO_STOP
        elif portfolio_tp > 0.0 and equity[i] >= init_cash * (1.0 + portfolio_tp):
            exit_all = REASON_PORTFOLIO_TAKE_PROFIT
        elif stop[i]:
            pending_stop = True

    last = close[n - 1]
    for c in range(cells):
        if state[c] >= CELL_SELL:
            trades, nt = _trade(
                trades, nt, 1, lot_bar[c], n - 1, lot_qty[c], lot_px[c], last, lot_fee[c], 0.0,
                lot_funding[c], REASON_END, AMBIGUITY_NONE, True,
            )  # fmt: skip
    return equity, cash, position, fills[:nf].copy(), trades[:nt].copy()


@njit(cache=True)
def _grid_stop(
    qty: float, cost: float, stop_loss_price: float, leverage: float, maint_margin: float
) -> tuple[float, bool]:
    # The grid's first protective level on the way down and whether it is the liquidation.
    liq = 0.0
    if qty > 0.0:
        liq = liquidation_price(cost / qty, 1, leverage, maint_margin)
    if qty > 0.0 and leverage > 1.0 and (math.isnan(stop_loss_price) or liq > stop_loss_price):
        return liq, True
    return stop_loss_price, False


@njit(cache=True)
def _sell_lot(
    fills: np.ndarray,
    nf: int,
    trades: np.ndarray,
    nt: int,
    balance: float,
    i: int,
    c: int,
    px: float,
    fee_rate: float,
    ambiguity: int,
    state: np.ndarray,
    lot_qty: np.ndarray,
    lot_px: np.ndarray,
    lot_fee: np.ndarray,
    lot_funding: np.ndarray,
    lot_bar: np.ndarray,
    rest_from: np.ndarray,
) -> tuple[np.ndarray, int, np.ndarray, int, float]:
    # Cell c's sell limit fills at px: one trade, and the buy is re-placed from the next bar.
    q = lot_qty[c]
    fee = fee_for(q, px, fee_rate)
    balance += q * (px - lot_px[c]) - fee
    fills, nf = _fill(fills, nf, i, -1, q, px, fee, REASON_TAKE_PROFIT, ORDER_LIMIT, 0)
    trades, nt = _trade(
        trades, nt, 1, lot_bar[c], i, q, lot_px[c], px, lot_fee[c], fee, lot_funding[c],
        REASON_TAKE_PROFIT, ambiguity, False,
    )  # fmt: skip
    state[c] = CELL_BUY
    rest_from[c] = i + 1
    return fills, nf, trades, nt, balance


@njit(cache=True)
def _close_lots(
    fills: np.ndarray,
    nf: int,
    trades: np.ndarray,
    nt: int,
    balance: float,
    i: int,
    px: float,
    fee_rate: float,
    reason: int,
    order_type: int,
    ambiguity: int,
    state: np.ndarray,
    lot_qty: np.ndarray,
    lot_px: np.ndarray,
    lot_fee: np.ndarray,
    lot_funding: np.ndarray,
    lot_bar: np.ndarray,
    qty: float,
) -> tuple[np.ndarray, int, np.ndarray, int, float]:
    # Sell every held lot in one order at px: one fill, one trade per lot (fee pro rata).
    fee = fee_for(qty, px, fee_rate)
    fills, nf = _fill(fills, nf, i, -1, qty, px, fee, reason, order_type, 0)
    for c in range(state.shape[0]):
        if state[c] < CELL_SELL:
            continue
        q = lot_qty[c]
        share = fee * q / qty
        balance += q * (px - lot_px[c]) - share
        trades, nt = _trade(
            trades, nt, 1, lot_bar[c], i, q, lot_px[c], px, lot_fee[c], share, lot_funding[c],
            reason, ambiguity, False,
        )  # fmt: skip
        state[c] = CELL_IDLE
    return fills, nf, trades, nt, balance
