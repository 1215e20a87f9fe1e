"""The async Backtest API (seed v1 §3): execute, status, cancel, and the results endpoints.

A backtest is a job: ``POST /backtest/execute`` queues it and answers at once with a
``backtest_id``; workers (in-process or ``python -m tradeforge.jobs.runner`` / Celery) run
it; ``GET /backtest/status/{job_id}`` reports progress and, when completed, the
``result_id`` for ``/backtest/results/{result_id}/...``. Another key's job or result is
``404 BACKTEST_NOT_FOUND``, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request
from pydantic import ValidationError

from tradeforge.adapters.llm.openai_compatible import OpenAICompatibleRewriter
from tradeforge.adapters.storage.repositories.backtest_jobs import SqlBacktestJobRepository
from tradeforge.api.deps import Container, ContainerDep, PrincipalDep, SessionDep, requires
from tradeforge.api.envelope import Envelope, ok
from tradeforge.api.schemas.backtest import (
    EXECUTE_MODELS,
    AnalysisResponse,
    CancelResponse,
    EquityPoint,
    EquityResponse,
    ExecuteCommon,
    ExecuteRequest,
    ExecuteResponse,
    Finding,
    MetricsResponse,
    PerTickerResponse,
    ResultSummaryResponse,
    SignalExecuteRequest,
    StatusResponse,
    StrategiesResponse,
    StrategyOut,
    StrategySchemaResponse,
    StrategyTypeOut,
    TickerPerformance,
    TradesResponse,
)
from tradeforge.api.schemas.market import iso
from tradeforge.core.accounts import Scope
from tradeforge.core.errors import InvalidInputError, NotFoundError, TradeforgeError
from tradeforge.core.jobs import BacktestJob, BacktestResultRecord, JobStatus
from tradeforge.dsl.errors import DslError
from tradeforge.services.backtest_jobs import (
    DEFAULT_EQUITY_POINTS,
    MAX_EQUITY_POINTS,
    MAX_TRADES_PAGE,
    BacktestJobService,
    analyze,
    downsample_equity,
    parse_day,
)
from tradeforge.services.backtests import BacktestRequest
from tradeforge.services.strategy_types import (
    CATALOGUE,
    GeneratedStrategy,
    StrategyParams,
    check_executable,
    explain_dsl_error,
    generate_script,
)

router = APIRouter(prefix="/backtest", tags=["backtest"])

API = "/api/v1/backtest"
IdPath = Annotated[str, Path(min_length=1, max_length=64)]


def get_service(container: ContainerDep, session: SessionDep) -> BacktestJobService:
    return BacktestJobService(
        SqlBacktestJobRepository(session),
        container.clock,
        container.quota_service,
        container.market_data,
    )


ServiceDep = Annotated[BacktestJobService, Depends(get_service)]


def _status_out(job: BacktestJob) -> StatusResponse:
    message = job.error_message
    if message is None:
        message = {
            JobStatus.QUEUED: "Waiting for a worker.",
            JobStatus.RUNNING: "Cancelling: the worker stops at its next check."
            if job.cancel_requested
            else "Running.",
            JobStatus.COMPLETED: "Completed: fetch the result with result_id.",
            JobStatus.CANCELLED: "Cancelled.",
            JobStatus.FAILED: "Failed.",
        }[job.status]
    return StatusResponse(
        backtest_id=job.id,
        status=str(job.status),
        progress=100 if job.status is JobStatus.COMPLETED else job.progress,
        stage=job.stage if job.status is JobStatus.RUNNING else None,
        result_id=job.result_id,
        message=message,
        error_code=job.error_code,
        suggestion=job.error_suggestion,
        cancel_requested=job.cancel_requested,
        attempts=job.attempts,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        results_url=f"{API}/results/{job.result_id}" if job.result_id else None,
    )


def _dispatch(container: Container, background: BackgroundTasks, job_id: str) -> None:
    """Signal the workers. The row is already the queue; this only saves polling time.

    Both signals run as background tasks, after the response and so after the commit: a
    worker woken earlier would find nothing to claim and go back to sleep. With
    ``job_queue = "celery"`` a failed publish leaves the job queued for the ``sweep`` task.
    """
    runner = container.extras.get("job_runner")
    if runner is not None:
        background.add_task(runner.wake)
    if container.settings.job_queue == "celery":
        from tradeforge.jobs.celery_app import make_celery, publish

        celery = container.extras.get("celery")
        if celery is None:
            celery = container.extras["celery"] = make_celery(container.settings)
        background.add_task(publish, celery, job_id)


def _validation_error(error: ValidationError, strategy_type: str) -> InvalidInputError:
    """The type model's errors as ``VALIDATION_ERROR`` naming each field (like the body's)."""
    problems = [
        {
            "field": ".".join(str(p) for p in item.get("loc", ())),
            "message": str(item.get("msg", "")),
            "type": str(item.get("type", "")),
        }
        for item in error.errors()[:20]
    ]
    first = problems[0] if problems else {"field": "", "message": "invalid value"}
    where = f"{first['field']}: " if first["field"] else ""
    return InvalidInputError(
        f"Invalid request for strategy_type {strategy_type}: {where}{first['message']}.",
        suggestion=(
            "Fix the fields listed in error.details.fields; the body's JSON Schema is "
            f"GET {API}/strategies/{strategy_type}/schema."
        ),
        details={"field": first["field"], "fields": problems},
    )


def _typed_body(body: ExecuteRequest) -> ExecuteCommon:
    """Validate the body again with its strategy type's own model (the one whose JSON
    Schema ``GET /backtest/strategies/{type}/schema`` serves)."""
    entry = check_executable(body.strategy_type)
    model = EXECUTE_MODELS[entry.type]
    try:
        return model.model_validate(body.model_dump(exclude_unset=True))
    except ValidationError as error:
        raise _validation_error(error, entry.type) from None


def _script_of(typed: ExecuteCommon) -> tuple[str, tuple[str, ...], GeneratedStrategy | None]:
    """The script to run, its universe and, for a parameter-based type, what generated it."""
    if isinstance(typed, SignalExecuteRequest):
        if not typed.script.strip():
            raise InvalidInputError(
                "script is required for strategy_type 'signal'.",
                suggestion="Send the Signal DSL script in 'script' "
                "(see GET /api/v1/backtest/strategies/signal/guide).",
                details={"field": "script"},
            )
        return typed.script, tuple(typed.universe), None
    params = getattr(typed, "strategy_params", None)
    assert isinstance(params, StrategyParams)
    universe = tuple(typed.universe or ())
    generated = generate_script(
        str(getattr(typed, "strategy_type", "")), params, universe, typed.timeframe, typed.mode
    )
    return generated.script, generated.universe, generated


@router.post("/execute", summary="Queue a backtest", **requires(Scope.RESEARCH))
def execute(
    request: Request,
    body: ExecuteRequest,
    principal: PrincipalDep,
    service: ServiceDep,
    container: ContainerDep,
    background: BackgroundTasks,
) -> Envelope[ExecuteResponse]:
    """Validate the request and the script, spend one backtest quota unit, and queue it.

    Answers at once with ``backtest_id``; poll ``GET /backtest/status/{backtest_id}``.
    Script errors are answered here (400 ``DSL_*``), not as a failed job. ``pair_trading``
    and ``cross_sectional`` send ``strategy_params`` instead of a script: the server
    generates the script (returned with the result). ``dca`` and ``grid`` (one ticker) run
    their ``strategy_params`` in the ladder engine; their generated script holds the start
    and stop conditions behind a header listing the ladder's orders.
    """
    typed = _typed_body(body)
    script, universe, generated = _script_of(typed)
    start, end = parse_day(typed.start_date, "start_date"), parse_day(typed.end_date, "end_date")
    if end <= start:
        raise InvalidInputError(
            "end_date must be after start_date (the whole end day is included).",
            suggestion="Send start_date < end_date, e.g. 2024-01-01 and 2024-06-30.",
            details={"field": "end_date"},
        )
    script_params = typed.params if isinstance(typed, SignalExecuteRequest) else None
    ladder = generated is not None and generated.is_ladder
    backtest_request = BacktestRequest(
        strategy_type=generated.strategy_type if generated is not None and ladder else "signal",
        strategy_params=generated.params if generated is not None and ladder else None,
        script=script,
        universe=universe,
        start_date=start,
        end_date=end,
        exchange=typed.exchange,
        timeframe=typed.timeframe,
        initial_cash=typed.initial_cash,
        leverage=typed.leverage,
        trading_fee=typed.trading_fee,
        slippage=typed.slippage,
        stop_loss=typed.stop_loss,
        take_profit=typed.take_profit,
        mode=typed.mode,
        params=dict(script_params) if script_params else None,
    )
    try:
        job = service.submit(principal.key, backtest_request, body.description, generated)
    except DslError as error:
        if generated is None:
            raise
        raise explain_dsl_error(error, generated) from None
    _dispatch(container, background, job.id)
    return ok(
        request,
        ExecuteResponse(
            backtest_id=job.id,
            status=str(job.status),
            status_url=f"{API}/status/{job.id}",
            cancel_url=f"{API}/cancel/{job.id}",
            created_at=job.created_at,
            strategy_type=body.strategy_type,
            universe=list(universe),
            timeframe=typed.timeframe,
            start_date=typed.start_date,
            end_date=typed.end_date,
            message="Queued. Poll status_url until status is completed, then use result_id.",
        ),
    )


# -- the strategy-type catalogue -------------------------------------------------------------


@router.get("/strategies", summary="List the strategy types", **requires(Scope.RESEARCH))
def strategies(request: Request) -> Envelope[StrategiesResponse]:
    """Every strategy type of ``POST /backtest/execute``: whether it runs here and, if
    not, why; each type's request-body schema is at ``schema_url``."""
    return ok(
        request,
        StrategiesResponse(
            strategies=[
                StrategyTypeOut(
                    type=entry.type,
                    name=entry.name,
                    description=entry.description,
                    supported=entry.supported,
                    reason=entry.reason,
                    schema_url=f"{API}/strategies/{entry.type}/schema",
                )
                for entry in CATALOGUE.values()
            ]
        ),
    )


