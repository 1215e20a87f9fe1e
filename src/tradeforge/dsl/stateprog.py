"""Compile a state-dependent condition into a flat postfix program for the backtest kernel.

A program is a sequence of ``(opcode, argument)`` pairs evaluated on a float64 stack at
one bar. Operands are pure series (steps the runtime already computed over every bar,
materialised once as float64 arrays over the reported bars), the simulated account state
(``STATE_NAMES``, with :meth:`BarEvaluator.evaluate`'s conventions: NaN entry price and
bars since entry while flat) and constants. Booleans are 1.0/0.0; a value is true when it
is not 0.0 (NaN is true, as ``bool(nan)`` is in the per-bar evaluator). The operations
mirror ``runtime._scalar_op`` exactly: ``+ - * /`` (IEEE, NaN/inf on division by zero),
unary minus, comparisons (false on NaN except ``!=``), n-ary ``and``/``or``, ``not`` and
``where``. Anything else (``%``, ``**``, strings, a dynamic step the kernel does not know)
makes :func:`compile_condition` return ``None``: the caller then uses the per-bar re-run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.dsl.compiler import Plan
from tradeforge.dsl.ir import Kind

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

STATE_NAMES = ("position_side", "position_size", "entry_price", "bars_since_entry", "equity")

OP_SERIES = 0
OP_STATE = 1
OP_CONST = 2
OP_NEG = 3
OP_NOT = 4
OP_ADD = 5
OP_SUB = 6
OP_MUL = 7
OP_DIV = 8
OP_LT = 9
OP_LE = 10
OP_GT = 11
OP_GE = 12
OP_EQ = 13
OP_NE = 14
OP_AND = 15  # argument: arity
OP_OR = 16  # argument: arity
OP_WHERE = 17

_BINOPS = {"+": OP_ADD, "-": OP_SUB, "*": OP_MUL, "/": OP_DIV}
_CMPS = {"<": OP_LT, "<=": OP_LE, ">": OP_GT, ">=": OP_GE, "==": OP_EQ, "!=": OP_NE}
_EXACT_INT = 2**53  # Python ints up to this size convert to float64 exactly


@dataclass(frozen=True)
class StateProgram:
    """A compiled condition: ``code`` holds (opcode, argument) pairs, flattened."""

    code: IntArray
    constants: FloatArray
    series: list[FloatArray]  # each of length ``n`` (the reported bars)
    depth: int  # the largest stack height the program reaches


class _UnsupportedError(Exception):
    pass


class _Builder:
    def __init__(self, plan: Plan, values: list[Any], offset: int, n: int) -> None:
        self.plan = plan
        self.values = values
        self.offset = offset
        self.n = n
        self.code: list[int] = []
        self.constants: list[float] = []
        self.series: list[FloatArray] = []
        self.series_of: dict[int, int] = {}
        self.height = 0
        self.depth = 0

    def _emit(self, op: int, arg: int, delta: int) -> None:
        self.code += [op, arg]
        self.height += delta
        self.depth = max(self.depth, self.height)

    def _const(self, value: float) -> None:
        self.constants.append(value)
        self._emit(OP_CONST, len(self.constants) - 1, 1)

    def _pure(self, slot: int) -> None:
        value = self.values[slot]
        if isinstance(value, np.ndarray):
            if value.ndim != 1 or value.dtype.kind not in "bif":
                raise _UnsupportedError
            if value.shape[0] != self.offset + self.n:
                raise _UnsupportedError
            if (
                value.dtype.kind in "iu"
                and value.shape[0]
                and (int(np.abs(value).max()) > _EXACT_INT)
            ):
                raise _UnsupportedError
            k = self.series_of.get(slot)
            if k is None:
                k = len(self.series)
                part = value[self.offset : self.offset + self.n]
                self.series.append(np.ascontiguousarray(part, dtype=np.float64))
                self.series_of[slot] = k
            self._emit(OP_SERIES, k, 1)
            return
        if isinstance(value, bool | np.bool_):
            self._const(1.0 if value else 0.0)
            return
        if isinstance(value, int | np.integer):
            if abs(int(value)) > _EXACT_INT:
                raise _UnsupportedError
            self._const(float(value))
            return
        if isinstance(value, float | np.floating):
            self._const(float(value))
            return
        raise _UnsupportedError

    def emit(self, slot: int) -> None:
        step = self.plan.steps[slot]
        if not step.dynamic:
            self._pure(slot)
            return
        op = step.op
        if op == "state":
            name = step.params[0]
            if name in STATE_NAMES:
                self._emit(OP_STATE, STATE_NAMES.index(name), 1)
            else:
                self._const(float("nan"))
            return
        for a in step.args:
            self.emit(a)
        if op == "neg":
            # ``-True`` is the int -1 and ``-False`` the int 0 (not -0.0): keep to numbers.
            if self.plan.steps[step.args[0]].kind in (Kind.BOOL, Kind.BOOL_SERIES):
                raise _UnsupportedError
            self._emit(OP_NEG, 0, 0)
        elif op == "not":
            self._emit(OP_NOT, 0, 0)
        elif op == "binop" and step.params[0] in _BINOPS:
            self._emit(_BINOPS[step.params[0]], 0, -1)
        elif op == "cmp" and step.params[0] in _CMPS:
            self._emit(_CMPS[step.params[0]], 0, -1)
        elif op in ("and", "or") and len(step.args) >= 1:
            self._emit(OP_AND if op == "and" else OP_OR, len(step.args), 1 - len(step.args))
        elif op == "where" and len(step.args) == 3:
            self._emit(OP_WHERE, 0, -2)
        else:
            raise _UnsupportedError


def compile_condition(
    plan: Plan, values: list[Any], offset: int, n: int, slot: int
) -> StateProgram | None:
    """Compile the value of ``slot`` (a condition) over reported bars ``[0, n)``.

    ``values`` and ``offset`` are the runtime's computed steps and the index of the first
    reported bar in them (``BarEvaluator.values``/``offset``). Returns ``None`` when the
    expression uses anything the kernel does not evaluate.
    """
    b = _Builder(plan, values, offset, n)
    try:
        b.emit(slot)
    except _UnsupportedError:
        return None
    if b.height != 1:
        return None
    return StateProgram(
        np.array(b.code, dtype=np.int64),
        np.array(b.constants, dtype=np.float64),
        b.series,
        b.depth,
    )
