"""The full kernel: :func:`simulate_portfolio_nb` (several assets on one account, limit/stop
entries, stops, leverage, liquidation, funding, portfolio stops).

Re-exported by :mod:`tradeforge.backtest.kernels` (see its docstring for the conventions).
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
    round_quantity,
    stop_fill_price,
)
from tradeforge.backtest.kernels_common import (
    AMBIGUITY_NONE,
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
    REASON_TRAILING,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_REJECTED,
    TRADE_NCOLS,
    _log_fill,
    _log_trade,
    resolve_signal,
)
from tradeforge.backtest.kernels_intrabar import (
    _stop_level,
    intrabar_exit_nb,
)


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
    exit_frac: np.ndarray,
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
    ``exit_frac``, ``size``, ``size_type``, ``order_type``, ``order_price``, ``sl_pct``,
    ``tp_pct``, ``trail_pct`` and ``funding_rate`` may also be ``(k, 1)``: one value per asset
    for every bar. ``leverage``, ``min_qty`` and ``qty_step`` have one value per asset.

    Per-bar phases for each asset that has a candle: (1) funding on the carried position at
    the open; (2) gaps through a stop, take-profit or liquidation price fill at the open;
    (3) next-open mode: the previous signal's exit, then its entry (market at the open, or a
    limit/stop order resting during the bar); (4) intrabar stop-loss / trailing / take-profit /
    liquidation checks against the bar's low and high, worst case first; (5) signal-close
    mode: the signal's exit and entry at the close. Exits of every asset run before entries so
    freed collateral is available. Equity is marked at each close; portfolio-level stops are
    checked there and close everything at the next fill point.

    ``exit_frac`` is the share of the position a signal exit closes (see
    :func:`_reduce_position`); a reversal and a portfolio stop always close everything.
    ``capacity`` is the number of entry-signal cells over all assets plus the number of
    partial-exit cells (see :func:`simulate_simple_nb`). The ``sub_*`` arrays carry an
    optional lower timeframe (see :func:`intrabar_exit_nb`): ``sub_start``/``sub_end`` are
    ``(n, k)`` int64 offsets of the sub-bars inside each bar into the flat
    ``sub_open``/``sub_high``/``sub_low``/``sub_ok`` arrays (a start of -1: no lower
    timeframe for that asset); pass ``(0, 0)``-shaped offsets (and empty arrays) for none
    at all.

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
                    frac = 1.0
                    if sig >= 0 and exit_all_reason < 0 and entry_dir[j] == 0:
                        frac = exit_frac[j, _row(exit_frac, sig)]
                    balance, nf, nt = _reduce_position(
                        j, i, d, o, reason, frac, min_qty[j], qty_step[j], low[j, i],
                        high[j, i], slippage, clamp, fee_taker, balance, fills, nf, trades, nt,
                        direction, qty, entry_px, margin, entry_fee, entry_bar, funding_acc,
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
                    frac = 1.0
                    if exit_all_reason < 0 and new_dir == 0:
                        frac = exit_frac[j, _row(exit_frac, i)]
                    balance, nf, nt = _reduce_position(
                        j, i, d, c, reason, frac, min_qty[j], qty_step[j], low[j, i],
                        high[j, i], slippage, clamp, fee_taker, balance, fills, nf, trades, nt,
                        direction, qty, entry_px, margin, entry_fee, entry_bar, funding_acc,
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
def _reduce_position(
    j: int,
    i: int,
    d: int,
    ref_px: float,
    reason: int,
    frac: float,
    min_qty: float,
    qty_step: float,
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
    """Close the share ``frac`` of position ``j`` at market from ``ref_px`` in bar ``i``.

    ``frac >= 1 - 1e-12`` (or NaN) is :func:`_close_position`. Otherwise the closed quantity
    is ``frac * qty`` rounded down to ``qty_step``; when it rounds to zero or below
    ``min_qty`` nothing happens, and when the remainder would fall below ``min_qty`` the
    whole position closes. The closed part is logged as its own trade with its pro-rata
    share of the entry fee and the funding paid so far; the remainder keeps the entry bar,
    price, stops and the rest of the entry fee, funding and margin.
    """
    if not frac < 1.0 - 1e-12:
        return _close_position(
            j, i, d, ref_px, reason, bar_low, bar_high, slippage, clamp, fee_taker, balance,
            fills, nf, trades, nt, direction, qty, entry_px, margin, entry_fee, entry_bar,
            funding_acc,
        )  # fmt: skip
    held = qty[j]
    part = round_quantity(frac * held, qty_step)
    if not part > 0.0 or part < min_qty:
        return balance, nf, nt
    rest = held - part
    if not rest > 1e-12 * held or rest < min_qty:
        return _close_position(
            j, i, d, ref_px, reason, bar_low, bar_high, slippage, clamp, fee_taker, balance,
            fills, nf, trades, nt, direction, qty, entry_px, margin, entry_fee, entry_bar,
            funding_acc,
        )  # fmt: skip
    share = part / held
    px = market_fill_price(ref_px, -d, slippage, bar_low, bar_high, clamp)
    fee = fee_for(part, px, fee_taker)
    part_entry_fee = entry_fee[j] * share
    part_funding = funding_acc[j] * share
    balance += d * part * (px - entry_px[j]) - fee
    nf = _log_fill(fills, nf, i, j, -d, part, px, fee, reason, ORDER_MARKET, STATUS_FILLED)
    nt = _log_trade(
        trades, nt, j, d, entry_bar[j], i, part, entry_px[j], px,
        part_entry_fee, fee, part_funding, reason, AMBIGUITY_NONE, False,
    )  # fmt: skip
    qty[j] = rest
    entry_fee[j] -= part_entry_fee
    funding_acc[j] -= part_funding
    margin[j] -= margin[j] * share
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
