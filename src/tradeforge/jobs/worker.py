"""Wiring inside a worker process: engine, repositories, market data, the executor, and the
heartbeat thread that proves the worker is alive while a job runs.

Everything here is created *inside* the process that uses it (engines are never carried
across a fork: workers are started with the ``spawn`` method, and a Celery worker builds its
context lazily on the first task).

Test-only fault hook (inert unless the variable is set):

``TRADEFORGE_TEST_JOB_DELAY_SECONDS``
    Seconds a worker sleeps (in 0.1 s slices, checking for cancellation, heartbeating as
    usual) after claiming a job and before running the backtest. The restart-safety and
    cancel tests use it to have a job that is reliably "running" for a while.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from tradeforge.adapters.candles import open_market_data
from tradeforge.adapters.storage.db import create_db_engine, create_session_factory
from tradeforge.adapters.storage.repositories.backtest_jobs import SqlBacktestJobRepository
from tradeforge.config import Settings
from tradeforge.core.clock import Clock, SystemClock
from tradeforge.core.jobs import MAX_ATTEMPTS, ClaimedJob, JobStatus, ReapReport
from tradeforge.services.backtest_jobs import ExecutionHooks, JobExecutor

log = logging.getLogger(__name__)

TEST_DELAY_ENV = "TRADEFORGE_TEST_JOB_DELAY_SECONDS"


@dataclass(frozen=True)
class JobTimings:
    """How often a worker heartbeats, when a heartbeat counts as stale, how often the
    reaper runs, how long one job may take, and how often an idle worker polls."""

    heartbeat_seconds: float = 2.0
    stale_seconds: float = 30.0
    reap_interval_seconds: float = 10.0
    time_limit_seconds: float = 900.0
    poll_seconds: float = 0.5

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: float | None) -> JobTimings:
        values = {
            "heartbeat_seconds": settings.job_heartbeat_seconds,
            "stale_seconds": settings.job_stale_seconds,
            "reap_interval_seconds": settings.job_reap_interval_seconds,
            "time_limit_seconds": settings.job_time_limit_seconds,
            "poll_seconds": settings.job_poll_seconds,
        }
        values.update({k: float(v) for k, v in overrides.items() if v is not None})
        timings = cls(**values)
        if timings.stale_seconds <= 2 * timings.heartbeat_seconds:
            raise ValueError("stale_seconds must exceed twice heartbeat_seconds")
        return timings


def test_hooks_from_env() -> ExecutionHooks:
    """Read the test hook from a fresh ``Settings`` (the environment as it is now)."""
    delay = Settings().test_job_delay_seconds
    if delay <= 0:
        return ExecutionHooks()
    log.warning("%s=%s: test fault hook active (jobs are delayed)", TEST_DELAY_ENV, delay)
    return ExecutionHooks(delay_seconds=delay)


def new_token() -> str:
    """A claim token naming this worker attempt: ``host:pid:random``."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(6)}"


def token_pid(token: str | None) -> int | None:
    """The worker process id inside a claim token (tests use it to kill that worker)."""
    if not token:
        return None
    parts = token.split(":")
    return int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[SqlBacktestJobRepository]:
    """One short transaction: commit on success, roll back on error."""
    with factory() as session:
        try:
            yield SqlBacktestJobRepository(session)
            session.commit()
        except BaseException:
            session.rollback()
            raise


#: PostgreSQL serialization failure and deadlock: retry the transaction (rule 12).
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
TRANSACTION_ATTEMPTS = 3

T = TypeVar("T")


def _retryable(error: DBAPIError) -> bool:
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate in RETRYABLE_SQLSTATES or "database is locked" in str(error.orig).lower()


def in_transaction(
    factory: sessionmaker[Session], work: Callable[[SqlBacktestJobRepository], T]
) -> T:
    """Run ``work`` in one transaction, retried up to 3 times on a serialization failure,
    a deadlock (PostgreSQL 40001/40P01) or a busy SQLite database."""
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            with unit_of_work(factory) as repo:
                return work(repo)
        except DBAPIError as error:
            if attempt == TRANSACTION_ATTEMPTS or not _retryable(error):
                raise
            log.warning("transaction conflict (attempt %d), retrying: %s", attempt, error.orig)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class WorkerContext:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock
    timings: JobTimings
    executor: JobExecutor

    def uow(self) -> AbstractContextManager[SqlBacktestJobRepository]:
        return unit_of_work(self.session_factory)

    def close(self) -> None:
        self.engine.dispose()


