"""Optional Celery scale-out for backtest jobs (RELIABILITY §2.9, rule 10).

The database stays the source of truth; Celery only carries a signal. A task message holds
nothing but the job id, and the task calls the same :func:`tradeforge.jobs.worker.run_job`
as the built-in runner: it claims the job with a compare-and-set (``queued -> running``), so
a redelivered or duplicated message finds the job no longer queued and does nothing.

Configuration:

* ``task_acks_late`` + ``task_reject_on_worker_lost``: a worker child killed mid-task gets
  its message redelivered instead of silently acknowledged (celery#1628).
* ``visibility_timeout`` (Redis broker) is greater than 1.5 x the hard time limit, so a
  long job is not redelivered while it still runs.
* Bounded broker connection and publish timeouts: publishing never hangs a request
  (celery#6046). A failed publish leaves the job ``queued`` in the database; the periodic
  ``sweep`` task re-publishes old queued jobs and runs the reaper.
* Cancellation is the database flag the runner checks; there is no ``revoke`` here.
* Prefork forks worker children: the worker context (engine, connections) is built lazily
  inside each child on its first task, never in the parent, so no connection crosses a fork.

Run: ``celery -A tradeforge.jobs.celery_app worker --concurrency 1`` and
``celery -A tradeforge.jobs.celery_app beat`` (for ``sweep``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Celery

from tradeforge.config import Settings, get_settings
from tradeforge.jobs.worker import JobTimings, process_context, reap, run_job

log = logging.getLogger(__name__)

RUN_TASK = "tradeforge.backtest.run_job"
SWEEP_TASK = "tradeforge.backtest.sweep"
SWEEP_EVERY_SECONDS = 30.0
#: Queued jobs older than this are re-published by ``sweep`` (their message may be lost).
REPUBLISH_AFTER_SECONDS = 60.0


def celery_config(settings: Settings) -> dict[str, Any]:
    timings = JobTimings.from_settings(settings)
    soft = int(timings.time_limit_seconds)
    hard = soft + 60
    return {
        "broker_url": settings.redis_url or "redis://127.0.0.1:6379/0",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "task_soft_time_limit": soft,
        "task_time_limit": hard,
        "task_ignore_result": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_timeout": 2,
        "broker_connection_retry_on_startup": True,
        "task_publish_retry": False,
        "broker_transport_options": {
            "visibility_timeout": hard * 2,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
        },
        "beat_schedule": {
            "sweep": {"task": SWEEP_TASK, "schedule": SWEEP_EVERY_SECONDS},
        },
    }


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    celery = Celery("tradeforge")
    celery.conf.update(celery_config(settings))

    @celery.task(name=RUN_TASK, acks_late=True, reject_on_worker_lost=True, shared=False)  # type: ignore[untyped-decorator]
    def run_backtest_job(job_id: str) -> str | None:
        status = run_job(job_id)
        return None if status is None else str(status)

    @celery.task(name=SWEEP_TASK, shared=False)  # type: ignore[untyped-decorator]
    def sweep() -> dict[str, Any]:
        ctx = process_context()
        report = reap(ctx)
        cutoff = time.time_ns() - int(REPUBLISH_AFTER_SECONDS * 1e9)
        with ctx.uow() as repo:
            stale = repo.queued_ids(cutoff, 500)
        for job_id in stale:
            publish(celery, job_id)
        return {"requeued": report.requeued, "finished": report.failed, "republished": stale}

    return celery


def publish(celery: Celery, job_id: str) -> bool:
    """Send the job id to the workers; False (job stays queued for ``sweep``) on failure."""
    try:
        celery.send_task(RUN_TASK, args=[job_id], retry=False)
    except Exception:
        log.warning("could not publish job %s; the sweep task will retry", job_id, exc_info=True)
        return False
    return True


app = make_celery()
