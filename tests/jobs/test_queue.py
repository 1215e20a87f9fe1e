"""The job queue in the database: fair claiming, compare-and-set transitions, duplicate
delivery, concurrent claimers, the reaper and lost claims (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tradeforge.adapters.storage.tables import backtest_results, backtest_trades
from tradeforge.core.jobs import (
    MAX_ATTEMPTS,
    TERMINAL_STATES,
    TRANSITIONS,
    JobStatus,
    can_transition,
    check_transition,
)
from tradeforge.jobs.runner import JobRunner
from tradeforge.jobs.worker import WorkerContext, new_token, reap, run_job_in, run_next

from .conftest import FAST, container_of, new_key, status, submit, wait_for


def _claim(ctx: WorkerContext) -> tuple[str, str] | None:
    with ctx.uow() as repo:
        claimed = repo.claim_next(new_token(), ctx.clock.now())
    return None if claimed is None else (claimed.id, claimed.token)


def _finish(ctx: WorkerContext, job_id: str, token: str) -> None:
    with ctx.uow() as repo:
        assert repo.finish(job_id, token, JobStatus.FAILED, ctx.clock.now(), error_code="X")


def test_transition_table() -> None:
    assert can_transition(JobStatus.QUEUED, JobStatus.RUNNING)
    assert can_transition(JobStatus.RUNNING, JobStatus.QUEUED)  # the reaper
    for terminal in TERMINAL_STATES:
        assert TRANSITIONS[terminal] == frozenset()
        with pytest.raises(ValueError, match="illegal"):
            check_transition(terminal, JobStatus.RUNNING)
    assert not can_transition(JobStatus.QUEUED, JobStatus.COMPLETED)


def test_claim_is_fair_across_keys(idle_client: TestClient, worker_ctx: WorkerContext) -> None:
    busy, _ = new_key(idle_client, "Busy")
    polite, _ = new_key(idle_client, "Polite")
    busy_jobs = [submit(idle_client, busy) for _ in range(5)]
    polite_job = submit(idle_client, polite)
    order = []
    while (claimed := _claim(worker_ctx)) is not None:
        order.append(claimed[0])
        _finish(worker_ctx, *claimed)
    assert order == [busy_jobs[0], polite_job, *busy_jobs[1:]]


def test_claim_prefers_the_key_with_fewer_running_jobs(
    idle_client: TestClient, worker_ctx: WorkerContext
) -> None:
    a, _ = new_key(idle_client, "A")
    b, _ = new_key(idle_client, "B")
    a_jobs = [submit(idle_client, a) for _ in range(3)]
    b_jobs = [submit(idle_client, b) for _ in range(3)]
    claimed = [_claim(worker_ctx) for _ in range(4)]
    ids = [c[0] for c in claimed if c]
    # Two workers busy on A and B each: running counts stay level.
    assert ids == [a_jobs[0], b_jobs[0], a_jobs[1], b_jobs[1]]


def test_real_runner_with_one_worker_runs_the_second_key_second(
    idle_client: TestClient,
) -> None:
    busy, _ = new_key(idle_client, "Busy")
    polite, _ = new_key(idle_client, "Polite")
    busy_jobs = [submit(idle_client, busy) for _ in range(5)]
    polite_job = submit(idle_client, polite)
    runner = JobRunner(container_of(idle_client).settings, workers=1, timings=FAST).start()
    try:
        finished = {j: wait_for(idle_client, busy, j, timeout=60) for j in busy_jobs}
        finished[polite_job] = wait_for(idle_client, polite, polite_job, timeout=60)
    finally:
        runner.stop()
    assert all(s["status"] == "completed" for s in finished.values())
    by_start = sorted(finished, key=lambda j: finished[j]["started_at"])
    assert by_start[1] == polite_job
    assert by_start.index(polite_job) == 1


def test_duplicate_delivery_executes_once(
    idle_client: TestClient, worker_ctx: WorkerContext
) -> None:
    key, _ = new_key(idle_client)
    job_id = submit(idle_client, key)
    assert run_job_in(worker_ctx, job_id) is JobStatus.COMPLETED
    assert run_job_in(worker_ctx, job_id) is None  # redelivered message: a no-op
    data = status(idle_client, key, job_id)
    assert data["status"] == "completed"
    assert data["attempts"] == 1
    with worker_ctx.engine.connect() as connection:
        results = connection.execute(
            select(func.count())
            .select_from(backtest_results)
            .where(backtest_results.c.job_id == job_id)
        ).scalar_one()
        trades = connection.execute(
            select(func.count())
            .select_from(backtest_trades)
            .where(backtest_trades.c.result_id == data["result_id"])
        ).scalar_one()
    assert results == 1
    assert trades >= 1


def test_concurrent_claimers_never_share_a_job(
    idle_client: TestClient, worker_ctx: WorkerContext
) -> None:
    jobs = []
    for name in ("A", "B", "C"):
        key, _ = new_key(idle_client, name)
        jobs += [submit(idle_client, key) for _ in range(4)]
    claimed: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def claimer() -> None:
        try:
            while (got := _claim(worker_ctx)) is not None:
                with lock:
                    claimed.append(got[0])
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(claimed) == sorted(jobs)
    assert len(set(claimed)) == len(claimed)


def test_reaper_requeues_then_fails_with_worker_lost(
    idle_client: TestClient, worker_ctx: WorkerContext
) -> None:
    key, _ = new_key(idle_client)
    job_id = submit(idle_client, key)
    fresh_id = submit(idle_client, key)
    future = worker_ctx.clock.now() + timedelta(seconds=5)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with worker_ctx.uow() as repo:
            claimed = repo.claim(job_id, new_token(), worker_ctx.clock.now())
            assert claimed is not None
            assert claimed.attempt == attempt
        with worker_ctx.uow() as repo:
            report = repo.reap(future, worker_ctx.clock.now(), MAX_ATTEMPTS)
        if attempt < MAX_ATTEMPTS:
            assert report.requeued == [job_id]
            assert status(idle_client, key, job_id)["status"] == "queued"
        else:
            assert report.failed == [job_id]
    final = status(idle_client, key, job_id)
    assert final["status"] == "failed"
    assert final["error_code"] == "WORKER_LOST"
    assert final["attempts"] == MAX_ATTEMPTS
    assert final["message"]

    # A job with a fresh heartbeat is left alone by the real reaper (stale after 1.5 s).
    with worker_ctx.uow() as repo:
        assert repo.claim(fresh_id, new_token(), worker_ctx.clock.now()) is not None
    assert reap(worker_ctx).total == 0
    assert status(idle_client, key, fresh_id)["status"] == "running"
    time.sleep(FAST.stale_seconds + 0.2)
    assert reap(worker_ctx).requeued == [fresh_id]


def test_a_worker_that_lost_its_claim_cannot_write(
    idle_client: TestClient, worker_ctx: WorkerContext
) -> None:
    key, _ = new_key(idle_client)
    job_id = submit(idle_client, key)
    now = worker_ctx.clock.now()
    with worker_ctx.uow() as repo:
        old = repo.claim(job_id, new_token(), now)
        assert old is not None
    with worker_ctx.uow() as repo:
        assert repo.reap(now + timedelta(seconds=1), now, MAX_ATTEMPTS).requeued == [job_id]
    with worker_ctx.uow() as repo:
        assert repo.heartbeat(job_id, old.token, now) is None
        assert repo.cancel_wanted(job_id, old.token) is True
        assert not repo.set_progress(job_id, old.token, 50, "executing", now)
        assert not repo.finish(job_id, old.token, JobStatus.FAILED, now)
    # The re-queued job runs normally for its new claim.
    assert run_next(worker_ctx) is JobStatus.COMPLETED
    data = status(idle_client, key, job_id)
    assert data["status"] == "completed"
    assert data["attempts"] == 2


def test_idle_in_process_runner_spawns_no_workers(running_client: TestClient) -> None:
    runner = container_of(running_client).extras["job_runner"]
    time.sleep(0.3)
    assert runner.worker_pids == []
    key, _ = new_key(running_client)
    job_id = submit(running_client, key)
    assert wait_for(running_client, key, job_id)["status"] == "completed"
    assert len(runner.worker_pids) == 1


def test_many_submissions_from_concurrent_clients_all_finish_exactly_once(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(run_jobs_in_process=True, backtest_workers=2)
    keys = [new_key(client, f"Agent {i}")[0] for i in range(4)]
    submitted: list[tuple[str, str]] = []
    lock = threading.Lock()

    def submitter(key: str) -> None:
        for _ in range(5):
            job_id = submit(client, key)
            with lock:
                submitted.append((key, job_id))

    threads = [threading.Thread(target=submitter, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(submitted) == 20
    finals = [wait_for(client, key, job_id, timeout=90) for key, job_id in submitted]
    assert all(f["status"] == "completed" for f in finals)
    assert all(f["attempts"] == 1 for f in finals)
    assert len({f["result_id"] for f in finals}) == 20
    with container_of(client).engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(backtest_results)).scalar_one()
    assert rows == 20
