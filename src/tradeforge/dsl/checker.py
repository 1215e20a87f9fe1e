"""Check a parsed script and turn it into typed IR.

All semantic errors are raised here, before anything runs, each with the span of the
offending node: unknown names (with "did you mean"), arity, types, parameter ranges,
look-ahead bans, tickers, timeframes and size limits. Constant sub-expressions (including
``param(...)``) are folded so indicator parameters are known numbers.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tradeforge.dsl import ast as a
from tradeforge.dsl import limits
from tradeforge.dsl.calls import BUILTIN_FUNCTIONS, CallChecker
from tradeforge.dsl.errors import (
    DslArityError,
    DslLimitError,
    DslSyntaxError,
    DslTypeError,
    DslUnknownNameError,
    DslValueError,
)
from tradeforge.dsl.ir import (
    BASE,
    BOOLEAN,
    CURRENT,
    CURRENT_TICKER,
    FUNDING_FIELD,
    NUMERIC,
    PRICE_FIELDS,
    STATE_FIELDS,
    TIME_FIELDS,
    Action,
    CheckedScript,
    Ctx,
    Kind,
    Node,
    Signal,
)
from tradeforge.indicators.registry import get_indicator, registry

_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
    "**": operator.pow,
}
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass
class _Binding:
    expr: a.Expr
    span: a.Span
    index: int | None  # output index for tuple-unpacked names
    cache: dict[Ctx, Node] = field(default_factory=dict)


class Checker(CallChecker):
    def __init__(
        self,
        program: a.Program,
        *,
        universe: Sequence[str] = (),
        timeframe: str | None = None,
        param_values: Mapping[str, float] | None = None,
    ) -> None:
        self.program = program
        self.source = program.source
        self.universe = tuple(universe)
        self.timeframe = timeframe
        self.param_values = dict(param_values or {})
        self.env: dict[str, _Binding] = {}
        self.result = CheckedScript(program.source)
        self.tickers: set[str] = set()
        self.param_names: set[str] = set()
        self.active: set[str] = set()
        self.used: set[str] = set()

    # errors -----------------------------------------------------------------------------

    # entry points -----------------------------------------------------------------------

    def check_script(self) -> CheckedScript:
        if not self.program.statements:
            self._raise(
                DslSyntaxError,
                "the script is empty",
                None,
                'Write at least one emit_signal(condition, entry("BINANCE:BTC/USDT", "LONG", '
                "Weight(0.5))).",
            )
        for stmt in self.program.statements:
            self._statement(stmt)
        if not self.result.signals:
            last = self.program.statements[-1].span
            self._raise(
                DslSyntaxError,
                "the script never calls emit_signal",
                last,
                'Add emit_signal(condition, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5))).',
            )
        self._check_unused_params()
        for name, binding in self.env.items():
            if name not in self.used:
                self._warn(f"'{name}' is assigned but never used", binding.span, "DSL_UNUSED")
        return self.result

    def check_expression(self) -> Node:
        stmts = self.program.statements
        if len(stmts) != 1 or not isinstance(stmts[0], a.ExprStatement):
            span = stmts[0].span if stmts else None
            self._raise(
                DslSyntaxError,
                "expected exactly one expression",
                span,
                "Send one expression such as rsi(close, 14)[-1] < 30, with no '='.",
            )
        node = self.expr(stmts[0].value, BASE)
        if node.kind not in NUMERIC | BOOLEAN:
            self._raise(
                DslTypeError,
                f"the expression gives a {node.kind.value}, not a number or condition",
                stmts[0].span,
                "Evaluate a number or a condition, e.g. rsi(close, 14)[-1] or close > 0.",
            )
        if node.dynamic:
            self._raise(
                DslTypeError,
                "account state is only available inside strategies",
                stmts[0].span,
                "Remove position_* / equity names from the expression.",
            )
        self._check_unused_params()
        return node

    def _check_unused_params(self) -> None:
        unknown = sorted(set(self.param_values) - self.param_names)
        if unknown:
            self._raise(
                DslValueError,
                f"parameter value given for '{unknown[0]}', which the script does not define",
                None,
                self._did_you_mean(unknown[0], sorted(self.param_names)),
            )

    # statements -------------------------------------------------------------------------

    def _statement(self, stmt: a.Statement) -> None:
        if isinstance(stmt, a.Assign):
            self._assign(stmt)
            return
        value = stmt.value
        if isinstance(value, a.Call) and value.func == "emit_signal":
            self._emit(value)
            return
        node = self.expr(value, BASE)
        self.result.expressions.append(node)
        self._warn("this expression is computed but never used", stmt.span, "DSL_UNUSED")

    def _assign(self, stmt: a.Assign) -> None:
        for target in stmt.targets:
            self._check_target(target)
        if len(stmt.targets) == 1:
            binding = _Binding(stmt.value, stmt.targets[0].span, None)
            node = self._resolve(stmt.targets[0].name, binding, BASE)
            if node.kind is Kind.TUPLE:
                self._raise(
                    DslArityError,
                    f"{_call_name(stmt.value)} returns {len(node.params[2])} values "
                    f"({', '.join(node.params[2])}); one name was given",
                    stmt.span,
                    f"Unpack every output: {', '.join(node.params[2])} = "
                    f"{_call_name(stmt.value)}(...).",
                )
            self.env[stmt.targets[0].name] = binding
            return
        value = stmt.value
        node = self.expr(value, BASE)
        if node.kind is not Kind.TUPLE:
            self._raise(
                DslArityError,
                f"cannot unpack one value into {len(stmt.targets)} names",
                stmt.span,
                "Only multi-output indicators unpack: m, s, h = macd(close, 12, 26, 9).",
            )
        outputs: tuple[str, ...] = node.params[2]
        if len(outputs) != len(stmt.targets):
            self._raise(
                DslArityError,
                f"{_call_name(value)} returns {len(outputs)} values ({', '.join(outputs)}); "
                f"{len(stmt.targets)} names were given",
                stmt.span,
                f"Write {', '.join(outputs)} = {_call_name(value)}(...).",
            )
        for i, target in enumerate(stmt.targets):
            self.env[target.name] = _Binding(value, target.span, i)

    def _check_target(self, target: a.Target) -> None:
        name = target.name
        if name in self.env:
            first = self.env[name].span
            self._raise(
                DslValueError,
                f"'{name}' is already defined on line {first.line}",
                target.span,
                "Names are assigned once; choose a new name.",
            )
        if (
            name in PRICE_FIELDS
            or name in TIME_FIELDS
            or name in STATE_FIELDS
            or name in (FUNDING_FIELD, CURRENT_TICKER)
            or name in BUILTIN_FUNCTIONS
            or get_indicator(name) is not None
            or name in ("true", "false")
        ):
            self._raise(
                DslValueError,
                f"'{name}' is a built-in name and cannot be assigned",
                target.span,
                f"Choose another name, e.g. my_{name}.",
            )

    def _resolve(self, name: str, binding: _Binding, ctx: Ctx) -> Node:
        cached = binding.cache.get(ctx)
        if cached is not None:
            return cached
        if name in self.active:
            self._raise(
                DslValueError, f"'{name}' refers to itself", binding.span, "Remove the cycle."
            )
        self.active.add(name)
        try:
            node = self.expr(binding.expr, ctx)
        finally:
            self.active.discard(name)
        if binding.index is not None:
            outputs: tuple[str, ...] = node.params[2]
            spec = get_indicator(node.params[0])
            assert spec is not None
            kind = Kind.BOOL_SERIES if spec.outputs[binding.index].kind == "bool" else Kind.SERIES
            node = Node(
                "pick", kind, (node,), (binding.index, outputs[binding.index]), ctx, binding.span
            )
        binding.cache[ctx] = node
        return node

    def _emit(self, call: a.Call) -> None:
        if call.keywords:
            self._raise(
                DslArityError,
                "emit_signal takes no keyword arguments",
                call.keywords[0].span,
                "Write emit_signal(condition, action, ...).",
            )
        if len(call.args) < 2:
            self._raise(
                DslArityError,
                f"emit_signal needs a condition and at least one action; got {len(call.args)} "
                "argument(s)",
                call.span,
                'Write emit_signal(condition, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5))).',
            )
        condition = self.expr(call.args[0], BASE)
        if condition.kind not in BOOLEAN:
            self._raise(
                DslTypeError,
                f"the condition of emit_signal is a {condition.kind.value}, not a condition",
                call.args[0].span,
                "Use a comparison such as rsi(close, 14) < 30.",
            )
        for arg in call.args[1:]:
            action = self.expr(arg, BASE)
            if action.kind is not Kind.ACTION:
                self._raise(
                    DslTypeError,
                    f"emit_signal expects actions after the condition; got a {action.kind.value}",
                    arg.span,
                    'Use entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)) or '
                    'exit("BINANCE:BTC/USDT").',
                )
            self.result.signals.append(Signal(condition, action.value, call.span))
            if len(self.result.signals) > limits.MAX_SIGNALS:
                raise DslLimitError(
                    f"the script emits more than {limits.MAX_SIGNALS} actions",
                    span=arg.span,
                    source=self.source,
                    suggestion="Combine conditions with 'or' to emit fewer actions.",
                    details={"limit": "MAX_SIGNALS", "max": limits.MAX_SIGNALS},
                )
            if condition.dynamic or _action_dynamic(action.value):
                self.result.uses_state = True

    # expressions ------------------------------------------------------------------------

    def expr(self, e: a.Expr, ctx: Ctx) -> Node:
        if isinstance(e, a.Number):
            return Node("const", Kind.NUMBER, (), (e.value,), ctx, e.span)
        if isinstance(e, a.Boolean):
            return Node("const", Kind.BOOL, (), (e.value,), ctx, e.span)
        if isinstance(e, a.String):
            return Node("const", Kind.STRING, (), (e.value,), ctx, e.span)
        if isinstance(e, a.Name):
            return self._name(e, ctx)
        if isinstance(e, a.Unary):
            return self._unary(e, ctx)
        if isinstance(e, a.Binary):
            return self._binary(e, ctx)
        if isinstance(e, a.Compare):
            return self._compare(e, ctx)
        if isinstance(e, a.Logical):
            return self._logical(e, ctx)
        if isinstance(e, a.IfElse):
            return self._ifelse(e, ctx)
        if isinstance(e, a.Index):
            return self._index(e, ctx)
        return self._call(e, ctx)

    def _name(self, e: a.Name, ctx: Ctx) -> Node:
        name = e.id
        binding = self.env.get(name)
        self.used.add(name)
        if binding is not None:
            return self._resolve(name, binding, ctx)
        if name == CURRENT_TICKER:
            return Node("const", Kind.STRING, (), (CURRENT,), ctx, e.span)
        if name in PRICE_FIELDS:
            return Node("data", Kind.SERIES, (), (name,), ctx, e.span)
        if name in TIME_FIELDS:
            return Node("time", Kind.SERIES, (), (name,), ctx, e.span)
        if name == FUNDING_FIELD:
            self._check_funding(ctx.ticker, e.span)
            return Node("funding", Kind.SERIES, (), (), ctx, e.span)
        if name in STATE_FIELDS:
            if ctx != BASE:
                self._raise(
                    DslTypeError,
                    f"'{name}' (account state) is not available inside tf() or for another symbol",
                    e.span,
                    "Use account state only at the top level of a rule.",
                )
            return Node("state", Kind.SERIES, (), (name,), ctx, e.span, dynamic=True)
        if name in BUILTIN_FUNCTIONS or get_indicator(name) is not None:
            self._raise(
                DslTypeError,
                f"'{name}' is a function; call it with arguments",
                e.span,
                f"Write {self._example_call(name)}.",
            )
        candidates = [
            *self.env,
            *PRICE_FIELDS,
            *TIME_FIELDS,
            *STATE_FIELDS,
            FUNDING_FIELD,
            *registry(),
        ]
        self._raise(
            DslUnknownNameError,
            f"unknown name '{name}'",
            e.span,
            self._did_you_mean(name, candidates),
        )

    def _fold_number(self, value: float, span: a.Span) -> float:
        if not math.isfinite(value) or abs(value) > limits.MAX_ABS_CONSTANT:
            raise DslLimitError(
                "a constant expression overflows",
                span=span,
                source=self.source,
                suggestion=f"Keep constants within +-{limits.MAX_ABS_CONSTANT:g}.",
                details={"limit": "MAX_ABS_CONSTANT", "max": limits.MAX_ABS_CONSTANT},
            )
        return value

    def _unary(self, e: a.Unary, ctx: Ctx) -> Node:
        operand = self.expr(e.operand, ctx)
        if e.op == "not":
            self._boolean(operand, e.operand.span, "'not'")
            if operand.is_const:
                return Node("const", Kind.BOOL, (), (not operand.value,), ctx, e.span)
            return Node("not", operand.kind, (operand,), (), ctx, e.span, operand.dynamic)
        self._numeric(operand, e.operand.span, f"unary '{e.op}'")
        if e.op == "+":
            return operand
        if operand.is_const:
            return Node("const", Kind.NUMBER, (), (-operand.value,), ctx, e.span)
        return Node("neg", operand.kind, (operand,), (), ctx, e.span, operand.dynamic)

    def _binary(self, e: a.Binary, ctx: Ctx) -> Node:
        left, right = self.expr(e.left, ctx), self.expr(e.right, ctx)
        self._numeric(left, e.left.span, f"'{e.op}'")
        self._numeric(right, e.right.span, f"'{e.op}'")
        if left.is_const and right.is_const:
            x, y = float(left.value), float(right.value)
            if e.op in ("/", "%") and y == 0.0:
                self._raise(
                    DslValueError, "division by zero", e.span, "Divide by a non-zero value."
                )
            if e.op == "**":
                if abs(y) > limits.MAX_POWER_EXPONENT:
                    raise DslLimitError(
                        f"exponent {y:g} is larger than {limits.MAX_POWER_EXPONENT:g}",
                        span=e.span,
                        source=self.source,
                        suggestion=f"Use exponents up to {limits.MAX_POWER_EXPONENT:g}.",
                        details={"limit": "MAX_POWER_EXPONENT", "max": limits.MAX_POWER_EXPONENT},
                    )
                if x == 0.0 and y < 0:
                    self._raise(DslValueError, "0 to a negative power", e.span, "Use a base != 0.")
                if x < 0 and not y.is_integer():
                    self._raise(
                        DslValueError,
                        "a negative number to a fractional power is not real",
                        e.span,
                        "Use a positive base or a whole exponent.",
                    )
            try:
                value = _ARITH[e.op](x, y)
            except OverflowError:
                value = math.inf
            return Node("const", Kind.NUMBER, (), (self._fold_number(value, e.span),), ctx, e.span)
        kind = Kind.SERIES if Kind.SERIES in (left.kind, right.kind) else Kind.NUMBER
        return Node(
            "binop", kind, (left, right), (e.op,), ctx, e.span, left.dynamic or right.dynamic
        )

    def _compare(self, e: a.Compare, ctx: Ctx) -> Node:
        operands = [self.expr(e.left, ctx)] + [self.expr(c, ctx) for c in e.comparators]
        spans = [e.left.span] + [c.span for c in e.comparators]
        parts: list[Node] = []
        for i, op in enumerate(e.ops):
            left, right = operands[i], operands[i + 1]
            boolish = left.kind in BOOLEAN and right.kind in BOOLEAN and op in ("==", "!=")
            if not boolish:
                self._numeric(left, spans[i], f"'{op}'")
                self._numeric(right, spans[i + 1], f"'{op}'")
            if left.is_const and right.is_const:
                parts.append(
                    Node("const", Kind.BOOL, (), (_CMP[op](left.value, right.value),), ctx, e.span)
                )
                continue
            series = {left.kind, right.kind} & {Kind.SERIES, Kind.BOOL_SERIES}
            kind = Kind.BOOL_SERIES if series else Kind.BOOL
            parts.append(
                Node("cmp", kind, (left, right), (op,), ctx, e.span, left.dynamic or right.dynamic)
            )
        if len(parts) == 1:
            return parts[0]
        return self._combine("and", parts, ctx, e.span)

    def _combine(self, op: str, parts: list[Node], ctx: Ctx, span: a.Span) -> Node:
        if all(p.is_const for p in parts):
            values = [bool(p.value) for p in parts]
            result = all(values) if op == "and" else any(values)
            return Node("const", Kind.BOOL, (), (result,), ctx, span)
        kind = Kind.BOOL_SERIES if any(p.kind is Kind.BOOL_SERIES for p in parts) else Kind.BOOL
        return Node(op, kind, tuple(parts), (), ctx, span, any(p.dynamic for p in parts))

    def _logical(self, e: a.Logical, ctx: Ctx) -> Node:
        parts: list[Node] = []
        for value in e.values:
            node = self.expr(value, ctx)
            self._boolean(node, value.span, f"'{e.op}'")
            parts.append(node)
        return self._combine(e.op, parts, ctx, e.span)

    def _ifelse(self, e: a.IfElse, ctx: Ctx) -> Node:
        test = self.expr(e.test, ctx)
        self._boolean(test, e.test.span, "the condition of 'if ... else'")
        body, orelse = self.expr(e.body, ctx), self.expr(e.orelse, ctx)
        numeric = body.kind in NUMERIC and orelse.kind in NUMERIC
        boolean = body.kind in BOOLEAN and orelse.kind in BOOLEAN
        if not (numeric or boolean):
            self._raise(
                DslTypeError,
                f"both branches of 'if ... else' must be numbers or both conditions; got "
                f"{body.kind.value} and {orelse.kind.value}",
                e.span,
                "Make both branches the same type.",
            )
        if test.is_const:
            return body if test.value else orelse
        series = Kind.SERIES if numeric else Kind.BOOL_SERIES
        scalar = Kind.NUMBER if numeric else Kind.BOOL
        is_series = Kind.BOOL_SERIES in (test.kind,) or {body.kind, orelse.kind} & {
            Kind.SERIES,
            Kind.BOOL_SERIES,
        }
        return Node(
            "where",
            series if is_series else scalar,
            (test, body, orelse),
            (),
            ctx,
            e.span,
            test.dynamic or body.dynamic or orelse.dynamic,
        )

    def _index(self, e: a.Index, ctx: Ctx) -> Node:
        value = self.expr(e.value, ctx)
        if value.kind not in (Kind.SERIES, Kind.BOOL_SERIES):
            self._raise(
                DslTypeError,
                f"only series can be indexed; this is a {value.kind.value}",
                e.span,
                "Index series such as close[-2]; numbers have no history.",
            )
        if value.dynamic:
            self._raise(
                DslTypeError,
                "account state has no history to index",
                e.span,
                "Use the current value (without [...]).",
            )
        if e.index == -1:
            return value
        return Node("shift", value.kind, (value,), (-e.index - 1,), ctx, e.span)

    # calls ------------------------------------------------------------------------------


def _call_name(e: a.Expr) -> str:
    return e.func if isinstance(e, a.Call) else "the expression"


def _action_dynamic(action: Action) -> bool:
    parts = (action.size, action.stop_loss, action.take_profit, action.trailing_stop)
    return any(p is not None and p.dynamic for p in (*parts, action.fraction))


def check_script(
    program: a.Program,
    *,
    universe: Sequence[str] = (),
    timeframe: str | None = None,
    param_values: Mapping[str, float] | None = None,
) -> CheckedScript:
    """Check a strategy script; raise the first :class:`DslError` found."""
    return Checker(
        program, universe=universe, timeframe=timeframe, param_values=param_values
    ).check_script()


def check_expression(
    program: a.Program,
    *,
    universe: Sequence[str] = (),
    timeframe: str | None = None,
    param_values: Mapping[str, float] | None = None,
) -> tuple[Node, CheckedScript]:
    """Check a single-expression program (evaluate / scan / rank)."""
    checker = Checker(program, universe=universe, timeframe=timeframe, param_values=param_values)
    node = checker.check_expression()
    return node, checker.result
