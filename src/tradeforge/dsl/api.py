"""The Signal DSL's public entry points for the HTTP layer and the backtest engine."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.core.candles import Candles
from tradeforge.dsl import limits
from tradeforge.dsl.ast import Span
from tradeforge.dsl.checker import check_expression, check_script
from tradeforge.dsl.compiler import Plan, compile_checked, required_warmup
from tradeforge.dsl.errors import DslError, DslLimitError, DslValueError, TaOutOfRangeError
from tradeforge.dsl.ir import CURRENT, TICKER_RE, TIMEFRAMES, Kind, split_ticker
from tradeforge.dsl.parser import parse
from tradeforge.dsl.runtime import BarEvaluator, Evaluator, MarketData, check_budget
from tradeforge.dsl.signals import SignalSeries, TickerSignals, merge_by_ticker
from tradeforge.ports import CandleSource

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

DEFAULT_TICKER = "BINANCE:BTC/USDT"


@dataclass(frozen=True)
class ValidationReport:
    """Result of :func:`validate`. ``errors`` hold ``DslError.to_dict()`` payloads."""

    valid: bool
    errors: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    required_warmup: int | None
    params: list[dict[str, Any]] = field(default_factory=list)
    tickers: list[str] = field(default_factory=list)
    uses_state: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "errors": self.errors,
            "warnings": self.warnings,
            "required_warmup": self.required_warmup,
            "params": self.params,
            "tickers": self.tickers,
            "uses_state": self.uses_state,
        }


def _check_timeframe(timeframe: str) -> None:
    if timeframe not in TIMEFRAMES:
        raise DslValueError(
            f"unsupported timeframe {timeframe!r}",
            suggestion="Use one of " + ", ".join(TIMEFRAMES) + ".",
        )


def _check_universe(universe: Sequence[str]) -> tuple[str, ...]:
    out = tuple(universe)
    if len(out) > limits.MAX_TICKERS * 50:
        raise DslLimitError(
            f"the universe has {len(out)} tickers",
            suggestion=f"Use at most {limits.MAX_TICKERS * 50} tickers.",
            details={"limit": "MAX_UNIVERSE", "max": limits.MAX_TICKERS * 50},
        )
    for ticker in out:
        if not isinstance(ticker, str) or not TICKER_RE.match(ticker):
            raise DslValueError(
                f"invalid ticker {ticker!r} in the universe",
                suggestion='Write tickers as "EXCHANGE:BASE/QUOTE", e.g. "BINANCE:BTC/USDT".',
            )
    return out


def compile_script(
    script: str,
    universe: Sequence[str] = (),
    *,
    timeframe: str = "1h",
    params: Mapping[str, float] | None = None,
) -> Plan:
    """Parse, check and compile a strategy script.

    Args:
        script: The Signal DSL source.
        universe: Tickers the strategy may trade (``"BINANCE:BTC/USDT"``); the first is the
            current symbol that bare ``close`` etc. refer to. Empty allows any ticker.
        timeframe: The base timeframe the plan runs on.
        params: Values for ``param(...)`` declarations (defaults otherwise).

    Returns:
        An immutable :class:`Plan`.

    Raises:
        DslError: The first problem found, with code, span and suggestion.
    """
    _check_timeframe(timeframe)
    tickers = _check_universe(universe)
    program = parse(script)
    try:
        checked = check_script(program, universe=tickers, timeframe=timeframe, param_values=params)
        return compile_checked(checked, timeframe=timeframe, universe=tickers)
    except RecursionError:
        raise DslLimitError(
            "the script's names nest too deeply",
            span=Span(1, 1, 1, 2),
            source=program.source,
            suggestion="Shorten chains of names that refer to each other.",
            details={"limit": "MAX_DEPTH", "max": limits.MAX_DEPTH},
        ) from None


def compile_expression(
    expression: str,
    *,
    timeframe: str = "1h",
    universe: Sequence[str] = (),
    params: Mapping[str, float] | None = None,
) -> Plan:
    """Compile one expression (for evaluate / scan / rank) into a plan with one output."""
    _check_timeframe(timeframe)
    tickers = _check_universe(universe)
    program = parse(expression, max_bytes=limits.MAX_EXPRESSION_BYTES)
    try:
        node, checked = check_expression(
            program, universe=tickers, timeframe=timeframe, param_values=params
        )
    except RecursionError:
        raise DslLimitError(
            "the expression nests too deeply",
            span=Span(1, 1, 1, 2),
            source=program.source,
            suggestion="Simplify the expression.",
            details={"limit": "MAX_DEPTH", "max": limits.MAX_DEPTH},
        ) from None
    return compile_checked(checked, timeframe=timeframe, universe=tickers, outputs=(node,))


def validate(
    script: str,
    universe: Sequence[str] = (),
    *,
    timeframe: str = "1h",
    params: Mapping[str, float] | None = None,
) -> ValidationReport:
    """Check a script without running it. Never raises for bad scripts."""
    try:
        plan = compile_script(script, universe, timeframe=timeframe, params=params)
    except DslError as e:
        return ValidationReport(False, [e.to_dict()], [], None)
    tickers = sorted(({s.ticker for s in plan.signals} | set(plan.data_tickers)) - {CURRENT})
    return ValidationReport(
        True,
        [],
        list(plan.warnings),
        required_warmup(plan),
        [
            {
                "name": p.name,
                "default": p.default,
                "min": p.minimum,
                "max": p.maximum,
                "value": p.value,
                "integer": p.is_integer,
            }
            for p in plan.params
        ],
        tickers,
        plan.uses_state,
    )


# --- expressions -------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpressionResult:
    """Value of an expression on the latest closed bar, and optionally the whole series."""

    kind: str  # "number" or "bool"
    value: float | bool | None  # None when the latest value is undefined (NaN)
    timestamp: int | None  # open time (UTC ms) of the bar the value belongs to
    series: npt.NDArray[Any] | None = None
    warmup_bars: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON-ready latest value (the series is left out)."""
        return {
            "kind": self.kind,
            "value": self.value,
            "timestamp": self.timestamp,
            "warmup_bars": self.warmup_bars,
        }


