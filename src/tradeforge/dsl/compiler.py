"""Compile checked IR into a :class:`Plan`: a flat, ordered list of array operations.

Identical sub-expressions share one step (common-subexpression elimination keyed by the
operation, its parameters, its context and the slots of its arguments), so
``rsi(close, 14)`` written three times is computed once. Steps that depend on simulated
account state are marked ``dynamic``: the runtime computes every other step once over all
bars, and the backtest engine evaluates the dynamic ones bar by bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tradeforge.dsl import limits
from tradeforge.dsl.errors import DslLimitError
from tradeforge.dsl.ir import CURRENT, TIMEFRAMES, CheckedScript, Ctx, Kind, Node, Param
from tradeforge.indicators.registry import get_indicator


@dataclass(frozen=True, slots=True)
class Step:
    slot: int
    op: str
    kind: Kind
    args: tuple[int, ...]
    params: tuple[Any, ...]
    ctx: Ctx
    dynamic: bool
    warmup: int  # bars of this step's own timeframe before its value is exact
    sub_steps: tuple[int, ...] = ()  # xrank: the slots to evaluate for every ticker


@dataclass(frozen=True, slots=True)
class SignalPlan:
    """One action of one ``emit_signal``; fields hold slots (``None`` when not given)."""

    index: int
    action: str  # "entry" or "exit"
    ticker: str
    side: str | None
    size_kind: str | None
    condition: int
    size: int | None
    stop_loss: int | None
    take_profit: int | None
    trailing_stop: int | None
    fraction: int | None
    line: int
    column: int
    dynamic: bool


@dataclass(frozen=True)
class Plan:
    """A compiled script. Immutable and reusable across symbols and runs."""

    source: str
    timeframe: str
    universe: tuple[str, ...]
    steps: tuple[Step, ...]
    signals: tuple[SignalPlan, ...]
    outputs: tuple[int, ...]  # slots of bare expressions (the value of an expression)
    params: tuple[Param, ...]
    warnings: tuple[dict[str, Any], ...]
    data_tickers: tuple[str, ...]
    warmup_bars: int
    uses_state: bool
    uses_funding: bool

    @property
    def timeframe_ms(self) -> int:
        return TIMEFRAMES[self.timeframe]

    @property
    def is_per_symbol(self) -> bool:
        """True when actions target ``current_ticker``: run it once per universe symbol."""
        return any(s.ticker == CURRENT for s in self.signals)

    @property
    def pure_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if not s.dynamic)

    @property
    def dynamic_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.dynamic)

    def describe(self) -> dict[str, Any]:
        """Return a JSON-ready summary (for debugging and the API's dry-run output)."""
        return {
            "timeframe": self.timeframe,
            "universe": list(self.universe),
            "steps": len(self.steps),
            "indicator_steps": sum(1 for s in self.steps if s.op == "ind"),
            "dynamic_steps": len(self.dynamic_steps),
            "signals": len(self.signals),
            "required_warmup": self.warmup_bars,
            "params": [
                {
                    "name": p.name,
                    "default": p.default,
                    "min": p.minimum,
                    "max": p.maximum,
                    "value": p.value,
                    "integer": p.is_integer,
                }
                for p in self.params
            ],
            "data_tickers": list(self.data_tickers),
            "uses_state": self.uses_state,
            "uses_funding": self.uses_funding,
        }


def _key(value: Any) -> Any:
    # make params hashable and keep 1 / 1.0 / True apart
    if isinstance(value, tuple):
        return tuple(_key(v) for v in value)
    return (type(value).__name__, value)


class _Compiler:
    def __init__(self, timeframe: str) -> None:
        self.timeframe = timeframe
        self.steps: list[Step] = []
        self.by_key: dict[Any, int] = {}
        self.by_id: dict[int, int] = {}

    def _tf_ms(self, ctx: Ctx) -> int:
        return TIMEFRAMES[ctx.timeframe or self.timeframe]

    def slot(self, root: Node) -> int:
        # iterative post-order walk: name chains can nest deeper than Python's stack
        stack: list[tuple[Node, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in self.by_id:
                continue
            if not expanded:
                stack.append((node, True))
                stack.extend((arg, False) for arg in node.args if id(arg) not in self.by_id)
                continue
            self.by_id[id(node)] = self._emit(node)
        return self.by_id[id(root)]

    def _emit(self, node: Node) -> int:
        args = tuple(self.by_id[id(a)] for a in node.args)
        key = (node.op, node.kind, _key(node.params), node.ctx, args)
        found = self.by_key.get(key)
        if found is not None:
            return found
        warmup = self._warmup(node, args)
        sub_steps: tuple[int, ...] = ()
        if node.op == "xrank":
            sub_steps = self._subgraph(args[0])
        step = Step(
            len(self.steps),
            node.op,
            node.kind,
            args,
            node.params,
            node.ctx,
            node.dynamic,
            warmup,
            sub_steps,
        )
        self.steps.append(step)
        self.by_key[key] = step.slot
        return step.slot

    def _subgraph(self, root: int) -> tuple[int, ...]:
        seen: set[int] = set()
        stack = [root]
        while stack:
            slot = stack.pop()
            if slot in seen:
                continue
            seen.add(slot)
            stack.extend(self.steps[slot].args)
        return tuple(sorted(seen))

    def _warmup(self, node: Node, args: tuple[int, ...]) -> int:
        inner = max((self.steps[a].warmup for a in args), default=0)
        if node.op == "ind":
            spec = get_indicator(node.params[0])
            assert spec is not None
            own = spec.warmup(node.params[1])
            if spec.warmup_ms:
                own += math.ceil(spec.warmup_ms / self._tf_ms(node.ctx))
            return own + inner
        if node.op == "shift":
            return int(node.params[0]) + inner
        if node.op == "align":
            inner_ctx: Ctx = node.params[0]
            ratio = self._tf_ms(inner_ctx) // self._tf_ms(node.ctx)
            if ratio <= 1:
                return inner
            # inner bars, plus one bucket that may start before the data does
            return (inner + 1) * ratio
        return inner


def compile_checked(
    checked: CheckedScript,
    *,
    timeframe: str,
    universe: tuple[str, ...] = (),
    outputs: tuple[Node, ...] = (),
) -> Plan:
    """Build a :class:`Plan` from checked IR."""
    comp = _Compiler(timeframe)
    signal_plans: list[SignalPlan] = []
    for i, sig in enumerate(checked.signals):
        act = sig.action

        def opt(node: Node | None) -> int | None:
            return None if node is None else comp.slot(node)

        cond = comp.slot(sig.condition)
        size, stop, take = opt(act.size), opt(act.stop_loss), opt(act.take_profit)
        trail, fraction = opt(act.trailing_stop), opt(act.fraction)
        slots = (size, stop, take, trail, fraction)
        dynamic = comp.steps[cond].dynamic or any(
            s is not None and comp.steps[s].dynamic for s in slots
        )
        signal_plans.append(
            SignalPlan(
                i,
                act.kind,
                act.ticker,
                act.side,
                act.size_kind,
                cond,
                size,
                stop,
                take,
                trail,
                fraction,
                line=sig.span.line,
                column=sig.span.column,
                dynamic=dynamic,
            )
        )
    out_slots = tuple(comp.slot(n) for n in outputs)
    used = {s.condition for s in signal_plans} | set(out_slots)
    for sp in signal_plans:
        used |= {
            x
            for x in (sp.size, sp.stop_loss, sp.take_profit, sp.trailing_stop, sp.fraction)
            if x is not None
        }
    warmup = max((comp.steps[s].warmup for s in used), default=0)
    if warmup > limits.MAX_WARMUP_BARS:
        raise DslLimitError(
            f"the script needs {warmup} bars of warm-up; the limit is {limits.MAX_WARMUP_BARS}",
            span=checked.signals[0].span if checked.signals else None,
            source=checked.source,
            suggestion="Use shorter periods or fewer indicators stacked on each other.",
            details={"limit": "MAX_WARMUP_BARS", "max": limits.MAX_WARMUP_BARS},
        )
    return Plan(
        source=checked.source,
        timeframe=timeframe,
        universe=universe,
        steps=tuple(comp.steps),
        signals=tuple(signal_plans),
        outputs=out_slots,
        params=tuple(checked.params),
        warnings=tuple(checked.warnings),
        data_tickers=tuple(checked.data_tickers),
        warmup_bars=warmup,
        uses_state=checked.uses_state,
        uses_funding=checked.uses_funding,
    )


def required_warmup(plan: Plan) -> int:
    """Return how many bars of the base timeframe must precede the first signal bar so
    every indicator equals its full-history value (recursive ones to about 1e-10
    relative error, which keeps them within 1e-6 of the full-history value)."""
    return plan.warmup_bars
