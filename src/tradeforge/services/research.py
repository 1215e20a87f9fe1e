"""Research use cases behind the DSL-backed endpoints: evaluate, scan, rank, validate.

Every function takes a :class:`~tradeforge.market.source.MarketDataSource` and works on the
stored, closed candles only. Expressions are compiled once, evaluated by the Signal DSL
runtime (:mod:`tradeforge.dsl`), and errors surface as ``DslError`` (``DSL_*`` codes, HTTP
400, with line/column in ``details``) or ``InvalidInputError`` / ``DataUnavailableError``
for bad symbols and ranges.

History loaded per symbol: the expression's ``required_warmup`` bars (so recursive
indicators such as ``rsi`` or ``ema`` equal their full-history values to about 1e-10)
plus :data:`EXTRA_BARS`, ending at the newest stored candle or at ``end``.

Named universes (``universe: ["top20"]``): ``top10``, ``top20``, ``top50`` and ``top100``
are the exchange's stored symbols ranked by traded quote volume over the last 30 days
(``sum(close * volume)``, the ``top_market_cap`` proxy of
:func:`tradeforge.services.market.list_symbols`). A universe holds at most
:data:`MAX_UNIVERSE` symbols; symbols without candles on the requested timeframe are
reported as ``skipped``, never silently dropped.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tradeforge.core.candles import Candles
from tradeforge.core.errors import DataUnavailableError, InvalidInputError
from tradeforge.dsl import ValidationReport, compile_expression, limits, validate
from tradeforge.dsl import ast as dsl_ast
from tradeforge.dsl.compiler import Plan
from tradeforge.dsl.errors import DslTypeError
from tradeforge.dsl.ir import Kind, split_ticker
from tradeforge.dsl.parser import parse
from tradeforge.dsl.runtime import Evaluator, MarketData, check_budget
from tradeforge.market.source import MarketDataSource, SeriesKind
from tradeforge.market.symbols import (
    InstrumentId,
    parse_instrument,
    require_known,
    resolve_exchange,
)
from tradeforge.market.timeframes import TIMEFRAMES, timeframe_ms, validate_timeframe
from tradeforge.services.market import SymbolCategory, list_symbols

#: Bars loaded on top of the expression's warm-up (room for gaps and ``x[-n]`` indexing).
EXTRA_BARS = 250
#: Most symbols one scan or rank request may cover.
MAX_UNIVERSE = 100
#: Most points a series evaluation may return.
MAX_SERIES_POINTS = 5000
#: Named universes and their sizes.
NAMED_UNIVERSES: dict[str, int] = {"top10": 10, "top20": 20, "top50": 50, "top100": 100}
#: Most comparison operands reported per symbol in scan details.
MAX_DETAIL_OPERANDS = 8

_NAMED_RE = re.compile(r"^top\d+$", re.IGNORECASE)
_BOOL_KINDS = frozenset({Kind.BOOL, Kind.BOOL_SERIES})


@dataclass(frozen=True, slots=True)
class Market:
    """A resolved symbol: its instrument and the DSL ticker (``BINANCE:BTC/USDT``)."""

    instrument: InstrumentId

    @property
    def symbol(self) -> str:
        return self.instrument.symbol

    @property
    def ticker(self) -> str:
        return self.instrument.qualified


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    timestamp: int
    value: float | bool | None


@dataclass(frozen=True, slots=True)
class Evaluation:
    market: Market
    timeframe: str
    expression: str
    kind: str  # "number" or "bool"
    value: float | bool | None
    timestamp: int | None
    close: float | None
    warmup_bars: int
    bars_used: int
    series: list[SeriesPoint] | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    symbol: str
    reason: str


@dataclass(frozen=True, slots=True)
class ScanDetail:
    market: Market
    matched: bool
    timestamp: int | None
    close: float | None
    values: dict[str, float | bool | None]


@dataclass(frozen=True, slots=True)
class ScanResult:
    exchange_id: str
    timeframe: str
    condition: str
    universe: list[str]
    matched: list[Market]
    details: list[ScanDetail]
    skipped: list[Skipped]


@dataclass(frozen=True, slots=True)
class Ranked:
    rank: int
    market: Market
    score: float
    price: float | None
    timestamp: int | None


@dataclass(frozen=True, slots=True)
class RankResult:
    exchange_id: str
    timeframe: str
    expression: str
    order: str
    universe: list[str]
    ranked: list[Ranked]
    total_ranked: int
    unranked: list[Skipped]
    skipped: list[Skipped] = field(default_factory=list)


# -- symbols and universes -------------------------------------------------------------------


def _stored_symbols(source: MarketDataSource, exchange_id: str) -> dict[str, set[str]]:
    """Return ``symbol -> stored OHLCV timeframes`` on ``exchange_id``."""
    out: dict[str, set[str]] = {}
    for info in source.list_series():
        if info.exchange_id == exchange_id and info.kind == SeriesKind.OHLCV and info.timeframe:
            out.setdefault(info.symbol, set()).add(info.timeframe)
    return out


def resolve_market(source: MarketDataSource, exchange_id: str, symbol: str) -> Market:
    """Resolve ``symbol`` (``BTC/USDT``, ``BINANCE:BTC/USDT``, ``BTCUSDT``) to a stored market.

    Raises:
        InvalidInputError: unknown exchange or symbol (the suggestion names the closest).
    """
    exchange = resolve_exchange(exchange_id).id
    known = sorted(_stored_symbols(source, exchange))
    instrument = parse_instrument(symbol, exchange, known=known or None)
    require_known(instrument, known, text=symbol)
    return Market(instrument)


def resolve_universe(
    source: MarketDataSource, exchange_id: str, universe: Sequence[str]
) -> list[Market]:
    """Expand named universes and resolve symbols, keeping order and dropping repeats.

    Raises:
        InvalidInputError: empty universe, unknown name or symbol, or more than
            :data:`MAX_UNIVERSE` symbols.
    """
    exchange = resolve_exchange(exchange_id).id
    if not universe:
        raise InvalidInputError(
            "The universe is empty.",
            suggestion='Pass a named universe like ["top20"] or symbols like ["BTC/USDT"].',
            details={"field": "universe"},
        )
    out: dict[str, Market] = {}
    for entry in universe:
        text = entry.strip()
        if _NAMED_RE.match(text):
            size = NAMED_UNIVERSES.get(text.lower())
            if size is None:
                raise InvalidInputError(
                    f"Unknown named universe '{text}'.",
                    suggestion=f"Use one of: {', '.join(NAMED_UNIVERSES)}, or list symbols.",
                    details={"field": "universe"},
                )
            top = list_symbols(
                source, exchange_id=exchange, category=SymbolCategory.TOP_MARKET_CAP, limit=size
            )
            for row in top:
                market = Market(parse_instrument(row.symbol, exchange))
                out.setdefault(market.symbol, market)
        else:
            market = resolve_market(source, exchange, text)
            out.setdefault(market.symbol, market)
    if len(out) > MAX_UNIVERSE:
        raise InvalidInputError(
            f"The universe has {len(out)} symbols, more than {MAX_UNIVERSE}.",
            suggestion=f"Split the request; at most {MAX_UNIVERSE} symbols per call.",
            details={"field": "universe", "max": MAX_UNIVERSE},
        )
    return list(out.values())


# -- loading ---------------------------------------------------------------------------------


def _load_tail(
    source: MarketDataSource, market: Market, timeframe: str, bars: int, end_ms: int | None
) -> Candles:
    """Return up to ``bars`` closed candles opening before ``end_ms`` (or the data's end)."""
    rng = source.available_range(market.instrument.exchange_id, market.symbol, timeframe)
    if rng is None:
        return Candles.empty()
    step = timeframe_ms(timeframe)
    stop = rng[1] + step if end_ms is None else min(end_ms, rng[1] + step)
    candles = source.load(
        market.instrument.exchange_id, market.symbol, timeframe, stop - bars * step, stop
    )
    if len(candles) > bars:
        candles = candles.slice_ms(int(candles.timestamp[-bars]), None)
    return candles


def _iso_range(rng: tuple[int, int]) -> str:
    from tradeforge.core.clock import from_ms

    first, last = (from_ms(v).strftime("%Y-%m-%dT%H:%M:%SZ") for v in rng)
    return f"{first} .. {last}"


def _require_series(source: MarketDataSource, market: Market, timeframe: str) -> tuple[int, int]:
    rng = source.available_range(market.instrument.exchange_id, market.symbol, timeframe)
    if rng is None:
        stored = _stored_symbols(source, market.instrument.exchange_id).get(market.symbol, set())
        listed = ", ".join(t for t in TIMEFRAMES if t in stored) or "none"
        raise DataUnavailableError(
            f"No {timeframe} candles stored for {market.ticker}.",
            suggestion=f"Stored timeframes for this symbol: {listed}.",
            details={"field": "timeframe", "stored_timeframes": sorted(stored)},
        )
    return rng


def _latest_close(candles: Candles) -> float | None:
    return float(candles.close[-1]) if len(candles) else None


def _json_value(value: Any) -> float | bool | None:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def _compile(expression: str, timeframe: str, universe: Sequence[str] = ()) -> Plan:
    validate_timeframe(timeframe)
    return compile_expression(expression, timeframe=timeframe, universe=universe)


def _output_kind(plan: Plan) -> Kind:
    return plan.steps[plan.outputs[0]].kind


def _require_kind(plan: Plan, expression: str, *, boolean: bool, what: str) -> None:
    is_bool = _output_kind(plan) in _BOOL_KINDS
    if is_bool == boolean:
        return
    lines = expression.splitlines() or [""]
    span = dsl_ast.Span(1, 1, len(lines), len(lines[-1]) + 1)
    if boolean:
        message = f"the {what} must be true/false, but it is a number"
        suggestion = "Compare it with something, e.g. rsi(close, 14) < 30."
    else:
        message = f"the {what} must be a number, but it is true/false"
        suggestion = "Rank by a numeric expression, e.g. roc(close, 7)."
    raise DslTypeError(message, span=span, source=expression, suggestion=suggestion)


# -- running plans ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outcome:
    kind: str  # "number" or "bool"
    value: float | bool | None  # on the last candle; None when undefined
    timestamp: int | None
    series: npt.NDArray[Any] | None


FundingMap = dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]


