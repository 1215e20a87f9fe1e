"""Background backtest jobs: their states, the allowed transitions, and the stored result.

The database row is the source of truth for a job (RELIABILITY rule 1/10). Every state
change is a compare-and-set on ``status`` (and, for the worker that owns a running job, on
``claimed_by``), so a redelivered or duplicated claim is a no-op and a worker that lost its
job (the reaper re-queued it) can no longer write to it.

States::

    queued ──claim──> running ──> completed | failed | cancelled
      │                  │
      └─cancel─> cancelled └──reaper (stale heartbeat)──> queued (attempts < 3)
                                                       └─> failed WORKER_LOST (attempts >= 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


class JobStage(StrEnum):
    """What a running job is doing (the use case's progress stages)."""

    LOADING_SCRIPT = "loading_script"
    LOADING_DATA = "loading_data"
    EXECUTING = "executing"
    DONE = "done"


TERMINAL_STATES: frozenset[JobStatus] = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
)

#: Every allowed transition. Storage code asserts against it before issuing a CAS update.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.QUEUED}
    ),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}

#: A job whose worker vanished this many times is failed with ``WORKER_LOST``.
MAX_ATTEMPTS = 3

WORKER_LOST = "WORKER_LOST"


def can_transition(source: JobStatus, target: JobStatus) -> bool:
    return target in TRANSITIONS[source]


def check_transition(source: JobStatus, target: JobStatus) -> None:
    if not can_transition(source, target):
        raise ValueError(f"illegal job transition {source} -> {target}")


@dataclass
class BacktestJob:
    """One submitted backtest (table ``backtest_jobs``).

    ``request`` is the validated request as JSON-ready data (``BacktestRequest.to_dict``).
    ``enqueued_ns`` orders the queue (wall-clock nanoseconds at submission).
    ``claimed_by`` identifies the worker attempt that owns a running job
    (``host:pid:token``); ``heartbeat_at`` is refreshed by that worker while it runs.
    """

    id: str
    api_key_id: str
    status: JobStatus
    request: dict[str, Any]
    description: str
    created_at: datetime
    enqueued_ns: int
    attempts: int = 0
    cancel_requested: bool = False
    progress: int = 0
    stage: str | None = None
    claimed_by: str | None = None
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None
    finished_at: datetime | None = None
    result_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_suggestion: str | None = None


@dataclass
class BacktestResultRecord:
    """The stored outcome of a completed job (table ``backtest_results``).

    ``metrics`` are the headline numbers; ``summary`` keeps the rest of the outcome
    (per-ticker, warnings, coverage, warm-up, engine version, fingerprint inputs);
    ``equity`` is ``{"timestamp": [...], "equity": [...]}`` reduced to at most
    ``STORED_EQUITY_POINTS`` points (first, last and the extremes kept). Trades live in
    ``backtest_trades`` rows, ordered by ``seq``, for keyset pagination.
    """

    id: str
    job_id: str
    api_key_id: str
    created_at: datetime
    fingerprint: str
    script: str
    request: dict[str, Any]
    metrics: dict[str, Any]
    summary: dict[str, Any]
    equity: dict[str, Any]
    num_trades: int
    description: str


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker gets back from a successful claim."""

    id: str
    api_key_id: str
    token: str
    attempt: int
    request: dict[str, Any]
    description: str


@dataclass(frozen=True)
class ReapReport:
    requeued: list[str]
    failed: list[str]

    @property
    def total(self) -> int:
        return len(self.requeued) + len(self.failed)
