"""Restart safety for real (RELIABILITY C2/C3): a runner runs in its own OS process; its
worker (or the whole runner) is killed with SIGKILL in the middle of a job, and the job
is re-queued by the reaper and finished - never left ``running``.

The job is kept busy with the documented test hook ``TRADEFORGE_TEST_JOB_DELAY_SECONDS``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tradeforge.adapters.storage.tables import backtest_jobs
from tradeforge.jobs.worker import TEST_DELAY_ENV, WorkerContext, token_pid

from .conftest import container_of, new_key, submit, wait_for


class Runners:
    """Start ``python -m tradeforge.jobs.runner`` processes; kill them all at the end."""

    def __init__(self, client: TestClient, tmp_path: Path) -> None:
        self.settings = container_of(client).settings
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, delay_seconds: float | None = None) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "TRADEFORGE_DATABASE_URL": self.settings.effective_database_url,
            "TRADEFORGE_DATA_DIR": str(self.settings.data_dir),
            "TRADEFORGE_CONFIG_FILE": str(self.tmp_path / "absent.toml"),
            "TRADEFORGE_ENVIRONMENT": "test",
        }
        env.pop(TEST_DELAY_ENV, None)
        if delay_seconds is not None:
            env[TEST_DELAY_ENV] = str(delay_seconds)
        log = open(self.tmp_path / f"runner-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tradeforge.jobs.runner",
                "--workers=1",
                "--heartbeat-seconds=0.3",
                "--stale-seconds=1.5",
                "--reap-seconds=0.5",
                "--poll-seconds=0.1",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture
def runners(idle_client: TestClient, tmp_path: Path) -> Iterator[Runners]:
    group = Runners(idle_client, tmp_path)
    yield group
    group.kill_all()


def _claimed_by(ctx: WorkerContext, job_id: str) -> str | None:
    with ctx.engine.connect() as connection:
        value = connection.execute(
            select(backtest_jobs.c.claimed_by).where(backtest_jobs.c.id == job_id)
        ).scalar_one()
    return None if value is None else str(value)


def test_kill_9_of_the_worker_mid_job_requeues_and_finishes(
    idle_client: TestClient, worker_ctx: WorkerContext, runners: Runners
) -> None:
    key, _ = new_key(idle_client)
    job_id = submit(idle_client, key)
    runner = runners.start(delay_seconds=2)
    wait_for(idle_client, key, job_id, ("running",), timeout=30)
    pid = token_pid(_claimed_by(worker_ctx, job_id))
    assert pid is not None
    assert pid != runner.pid
    os.kill(pid, signal.SIGKILL)

    done = wait_for(idle_client, key, job_id, timeout=45)
    assert done["status"] == "completed", done
    assert done["attempts"] == 2
    assert token_pid(_claimed_by(worker_ctx, job_id)) != pid
    assert runner.poll() is None  # the runner survived and replaced its worker


def test_kill_9_of_the_whole_runner_then_restart_finishes_the_job(
    idle_client: TestClient, worker_ctx: WorkerContext, runners: Runners
) -> None:
    key, _ = new_key(idle_client)
    job_id = submit(idle_client, key)
    first = runners.start(delay_seconds=60)
    wait_for(idle_client, key, job_id, ("running",), timeout=30)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    time.sleep(0.5)
    assert wait_for(idle_client, key, job_id, ("running",))["status"] == "running"

    runners.start()  # a restarted runner: its reaper re-queues the orphan, a worker runs it
    done = wait_for(idle_client, key, job_id, timeout=45)
    assert done["status"] == "completed", done
    assert done["attempts"] == 2