def _latest(value: Any, n: int, kind: Kind) -> float | bool | None:
    if isinstance(value, np.ndarray):
        if n == 0:
            return None
        item = value[-1].item()
    else:
        item = value
    if kind in (Kind.BOOL, Kind.BOOL_SERIES):
        return bool(item)
    f = float(item)
    return None if f != f else f


def run_expression_plan(
    plan: Plan,
    candles: Candles,
    *,
    ticker: str = DEFAULT_TICKER,
    source: CandleSource | None = None,
    others: Mapping[str, Candles] | None = None,
    include_series: bool = False,
    shared: dict[tuple[int, str], Any] | None = None,
) -> ExpressionResult:
    """Evaluate a compiled expression plan for one symbol.

    ``shared`` may be one dict reused across calls with the same plan and data (as
    :func:`evaluate_many` does) so cross-sectional inputs are computed once per symbol.
    """
    check_budget(plan, len(candles))
    data = MarketData({ticker: candles, **(others or {})}, source)
    deadline = time.monotonic() + limits.MAX_EVAL_SECONDS
    values = Evaluator(plan, data, ticker, candles, deadline=deadline, shared=shared).run()
    slot = plan.outputs[0]
    kind = plan.steps[slot].kind
    value = values[slot]
    series = None
    if include_series:
        arr = value if isinstance(value, np.ndarray) else np.full(len(candles), value)
        series = arr
    ts = int(candles.timestamp[-1]) if len(candles) else None
    return ExpressionResult(
        "bool" if kind in (Kind.BOOL, Kind.BOOL_SERIES) else "number",
        _latest(value, len(candles), kind),
        ts,
        series,
        plan.warmup_bars,
    )