def _funding_for(source: MarketDataSource, plan: Plan, tickers: Sequence[str]) -> FundingMap:
    """Load the funding histories a plan reading ``funding_rate`` needs (whole series)."""
    if not plan.uses_funding:
        return {}
    out: FundingMap = {}
    for ticker in {*tickers, *plan.data_tickers}:
        exchange, symbol = split_ticker(ticker)
        rates = source.load_funding(exchange, symbol)
        if len(rates):
            out[ticker] = (rates.timestamp, rates.rate)
    return out


def _run(
    plan: Plan,
    candles: Candles,
    ticker: str,
    source: MarketDataSource,
    *,
    others: dict[str, Candles] | None = None,
    funding: FundingMap | None = None,
    shared: dict[tuple[int, str], Any] | None = None,
) -> _Outcome:
    """Evaluate a one-output plan for ``ticker`` (like ``dsl.run_expression_plan``, plus
    funding rates for perpetuals)."""
    check_budget(plan, len(candles))
    data = MarketData({ticker: candles, **(others or {})}, source, funding or {})
    deadline = time.monotonic() + limits.MAX_EVAL_SECONDS
    values = Evaluator(plan, data, ticker, candles, deadline=deadline, shared=shared).run()
    slot = plan.outputs[0]
    is_bool = plan.steps[slot].kind in _BOOL_KINDS
    raw = values[slot]
    series = raw if isinstance(raw, np.ndarray) else np.full(len(candles), raw)
    latest: float | bool | None = None
    if len(candles):
        item = series[-1].item()
        latest = bool(item) if is_bool else _json_value(item)
    return _Outcome(
        "bool" if is_bool else "number",
        latest,
        int(candles.timestamp[-1]) if len(candles) else None,
        series,
    )


