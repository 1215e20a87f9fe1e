"""One-symbol backtests whose state-dependent rules are evaluated inside the kernel loop.

:func:`run_backtest_stateful` gives the same :class:`BacktestResult` as :func:`run_backtest`
on the signals a per-bar re-run would end with (see the service's ``_run_stateful``), in one
kernel pass. It covers the fast kernel's case only: long entries, market orders at the next
open, 1x, no stops, no funding, no portfolio stop/take-profit. For anything else it returns
``None`` and the caller keeps the re-run path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from tradeforge.backtest.engine import (
    BacktestConfig,
    FillConvention,
    Signals,
    _check_candles,
    _expand,
    _intrabar,
    _parameters,
    _signal_arrays,
    _timeframe,
    _uses_full_kernel,
)
from tradeforge.backtest.kernels_stateful import (
    ACTION_ENTRY,
    ACTION_EXIT,
    simulate_stateful_nb,
)
from tradeforge.backtest.results import BacktestResult
from tradeforge.core.candles import Candles

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Program(Protocol):
    """A postfix program (``tradeforge.dsl.stateprog.StateProgram``)."""

    @property
    def code(self) -> IntArray: ...
    @property
    def constants(self) -> FloatArray: ...
    @property
    def series(self) -> list[FloatArray]: ...
    @property
    def depth(self) -> int: ...


@dataclass(frozen=True)
class Rule:
    """A state-dependent action: ``program`` true at a close sets ``action`` for the next
    open (``"entry"``: a long entry with the ``fired`` signals' size; ``"exit"``)."""

    program: Program
    action: str


_OP_SERIES, _OP_CONST = 0, 2


def run_backtest_stateful(
    candles: Candles,
    base: Signals,
    fired: Signals,
    rules: Sequence[Rule],
    config: BacktestConfig,
    *,
    symbol: str = "",
    timeframe_ms: int | None = None,
    script: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    intrabar: Candles | None = None,
) -> BacktestResult | None:
    """Backtest one symbol with ``rules`` evaluated at each close; ``None`` when out of scope.

    ``base`` are the signals without any rule action; ``fired`` the same signals as they are
    on a bar where the entry rule fires (its entry flag and size added, as the re-run path
    adds them). Exit rules add an exit on their bar. Exact: the state a rule reads at a close
    is the kernel's own position, entry price, bars since entry and equity at that close.
    """
    config.validate()
    if (
        config.fill is not FillConvention.NEXT_OPEN
        or config.leverage != 1.0
        or config.portfolio_stop_loss is not None
        or config.portfolio_take_profit is not None
    ):
        return None
    gap = _check_candles(candles, symbol)
    n = candles.timestamp.shape[0]
    a = _signal_arrays(base, n)
    f = _signal_arrays(fired, n)
    for arrays in (a, f):
        if _uses_full_kernel(arrays, config, False) or arrays.has_short_entries:
            return None
    if bool(np.any(_expand(a.exit_long, n) != _expand(f.exit_long, n))):
        return None
    tf = _timeframe(timeframe_ms, gap, candles.timestamp)
    if intrabar is not None:
        _intrabar(candles.timestamp, tf, intrabar, symbol)  # the same validation
    code_parts: list[IntArray] = []
    starts = [0]
    constants: list[FloatArray] = []
    series: list[FloatArray] = []
    actions: list[int] = []
    depth = 1
    n_const = 0
    for rule in rules:
        prog = rule.program
        code = prog.code.copy()
        ops = code[0::2]
        args = code[1::2]
        args[ops == _OP_SERIES] += len(series)
        args[ops == _OP_CONST] += n_const
        code[1::2] = args
        code_parts.append(code)
        starts.append(starts[-1] + code.shape[0])
        constants.append(prog.constants)
        n_const += prog.constants.shape[0]
        for s in prog.series:
            if s.shape[0] != n:
                return None
            series.append(s)
        actions.append(ACTION_ENTRY if rule.action == "entry" else ACTION_EXIT)
        depth = max(depth, prog.depth)
    entries = _expand(a.entry_long, n) | _expand(f.entry_long, n)
    capacity = int(np.count_nonzero(entries))
    equity, fills, trades = simulate_stateful_nb(
        candles.open, candles.high, candles.low, candles.close,
        np.ascontiguousarray(_expand(a.entry_long, n)),
        np.ascontiguousarray(_expand(f.entry_long, n)),
        np.ascontiguousarray(_expand(a.exit_long, n)),
        np.ascontiguousarray(_expand(a.size, n), dtype=np.float64),
        np.ascontiguousarray(_expand(a.size_type, n), dtype=np.int64),
        np.ascontiguousarray(_expand(f.size, n), dtype=np.float64),
        np.ascontiguousarray(_expand(f.size_type, n), dtype=np.int64),
        config.initial_cash, config.fee_taker, config.slippage, config.min_quantity,
        config.quantity_step, config.clamp_fills_to_bar,
        np.concatenate(code_parts) if code_parts else np.zeros(0, dtype=np.int64),
        np.array(starts, dtype=np.int64), np.array(actions, dtype=np.int64),
        np.concatenate(constants) if constants else np.zeros(0),
        np.stack(series) if series else np.zeros((0, n)),
        depth, 2 * capacity + 2, capacity + 2,
    )  # fmt: skip
    return BacktestResult(
        symbols=(symbol,),
        timestamp=candles.timestamp,
        equity=equity,
        held=None,
        fill_table=fills,
        trade_table=trades,
        initial_equity=config.initial_cash,
        timeframe_ms=tf,
        leverage=config.leverage,
        candles={symbol: candles},
        parameters=_parameters(config, parameters),
        script=script,
        funding_coverage={symbol: None},
        intrabar={} if intrabar is None else {symbol: intrabar},
    )
