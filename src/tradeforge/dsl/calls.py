"""Checks for calls: indicators (binding inputs and parameters), actions, ``param``,
``tf`` and other symbols' data. Mixed into :class:`~tradeforge.dsl.checker.Checker`."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from tradeforge.dsl import ast as a
from tradeforge.dsl import limits
from tradeforge.dsl.errors import (
    DslArityError,
    DslError,
    DslLimitError,
    DslTypeError,
    DslUnknownNameError,
    DslValueError,
    TaOutOfRangeError,
)
from tradeforge.dsl.ir import (
    BOOLEAN,
    CURRENT,
    FUNDING_FIELD,
    NUMERIC,
    PRICE_FIELDS,
    STATE_FIELDS,
    TICKER_RE,
    TIME_FIELDS,
    TIMEFRAMES,
    Action,
    CheckedScript,
    Ctx,
    Kind,
    Node,
    Param,
    split_ticker,
)
from tradeforge.indicators.registry import IndicatorSpec, get_indicator, registry
from tradeforge.market.catalog import MarketType, get_exchange

#: Statement-level and action builtins (indicators come from the registry).
BUILTIN_FUNCTIONS: dict[str, str] = {
    "emit_signal": "emit_signal(condition, action, ...) - emit the actions on every bar where "
    "condition is true (statement only).",
    "entry": 'entry(ticker, "LONG"|"SHORT", size, stop_loss=, take_profit=, trailing_stop=) '
    "- open or add to a position.",
    "exit": "exit(ticker, fraction=1.0) - close a fraction of the position.",
    "Weight": "Weight(w) - size as a fraction 0 < w <= 1 of account equity.",
    "Amount": "Amount(quote) - size in quote currency (e.g. USDT).",
    "Quantity": "Quantity(base) - size in base-asset units (e.g. BTC).",
    "param": "param(name, default, min, max) - a tunable constant (optimisers vary it).",
    "tf": 'tf(timeframe, expr) - evaluate expr on closed higher-timeframe candles ("4h").',
}

FUNCTION_HINTS: dict[str, str] = {
    "keltner": "kc",
    "bollinger": "bbands",
    "bb": "bbands",
    "hull": "hma",
    "hull_ma": "hma",
    "heikin_ashi": "ha",
    "stochastic": "stoch",
    "cross_above": "crossover",
    "crossabove": "crossover",
    "cross_below": "crossunder",
    "crossbelow": "crossunder",
    "buy": "entry",
    "sell": "exit",
    "shift": "x[-2] indexing",
    "correlation": "rolling_corr",
    "corr": "rolling_corr",
    "max": "maximum (element-wise) or max (TA-Lib rolling max)",
}

MAX_AMOUNT = 1e12


class CallChecker:
    """Shared state, error helpers and call handlers of the checker."""

    source: str
    universe: tuple[str, ...]
    timeframe: str | None
    param_values: dict[str, float]
    tickers: set[str]
    param_names: set[str]
    env: dict[str, Any]
    result: CheckedScript

    def expr(self, e: a.Expr, ctx: Ctx) -> Node:
        raise NotImplementedError

    def _raise(
        self, cls: type[DslError], message: str, span: a.Span | None, suggestion: str, **kw: Any
    ) -> NoReturn:
        raise cls(
            message,
            span=span or a.Span(1, 1, 1, 2),
            source=self.source,
            suggestion=suggestion,
            details=kw or None,
        )

    def _did_you_mean(self, name: str, candidates: Sequence[str]) -> str:
        hint = FUNCTION_HINTS.get(name)
        if hint:
            return f"Did you mean {hint}?"
        close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
        if close:
            return "Did you mean " + " or ".join(close) + "?"
        return "See /docs/operators for functions and /docs/data for series names."

    def _warn(self, message: str, span: a.Span, code: str = "DSL_WARNING") -> None:
        self.result.warnings.append(
            {"code": code, "message": message, "line": span.line, "column": span.column}
        )

    def _example_call(self, name: str) -> str:
        spec = get_indicator(name)
        if spec is None:
            return BUILTIN_FUNCTIONS[name].split(" - ")[0]
        return spec.signature.split(" -> ")[0]

    def _numeric(self, node: Node, span: a.Span, what: str) -> None:
        if node.kind not in NUMERIC:
            hint = (
                "Conditions cannot be used as numbers; use 'a if cond else b'."
                if node.kind in BOOLEAN
                else "Use a number or a series such as close."
            )
            if node.kind is Kind.TUPLE:
                hint = f"Unpack it first: {', '.join(node.params[2])} = {node.params[0]}(...)."
            self._raise(
                DslTypeError,
                f"{what} needs a number or series; got a {node.kind.value}",
                span,
                hint,
            )

    def _boolean(self, node: Node, span: a.Span, what: str) -> None:
        if node.kind not in BOOLEAN:
            self._raise(
                DslTypeError,
                f"{what} needs a condition; got a {node.kind.value}",
                span,
                "Compare values to make a condition, e.g. x > 0.",
            )

    def _call(self, e: a.Call, ctx: Ctx) -> Node:
        name = e.func
        handler = self._builtin_handlers().get(name)
        if handler is not None:
            return handler(e, ctx)
        if name in PRICE_FIELDS or name == FUNDING_FIELD:
            return self._data_call(e, ctx)
        spec = get_indicator(name)
        if spec is None:
            if name in self.env or name in TIME_FIELDS or name in STATE_FIELDS:
                self._raise(
                    DslTypeError,
                    f"'{name}' is a value, not a function",
                    e.func_span,
                    f"Use it without parentheses: {name}.",
                )
            candidates = [*registry(), *BUILTIN_FUNCTIONS, *PRICE_FIELDS]
            self._raise(
                DslUnknownNameError,
                f"unknown function '{name}'",
                e.func_span,
                self._did_you_mean(name, candidates),
            )
        return self._indicator(spec, e, ctx)

    def _builtin_handlers(self) -> dict[str, Callable[[a.Call, Ctx], Node]]:
        return {
            "emit_signal": self._emit_in_expression,
            "entry": self._entry,
            "exit": self._exit,
            "Weight": self._size,
            "Amount": self._size,
            "Quantity": self._size,
            "param": self._param,
            "tf": self._tf,
        }

    def _emit_in_expression(self, e: a.Call, ctx: Ctx) -> Node:
        self._raise(
            DslTypeError,
            "emit_signal is a statement; it cannot be used inside an expression",
            e.span,
            "Call emit_signal(...) on its own line.",
        )

    def _const_string(self, e: a.Expr, ctx: Ctx, what: str) -> str:
        node = self.expr(e, ctx)
        if node.kind is not Kind.STRING:
            self._raise(
                DslTypeError,
                f"{what} must be a string; got a {node.kind.value}",
                e.span,
                f'Quote it: "{what}".' if isinstance(e, a.Name) else "Pass a string literal.",
            )
        return str(node.value)

    def _ticker(self, e: a.Expr, ctx: Ctx, *, in_universe: bool) -> str:
        ticker = self._const_string(e, ctx, "a ticker")
        if ticker == CURRENT:
            if not in_universe:
                self._raise(
                    DslTypeError,
                    "current_ticker cannot select data",
                    e.span,
                    "Use the plain series (close, volume, ...) for the current symbol.",
                )
            return ticker
        if not TICKER_RE.match(ticker):
            hint = 'Write tickers as "EXCHANGE:BASE/QUOTE", e.g. "BINANCE:BTC/USDT".'
            if TICKER_RE.match(ticker.upper()):
                hint = f'Tickers are upper case: "{ticker.upper()}".'
            self._raise(DslValueError, f"invalid ticker {ticker!r}", e.span, hint)
        exchange, _ = split_ticker(ticker)
        if get_exchange(exchange) is None:
            self._raise(
                DslValueError,
                f"unknown exchange {ticker.split(':')[0]!r} in ticker {ticker!r}",
                e.span,
                "See GET /meta/exchanges for supported exchanges.",
            )
        if in_universe and self.universe and ticker not in self.universe:
            self._raise(
                DslValueError,
                f"ticker {ticker!r} is not in the universe",
                e.span,
                self._did_you_mean(ticker, self.universe)
                if difflib.get_close_matches(ticker, self.universe, n=1)
                else f"Add it to the universe or use one of: {', '.join(self.universe[:5])}.",
            )
        self.tickers.add(ticker)
        if len(self.tickers) > limits.MAX_TICKERS:
            raise DslLimitError(
                f"the script references more than {limits.MAX_TICKERS} tickers",
                span=e.span,
                source=self.source,
                suggestion="Split the strategy.",
                details={"limit": "MAX_TICKERS", "max": limits.MAX_TICKERS},
            )
        return ticker

    def _check_funding(self, ticker: str | None, span: a.Span) -> None:
        self.result.uses_funding = True
        tickers = [ticker] if ticker else list(self.universe[:1])
        for t in tickers:
            info = get_exchange(split_ticker(t)[0])
            if info is not None and MarketType.PERPETUAL not in info.market_types:
                self._raise(
                    DslValueError,
                    f"funding_rate needs a perpetual market; {t} is on a spot exchange",
                    span,
                    "Use a perpetual exchange such as BINANCEFUTURESUSD:BTC/USDT:USDT.",
                )

    def _data_call(self, e: a.Call, ctx: Ctx) -> Node:
        if len(e.args) != 1 or e.keywords:
            self._raise(
                DslArityError,
                f"{e.func}(ticker) takes exactly one ticker",
                e.span,
                f'Write {e.func}("BINANCE:ETH/USDT"), or {e.func} for the current symbol.',
            )
        ticker = self._ticker(e.args[0], ctx, in_universe=False)
        if ticker not in self.result.data_tickers:
            self.result.data_tickers.append(ticker)
        inner = Ctx(ticker, ctx.timeframe)
        if e.func == FUNDING_FIELD:
            self._check_funding(ticker, e.span)
            leaf = Node("funding", Kind.SERIES, (), (), inner, e.span)
        else:
            leaf = Node("data", Kind.SERIES, (), (e.func,), inner, e.span)
        return Node("align", Kind.SERIES, (leaf,), (inner,), ctx, e.span)

    def _tf(self, e: a.Call, ctx: Ctx) -> Node:
        if len(e.args) != 2 or e.keywords:
            self._raise(
                DslArityError,
                f"tf takes a timeframe and an expression; got {len(e.args)} argument(s)",
                e.span,
                'Write tf("4h", rsi(close, 14)).',
            )
        timeframe = self._const_string(e.args[0], ctx, "a timeframe")
        if timeframe not in TIMEFRAMES:
            self._raise(
                DslValueError,
                f"unsupported timeframe {timeframe!r}",
                e.args[0].span,
                "Use one of " + ", ".join(TIMEFRAMES) + ".",
            )
        outer_tf = ctx.timeframe or self.timeframe
        if outer_tf is not None:
            outer_ms, inner_ms = TIMEFRAMES[outer_tf], TIMEFRAMES[timeframe]
            if inner_ms < outer_ms or inner_ms % outer_ms:
                self._raise(
                    DslValueError,
                    f"tf({timeframe!r}) must be a whole multiple of the {outer_tf} timeframe "
                    "it is used in",
                    e.args[0].span,
                    "Use a higher timeframe that is a multiple (e.g. 4h on 1h bars); lower "
                    "timeframes would need bars that have not closed yet.",
                )
            if inner_ms == outer_ms:
                return self.expr(e.args[1], ctx)
        inner_ctx = Ctx(ctx.ticker, timeframe)
        inner = self.expr(e.args[1], inner_ctx)
        if inner.kind in (Kind.NUMBER, Kind.BOOL):
            return inner
        if inner.kind not in (Kind.SERIES, Kind.BOOL_SERIES):
            self._raise(
                DslTypeError,
                f"tf() needs a series expression; got a {inner.kind.value}",
                e.args[1].span,
                'Write tf("4h", rsi(close, 14)).',
            )
        return Node("align", inner.kind, (inner,), (inner_ctx,), ctx, e.span)

    def _param(self, e: a.Call, ctx: Ctx) -> Node:
        if len(e.args) != 4 or e.keywords:
            self._raise(
                DslArityError,
                f"param takes name, default, min, max; got {len(e.args)} argument(s)",
                e.span,
                'Write param("rsi_len", 14, 2, 50).',
            )
        name = self._const_string(e.args[0], ctx, "a parameter name")
        if not name.isidentifier() or not name.isascii():
            self._raise(
                DslValueError, f"invalid parameter name {name!r}", e.args[0].span, 'Use "rsi_len".'
            )
        nums: list[float] = []
        for arg in e.args[1:]:
            node = self.expr(arg, ctx)
            if not (node.is_const and node.kind is Kind.NUMBER):
                self._raise(
                    DslTypeError,
                    "param default, min and max must be constant numbers",
                    arg.span,
                    'Write param("rsi_len", 14, 2, 50).',
                )
            nums.append(float(node.value))
        default, lo, hi = nums
        if not lo <= default <= hi:
            self._raise(
                DslValueError,
                f"param {name!r}: default {default:g} is outside [{lo:g}, {hi:g}]",
                e.span,
                "Make min <= default <= max.",
            )
        is_int = all(v.is_integer() for v in nums)
        value = default
        if name in self.param_values:
            given = self.param_values[name]
            ok = isinstance(given, int | float) and math.isfinite(float(given))
            if not ok or not lo <= float(given) <= hi or (is_int and not float(given).is_integer()):
                self._raise(
                    TaOutOfRangeError,
                    f"param {name!r} = {given!r} is outside [{lo:g}, {hi:g}]"
                    + (" or not a whole number" if is_int else ""),
                    e.span,
                    f"Pass a value between {lo:g} and {hi:g}.",
                )
            value = float(given)
        if name not in self.param_names:
            self.param_names.add(name)
            self.result.params.append(Param(name, default, lo, hi, value, is_int, e.span))
            if len(self.result.params) > limits.MAX_PARAMS:
                raise DslLimitError(
                    f"more than {limits.MAX_PARAMS} params",
                    span=e.span,
                    source=self.source,
                    suggestion="Use fewer tunable parameters.",
                    details={"limit": "MAX_PARAMS", "max": limits.MAX_PARAMS},
                )
        else:
            previous = next(p for p in self.result.params if p.name == name)
            if (previous.default, previous.minimum, previous.maximum) != (default, lo, hi):
                self._raise(
                    DslValueError,
                    f"param {name!r} is declared twice with different values",
                    e.span,
                    "Declare it once and assign it to a name.",
                )
        return Node("const", Kind.NUMBER, (), (value,), ctx, e.span)

    def _size(self, e: a.Call, ctx: Ctx) -> Node:
        if len(e.args) != 1 or e.keywords:
            self._raise(
                DslArityError,
                f"{e.func} takes exactly one value",
                e.span,
                f"Write {e.func}(0.5)." if e.func == "Weight" else f"Write {e.func}(100).",
            )
        value = self.expr(e.args[0], ctx)
        self._numeric(value, e.args[0].span, e.func)
        if value.is_const:
            v = float(value.value)
            hi = 1.0 if e.func == "Weight" else MAX_AMOUNT
            if not 0.0 < v <= hi:
                self._raise(
                    DslValueError,
                    f"{e.func}({v:g}) is outside (0, {hi:g}]",
                    e.args[0].span,
                    "Weight is a fraction of equity, 0 < w <= 1."
                    if e.func == "Weight"
                    else f"Use a positive {e.func.lower()}.",
                )
        return Node("size", Kind.SIZE, (value,), (e.func.lower(),), ctx, e.span, value.dynamic)

    def _keywords(self, e: a.Call, allowed: Sequence[str]) -> dict[str, a.Keyword]:
        out: dict[str, a.Keyword] = {}
        for kw in e.keywords:
            if kw.name not in allowed:
                self._raise(
                    DslUnknownNameError,
                    f"{e.func} has no argument '{kw.name}'",
                    kw.span,
                    self._did_you_mean(kw.name, allowed)
                    if difflib.get_close_matches(kw.name, list(allowed), n=1)
                    else f"Valid keywords: {', '.join(allowed)}.",
                )
            out[kw.name] = kw
        return out

    def _fraction(
        self, kw: a.Keyword | None, ctx: Ctx, lo: float, hi: float, closed_hi: bool
    ) -> Node | None:
        if kw is None:
            return None
        node = self.expr(kw.value, ctx)
        self._numeric(node, kw.value.span, kw.name)
        if node.is_const:
            v = float(node.value)
            ok = lo < v <= hi if closed_hi else lo < v < hi
            if not ok:
                bracket = "]" if closed_hi else ")"
                self._raise(
                    DslValueError,
                    f"{kw.name}={v:g} is outside ({lo:g}, {hi:g}{bracket}",
                    kw.value.span,
                    "fraction is the share of the position to close: 0.5 closes half."
                    if kw.name == "fraction"
                    else f"{kw.name} is a fraction of the entry price: 0.05 means 5%.",
                )
        return node

    def _entry(self, e: a.Call, ctx: Ctx) -> Node:
        kws = self._keywords(e, ("stop_loss", "take_profit", "trailing_stop"))
        if len(e.args) != 3:
            self._raise(
                DslArityError,
                f"entry takes ticker, side and size; got {len(e.args)} positional argument(s)",
                e.span,
                'Write entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)).',
            )
        ticker = self._ticker(e.args[0], ctx, in_universe=True)
        side = self._const_string(e.args[1], ctx, "the side")
        if side not in ("LONG", "SHORT"):
            self._raise(
                DslValueError,
                f'side must be "LONG" or "SHORT"; got {side!r}',
                e.args[1].span,
                f'Write "{side.upper()}".' if side.upper() in ("LONG", "SHORT") else 'Use "LONG".',
            )
        size = self.expr(e.args[2], ctx)
        if size.kind is not Kind.SIZE:
            self._raise(
                DslTypeError,
                f"the size of entry must be Weight(...), Amount(...) or Quantity(...); got a "
                f"{size.kind.value}",
                e.args[2].span,
                "Write Weight(0.5) for half of equity.",
            )
        action = Action(
            "entry",
            ticker,
            side,
            str(size.params[0]),
            size.args[0],
            self._fraction(kws.get("stop_loss"), ctx, 0.0, 1.0, closed_hi=False),
            self._fraction(kws.get("take_profit"), ctx, 0.0, 100.0, closed_hi=True),
            self._fraction(kws.get("trailing_stop"), ctx, 0.0, 1.0, closed_hi=False),
            None,
            e.span,
        )
        return Node("action", Kind.ACTION, (), (action,), ctx, e.span)

    def _exit(self, e: a.Call, ctx: Ctx) -> Node:
        kws = self._keywords(e, ("fraction",))
        if not 1 <= len(e.args) <= 2:
            self._raise(
                DslArityError,
                f"exit takes a ticker and an optional fraction; got {len(e.args)} argument(s)",
                e.span,
                'Write exit("BINANCE:BTC/USDT") or exit("BINANCE:BTC/USDT", 0.5).',
            )
        ticker = self._ticker(e.args[0], ctx, in_universe=True)
        fraction_kw = kws.get("fraction")
        if len(e.args) == 2:
            if fraction_kw is not None:
                self._raise(
                    DslArityError,
                    "fraction is given twice",
                    fraction_kw.span,
                    "Pass it once.",
                )
            fraction_kw = a.Keyword("fraction", e.args[1], e.args[1].span)
        fraction = self._fraction(fraction_kw, ctx, 0.0, 1.0, closed_hi=True)
        action = Action("exit", ticker, None, None, None, None, None, None, fraction, e.span)
        return Node("action", Kind.ACTION, (), (action,), ctx, e.span)

    # indicators -------------------------------------------------------------------------

    def _indicator(self, spec: IndicatorSpec, e: a.Call, ctx: Ctx) -> Node:
        inputs = spec.user_inputs
        bound: list[Node | None] = [None] * len(inputs)
        pos = list(e.args)
        checked: list[Node] = []
        if spec.inputs_required:
            take = min(len(pos), len(inputs))
            checked = [self.expr(x, ctx) for x in pos[:take]]
            bound[:take] = checked
            rest_nodes: list[Node] = []
            pos = pos[take:]
        else:
            nodes = [self.expr(x, ctx) for x in pos]
            k = 0
            while (
                k < len(nodes)
                and k < len(inputs)
                and nodes[k].kind
                in (
                    Kind.SERIES,
                    Kind.BOOL_SERIES,
                )
            ):
                k += 1
            partial_ok = inputs[0].name == "source" and all(
                i.default is not None for i in inputs[k:]
            )
            if 0 < k < len(inputs) and not partial_ok:
                names = ", ".join(i.name for i in inputs)
                self._raise(
                    DslArityError,
                    f"{spec.name} takes {len(inputs)} input series ({names}) or none; {k} given",
                    e.args[k - 1].span,
                    f"Pass all of them or none: {spec.signature.split(' -> ')[0]}.",
                )
            bound[:k] = nodes[:k]
            rest_nodes = nodes[k:]
            pos = pos[k:]
        param_nodes: list[Node | None] = [None] * len(spec.params)
        param_spans: list[a.Span] = [e.span] * len(spec.params)
        if len(pos) > len(spec.params):
            self._raise(
                DslArityError,
                f"{spec.name} takes at most {len(inputs) + len(spec.params)} arguments; "
                f"got {len(e.args)}",
                pos[len(spec.params)].span,
                f"Signature: {spec.signature}.",
            )
        for i, x in enumerate(pos):
            param_nodes[i] = rest_nodes[i] if rest_nodes else self.expr(x, ctx)
            param_spans[i] = x.span
        input_names = [i.name for i in inputs]
        param_names = [p.name for p in spec.params]
        for kw in e.keywords:
            key = spec.param_aliases.get(kw.name, kw.name)
            if key in input_names:
                idx = input_names.index(key)
                if bound[idx] is not None:
                    self._raise(DslArityError, f"'{key}' is given twice", kw.span, "Pass it once.")
                bound[idx] = self.expr(kw.value, ctx)
            elif key in param_names:
                idx = param_names.index(key)
                if param_nodes[idx] is not None:
                    self._raise(DslArityError, f"'{key}' is given twice", kw.span, "Pass it once.")
                param_nodes[idx] = self.expr(kw.value, ctx)
                param_spans[idx] = kw.value.span
            else:
                options = input_names + param_names
                self._raise(
                    DslUnknownNameError,
                    f"{spec.name} has no argument '{kw.name}'",
                    kw.span,
                    self._did_you_mean(kw.name, options)
                    if difflib.get_close_matches(kw.name, options, n=1)
                    else f"Signature: {spec.signature}.",
                )
        input_nodes = [
            self._bind_input(spec, inp, node, e, ctx)
            for inp, node in zip(inputs, bound, strict=True)
        ]
        values = self._param_values(spec, param_nodes, param_spans)
        if spec.cross_sectional:
            return self._cross_sectional(spec, input_nodes, e, ctx)
        implicit = [Node("data", Kind.SERIES, (), ("timestamp",), ctx, e.span)] * sum(
            1 for i in spec.inputs if i.is_implicit
        )
        outputs = tuple(o.name for o in spec.outputs)
        if len(outputs) > 1:
            kind = Kind.TUPLE
        else:
            kind = Kind.BOOL_SERIES if spec.outputs[0].kind == "bool" else Kind.SERIES
        if spec.path_dependent:
            self._warn(
                f"{spec.name} depends on where the data starts (cumulative or path-dependent); "
                "values differ with the backtest start",
                e.span,
                "DSL_PATH_DEPENDENT",
            )
        return Node(
            "ind", kind, (*input_nodes, *implicit), (spec.name, values, outputs), ctx, e.span
        )

    def _bind_input(
        self, spec: IndicatorSpec, inp: Any, node: Node | None, e: a.Call, ctx: Ctx
    ) -> Node:
        if node is None:
            if inp.default is None:
                self._raise(
                    DslArityError,
                    f"{spec.name} is missing its '{inp.name}' input",
                    e.span,
                    f"Signature: {spec.signature}.",
                )
            return Node("data", Kind.SERIES, (), (inp.default,), ctx, e.span)
        span = node.span or e.span
        if node.dynamic:
            self._raise(
                DslTypeError,
                f"{spec.name} cannot take account state as input",
                span,
                "Indicators run over price history; compare account state outside them.",
            )
        if inp.kind == "bool":
            self._boolean(node, span, f"{spec.name}'s '{inp.name}'")
        else:
            self._numeric(node, span, f"{spec.name}'s '{inp.name}'")
        return node

    def _param_values(
        self, spec: IndicatorSpec, nodes: list[Node | None], spans: list[a.Span]
    ) -> tuple[float, ...]:
        values: list[float] = []
        for pspec, node, span in zip(spec.params, nodes, spans, strict=True):
            if node is None:
                values.append(pspec.default)
                continue
            if not (node.is_const and node.kind is Kind.NUMBER):
                self._raise(
                    DslTypeError,
                    f"{spec.name}'s '{pspec.name}' must be a constant number; got a "
                    f"{node.kind.value}",
                    span,
                    "Pass a number or param(...); periods cannot change from bar to bar.",
                )
            v = float(node.value)
            if pspec.kind == "int" and not v.is_integer():
                self._raise(
                    DslTypeError,
                    f"{spec.name}'s '{pspec.name}' must be a whole number; got {v:g}",
                    span,
                    f"Use {math.floor(v)} or {math.ceil(v)}.",
                )
            if not pspec.minimum <= v <= pspec.maximum:
                lo, hi = pspec.minimum, pspec.maximum
                raise TaOutOfRangeError(
                    f"{spec.name}'s '{pspec.name}' = {v:g} is outside [{lo:g}, {hi:g}]",
                    span=span,
                    source=self.source,
                    suggestion=f"Use a value between {lo:g} and {hi:g}.",
                    details={"parameter": pspec.name, "min": lo, "max": hi, "value": v},
                )
            values.append(v)
        if spec.check is not None:
            problem = spec.check(tuple(values))
            if problem is not None:
                raise TaOutOfRangeError(
                    f"{spec.name}: {problem}",
                    span=spans[0],
                    source=self.source,
                    suggestion=f"Check the parameter ranges: {spec.signature}.",
                )
        return tuple(values)

    def _cross_sectional(
        self, spec: IndicatorSpec, inputs: list[Node], e: a.Call, ctx: Ctx
    ) -> Node:
        if ctx.ticker is not None:
            self._raise(
                DslTypeError,
                f"{spec.name} ranks across the universe; it cannot be used for one ticker",
                e.span,
                f"Use {spec.name}(...) on the current symbol's series.",
            )
        if len(self.universe) < 2:
            self._raise(
                DslValueError,
                f"{spec.name} needs a universe of at least two tickers",
                e.span,
                "Pass a universe with several symbols.",
            )
        node = inputs[0]
        return Node("xrank", Kind.SERIES, (node,), (self.universe,), ctx, e.span)