def evaluate_expression(
    expression: str,
    candles: Candles,
    *,
    ticker: str = DEFAULT_TICKER,
    timeframe: str = "1h",
    source: CandleSource | None = None,
    universe: Sequence[str] = (),
    params: Mapping[str, float] | None = None,
    include_series: bool = False,
) -> ExpressionResult:
    """Evaluate ``expression`` on ``candles`` (POST /market/evaluate).

    ``candles`` are the symbol's closed candles on ``timeframe``; other tickers referenced
    as ``close("BINANCE:ETH/USDT")`` come from ``source``. The latest value is the one on
    the last candle; ``x[-1]`` is that same bar. Load at least ``required_warmup`` bars
    (see :func:`compile_expression`) for exact recursive indicators.
    """
    plan = compile_expression(expression, timeframe=timeframe, universe=universe, params=params)
    return run_expression_plan(
        plan, candles, ticker=ticker, source=source, include_series=include_series
    )


def evaluate_many(
    expression: str,
    candles_by_ticker: Mapping[str, Candles],
    *,
    timeframe: str = "1h",
    source: CandleSource | None = None,
    params: Mapping[str, float] | None = None,
) -> dict[str, ExpressionResult]:
    """Evaluate one expression for many symbols (POST /market/scan and /market/rank).

    The expression is compiled once; ``rank(...)`` ranks across ``candles_by_ticker``.
    Scan keeps symbols whose result is ``True``; rank sorts by the numeric ``value``.
    """
    universe = tuple(candles_by_ticker)
    plan = compile_expression(expression, timeframe=timeframe, universe=universe, params=params)
    shared: dict[tuple[int, str], Any] = {}
    return {
        ticker: run_expression_plan(
            plan, candles, ticker=ticker, source=source, others=candles_by_ticker, shared=shared
        )
        for ticker, candles in candles_by_ticker.items()
    }


# --- signals for the backtest engine -----------------------------------------------------


@dataclass
class SignalRun:
    """Signals of a plan over ``timestamp`` (bars from the requested start).

    Signals are computed on closed bars: a true condition at bar ``i`` means "act at the
    open of bar ``i + 1``" (the engine's default fill).
    """

    ticker: str
    timeframe: str
    timestamp: IntArray
    signals: list[SignalSeries]
    warmup_bars: int
    bar_evaluator: BarEvaluator

    def condition_at(self, index: int, bar: int, state: Mapping[str, float]) -> bool:
        """Evaluate signal ``index``'s condition at reported bar ``bar`` under ``state``."""
        plan_signal = self.bar_evaluator.plan.signals[index]
        return bool(self.bar_evaluator.evaluate(plan_signal.condition, bar, state))

    def value_at(self, index: int, field_name: str, bar: int, state: Mapping[str, float]) -> float:
        """Evaluate ``size``/``stop_loss``/... of signal ``index`` at ``bar`` under ``state``."""
        plan_signal = self.bar_evaluator.plan.signals[index]
        slots = {
            "size": plan_signal.size,
            "stop_loss": plan_signal.stop_loss,
            "take_profit": plan_signal.take_profit,
            "trailing_stop": plan_signal.trailing_stop,
            "fraction": plan_signal.fraction,
        }
        if field_name not in slots:
            raise ValueError(f"unknown signal field {field_name!r}")
        slot = slots[field_name]
        if slot is None:
            return float("nan")
        return float(self.bar_evaluator.evaluate(slot, bar, state))

    def by_ticker(self) -> dict[str, TickerSignals]:
        """Merge the actions into entry/exit/size/stop arrays per ticker."""
        return merge_by_ticker(self.signals, int(self.timestamp.shape[0]))


def _earliest_start(timestamps: IntArray, warmup: int) -> str:
    if timestamps.shape[0] <= warmup:
        return "none (not enough data at all)"
    ms = int(timestamps[warmup])
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return f"{when.isoformat().replace('+00:00', 'Z')} ({ms} ms)"