def build_context(settings: Settings, timings: JobTimings | None = None) -> WorkerContext:
    engine = create_db_engine(settings.effective_database_url)
    factory = create_session_factory(engine)
    clock = SystemClock()
    executor = JobExecutor(
        lambda: unit_of_work(factory), open_market_data(settings), clock, test_hooks_from_env()
    )
    return WorkerContext(
        settings=settings,
        engine=engine,
        session_factory=factory,
        clock=clock,
        timings=timings or JobTimings.from_settings(settings),
        executor=executor,
    )


class Heartbeat(threading.Thread):
    """Refresh ``heartbeat_at`` of the running job every ``heartbeat_seconds``.

    Past the job's time limit it fails the job with ``TIME_LIMIT`` and ends this process
    (the only way to stop a runaway computation); the runner starts a replacement.
    """

    def __init__(self, ctx: WorkerContext, claimed: ClaimedJob) -> None:
        super().__init__(name=f"heartbeat-{claimed.id}", daemon=True)
        self._ctx = ctx
        self._claimed = claimed
        self._stop_event = threading.Event()
        self._began = time.monotonic()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def run(self) -> None:
        timings = self._ctx.timings
        while not self._stop_event.wait(timings.heartbeat_seconds):
            try:
                with unit_of_work(self._ctx.session_factory) as repo:
                    if time.monotonic() - self._began > timings.time_limit_seconds:
                        repo.finish(
                            self._claimed.id,
                            self._claimed.token,
                            JobStatus.FAILED,
                            self._ctx.clock.now(),
                            error_code="TIME_LIMIT",
                            error_message=(
                                f"The backtest ran longer than {timings.time_limit_seconds:g} s."
                            ),
                            error_suggestion=(
                                "Use a shorter range, a higher timeframe or fewer tickers."
                            ),
                        )
                        timed_out = True
                    else:
                        repo.heartbeat(self._claimed.id, self._claimed.token, self._ctx.clock.now())
                        timed_out = False
                if timed_out:
                    log.error("job %s exceeded its time limit; worker exits", self._claimed.id)
                    os._exit(3)
            except Exception:  # a missed beat is survivable; the next one may succeed
                log.warning("heartbeat of job %s failed", self._claimed.id, exc_info=True)


def run_claimed(ctx: WorkerContext, claimed: ClaimedJob) -> JobStatus:
    beat = Heartbeat(ctx, claimed)
    beat.start()
    try:
        return ctx.executor.execute(claimed)
    finally:
        beat.stop()


def run_next(ctx: WorkerContext) -> JobStatus | None:
    """Claim the next queued job (fairly across keys) and run it; None when idle."""
    token = new_token()
    claimed = in_transaction(ctx.session_factory, lambda r: r.claim_next(token, ctx.clock.now()))
    if claimed is None:
        return None
    log.info("job %s claimed (attempt %d)", claimed.id, claimed.attempt)
    return run_claimed(ctx, claimed)


def run_job_in(ctx: WorkerContext, job_id: str) -> JobStatus | None:
    """Run one specific job if it is still queued. A second delivery of the same job id
    finds it no longer queued and does nothing (compare-and-set on the status)."""
    token = new_token()
    claimed = in_transaction(ctx.session_factory, lambda r: r.claim(job_id, token, ctx.clock.now()))
    if claimed is None:
        log.info("job %s is not queued; delivery ignored", job_id)
        return None
    return run_claimed(ctx, claimed)


def reap_jobs(factory: sessionmaker[Session], clock: Clock, stale_seconds: float) -> ReapReport:
    """Re-queue (or fail with ``WORKER_LOST``) running jobs with a stale heartbeat."""
    now = clock.now()
    stale_before = now - timedelta(seconds=stale_seconds)
    report = in_transaction(factory, lambda r: r.reap(stale_before, now, MAX_ATTEMPTS))
    if report.total:
        log.warning("reaper: requeued %s, finished %s", report.requeued, report.failed)
    return report


def reap(ctx: WorkerContext) -> ReapReport:
    return reap_jobs(ctx.session_factory, ctx.clock, ctx.timings.stale_seconds)


_process_context: WorkerContext | None = None
_process_lock = threading.Lock()


def process_context(settings: Settings | None = None) -> WorkerContext:
    """The worker context of this process, built on first use (after any fork)."""
    global _process_context
    with _process_lock:
        if _process_context is None:
            from tradeforge.config import get_settings

            _process_context = build_context(settings or get_settings())
        return _process_context


def run_job(job_id: str) -> JobStatus | None:
    """Run the job ``job_id`` in this process (the Celery task body)."""
    return run_job_in(process_context(), job_id)