# -- evaluate --------------------------------------------------------------------------------


def evaluate(
    source: MarketDataSource,
    *,
    expression: str,
    exchange_id: str,
    symbol: str,
    timeframe: str = "1h",
    start_ms: int | None = None,
    end_ms: int | None = None,
    include_series: bool = False,
    limit: int = 500,
) -> Evaluation:
    """Evaluate ``expression`` for one symbol: the latest value, optionally a series.

    Without ``series`` the value is the one on the newest closed candle opening before
    ``end_ms`` (``start_ms`` is then ignored). With ``series`` the points cover
    ``[start_ms, end_ms)``, or the newest ``limit`` candles when ``start_ms`` is missing.

    Raises:
        DslError: the expression is invalid (code ``DSL_*``).
        InvalidInputError: bad symbol, timeframe, window or limit.
        DataUnavailableError: no candles in the window (the suggestion names the range).
    """
    if not 1 <= limit <= MAX_SERIES_POINTS:
        raise InvalidInputError(
            f"limit must be between 1 and {MAX_SERIES_POINTS}, got {limit}.",
            suggestion=f"Pass limit in 1..{MAX_SERIES_POINTS}.",
            details={"field": "limit"},
        )
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        raise InvalidInputError(
            "start must be before end.",
            suggestion="Swap the values, or drop one of them.",
            details={"field": "start"},
        )
    plan = _compile(expression, timeframe)
    market = resolve_market(source, exchange_id, symbol)
    rng = _require_series(source, market, timeframe)
    step = timeframe_ms(timeframe)
    warmup = plan.warmup_bars
    outside = (start_ms is not None and start_ms > rng[1]) or (
        end_ms is not None and end_ms <= rng[0]
    )
    if outside:
        raise _unavailable(market, timeframe, rng)
    if include_series and start_ms is not None:
        stop = rng[1] + step if end_ms is None else min(end_ms, rng[1] + step)
        wanted = (stop - max(start_ms, rng[0])) // step
        if wanted > MAX_SERIES_POINTS:
            raise InvalidInputError(
                f"The range holds about {wanted} {timeframe} candles; a series may have at "
                f"most {MAX_SERIES_POINTS} points.",
                suggestion="Narrow start/end or use a larger timeframe.",
                details={"field": "start", "max": MAX_SERIES_POINTS},
            )
        candles = source.load(
            market.instrument.exchange_id,
            market.symbol,
            timeframe,
            start_ms - (warmup + EXTRA_BARS) * step,
            stop,
        )
        first_reported = int(np.searchsorted(candles.timestamp, start_ms, "left"))
    else:
        points = limit if include_series else 1
        candles = _load_tail(source, market, timeframe, warmup + EXTRA_BARS + points, end_ms)
        first_reported = max(0, len(candles) - points)
    if len(candles) == 0 or first_reported >= len(candles):
        raise _unavailable(market, timeframe, rng, " The window falls in a gap.")
    funding = _funding_for(source, plan, [market.ticker])
    result = _run(plan, candles, market.ticker, source, funding=funding)
    series = None
    if include_series and result.series is not None:
        values = result.series[first_reported:]
        stamps = candles.timestamp[first_reported:]
        series = [
            SeriesPoint(int(ts), _json_value(v))
            for ts, v in zip(stamps.tolist(), values.tolist(), strict=True)
        ]
    return Evaluation(
        market=market,
        timeframe=timeframe,
        expression=expression,
        kind=result.kind,
        value=result.value,
        timestamp=result.timestamp,
        close=_latest_close(candles),
        warmup_bars=warmup,
        bars_used=len(candles),
        series=series,
    )


