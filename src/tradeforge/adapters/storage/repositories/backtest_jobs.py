"""SQLAlchemy implementation of :class:`tradeforge.ports.BacktestJobRepository`.

Every state change is one conditional UPDATE (compare-and-set on ``status`` and, for the
worker side, on the claim token). Claiming takes ``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
on SQLite the engine starts every transaction with ``BEGIN IMMEDIATE`` (see ``db.py``), so
the select-then-update of a claim runs under the database's single write lock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from tradeforge.adapters.storage.tables import (
    backtest_jobs,
    backtest_results,
    backtest_trades,
    map_domain,
)
from tradeforge.core.jobs import (
    WORKER_LOST,
    BacktestJob,
    BacktestResultRecord,
    ClaimedJob,
    JobStage,
    JobStatus,
    ReapReport,
    check_transition,
)

_TRADE_BATCH = 1000

_J = backtest_jobs.c


class SqlBacktestJobRepository:
    def __init__(self, session: Session) -> None:
        map_domain()
        self._session = session

    @property
    def _is_postgres(self) -> bool:
        return self._session.get_bind().dialect.name == "postgresql"

    # -- API side --------------------------------------------------------------------------

    def add(self, job: BacktestJob) -> None:
        self._session.add(job)
        self._session.flush()

    def get_job(self, job_id: str) -> BacktestJob | None:
        query = select(BacktestJob).where(_J.id == job_id).execution_options(populate_existing=True)
        return self._session.scalars(query).one_or_none()

    def has_queued(self) -> bool:
        query = select(_J.id).where(_J.status == JobStatus.QUEUED).limit(1)
        return self._session.execute(query).first() is not None

    def queued_ids(self, enqueued_before_ns: int, limit: int) -> list[str]:
        query = (
            select(_J.id)
            .where(_J.status == JobStatus.QUEUED, _J.enqueued_ns < enqueued_before_ns)
            .order_by(_J.enqueued_ns)
            .limit(limit)
        )
        return [str(row[0]) for row in self._session.execute(query)]

    def cancel_queued(self, job_id: str, now: datetime) -> bool:
        check_transition(JobStatus.QUEUED, JobStatus.CANCELLED)
        result = self._session.execute(
            update(backtest_jobs)
            .where(_J.id == job_id, _J.status == JobStatus.QUEUED)
            .values(
                status=JobStatus.CANCELLED,
                cancel_requested=True,
                finished_at=now,
                error_code="CANCELLED",
                error_message="Cancelled by the user before it started.",
            )
        )
        return _count(result) == 1

    def request_cancel(self, job_id: str) -> bool:
        result = self._session.execute(
            update(backtest_jobs)
            .where(_J.id == job_id, _J.status == JobStatus.RUNNING)
            .values(cancel_requested=True)
        )
        return _count(result) == 1

    # -- worker side -----------------------------------------------------------------------

    def claim_next(self, token: str, now: datetime) -> ClaimedJob | None:
        other = aliased(backtest_jobs)
        running = (
            select(func.count())
            .select_from(other)
            .where(other.c.api_key_id == _J.api_key_id, other.c.status == JobStatus.RUNNING)
            .scalar_subquery()
        )
        last_served = (
            select(func.max(other.c.started_at))
            .where(other.c.api_key_id == _J.api_key_id)
            .scalar_subquery()
        )
        query = (
            select(_J.id)
            .where(_J.status == JobStatus.QUEUED)
            .order_by(running, last_served.asc().nulls_first(), _J.enqueued_ns, _J.id)
            .limit(1)
        )
        if self._is_postgres:
            query = query.with_for_update(skip_locked=True, of=backtest_jobs)
        row = self._session.execute(query).first()
        if row is None:
            return None
        return self.claim(str(row[0]), token, now)

    def claim(self, job_id: str, token: str, now: datetime) -> ClaimedJob | None:
        check_transition(JobStatus.QUEUED, JobStatus.RUNNING)
        result = self._session.execute(
            update(backtest_jobs)
            .where(_J.id == job_id, _J.status == JobStatus.QUEUED)
            .values(
                status=JobStatus.RUNNING,
                attempts=_J.attempts + 1,
                claimed_by=token,
                started_at=now,
                heartbeat_at=now,
                progress=0,
                stage=JobStage.LOADING_SCRIPT.value,
            )
        )
        if _count(result) != 1:
            return None
        row = self._session.execute(
            select(_J.api_key_id, _J.attempts, _J.request, _J.description).where(_J.id == job_id)
        ).one()
        return ClaimedJob(
            id=job_id,
            api_key_id=row.api_key_id,
            token=token,
            attempt=int(row.attempts),
            request=dict(row.request),
            description=str(row.description),
        )

    def _owned(self, job_id: str, token: str) -> Any:
        return and_(_J.id == job_id, _J.status == JobStatus.RUNNING, _J.claimed_by == token)

    def heartbeat(self, job_id: str, token: str, now: datetime) -> bool | None:
        result = self._session.execute(
            update(backtest_jobs).where(self._owned(job_id, token)).values(heartbeat_at=now)
        )
        if _count(result) != 1:
            return None
        flag: object = self._session.execute(
            select(_J.cancel_requested).where(_J.id == job_id)
        ).scalar_one()
        return bool(flag)

    def set_progress(
        self, job_id: str, token: str, progress: int, stage: str, now: datetime
    ) -> bool:
        result = self._session.execute(
            update(backtest_jobs)
            .where(self._owned(job_id, token))
            .values(progress=max(0, min(100, int(progress))), stage=stage, heartbeat_at=now)
        )
        return _count(result) == 1

    def cancel_wanted(self, job_id: str, token: str) -> bool:
        row = self._session.execute(
            select(_J.status, _J.claimed_by, _J.cancel_requested).where(_J.id == job_id)
        ).first()
        if row is None or row.status != JobStatus.RUNNING or row.claimed_by != token:
            return True
        return bool(row.cancel_requested)

    def complete(
        self,
        job_id: str,
        token: str,
        result: BacktestResultRecord,
        trades: list[dict[str, Any]],
        now: datetime,
    ) -> bool:
        check_transition(JobStatus.RUNNING, JobStatus.COMPLETED)
        updated = self._session.execute(
            update(backtest_jobs)
            .where(self._owned(job_id, token), _J.cancel_requested.is_(False))
            .values(
                status=JobStatus.COMPLETED,
                progress=100,
                stage=JobStage.DONE.value,
                finished_at=now,
                heartbeat_at=now,
                result_id=result.id,
            )
        )
        if _count(updated) != 1:
            return False
        self._session.add(result)
        self._session.flush()
        for start in range(0, len(trades), _TRADE_BATCH):
            chunk = trades[start : start + _TRADE_BATCH]
            self._session.execute(
                insert(backtest_trades),
                [
                    {"result_id": result.id, "seq": start + i + 1, "data": trade}
                    for i, trade in enumerate(chunk)
                ],
            )
        return True

    def finish(
        self,
        job_id: str,
        token: str,
        status: JobStatus,
        now: datetime,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
        error_suggestion: str | None = None,
    ) -> bool:
        check_transition(JobStatus.RUNNING, status)
        if status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise ValueError(f"finish() ends a job as failed or cancelled, not {status}")
        result = self._session.execute(
            update(backtest_jobs)
            .where(self._owned(job_id, token))
            .values(
                status=status,
                finished_at=now,
                heartbeat_at=now,
                error_code=error_code,
                error_message=error_message,
                error_suggestion=error_suggestion,
            )
        )
        return _count(result) == 1

    def reap(self, stale_before: datetime, now: datetime, max_attempts: int) -> ReapReport:
        check_transition(JobStatus.RUNNING, JobStatus.QUEUED)
        stale = and_(_J.status == JobStatus.RUNNING, _J.heartbeat_at < stale_before)
        query = select(_J.id, _J.attempts, _J.cancel_requested).where(stale)
        if self._is_postgres:
            query = query.with_for_update(skip_locked=True)
        requeued: list[str] = []
        failed: list[str] = []
        for row in self._session.execute(query).all():
            # Re-check staleness in the UPDATE itself: the worker may have beaten the reaper.
            where = and_(_J.id == row.id, stale)
            if row.cancel_requested:
                values: dict[str, Any] = {
                    "status": JobStatus.CANCELLED,
                    "finished_at": now,
                    "error_code": "CANCELLED",
                    "error_message": "Cancelled by the user; its worker stopped responding.",
                }
                target = failed
            elif int(row.attempts) >= max_attempts:
                values = {
                    "status": JobStatus.FAILED,
                    "finished_at": now,
                    "error_code": WORKER_LOST,
                    "error_message": (
                        f"The worker running this backtest stopped responding "
                        f"{row.attempts} times; giving up."
                    ),
                    "error_suggestion": (
                        "Submit it again with a shorter range, a higher timeframe or fewer "
                        "tickers; if it keeps failing, report the backtest id."
                    ),
                }
                target = failed
            else:
                values = {
                    "status": JobStatus.QUEUED,
                    "claimed_by": None,
                    "heartbeat_at": None,
                    "progress": 0,
                    "stage": None,
                }
                target = requeued
            if _count(self._session.execute(update(backtest_jobs).where(where).values(**values))):
                target.append(row.id)
        return ReapReport(requeued=requeued, failed=failed)

    # -- results ---------------------------------------------------------------------------

    def get_result(self, result_id: str) -> BacktestResultRecord | None:
        query = select(BacktestResultRecord).where(backtest_results.c.id == result_id)
        return self._session.scalars(query).one_or_none()

    def list_trades(
        self, result_id: str, after_seq: int, limit: int
    ) -> list[tuple[int, dict[str, Any]]]:
        t = backtest_trades.c
        query = (
            select(t.seq, t.data)
            .where(t.result_id == result_id, t.seq > after_seq)
            .order_by(t.seq)
            .limit(limit)
        )
        return [(int(row.seq), dict(row.data)) for row in self._session.execute(query)]


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
