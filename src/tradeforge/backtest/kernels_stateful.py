"""The single-asset market-order kernel with state-dependent rules evaluated in its loop.

:func:`simulate_stateful_nb` is :func:`kernels_simple._simple_run`'s bar loop (same fills,
same logs, same equity) plus, at each bar's close, the evaluation of postfix programs
(:mod:`tradeforge.dsl.stateprog`) against the exact state it keeps; a true entry or exit
program sets that bar's flags for the next open. Entry flags and sizes come from two
precomputed variants per bar: without the state-dependent entry (``base_*``) and with it
(``fired_*``), so the kernel needs no size logic of its own.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tradeforge.backtest.fills import ORDER_MARKET, fee_for, market_fill_price, order_quantity
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

ACTION_ENTRY = 0
ACTION_EXIT = 1

# Opcodes: tradeforge.dsl.stateprog (kept in step by tests).
_SERIES, _STATE, _CONST, _NEG, _NOT = 0, 1, 2, 3, 4
_ADD, _SUB, _MUL, _DIV = 5, 6, 7, 8
_LT, _LE, _GT, _GE, _EQ, _NE = 9, 10, 11, 12, 13, 14
_AND, _OR, _WHERE = 15, 16, 17


@njit(cache=True, error_model="numpy")
def eval_program(
    code: np.ndarray,
    lo: int,
    hi: int,
    constants: np.ndarray,
    series: np.ndarray,
    bar: int,
    state: np.ndarray,
    stack: np.ndarray,
) -> bool:
    """Evaluate ``code[lo:hi]`` ((opcode, argument) pairs) at ``bar``; true unless 0.0."""
    sp = 0
    for pc in range(lo, hi, 2):
        op = code[pc]
        arg = code[pc + 1]
        if op == _SERIES:
            stack[sp] = series[arg, bar]
            sp += 1
        elif op == _STATE:
            stack[sp] = state[arg]
            sp += 1
        elif op == _CONST:
            stack[sp] = constants[arg]
            sp += 1
        elif op == _NEG:
            stack[sp - 1] = -stack[sp - 1]
        elif op == _NOT:
            stack[sp - 1] = 0.0 if stack[sp - 1] != 0.0 else 1.0
        elif op == _AND:
            base = sp - arg
            acc = True
            for j in range(base, sp):
                acc = acc and stack[j] != 0.0
            stack[base] = 1.0 if acc else 0.0
            sp = base + 1
        elif op == _OR:
            base = sp - arg
            acc = False
            for j in range(base, sp):
                acc = acc or stack[j] != 0.0
            stack[base] = 1.0 if acc else 0.0
            sp = base + 1
        elif op == _WHERE:
            test = stack[sp - 3] != 0.0
            stack[sp - 3] = stack[sp - 2] if test else stack[sp - 1]
            sp -= 2
        else:
            a = stack[sp - 2]
            b = stack[sp - 1]
            if op == _ADD:
                r = a + b
            elif op == _SUB:
                r = a - b
            elif op == _MUL:
                r = a * b
            elif op == _DIV:
                r = a / b
            elif op == _LT:
                r = 1.0 if a < b else 0.0
            elif op == _LE:
                r = 1.0 if a <= b else 0.0
            elif op == _GT:
                r = 1.0 if a > b else 0.0
            elif op == _GE:
                r = 1.0 if a >= b else 0.0
            elif op == _EQ:
                r = 1.0 if a == b else 0.0
            else:
                r = 1.0 if a != b else 0.0
            stack[sp - 2] = r
            sp -= 1
    return bool(stack[0] != 0.0)


@njit(cache=True, error_model="numpy")
def simulate_stateful_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    base_entry: np.ndarray,
    fired_entry: np.ndarray,
    base_exit: np.ndarray,
    base_size: np.ndarray,
    base_size_type: np.ndarray,
    fired_size: np.ndarray,
    fired_size_type: np.ndarray,
    init_cash: float,
    fee_rate: float,
    slippage: float,
    min_qty: float,
    qty_step: float,
    clamp: bool,
    code: np.ndarray,
    code_start: np.ndarray,
    action: np.ndarray,
    constants: np.ndarray,
    series: np.ndarray,
    depth: int,
    fill_rows: int,
    trade_rows: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Long-only market orders at the next open (1x, no stops, no funding) with rules.

    Per bar arrays have one value per bar. Program ``p`` is ``code[code_start[p]:
    code_start[p + 1]]``; ``action[p]`` is ``ACTION_ENTRY`` or ``ACTION_EXIT``. The state
    vector is ``(side, size, entry price, bars since entry, equity)`` at the bar's close,
    NaN entry price and bars since entry while flat. Returns ``(equity, fills, trades)``.
    """
    n = close.shape[0]
    equity = np.empty(n, dtype=np.float64)
    fills = np.empty((fill_rows, FILL_NCOLS), dtype=np.float64)
    trades = np.empty((trade_rows, TRADE_NCOLS), dtype=np.float64)
    entry_on = np.zeros(n, dtype=np.bool_)
    exit_on = np.zeros(n, dtype=np.bool_)
    state = np.empty(5, dtype=np.float64)
    stack = np.empty(max(depth, 1), dtype=np.float64)
    n_prog = action.shape[0]
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
        sig = i - 1
        if sig >= 0:
            fired = entry_on[sig]
            el = fired_entry[sig] if fired else base_entry[sig]
            xl = base_exit[sig] or exit_on[sig]
            if el or xl:
                close_it, new_dir = resolve_signal(direction, el, xl, False, False)
                ref = open_[i]
                if close_it:
                    side = -direction
                    px = market_fill_price(ref, side, slippage, low[i], high[i], clamp)
                    fee = fee_for(qty, px, fee_rate)
                    balance += direction * qty * (px - entry_px) - fee
                    nf = _log_fill(
                        fills, nf, i, 0, side, qty, px, fee, REASON_SIGNAL, ORDER_MARKET,
                        STATUS_FILLED,
                    )  # fmt: skip
                    nt = _log_trade(
                        trades, nt, 0, direction, entry_bar, i, qty, entry_px, px, entry_fee,
                        fee, 0.0, REASON_SIGNAL, AMBIGUITY_NONE, False,
                    )  # fmt: skip
                    direction = 0
                    qty = 0.0
                if new_dir != 0 and direction == 0:
                    px = market_fill_price(ref, new_dir, slippage, low[i], high[i], clamp)
                    if fired:
                        q = order_quantity(
                            fired_size[sig], fired_size_type[sig], px, balance, balance, 1.0,
                            fee_rate, min_qty, qty_step,
                        )  # fmt: skip
                    else:
                        q = order_quantity(
                            base_size[sig], base_size_type[sig], px, balance, balance, 1.0,
                            fee_rate, min_qty, qty_step,
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
        equity[i] = balance + held * (close[i] - entry_px)
        # The state at this close, as BacktestResult.state and the service report it.
        if direction != 0:
            state[0] = float(direction)
            state[1] = qty
            state[2] = entry_px
            state[3] = float(i - entry_bar)
        else:
            state[0] = 0.0
            state[1] = 0.0
            state[2] = np.nan
            state[3] = np.nan
        state[4] = equity[i]
        for p in range(n_prog):
            if action[p] == ACTION_ENTRY:
                if entry_on[i]:
                    continue
            elif exit_on[i]:
                continue
            if eval_program(
                code, code_start[p], code_start[p + 1], constants, series, i, state, stack
            ):
                if action[p] == ACTION_ENTRY:
                    entry_on[i] = True
                else:
                    exit_on[i] = True
    if direction != 0:
        nt = _log_trade(
            trades, nt, 0, direction, entry_bar, n - 1, qty, entry_px, close[n - 1], entry_fee,
            0.0, 0.0, REASON_END, AMBIGUITY_NONE, True,
        )  # fmt: skip
    return equity, fills[:nf].copy(), trades[:nt].copy()
