"""Single-asset market-order kernels (the fast path): :func:`simulate_simple_nb` and its
long-only form :func:`simulate_long_nb`.

Re-exported by :mod:`tradeforge.backtest.kernels` (see its docstring for the conventions).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tradeforge.backtest.fills import (
    ORDER_MARKET,
    fee_for,
    market_fill_price,
    order_quantity,
)
from tradeforge.backtest.kernels_common import (
    AMBIGUITY_NONE,
    FILL_NCOLS,
    REASON_END,
    REASON_ENTRY,
    REASON_SIGNAL,
    STATUS_FILLED,
    STATUS_REJECTED,
    TRADE_NCOLS,
    _log_fill,
    _log_trade,
    resolve_signal,
)

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
