"""Cancel semantics (RELIABILITY C9): queued, running, finished, another key's, twice."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from api_support import assert_error, assert_ok, bearer
from tradeforge.jobs.worker import TEST_DELAY_ENV

from .conftest import new_key, status, submit, wait_for


def _cancel(client: TestClient, key: str, job_id: str) -> dict[str, object]:
    data = assert_ok(client.post(f"/api/v1/backtest/cancel/{job_id}", headers=bearer(key)))
    assert isinstance(data, dict)
    return data


def test_cancel_queued_never_starts_and_twice_is_idempotent(
    make_client: Callable[..., TestClient],
) -> None:
    idle = make_client()
    key, _ = new_key(idle)
    cancelled_id = submit(idle, key)
    kept_id = submit(idle, key)
    first = _cancel(idle, key, cancelled_id)
    assert first["status"] == "cancelled"
    again = _cancel(idle, key, cancelled_id)
    assert again["status"] == "cancelled"

    # Now start workers: the other job runs, the cancelled one never does.
    running = make_client(run_jobs_in_process=True)
    assert wait_for(running, key, kept_id)["status"] == "completed"
    time.sleep(0.3)
    final = status(running, key, cancelled_id)
    assert final["status"] == "cancelled"
    assert final["started_at"] is None
    assert final["attempts"] == 0
    assert final["result_id"] is None


def test_cancel_running_stops_it_and_finished_is_a_conflict(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TEST_DELAY_ENV, "30")  # workers spawned below inherit it
    client = make_client(run_jobs_in_process=True)
    key, _ = new_key(client)
    job_id = submit(client, key)
    wait_for(client, key, job_id, ("running",), timeout=30)

    started = time.monotonic()
    flagged = _cancel(client, key, job_id)
    assert flagged["cancel_requested"] is True
    assert flagged["status"] in ("running", "cancelled")
    assert _cancel(client, key, job_id)["cancel_requested"] is True  # twice: fine
    done = wait_for(client, key, job_id, timeout=10)
    assert done["status"] == "cancelled"
    assert time.monotonic() - started < 3.0
    assert done["result_id"] is None
    assert done["error_code"] == "CANCELLED"

    # Cancelling a finished (cancelled) job again is still idempotent ...
    assert _cancel(client, key, job_id)["status"] == "cancelled"


def test_cancel_completed_is_409_and_other_keys_job_is_404(running_client: TestClient) -> None:
    client = running_client
    key, _ = new_key(client)
    other, _ = new_key(client, "Other")
    job_id = submit(client, key)
    assert wait_for(client, key, job_id)["status"] == "completed"
    error = assert_error(
        client.post(f"/api/v1/backtest/cancel/{job_id}", headers=bearer(key)), 409, "CONFLICT"
    )
    assert "already finished" in error["message"]
    assert_error(
        client.post(f"/api/v1/backtest/cancel/{job_id}", headers=bearer(other)),
        404,
        "BACKTEST_NOT_FOUND",
    )
    assert status(client, key, job_id)["status"] == "completed"