@router.get(
    "/strategies/{strategy_type}/schema",
    summary="JSON Schema of a strategy type's execute body",
    **requires(Scope.RESEARCH),
)
def strategy_schema(
    request: Request, strategy_type: Annotated[str, Path(min_length=1, max_length=40)]
) -> Envelope[StrategySchemaResponse]:
    """The JSON Schema of the ``POST /backtest/execute`` body for ``strategy_type``,
    generated from the model that validates it (``strategy_params`` holds the type's
    parameters)."""
    entry = CATALOGUE.get(strategy_type)
    if entry is None:
        raise NotFoundError(
            f"No strategy type {strategy_type!r}.",
            suggestion=f"Use one of {', '.join(CATALOGUE)} (GET {API}/strategies).",
            details={"strategy_type": strategy_type, "allowed": list(CATALOGUE)},
        )
    schema = EXECUTE_MODELS[entry.type].model_json_schema()
    return ok(
        request,
        StrategySchemaResponse(strategy_type=entry.type, supported=entry.supported, schema=schema),
    )


@router.get("/status/{job_id}", summary="Backtest job status", **requires(Scope.RESEARCH))
def status(
    request: Request, job_id: IdPath, principal: PrincipalDep, service: ServiceDep
) -> Envelope[StatusResponse]:
    """queued, running (with progress and stage), completed (with result_id), failed (with
    message and error_code) or cancelled."""
    return ok(request, _status_out(service.get(principal.key, job_id)))


