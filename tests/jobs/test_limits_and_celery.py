"""The job time limit (RELIABILITY C8), the Celery configuration (C7) and publishing with
the broker down (C4): bounded, and the job stays queued in the database."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import SettingsFactory
from tradeforge.jobs import worker as worker_module
from tradeforge.jobs.celery_app import RUN_TASK, celery_config, make_celery, publish
from tradeforge.jobs.runner import JobRunner
from tradeforge.jobs.worker import TEST_DELAY_ENV, JobTimings, WorkerContext

from .conftest import container_of, new_key, status, submit, wait_for

SRC = Path(__file__).resolve().parents[2] / "src" / "tradeforge"


def test_a_job_over_its_time_limit_fails_and_the_worker_is_replaced(
    idle_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_DELAY_ENV, "30")
    key, _ = new_key(idle_client)
    slow = submit(idle_client, key)
    timings = JobTimings(
        heartbeat_seconds=0.3,
        stale_seconds=5,
        reap_interval_seconds=0.5,
        time_limit_seconds=1.0,
        poll_seconds=0.1,
    )
    runner = JobRunner(container_of(idle_client).settings, workers=1, timings=timings).start()
    try:
        started = time.monotonic()
        done = wait_for(idle_client, key, slow, timeout=30)
        assert done["status"] == "failed"
        assert done["error_code"] == "TIME_LIMIT"
        assert time.monotonic() - started < 15
        deadline = time.monotonic() + 20
        while len(runner.worker_pids) != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(runner.worker_pids) == 1  # replaced after it exited
    finally:
        runner.stop()


def test_celery_configuration_is_safe(make_settings: SettingsFactory, sqlite_url: str) -> None:
    settings = make_settings(sqlite_url)
    config = celery_config(settings)
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["worker_prefetch_multiplier"] == 1
    visibility = config["broker_transport_options"]["visibility_timeout"]
    assert visibility > config["task_time_limit"] * 1.5
    assert config["task_time_limit"] > config["task_soft_time_limit"]
    celery = make_celery(settings)
    task = celery.tasks[RUN_TASK]
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True


def test_publish_with_the_broker_down_is_bounded_and_keeps_the_job_queued(
    idle_client: TestClient, make_settings: SettingsFactory, sqlite_url: str
) -> None:
    key, _ = new_key(idle_client)
    job_id = submit(idle_client, key)
    celery = make_celery(make_settings(sqlite_url, redis_url="redis://127.0.0.1:1/0"))
    started = time.monotonic()
    assert publish(celery, job_id) is False
    assert time.monotonic() - started < 5
    assert status(idle_client, key, job_id)["status"] == "queued"


def test_no_forced_revoke_anywhere() -> None:
    pattern = re.compile(r"revoke\([^)]*terminate\s*=\s*True")
    offenders = [
        str(path) for path in SRC.rglob("*.py") if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_celery_message_carries_only_the_job_id_and_redelivery_is_a_no_op(
    idle_client: TestClient,
    worker_ctx: WorkerContext,
    make_settings: SettingsFactory,
    sqlite_url: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import redis

    key, _ = new_key(idle_client)
    job_id = submit(idle_client, key)
    celery = make_celery(make_settings(sqlite_url, redis_url=redis_url))
    assert publish(celery, job_id) is True
    client = redis.Redis.from_url(redis_url)
    try:
        messages = client.lrange("celery", 0, -1)
    finally:
        client.close()
    assert len(messages) == 1
    envelope = json.loads(messages[0])
    assert envelope["headers"]["task"] == RUN_TASK
    args = json.loads(base64.b64decode(envelope["body"]))[0]
    assert args == [job_id]  # nothing else travels through the broker

    # The task body, delivered twice (a redelivery after a lost ack): one execution.
    monkeypatch.setattr(worker_module, "_process_context", worker_ctx)
    task = celery.tasks[RUN_TASK]
    assert task.run(job_id) == "completed"
    assert task.run(job_id) is None
    final = status(idle_client, key, job_id)
    assert final["status"] == "completed"
    assert final["attempts"] == 1
