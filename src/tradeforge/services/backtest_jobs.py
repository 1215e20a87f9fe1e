"""Backtest jobs: submit, status, cancel and results (the async Backtest API, seed v1 §3),
plus the execution of a claimed job by a worker.

The database row is the truth (RELIABILITY rules 1 and 10): submitting inserts a ``queued``
row, a worker claims it with a compare-and-set, runs
:func:`tradeforge.services.backtests.run_backtest_request` with a progress callback and a
cooperative cancel check, and ends it with another compare-and-set. A worker that lost its
claim (the reaper re-queued the job after a stale heartbeat) cannot write anything.

Everything here talks to storage through :class:`~tradeforge.ports.BacktestJobRepository`;
:mod:`tradeforge.jobs` wires the adapters and owns processes, threads and heartbeats.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import logging
import math
import secrets
import time
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.core.accounts import ApiKey, QuotaKind
from tradeforge.core.clock import Clock
from tradeforge.core.errors import (
    ConflictError,
    DataUnavailableError,
    InvalidInputError,
    NotFoundError,
    TradeforgeError,
)
from tradeforge.core.jobs import (
    BacktestJob,
    BacktestResultRecord,
    ClaimedJob,
    JobStage,
    JobStatus,
)
from tradeforge.market.source import MarketDataSource
from tradeforge.ports import BacktestJobRepository
from tradeforge.services.backtests import (
    TIMEFRAMES,
    BacktestCancelledError,
    BacktestOutcome,
    BacktestRequest,
    compile_cached,
    outcome_json,
    run_backtest_request,
)
from tradeforge.services.quotas import QuotaService
from tradeforge.services.strategy_types import (
    CATALOGUE,
    LADDER_TYPES,
    GeneratedStrategy,
    check_executable,
)

log = logging.getLogger(__name__)

#: Strategy types the seed lists, and those that run (the others answer 400
#: ``STRATEGY_TYPE_UNSUPPORTED``); see :mod:`tradeforge.services.strategy_types`.
SEED_STRATEGY_TYPES = tuple(CATALOGUE)
SUPPORTED_STRATEGY_TYPES = tuple(name for name, entry in CATALOGUE.items() if entry.supported)

#: Backtest span caps (RELIABILITY rule 13): bars per ticker and bars over the universe.
MAX_BARS_PER_TICKER = 1_100_000  # about 2 years of 1m candles
MAX_TOTAL_BARS = 4_000_000

#: Equity points kept with a stored result, and the most an equity request may ask for.
STORED_EQUITY_POINTS = 5000
MAX_EQUITY_POINTS = 5000
DEFAULT_EQUITY_POINTS = 500
MAX_TRADES_PAGE = 500

FloatArray = npt.NDArray[np.float64]

UnitOfWork = Callable[[], AbstractContextManager[BacktestJobRepository]]


def not_found(kind: str = "Backtest job", ident: str = "") -> NotFoundError:
    return NotFoundError(
        f"{kind} {ident!r} not found." if ident else f"{kind} not found.",
        code="BACKTEST_NOT_FOUND",
        suggestion=(
            "Use the backtest_id from POST /backtest/execute for status and cancel, and the "
            "result_id from a completed status for results; ids are per API key."
        ),
    )


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


def new_job_id() -> str:
    return "bt_" + secrets.token_hex(12)


def new_result_id() -> str:
    return "res_" + secrets.token_hex(12)


# -- submission checks ------------------------------------------------------------------------


def span_bars(request: BacktestRequest) -> int:
    step = TIMEFRAMES[request.timeframe]
    return -(-(request.end_ms - request.start_ms) // step)


def check_span(request: BacktestRequest) -> None:
    """Refuse a backtest whose span is too many bars (RELIABILITY rule 13)."""
    bars = span_bars(request)
    step = TIMEFRAMES[request.timeframe]
    tickers = len(request.universe)
    if bars <= MAX_BARS_PER_TICKER and bars * tickers <= MAX_TOTAL_BARS:
        return
    per_ticker_cap = min(MAX_BARS_PER_TICKER, MAX_TOTAL_BARS // max(1, tickers))
    max_days = per_ticker_cap * step // 86_400_000
    coarser = [
        tf
        for tf, ms in TIMEFRAMES.items()
        if ms > step and -(-(request.end_ms - request.start_ms) // ms) <= per_ticker_cap
    ]
    hint = f" or use timeframe {coarser[0]}" if coarser else ""
    raise InvalidInputError(
        f"The backtest spans {bars:,} {request.timeframe} bars per ticker over {tickers} "
        f"ticker(s); the cap is {per_ticker_cap:,} bars per ticker.",
        suggestion=f"Shorten the range to at most {max_days} days at {request.timeframe}{hint}.",
        details={
            "field": "end_date",
            "bars_per_ticker": bars,
            "max_bars_per_ticker": per_ticker_cap,
            "max_days": max_days,
        },
    )


def check_strategy_type(strategy_type: str) -> None:
    """Raise ``VALIDATION_ERROR`` for an unknown type and ``STRATEGY_TYPE_UNSUPPORTED`` for
    a catalogued type the engine cannot run (none today)."""
    check_executable(strategy_type)


def job_request(request: BacktestRequest, generated: GeneratedStrategy | None) -> dict[str, Any]:
    """The job row's request: the script request, plus the catalogue type and parameters
    when the script was generated from ``strategy_params``."""
    data = request.to_dict()
    if generated is not None:
        data["strategy_type"] = generated.strategy_type
        data["strategy_params"] = generated.params
    return data


def script_request(data: dict[str, Any]) -> BacktestRequest:
    """The inverse of :func:`job_request`: a job runs its (possibly generated) script, and
    ``dca`` / ``grid`` jobs run their ``strategy_params`` in the ladder engine."""
    if data.get("strategy_type") in LADDER_TYPES:
        return BacktestRequest.from_dict(data)
    plain = {k: v for k, v in data.items() if k != "strategy_params"}
    plain["strategy_type"] = "signal"
    return BacktestRequest.from_dict(plain)


# -- the API-side use cases ------------------------------------------------------------------


@dataclass(frozen=True)
class TradesPage:
    trades: list[dict[str, Any]]
    next_cursor: str | None


class BacktestJobService:
    """Submit, inspect and cancel backtest jobs; read their results (per API key)."""

    def __init__(
        self,
        repo: BacktestJobRepository,
        clock: Clock,
        quotas: QuotaService | None = None,
        source: MarketDataSource | None = None,
    ) -> None:
        self._repo = repo
        self._clock = clock
        self._quotas = quotas
        self._source = source

    def _check_data(self, request: BacktestRequest) -> None:
        """Refuse a request with no stored candles in its window for some ticker (cheap:
        stored ranges only), so it is a 404 now instead of a failed job later."""
        if self._source is None:
            return
        for ticker, inst in request.instruments():
            stored = self._source.available_range(inst.exchange_id, inst.symbol, request.timeframe)
            if stored is not None and stored[0] < request.end_ms and stored[1] >= request.start_ms:
                continue
            where = (
                f"stored {request.timeframe} candles cover {_day(stored[0])} to {_day(stored[1])}"
                if stored is not None
                else f"no {request.timeframe} candles are stored for it"
            )
            raise DataUnavailableError(
                f"No {request.timeframe} candles for {ticker} between {request.start_date} and "
                f"{request.end_date}; {where}.",
                suggestion=(
                    "Pick dates inside the stored range, another timeframe, or download the "
                    "candles first (tradeforge data --help)."
                ),
                details={"ticker": ticker, "field": "universe"},
            )

    def submit(
        self,
        key: ApiKey,
        request: BacktestRequest,
        description: str,
        generated: GeneratedStrategy | None = None,
    ) -> BacktestJob:
        """Validate cheaply (fields, span, script, stored data), spend one BACKTESTS quota
        unit and queue.

        Raises ``VALIDATION_ERROR``/``DSL_*`` (400) or ``DATA_UNAVAILABLE`` (404) before any
        quota is spent; ``FREE_QUOTA_EXCEEDED``/``QUOTA_EXCEEDED`` (429) when it is used up.
        """
        check_strategy_type(generated.strategy_type if generated else request.strategy_type)
        request.validate()
        check_span(request)
        tickers = [ticker for ticker, _ in request.instruments()]
        compile_cached(request.script, tickers, timeframe=request.timeframe, params=request.params)
        self._check_data(request)
        if self._quotas is not None:
            self._quotas.consume(key, QuotaKind.BACKTESTS)
        job = BacktestJob(
            id=new_job_id(),
            api_key_id=key.id,
            status=JobStatus.QUEUED,
            request=job_request(request, generated),
            description=description,
            created_at=self._clock.now(),
            enqueued_ns=time.time_ns(),
        )
        self._repo.add(job)
        return job

    def get(self, key: ApiKey, job_id: str) -> BacktestJob:
        job = self._repo.get_job(job_id)
        if job is None or job.api_key_id != key.id:
            raise not_found("Backtest job", job_id)
        return job

    def cancel(self, key: ApiKey, job_id: str) -> BacktestJob:
        """Queued: cancelled at once. Running: flagged; the worker stops at its next check.
        Cancelled already: unchanged (idempotent). Completed or failed: ``CONFLICT``."""
        job = self.get(key, job_id)
        if job.status is JobStatus.QUEUED:
            # Either it is cancelled now, or a worker claimed it meanwhile: re-read.
            self._repo.cancel_queued(job_id, self._clock.now())
            job = self.get(key, job_id)
        if job.status is JobStatus.RUNNING:
            self._repo.request_cancel(job_id)
            job = self.get(key, job_id)
        if job.status in (JobStatus.COMPLETED, JobStatus.FAILED):
            raise ConflictError(
                f"Backtest {job_id} already finished ({job.status}); it cannot be cancelled.",
                code="CONFLICT",
                suggestion=(
                    "Nothing to cancel. Fetch the result with GET /backtest/results/{result_id}."
                    if job.status is JobStatus.COMPLETED
                    else "Nothing to cancel; see GET /backtest/status for why it failed."
                ),
                details={"status": str(job.status)},
            )
        return job

    def result(self, key: ApiKey, result_id: str) -> BacktestResultRecord:
        record = self._repo.get_result(result_id)
        if record is None or record.api_key_id != key.id:
            raise not_found("Backtest result", result_id)
        return record

    def trades(self, key: ApiKey, result_id: str, limit: int, cursor: str | None) -> TradesPage:
        self.result(key, result_id)
        after = decode_cursor(cursor)
        limit = max(1, min(MAX_TRADES_PAGE, limit))
        rows = self._repo.list_trades(result_id, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        trades = [{"seq": seq, **data} for seq, data in rows]
        return TradesPage(trades, encode_cursor(rows[-1][0]) if more and rows else None)

    # -- reading for people (the dashboard): ownership is by the user's keys -------------

    def visible_result(
        self,
        result_id: str,
        owner_key_ids: Collection[str],
        is_public: Callable[[str], bool],
    ) -> BacktestResultRecord:
        """The result when one of ``owner_key_ids`` produced it or ``is_public(result_id)``
        (attached to an arena post or registered); otherwise ``BACKTEST_NOT_FOUND``, the
        same answer as for an id that does not exist."""
        record = self._repo.get_result(result_id)
        if record is None or (record.api_key_id not in owner_key_ids and not is_public(record.id)):
            raise not_found("Backtest result", result_id)
        return record

    def trades_after(
        self, record: BacktestResultRecord, after_seq: int, limit: int
    ) -> list[dict[str, Any]]:
        """Trades of an already authorised result with ``seq > after_seq`` (``seq`` runs
        from 1 without gaps), at most ``limit``."""
        rows = self._repo.list_trades(record.id, max(0, after_seq), max(1, limit))
        return [{"seq": seq, **data} for seq, data in rows]


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"t:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        prefix, _, number = text.partition(":")
        if prefix != "t" or not number.isdigit() or len(number) > 12:
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInputError(
            "cursor is not a cursor this endpoint issued.",
            suggestion="Pass the next_cursor value from the previous page, or omit cursor.",
            details={"field": "cursor"},
        ) from None


# -- equity downsampling ---------------------------------------------------------------------


def downsample_indices(values: Sequence[float] | FloatArray, points: int) -> list[int]:
    """Indices of at most ``points`` samples of ``values`` that keep its shape.

    The first and last points and the global minimum and maximum are always kept; the
    rest of the budget is spent on the minimum and maximum of equal-width buckets, so
    drawdowns and peaks survive the reduction.
    """
    array = np.asarray(values, dtype=np.float64)
    n = int(array.shape[0])
    if n <= points:
        return list(range(n))
    if points < 4:
        raise InvalidInputError(
            "points must be at least 4.", suggestion="Ask for points >= 4 (default 500)."
        )
    filled = np.where(np.isfinite(array), array, np.nan)
    keep = {0, n - 1}
    if np.isfinite(filled).any():
        keep.add(int(np.nanargmin(filled)))
        keep.add(int(np.nanargmax(filled)))
    # At most 4 anchors plus 2 per bucket, so the total never exceeds ``points``.
    buckets = (points - 4) // 2
    if buckets > 0:
        edges = np.linspace(1, n - 1, buckets + 1).astype(np.int64)
        for lo, hi in itertools.pairwise(edges.tolist()):
            if hi <= lo:
                continue
            chunk = filled[lo:hi]
            if not np.isfinite(chunk).any():
                continue
            keep.add(int(lo + np.nanargmin(chunk)))
            keep.add(int(lo + np.nanargmax(chunk)))
    ordered = sorted(keep)
    return ordered


def downsample_equity(equity: dict[str, Any], points: int) -> dict[str, Any]:
    timestamps = list(equity.get("timestamp", []))
    values = [math.nan if v is None else float(v) for v in equity.get("equity", [])]
    idx = downsample_indices(values, points)
    return {
        "timestamp": [int(timestamps[i]) for i in idx],
        "equity": [None if not math.isfinite(values[i]) else values[i] for i in idx],
        "total_points": len(values),
    }


# -- the result record -----------------------------------------------------------------------


def build_result_record(
    job_id: str, api_key_id: str, description: str, outcome: BacktestOutcome, now: datetime
) -> tuple[BacktestResultRecord, list[dict[str, Any]]]:
    """Turn an outcome into the stored record and its trade rows (JSON-clean, no NaN)."""
    data = json.loads(outcome_json(outcome))
    trades = list(data.pop("trades", []))
    data.pop("equity", None)
    timestamps = outcome.result.timestamp
    equity_values = np.asarray(outcome.result.equity, dtype=np.float64)
    idx = downsample_indices(equity_values, STORED_EQUITY_POINTS)
    equity = {
        "timestamp": [int(timestamps[i]) for i in idx],
        "equity": [
            float(equity_values[i]) if math.isfinite(equity_values[i]) else None for i in idx
        ],
        "total_points": int(equity_values.shape[0]),
    }
    metrics = dict(data.pop("metrics", {}))
    script = str(data.pop("script", outcome.script))
    request = dict(data.pop("request", outcome.request.to_dict()))
    fingerprint = str(data.get("fingerprint", outcome.fingerprint))
    record = BacktestResultRecord(
        id=new_result_id(),
        job_id=job_id,
        api_key_id=api_key_id,
        created_at=now,
        fingerprint=fingerprint,
        script=script,
        description=description,
        request=request,
        metrics=metrics,
        summary=data,
        equity=equity,
        num_trades=len(trades),
    )
    return record, trades


# -- the written assessment ------------------------------------------------------------------


def _metric(metrics: dict[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def analyze(record: BacktestResultRecord) -> dict[str, Any]:
    """A deterministic, rule-based assessment of a result (no language model).

    Findings cover return versus buy-and-hold, drawdown, the trade count, win rate with
    profit factor, risk-adjusted return and market exposure; each has a severity
    (``good``, ``info``, ``warning``, ``critical``). The verdict counts them.
    """
    m = record.metrics
    findings: list[dict[str, str]] = []

    def add(topic: str, severity: str, text: str) -> None:
        findings.append({"topic": topic, "severity": severity, "text": text})

    ret = _metric(m, "total_return_pct")
    bh = _metric(m, "buy_and_hold_return_pct")
    if ret is not None and bh is not None:
        diff = ret - bh
        if diff >= 0:
            add(
                "return",
                "good",
                f"Return {ret:.2f}% beat buy-and-hold ({bh:.2f}%) by {diff:.2f} points.",
            )
        elif ret > 0:
            add(
                "return",
                "info",
                f"Return {ret:.2f}% was positive but trailed buy-and-hold ({bh:.2f}%) "
                f"by {-diff:.2f} points.",
            )
        else:
            add(
                "return",
                "warning",
                f"Return {ret:.2f}% was negative; buy-and-hold returned {bh:.2f}%.",
            )
    elif ret is not None:
        add("return", "good" if ret > 0 else "warning", f"Total return {ret:.2f}%.")

    dd = _metric(m, "max_drawdown_pct")
    if dd is not None:
        if dd >= 50:
            add(
                "drawdown",
                "critical",
                f"Maximum drawdown {dd:.2f}%: most traders could not sit through it.",
            )
        elif dd >= 25:
            add(
                "drawdown",
                "warning",
                f"Maximum drawdown {dd:.2f}% is deep; consider smaller weights or a stop.",
            )
        elif dd >= 10:
            add("drawdown", "info", f"Maximum drawdown {dd:.2f}% is moderate.")
        else:
            add("drawdown", "good", f"Maximum drawdown {dd:.2f}% is shallow.")

    trades = _metric(m, "num_trades")
    if trades is not None:
        count = int(trades)
        if count == 0:
            add("trades", "critical", "No trades: the entry condition never fired in this range.")
        elif count < 10:
            add(
                "trades",
                "warning",
                f"Only {count} trades: too few trades for the statistics to mean much.",
            )
        elif count < 30:
            add(
                "trades",
                "info",
                f"{count} trades: a small sample; test a longer range or more tickers.",
            )
        else:
            add("trades", "good", f"{count} trades: a reasonable sample.")

    win = _metric(m, "win_rate_pct")
    pf = _metric(m, "profit_factor")
    if win is not None and trades:
        pf_text = f", profit factor {pf:.2f}" if pf is not None else ""
        if pf is not None and pf < 1:
            add("win_rate", "warning", f"Win rate {win:.1f}%{pf_text}: losses outweigh gains.")
        elif win < 35 and (pf is None or pf < 1.5):
            add(
                "win_rate",
                "warning",
                f"Win rate {win:.1f}%{pf_text}: low, and winners do not make up for it.",
            )
        elif win > 80 and trades < 30:
            add(
                "win_rate",
                "info",
                f"Win rate {win:.1f}%{pf_text}: unusually high; check for look-ahead or luck.",
            )
        else:
            add(
                "win_rate", "good" if (pf or 0) >= 1.3 else "info", f"Win rate {win:.1f}%{pf_text}."
            )

    sharpe = _metric(m, "sharpe_ratio")
    if sharpe is not None and trades:
        if sharpe >= 1.5:
            add("risk_adjusted", "good", f"Sharpe ratio {sharpe:.2f} is strong.")
        elif sharpe >= 0.5:
            add("risk_adjusted", "info", f"Sharpe ratio {sharpe:.2f} is modest.")
        else:
            add(
                "risk_adjusted",
                "warning",
                f"Sharpe ratio {sharpe:.2f}: the return does not pay for its volatility.",
            )

    exposure = _metric(m, "exposure_pct")
    if exposure is not None and trades:
        if exposure < 5:
            add(
                "exposure",
                "info",
                f"In the market {exposure:.1f}% of the time: results rest on a few positions.",
            )
        elif exposure > 95:
            add(
                "exposure",
                "info",
                f"In the market {exposure:.1f}% of the time: close to buy-and-hold.",
            )
        else:
            add("exposure", "info", f"In the market {exposure:.1f}% of the time.")

    for warning in record.summary.get("warnings", []) or []:
        add("data", "warning", str(warning))

    counts = {
        s: sum(1 for f in findings if f["severity"] == s)
        for s in ("good", "info", "warning", "critical")
    }
    if counts["critical"]:
        verdict = "weak"
    elif counts["warning"] >= 2 or (ret is not None and ret <= 0):
        verdict = "weak" if counts["warning"] >= 3 else "mixed"
    elif counts["good"] >= 3 and not counts["warning"]:
        verdict = "promising"
    else:
        verdict = "mixed"
    summary = " ".join(f["text"] for f in findings[:3])
    return {
        "verdict": verdict,
        "summary": summary,
        "findings": findings,
        "counts": counts,
        "method": "rules-v1 (deterministic; no language model)",
    }


# -- execution of a claimed job (runs inside a worker) ---------------------------------------


@dataclass
class ExecutionHooks:
    """Test-only fault injection, inert by default (set by ``tradeforge.jobs.worker`` from
    ``TRADEFORGE_TEST_JOB_DELAY_SECONDS``): sleep this long before the backtest runs,
    checking for cancellation every 0.1 s."""

    delay_seconds: float = 0.0


class JobExecutor:
    """Run one claimed job to a terminal state through short units of work."""

    PROGRESS_MIN_INTERVAL = 0.25

    def __init__(
        self,
        uow: UnitOfWork,
        source: MarketDataSource,
        clock: Clock,
        hooks: ExecutionHooks | None = None,
    ) -> None:
        self._uow = uow
        self._source = source
        self._clock = clock
        self._hooks = hooks or ExecutionHooks()

    def _progress(self, claimed: ClaimedJob) -> Callable[[float, str], None]:
        last: dict[str, Any] = {"stage": None, "at": 0.0}

        def report(pct: float, stage: str) -> None:
            now = time.monotonic()
            if stage == last["stage"] and now - last["at"] < self.PROGRESS_MIN_INTERVAL:
                return
            last.update(stage=stage, at=now)
            shown = JobStage.EXECUTING.value if stage == JobStage.DONE.value else stage
            with self._uow() as repo:
                repo.set_progress(
                    claimed.id, claimed.token, min(99, int(pct)), shown, self._clock.now()
                )

        return report

    def _cancelled(self, claimed: ClaimedJob) -> Callable[[], bool]:
        def check() -> bool:
            with self._uow() as repo:
                return repo.cancel_wanted(claimed.id, claimed.token)

        return check

    def _finish(self, claimed: ClaimedJob, status: JobStatus, error: TradeforgeError) -> None:
        with self._uow() as repo:
            repo.finish(
                claimed.id,
                claimed.token,
                status,
                self._clock.now(),
                error_code=error.code,
                error_message=error.message[:2000],
                error_suggestion=error.suggestion[:2000],
            )

    def execute(self, claimed: ClaimedJob) -> JobStatus:
        is_cancelled = self._cancelled(claimed)
        try:
            request = script_request(claimed.request)
            self._test_delay(is_cancelled)
            outcome = run_backtest_request(
                request,
                self._source,
                progress=self._progress(claimed),
                is_cancelled=is_cancelled,
            )
        except BacktestCancelledError:
            return self._cancel(claimed)
        except TradeforgeError as error:
            self._finish(claimed, JobStatus.FAILED, error)
            return JobStatus.FAILED
        except Exception:
            log.exception("backtest job %s failed unexpectedly", claimed.id)
            self._finish(
                claimed,
                JobStatus.FAILED,
                TradeforgeError(
                    "The backtest failed with an unexpected error.",
                    suggestion="Retry; if it fails again, report the backtest id.",
                ),
            )
            return JobStatus.FAILED
        record, trades = build_result_record(
            claimed.id, claimed.api_key_id, claimed.description, outcome, self._clock.now()
        )
        if claimed.request.get("strategy_params") is not None:
            record.request["strategy_type"] = claimed.request["strategy_type"]
            record.request["strategy_params"] = claimed.request["strategy_params"]
        with self._uow() as repo:
            done = repo.complete(claimed.id, claimed.token, record, trades, self._clock.now())
        if done:
            return JobStatus.COMPLETED
        with self._uow() as repo:
            lost = repo.heartbeat(claimed.id, claimed.token, self._clock.now()) is None
        if lost:
            log.warning("backtest job %s: claim lost before completion; result dropped", claimed.id)
            return JobStatus.QUEUED
        return self._cancel(claimed)

    def _cancel(self, claimed: ClaimedJob) -> JobStatus:
        self._finish(
            claimed,
            JobStatus.CANCELLED,
            TradeforgeError(
                "Cancelled by the user while running; no result was stored.",
                code="CANCELLED",
                suggestion="Submit the backtest again if you still need it.",
            ),
        )
        return JobStatus.CANCELLED

    def _test_delay(self, is_cancelled: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self._hooks.delay_seconds
        while time.monotonic() < deadline:
            if is_cancelled():
                raise BacktestCancelledError("the backtest was cancelled (test delay)")
            time.sleep(0.1)


def parse_day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(
            f"{name} must be a date YYYY-MM-DD, got {value!r}.",
            suggestion=f"Send {name} like 2024-01-31.",
            details={"field": name},
        ) from None