@router.post("/cancel/{job_id}", summary="Cancel a backtest job", **requires(Scope.RESEARCH))
def cancel(
    request: Request, job_id: IdPath, principal: PrincipalDep, service: ServiceDep
) -> Envelope[CancelResponse]:
    """Queued: cancelled at once (it never starts). Running: the worker stops at its next
    check and marks it cancelled. Cancelling twice is harmless; a finished job is 409."""
    job = service.cancel(principal.key, job_id)
    if job.status is JobStatus.CANCELLED:
        message = "Cancelled."
    else:
        message = "Cancel requested: the worker stops at its next check; poll status."
    return ok(
        request,
        CancelResponse(
            backtest_id=job.id,
            status=str(job.status),
            cancel_requested=job.cancel_requested,
            message=message,
        ),
    )


# -- results ---------------------------------------------------------------------------------


def _links(result_id: str) -> dict[str, str]:
    base = f"{API}/results/{result_id}"
    return {
        "metrics": f"{base}/metrics",
        "per_ticker": f"{base}/per-ticker",
        "trades": f"{base}/trades",
        "equity": f"{base}/equity",
        "analysis": f"{base}/analysis",
    }


@router.get("/results/{result_id}", summary="Backtest result summary", **requires(Scope.RESEARCH))
def result_summary(
    request: Request,
    result_id: IdPath,
    principal: PrincipalDep,
    service: ServiceDep,
    container: ContainerDep,
) -> Envelope[ResultSummaryResponse]:
    """Summary and headline metrics, the script, the fingerprint and a dashboard link."""
    record = service.result(principal.key, result_id)
    return ok(
        request,
        ResultSummaryResponse(
            result_id=record.id,
            backtest_id=record.job_id,
            description=record.description,
            created_at=record.created_at,
            fingerprint=record.fingerprint,
            engine=record.summary.get("engine"),
            script=record.script,
            request=record.request,
            strategy=StrategyOut(
                type=str(record.request.get("strategy_type", "signal")),
                params=record.request.get("strategy_params"),
                script_generated=record.request.get("strategy_params") is not None,
            ),
            metrics=record.metrics,
            per_ticker=record.summary.get("per_ticker", {}),
            warnings=[str(w) for w in record.summary.get("warnings", [])],
            num_trades=record.num_trades,
            dashboard_url=f"{container.settings.base_url}/dashboard/backtests/{record.id}",
            links=_links(record.id),
        ),
    )


