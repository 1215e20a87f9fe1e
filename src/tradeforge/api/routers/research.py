"""Signal-DSL-backed endpoints: the indicator catalogue, script validation, the DSL guide,
and expression evaluation, scanning and ranking over stored candles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from tradeforge.api.deps import MarketDataDep, requires
from tradeforge.api.docs_content import signal_guide_markdown
from tradeforge.api.envelope import Envelope, ok
from tradeforge.api.schemas.market import iso, parse_time
from tradeforge.api.schemas.research import (
    DslIssue,
    EvaluateRequest,
    EvaluateResponse,
    GuideResponse,
    IndicatorOut,
    IndicatorsResponse,
    NamedDoc,
    RankedOut,
    RankRequest,
    RankResponse,
    ScanDetailOut,
    ScanRequest,
    ScanResponse,
    ScriptParam,
    SeriesPointOut,
    SkippedOut,
    ValidateRequest,
    ValidateResponse,
    VariableOut,
)
from tradeforge.core.accounts import Scope
from tradeforge.dsl import limits
from tradeforge.dsl.calls import BUILTIN_FUNCTIONS
from tradeforge.dsl.docs import OPERATORS
from tradeforge.dsl.ir import (
    CURRENT_TICKER,
    CURRENT_TICKER_DOC,
    FUNDING_DOC,
    FUNDING_FIELD,
    PRICE_FIELDS,
    STATE_FIELDS,
    TIME_FIELDS,
    TIMEFRAMES,
)
from tradeforge.indicators import indicators_catalog
from tradeforge.services import research as research_service

router = APIRouter(tags=["research"])


def _iso_or_none(ms: int | None) -> str | None:
    return None if ms is None else iso(ms)


# -- catalogue -------------------------------------------------------------------------------


def _variables() -> list[VariableOut]:
    out = [VariableOut(name=n, group="price", description=d) for n, d in PRICE_FIELDS.items()]
    out += [VariableOut(name=n, group="time", description=d) for n, d in TIME_FIELDS.items()]
    out.append(VariableOut(name=CURRENT_TICKER, group="ticker", description=CURRENT_TICKER_DOC))
    out.append(VariableOut(name=FUNDING_FIELD, group="funding", description=FUNDING_DOC))
    out += [VariableOut(name=n, group="state", description=d) for n, d in STATE_FIELDS.items()]
    return out


@router.get(
    "/meta/indicators",
    summary="Indicators, operators and variables of the Signal DSL",
    tags=["meta"],
    **requires(None),
)
def indicators(request: Request) -> Envelope[IndicatorsResponse]:
    """List every indicator with its signature, parameters (default, range), outputs and
    lookback, plus operators, builtins, variables, timeframes and limits.

    Generated from the indicator registry and the DSL at request time.
    """
    catalog = [IndicatorOut.model_validate(item) for item in indicators_catalog()]
    return ok(
        request,
        IndicatorsResponse(
            count=len(catalog),
            indicators=catalog,
            operators=[NamedDoc(name=op, description=doc) for op, doc in OPERATORS],
            functions=[
                NamedDoc(name=name, description=doc) for name, doc in BUILTIN_FUNCTIONS.items()
            ],
            variables=_variables(),
            timeframes=list(TIMEFRAMES),
            limits={
                name: float(value)
                for name, value in sorted(vars(limits).items())
                if name.isupper() and isinstance(value, int | float)
            },
        ),
    )


# -- backtest helpers ------------------------------------------------------------------------


def _issue(raw: dict[str, Any]) -> DslIssue:
    details = dict(raw.get("details") or {})
    position = {
        key: raw.get(key, details.get(key))
        for key in ("line", "column", "end_line", "end_column", "source_line", "caret")
    }
    return DslIssue(
        code=str(raw.get("code", "DSL_ERROR")),
        message=str(raw.get("message", "")),
        suggestion=raw.get("suggestion"),
        details=details or None,
        **position,
    )


@router.post(
    "/backtest/validate",
    summary="Validate a Signal DSL script without running it",
    tags=["backtest"],
    **requires(Scope.RESEARCH),
)
def validate_script(
    request: Request, body: ValidateRequest, source: MarketDataDep
) -> Envelope[ValidateResponse]:
    """Parse and check ``script`` for ``universe`` on ``timeframe``.

    A bad script is still a 200: ``valid`` is false and ``errors`` carry the DSL code,
    message, suggestion and line/column. Only a malformed request body is a 400. Tickers
    of the universe without stored candles produce ``DATA_UNAVAILABLE`` warnings.
    """
    report = research_service.validate_script(
        source, body.script, list(body.universe), body.timeframe
    )
    return ok(
        request,
        ValidateResponse(
            valid=report.valid,
            errors=[_issue(e) for e in report.errors],
            warnings=[_issue(w) for w in report.warnings],
            required_warmup=report.required_warmup,
            params=[ScriptParam.model_validate(p) for p in report.params],
            tickers=report.tickers,
            uses_state=report.uses_state,
            timeframe=body.timeframe,
        ),
    )


@router.get(
    "/backtest/strategies/signal/guide",
    summary="The Signal DSL guide (read before writing scripts)",
    tags=["backtest"],
    **requires(Scope.RESEARCH),
)
def signal_guide(request: Request) -> Envelope[GuideResponse]:
    """The full guide as markdown in ``data.content``: syntax, types, actions, every
    operator and indicator (generated), data names and ticker format."""
    return ok(request, GuideResponse(title="Signal DSL guide", content=signal_guide_markdown()))


# -- evaluate / scan / rank ------------------------------------------------------------------


@router.post(
    "/market/evaluate",
    summary="Evaluate one expression for a symbol",
    tags=["market"],
    **requires(Scope.RESEARCH),
)
def evaluate(
    request: Request, body: EvaluateRequest, source: MarketDataDep
) -> Envelope[EvaluateResponse]:
    """Evaluate ``expression`` (e.g. ``rsi(close, 14)``) on the symbol's closed candles.

    Returns the value on the latest candle before ``end``; with ``series: true`` also the
    values over ``[start, end)`` (or the newest ``limit`` candles). A bad expression is a
    400 with a ``DSL_*`` code and ``error.details.line``/``column``.
    """
    result = research_service.evaluate(
        source,
        expression=body.expression,
        exchange_id=body.exchange,
        symbol=body.symbol,
        timeframe=body.timeframe,
        start_ms=parse_time(body.start, "start"),
        end_ms=parse_time(body.end, "end"),
        include_series=body.series,
        limit=body.limit,
    )
    series = None
    if result.series is not None:
        series = [
            SeriesPointOut(time=iso(point.timestamp), timestamp=point.timestamp, value=point.value)
            for point in result.series
        ]
    return ok(
        request,
        EvaluateResponse(
            exchange=result.market.instrument.exchange_id,
            symbol=result.market.symbol,
            ticker=result.market.ticker,
            timeframe=result.timeframe,
            expression=result.expression,
            kind="bool" if result.kind == "bool" else "number",
            value=result.value,
            time=_iso_or_none(result.timestamp),
            timestamp=result.timestamp,
            close=result.close,
            warmup_bars=result.warmup_bars,
            bars_used=result.bars_used,
            series=series,
        ),
    )


@router.post(
    "/market/scan",
    summary="Filter symbols by a condition",
    tags=["market"],
    **requires(Scope.RESEARCH),
)
def scan(request: Request, body: ScanRequest, source: MarketDataDep) -> Envelope[ScanResponse]:
    """Evaluate the boolean ``condition`` on each symbol's latest closed candle.

    ``universe`` takes named universes (``top10``/``top20``/``top50``/``top100``: stored
    symbols ranked by 30-day quote volume) and/or symbols. ``details`` hold the values
    behind each decision; symbols without data on ``timeframe`` are in ``skipped``.
    """
    result = research_service.scan(
        source,
        condition=body.condition,
        exchange_id=body.exchange,
        universe=list(body.universe),
        timeframe=body.timeframe,
        end_ms=parse_time(body.end, "end"),
    )
    return ok(
        request,
        ScanResponse(
            exchange=result.exchange_id,
            timeframe=result.timeframe,
            condition=result.condition,
            matched=[m.symbol for m in result.matched],
            details=[
                ScanDetailOut(
                    symbol=d.market.symbol,
                    ticker=d.market.ticker,
                    matched=d.matched,
                    time=_iso_or_none(d.timestamp),
                    timestamp=d.timestamp,
                    close=d.close,
                    values=d.values,
                )
                for d in result.details
            ],
            scanned_count=len(result.details),
            matched_count=len(result.matched),
            skipped=[SkippedOut(symbol=s.symbol, reason=s.reason) for s in result.skipped],
        ),
    )


@router.post(
    "/market/rank",
    summary="Rank symbols by a numeric expression",
    tags=["market"],
    **requires(Scope.RESEARCH),
)
def rank(request: Request, body: RankRequest, source: MarketDataDep) -> Envelope[RankResponse]:
    """Rank the universe by ``expression`` (e.g. ``roc(close, 7)``) on the latest candle.

    ``order`` is ``desc`` (highest first) or ``asc``. Symbols whose value is NaN (too
    little history) are listed in ``unranked``; those without data in ``skipped``.
    """
    result = research_service.rank(
        source,
        expression=body.expression,
        exchange_id=body.exchange,
        universe=list(body.universe),
        timeframe=body.timeframe,
        order=body.order,
        limit=body.limit,
        end_ms=parse_time(body.end, "end"),
    )
    return ok(
        request,
        RankResponse(
            exchange=result.exchange_id,
            timeframe=result.timeframe,
            expression=result.expression,
            order=body.order,
            ranked=[
                RankedOut(
                    rank=r.rank,
                    symbol=r.market.symbol,
                    ticker=r.market.ticker,
                    score=r.score,
                    price=r.price,
                    time=_iso_or_none(r.timestamp),
                    timestamp=r.timestamp,
                )
                for r in result.ranked
            ],
            ranked_count=result.total_ranked,
            unranked=[SkippedOut(symbol=s.symbol, reason=s.reason) for s in result.unranked],
            skipped=[SkippedOut(symbol=s.symbol, reason=s.reason) for s in result.skipped],
            scanned_count=result.total_ranked + len(result.unranked),
        ),
    )