def run_signals(
    plan: Plan,
    data: MarketData | Mapping[str, Candles],
    *,
    ticker: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> SignalRun:
    """Compute a strategy's signals for the backtest engine.

    Args:
        plan: From :func:`compile_script`.
        data: Candles by ticker (base timeframe), optionally with a ``CandleSource``
            for other tickers and funding rates. When the current symbol's candles are
            missing they are loaded from the source, including the warm-up before
            ``start_ms``.
        ticker: The current symbol (default: the universe's first ticker).
        start_ms: First bar to report; earlier candles are only warm-up.
        end_ms: Report bars opening before this time.

    Raises:
        TaOutOfRangeError: Fewer than ``required_warmup(plan)`` bars exist before
            ``start_ms``; the message names the earliest start that works.
        DslLimitError: The run exceeds the cell or time budget.
    """
    market = data if isinstance(data, MarketData) else MarketData(dict(data))
    current = ticker or (plan.universe[0] if plan.universe else DEFAULT_TICKER)
    candles = market.candles.get(current)
    warmup = plan.warmup_bars
    if candles is None:
        if market.source is None:
            raise DslValueError(
                f"no candles for {current}",
                suggestion="Pass its candles or a CandleSource in MarketData.",
            )
        exchange, symbol = split_ticker(current)
        lo = None if start_ms is None else start_ms - warmup * plan.timeframe_ms
        candles = market.source.load(exchange, symbol, plan.timeframe, lo, end_ms)
        market = MarketData({**market.candles, current: candles}, market.source, market.funding)
    if end_ms is not None:
        candles = candles.slice_ms(None, end_ms)
        market = MarketData({**market.candles, current: candles}, market.source, market.funding)
    first = 0 if start_ms is None else int(np.searchsorted(candles.timestamp, start_ms, "left"))
    if start_ms is not None and first < warmup:
        raise TaOutOfRangeError(
            f"the script needs {warmup} bars of {plan.timeframe} history before the start, "
            f"but only {first} exist; the earliest start that works is "
            f"{_earliest_start(candles.timestamp, warmup)}",
            suggestion="Move the start later or load older candles.",
            details={"required_warmup": warmup, "available": first},
        )
    check_budget(plan, len(candles))
    deadline = time.monotonic() + limits.MAX_EVAL_SECONDS
    values = Evaluator(plan, market, current, candles, deadline=deadline).run()
    n = len(candles) - first

    def arr(slot: int | None, dtype: Any) -> Any:
        if slot is None or plan.steps[slot].dynamic:
            return None
        value = values[slot]
        if isinstance(value, np.ndarray):
            return value[first:].astype(dtype, copy=False)
        return np.full(n, value, dtype=dtype)

    signals = [
        SignalSeries(
            sp.index,
            sp.action,
            current if sp.ticker == CURRENT else sp.ticker,
            sp.side,
            sp.size_kind,
            arr(sp.condition, np.bool_),
            arr(sp.size, np.float64),
            arr(sp.stop_loss, np.float64),
            arr(sp.take_profit, np.float64),
            arr(sp.trailing_stop, np.float64),
            arr(sp.fraction, np.float64),
            sp.dynamic,
            sp.line,
            sp.column,
        )
        for sp in plan.signals
    ]
    return SignalRun(
        current,
        plan.timeframe,
        candles.timestamp[first:],
        signals,
        warmup,
        BarEvaluator(plan, values, first),
    )


def run_universe(
    plan: Plan,
    data: MarketData | Mapping[str, Candles],
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> dict[str, SignalRun]:
    """Run a per-symbol plan (actions on ``current_ticker``) for every universe ticker.

    Each run binds the bare series (``close``, ...) and ``current_ticker`` to one symbol.
    For plans with fixed tickers only, call :func:`run_signals` once instead.
    """
    if not plan.universe:
        raise DslValueError(
            "run_universe needs a plan compiled with a universe",
            suggestion="Pass the universe to compile_script.",
        )
    return {
        ticker: run_signals(plan, data, ticker=ticker, start_ms=start_ms, end_ms=end_ms)
        for ticker in plan.universe
    }