_GROUPS: dict[str, tuple[str, ...]] = {
    "returns": (
        "initial_equity",
        "final_equity",
        "total_return_pct",
        "cagr_pct",
        "buy_and_hold_return_pct",
    ),
    "risk": (
        "max_drawdown_pct",
        "max_drawdown_abs",
        "max_drawdown_duration_ms",
        "longest_drawdown_ms",
        "sharpe_ratio",
        "sortino_ratio",
        "calmar_ratio",
        "exposure_pct",
    ),
    "trades": (
        "num_trades",
        "open_trades",
        "win_rate_pct",
        "profit_factor",
        "expectancy",
        "avg_trade_pct",
        "best_trade_pct",
        "worst_trade_pct",
        "avg_holding_ms",
    ),
    "costs": ("fees_paid", "funding_paid"),
    "period": ("start_ms", "end_ms", "duration_ms"),
}


@router.get("/results/{result_id}/metrics", summary="Detailed metrics", **requires(Scope.RESEARCH))
def result_metrics(
    request: Request, result_id: IdPath, principal: PrincipalDep, service: ServiceDep
) -> Envelope[MetricsResponse]:
    """Every metric, also grouped into returns, risk, trades, costs and period."""
    record = service.result(principal.key, result_id)
    metrics = record.metrics
    groups = {
        name: {key: metrics[key] for key in keys if key in metrics}
        for name, keys in _GROUPS.items()
    }
    return ok(request, MetricsResponse(result_id=record.id, metrics=metrics, groups=groups))


