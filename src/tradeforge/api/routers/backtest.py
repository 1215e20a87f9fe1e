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

from tradeforge.adapters.storage.repositories.backtest_jobs import SqlBacktestJobRepository
from tradeforge.api.deps import Container, ContainerDep, PrincipalDep, SessionDep, requires
from tradeforge.api.envelope import Envelope, ok
from tradeforge.api.schemas.backtest import (
    AnalysisResponse,
    CancelResponse,
    EquityPoint,
    EquityResponse,
    ExecuteRequest,
    ExecuteResponse,
    Finding,
    MetricsResponse,
    PerTickerResponse,
    ResultSummaryResponse,
    StatusResponse,
    TickerPerformance,
    TradesResponse,
)
from tradeforge.api.schemas.market import iso
from tradeforge.core.accounts import Scope
from tradeforge.core.errors import InvalidInputError
from tradeforge.core.jobs import BacktestJob, BacktestResultRecord, JobStatus
from tradeforge.services.backtest_jobs import (
    DEFAULT_EQUITY_POINTS,
    MAX_EQUITY_POINTS,
    MAX_TRADES_PAGE,
    BacktestJobService,
    analyze,
    check_strategy_type,
    downsample_equity,
    parse_day,
)
from tradeforge.services.backtests import BacktestRequest

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

    The in-process runner is woken directly. With ``job_queue = "celery"`` the job id is
    published after the response (so after the commit); a failed publish leaves the job
    queued for the Celery ``sweep`` task.
    """
    runner = container.extras.get("job_runner")
    if runner is not None:
        runner.wake()
    if container.settings.job_queue == "celery":
        from tradeforge.jobs.celery_app import make_celery, publish

        celery = container.extras.get("celery")
        if celery is None:
            celery = container.extras["celery"] = make_celery(container.settings)
        background.add_task(publish, celery, job_id)


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
    Script errors are answered here (400 ``DSL_*``), not as a failed job.
    """
    check_strategy_type(body.strategy_type)
    if body.script is None or not body.script.strip():
        raise InvalidInputError(
            "script is required for strategy_type 'signal'.",
            suggestion="Send the Signal DSL script in 'script' (see GET /api/v1/docs/signal-dsl).",
            details={"field": "script"},
        )
    start, end = parse_day(body.start_date, "start_date"), parse_day(body.end_date, "end_date")
    if end <= start:
        raise InvalidInputError(
            "end_date must be after start_date (the end day is excluded).",
            suggestion="Send start_date < end_date, e.g. 2024-01-01 and 2024-06-30.",
            details={"field": "end_date"},
        )
    backtest_request = BacktestRequest(
        script=body.script,
        universe=tuple(body.universe),
        start_date=start,
        end_date=end,
        strategy_type=body.strategy_type,
        exchange=body.exchange,
        timeframe=body.timeframe,
        initial_cash=body.initial_cash,
        leverage=body.leverage,
        trading_fee=body.trading_fee,
        slippage=body.slippage,
        stop_loss=body.stop_loss,
        take_profit=body.take_profit,
        mode=body.mode,
        params=dict(body.params) if body.params else None,
    )
    job = service.submit(principal.key, backtest_request, body.description)
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
            universe=list(body.universe),
            timeframe=body.timeframe,
            start_date=body.start_date,
            end_date=body.end_date,
            message="Queued. Poll status_url until status is completed, then use result_id.",
        ),
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
    request: Request, result_id: IdPath, principal: PrincipalDep, service: ServiceDep
) -> Envelope[AnalysisResponse]:
    """A deterministic, rule-based reading of the result: return versus buy-and-hold,
    drawdown, trade count, win rate, risk-adjusted return and exposure (no language model)."""
    record = service.result(principal.key, result_id)
    report = analyze(record)
    return ok(
        request,
        AnalysisResponse(
            result_id=record.id,
            verdict=report["verdict"],
            summary=report["summary"],
            findings=[Finding(**f) for f in report["findings"]],
            counts=report["counts"],
            method=report["method"],
        ),
    )