def _unavailable(
    market: Market, timeframe: str, rng: tuple[int, int], extra: str = ""
) -> DataUnavailableError:
    from tradeforge.core.clock import from_ms

    return DataUnavailableError(
        f"No {timeframe} candles for {market.ticker} in the requested range.",
        suggestion=f"Available: {_iso_range(rng)}.{extra}",
        details={
            "available_first": from_ms(rng[0]).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "available_last": from_ms(rng[1]).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )


# -- scan and rank ---------------------------------------------------------------------------


@dataclass
class _Batch:
    plan: Plan
    candles: dict[str, Candles]
    markets: dict[str, Market]
    skipped: list[Skipped]


def _load_universe(
    source: MarketDataSource,
    expression: str,
    exchange_id: str,
    universe: Sequence[str],
    timeframe: str,
    end_ms: int | None,
    *,
    boolean: bool,
    what: str,
) -> _Batch:
    markets = resolve_universe(source, exchange_id, universe)
    plan = _compile(expression, timeframe, tuple(m.ticker for m in markets))
    _require_kind(plan, expression, boolean=boolean, what=what)
    candles: dict[str, Candles] = {}
    by_ticker: dict[str, Market] = {}
    skipped: list[Skipped] = []
    for market in markets:
        rng = source.available_range(market.instrument.exchange_id, market.symbol, timeframe)
        if rng is None:
            skipped.append(Skipped(market.symbol, f"no {timeframe} candles stored"))
            continue
        if end_ms is not None and end_ms <= rng[0]:
            skipped.append(
                Skipped(market.symbol, f"no candles before end; available {_iso_range(rng)}")
            )
            continue
        loaded = _load_tail(source, market, timeframe, plan.warmup_bars + EXTRA_BARS, end_ms)
        if len(loaded) == 0:
            skipped.append(Skipped(market.symbol, "no candles in the window (a gap in the data)"))
            continue
        candles[market.ticker] = loaded
        by_ticker[market.ticker] = market
    if len(candles) != len(markets):
        # Cross-sectional functions (rank, ...) must see exactly the symbols with data.
        plan = _compile(expression, timeframe, tuple(candles))
    return _Batch(plan, candles, by_ticker, skipped)


def _run_batch(batch: _Batch, source: MarketDataSource) -> dict[str, _Outcome]:
    shared: dict[tuple[int, str], Any] = {}
    funding = _funding_for(source, batch.plan, list(batch.candles))
    return {
        ticker: _run(
            batch.plan,
            candles,
            ticker,
            source,
            others=batch.candles,
            funding=funding,
            shared=shared,
        )
        for ticker, candles in batch.candles.items()
    }


def _operand_texts(condition: str) -> list[str]:
    """Return the source text of the non-constant operands of the top-level comparisons."""
    program = parse(condition)
    if len(program.statements) != 1 or not isinstance(program.statements[0], dsl_ast.ExprStatement):
        return []
    lines = condition.splitlines()
    out: list[str] = []

    def text_of(span: dsl_ast.Span) -> str:
        if span.line != span.end_line:
            return ""
        return lines[span.line - 1][span.column - 1 : span.end_column - 1]

    def walk(node: dsl_ast.Expr) -> None:
        if isinstance(node, dsl_ast.Logical):
            for value in node.values:
                walk(value)
        elif isinstance(node, dsl_ast.Unary) and node.op == "not":
            walk(node.operand)
        elif isinstance(node, dsl_ast.Compare):
            for operand in (node.left, *node.comparators):
                if isinstance(operand, dsl_ast.Number | dsl_ast.Boolean | dsl_ast.String):
                    continue
                text = text_of(operand.span).strip()
                if text and text not in out:
                    out.append(text)

    walk(program.statements[0].value)
    return out[:MAX_DETAIL_OPERANDS]


def scan(
    source: MarketDataSource,
    *,
    condition: str,
    exchange_id: str,
    universe: Sequence[str],
    timeframe: str = "1h",
    end_ms: int | None = None,
) -> ScanResult:
    """Return the symbols whose ``condition`` is true on their newest closed candle.

    ``details`` hold, per scanned symbol, the decision, the candle's time and close, and
    the values of the comparison operands (``rsi(close, 14)`` in ``rsi(close, 14) < 30``).

    Raises:
        DslError: invalid condition, or one that is a number rather than true/false.
        InvalidInputError: bad universe, exchange or timeframe.
    """
    batch = _load_universe(
        source, condition, exchange_id, universe, timeframe, end_ms, boolean=True, what="condition"
    )
    results = _run_batch(batch, source)
    operand_values: dict[str, dict[str, Any]] = {}
    for text in _operand_texts(condition):
        try:
            sub = _Batch(
                _compile(text, timeframe, tuple(batch.candles)),
                batch.candles,
                batch.markets,
                [],
            )
        except InvalidInputError:  # operand not valid on its own (should not happen)
            continue
        operand_values[text] = _run_batch(sub, source)
    details: list[ScanDetail] = []
    matched: list[Market] = []
    for ticker, result in results.items():
        market = batch.markets[ticker]
        hit = result.value is True
        if hit:
            matched.append(market)
        details.append(
            ScanDetail(
                market=market,
                matched=hit,
                timestamp=result.timestamp,
                close=_latest_close(batch.candles[ticker]),
                values={text: values[ticker].value for text, values in operand_values.items()},
            )
        )
    return ScanResult(
        exchange_id=resolve_exchange(exchange_id).id,
        timeframe=timeframe,
        condition=condition,
        universe=[m.symbol for m in batch.markets.values()] + [s.symbol for s in batch.skipped],
        matched=matched,
        details=details,
        skipped=batch.skipped,
    )


def rank(
    source: MarketDataSource,
    *,
    expression: str,
    exchange_id: str,
    universe: Sequence[str],
    timeframe: str = "1h",
    order: Literal["asc", "desc"] = "desc",
    limit: int = 20,
    end_ms: int | None = None,
) -> RankResult:
    """Rank symbols by the numeric ``expression`` on their newest closed candle.

    Symbols whose value is undefined (NaN: too little history) are listed in ``unranked``.
    Ties keep the universe order.

    Raises:
        DslError: invalid expression, or one that is true/false rather than a number.
        InvalidInputError: bad universe, exchange, timeframe or limit.
    """
    if not 1 <= limit <= MAX_UNIVERSE:
        raise InvalidInputError(
            f"limit must be between 1 and {MAX_UNIVERSE}, got {limit}.",
            suggestion=f"Pass limit in 1..{MAX_UNIVERSE}.",
            details={"field": "limit"},
        )
    batch = _load_universe(
        source,
        expression,
        exchange_id,
        universe,
        timeframe,
        end_ms,
        boolean=False,
        what="expression",
    )
    results = _run_batch(batch, source)
    scored: list[tuple[float, int, str]] = []
    unranked: list[Skipped] = []
    for position, (ticker, result) in enumerate(results.items()):
        value = result.value
        if value is None or not isinstance(value, float) or not math.isfinite(value):
            bars = len(batch.candles[ticker])
            unranked.append(
                Skipped(
                    batch.markets[ticker].symbol,
                    f"value undefined (NaN or infinite) on the latest candle; {bars} bars "
                    f"available, the expression needs {batch.plan.warmup_bars} of warm-up",
                )
            )
            continue
        scored.append((value, position, ticker))
    sign = -1.0 if order == "desc" else 1.0
    scored.sort(key=lambda item: (sign * item[0], item[1]))
    ranked = [
        Ranked(
            rank=index + 1,
            market=batch.markets[ticker],
            score=value,
            price=_latest_close(batch.candles[ticker]),
            timestamp=results[ticker].timestamp,
        )
        for index, (value, _, ticker) in enumerate(scored[:limit])
    ]
    return RankResult(
        exchange_id=resolve_exchange(exchange_id).id,
        timeframe=timeframe,
        expression=expression,
        order=order,
        universe=[m.symbol for m in batch.markets.values()] + [s.symbol for s in batch.skipped],
        ranked=ranked,
        total_ranked=len(scored),
        unranked=unranked,
        skipped=batch.skipped,
    )


# -- validate --------------------------------------------------------------------------------


def validate_script(
    source: MarketDataSource, script: str, universe: Sequence[str], timeframe: str = "1h"
) -> ValidationReport:
    """Check a strategy script without running it (never raises for a bad script).

    Adds a ``DATA_UNAVAILABLE`` warning for each universe ticker with no stored candles on
    ``timeframe`` (the script is valid, but a backtest would have no data).
    """
    report = validate(script, universe, timeframe=timeframe)
    if not report.valid:
        return report
    warnings = list(report.warnings)
    stored = {
        (info.exchange_id, info.symbol)
        for info in source.list_series()
        if info.kind == SeriesKind.OHLCV and info.timeframe == timeframe
    }
    for ticker in universe:
        exchange, _, symbol = ticker.partition(":")
        if (exchange.lower(), symbol) not in stored:
            warnings.append(
                {
                    "code": "DATA_UNAVAILABLE",
                    "message": f"No {timeframe} candles are stored for {ticker}.",
                    "suggestion": "See GET /api/v1/market/symbols for stored symbols, or "
                    "download the data first.",
                    "details": {"ticker": ticker, "timeframe": timeframe},
                }
            )
    return ValidationReport(
        report.valid,
        report.errors,
        warnings,
        report.required_warmup,
        report.params,
        report.tickers,
        report.uses_state,
    )