@router.get(
    "/results/{result_id}/per-ticker",
    summary="Per-ticker performance",
    **requires(Scope.RESEARCH),
)
def result_per_ticker(
    request: Request, result_id: IdPath, principal: PrincipalDep, service: ServiceDep
) -> Envelope[PerTickerResponse]:
    """Trades, PnL, fees and funding per ticker, with the data coverage of each."""
    record = service.result(principal.key, result_id)
    per_ticker: dict[str, Any] = record.summary.get("per_ticker", {}) or {}
    coverage: dict[str, Any] = record.summary.get("coverage", {}) or {}
    tickers = [
        TickerPerformance(ticker=ticker, coverage=coverage.get(ticker), **dict(row))
        for ticker, row in per_ticker.items()
    ]
    return ok(request, PerTickerResponse(result_id=record.id, tickers=tickers))


@router.get(
    "/results/{result_id}/trades", summary="Trade history (paginated)", **requires(Scope.RESEARCH)
)
def result_trades(
    request: Request,
    result_id: IdPath,
    principal: PrincipalDep,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=MAX_TRADES_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Envelope[TradesResponse]:
    """Trades in execution order; pass ``next_cursor`` as ``cursor`` for the next page."""
    record = service.result(principal.key, result_id)
    page = service.trades(principal.key, result_id, limit, cursor)
    return ok(
        request,
        TradesResponse(
            result_id=record.id,
            trades=page.trades,
            limit=limit,
            total=record.num_trades,
            next_cursor=page.next_cursor,
        ),
    )


@router.get("/results/{result_id}/equity", summary="Equity curve", **requires(Scope.RESEARCH))
def result_equity(
    request: Request,
    result_id: IdPath,
    principal: PrincipalDep,
    service: ServiceDep,
    points: Annotated[int, Query(ge=10, le=MAX_EQUITY_POINTS)] = DEFAULT_EQUITY_POINTS,
) -> Envelope[EquityResponse]:
    """The equity curve reduced to at most ``points`` points; the first and last points and
    the extremes (peaks and troughs) are always kept."""
    record: BacktestResultRecord = service.result(principal.key, result_id)
    reduced = downsample_equity(record.equity, points)
    out = [
        EquityPoint(timestamp=ts, time=iso(ts), equity=value)
        for ts, value in zip(reduced["timestamp"], reduced["equity"], strict=True)
    ]
    total = int(record.equity.get("total_points", reduced["total_points"]))
    return ok(
        request,
        EquityResponse(result_id=record.id, points=out, returned=len(out), total_points=total),
    )


@router.get(
    "/results/{result_id}/analysis", summary="Written assessment", **requires(Scope.RESEARCH)
)
def result_analysis(
    request: Request,
    result_id: IdPath,
    principal: PrincipalDep,
    service: ServiceDep,
    container: ContainerDep,
) -> Envelope[AnalysisResponse]:
    """A deterministic, rule-based reading of the result: return versus buy-and-hold,
    drawdown, trade count, win rate, risk-adjusted return and exposure. When an operator
    configured a language model, ``narrative`` rewrites those findings in prose."""
    record = service.result(principal.key, result_id)
    report = analyze(record)
    narrative = narrative_error = None
    rewriter = _rewriter(container)
    if rewriter is not None:
        try:
            narrative = rewriter.rewrite(record.id, report)
        except TradeforgeError as error:
            narrative_error = f"{error.code}: {error.message}"
    return ok(
        request,
        AnalysisResponse(
            result_id=record.id,
            verdict=report["verdict"],
            summary=report["summary"],
            findings=[Finding(**f) for f in report["findings"]],
            counts=report["counts"],
            method=report["method"] if narrative is None else f"{report['method']}+llm",
            narrative=narrative,
            narrative_error=narrative_error,
        ),
    )


def _rewriter(container: Container) -> OpenAICompatibleRewriter | None:
    """The configured language model, built once per app (None when not configured)."""
    settings = container.settings
    if not settings.llm_base_url:
        return None
    rewriter = container.extras.get("llm_rewriter")
    if rewriter is None:
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        rewriter = container.extras["llm_rewriter"] = OpenAICompatibleRewriter(
            settings.llm_base_url,
            settings.llm_model,
            api_key=key,
            timeout_seconds=settings.llm_timeout_seconds,
        )
    assert isinstance(rewriter, OpenAICompatibleRewriter)
    return rewriter
