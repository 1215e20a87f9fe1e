"""Fixtures for the backtest job tests: apps with and without the in-process runner, keys,
request bodies and polling helpers. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_support import assert_ok, bearer, register
from conftest import SettingsFactory
from tradeforge.api.app import create_app
from tradeforge.api.deps import Container
from tradeforge.config import Settings
from tradeforge.core.clock import FrozenClock
from tradeforge.jobs.worker import JobTimings, WorkerContext, build_context

SCRIPT = (
    "oversold = rsi(close, 14) < 30\n"
    'emit_signal(oversold, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))\n'
    'emit_signal(rsi(close, 14) > 70, exit("BINANCE:BTC/USDT"))'
)
TERMINAL = ("completed", "failed", "cancelled")

#: Short timings so the reaper tests run in seconds.
FAST = JobTimings(
    heartbeat_seconds=0.3,
    stale_seconds=1.5,
    reap_interval_seconds=0.5,
    time_limit_seconds=120,
    poll_seconds=0.1,
)


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "strategy_type": "signal",
        "description": "RSI oversold bounce on BTC, exit when RSI is above 70",
        "script": SCRIPT,
        "universe": ["BINANCE:BTC/USDT"],
        "start_date": "2024-01-01",
        "end_date": "2024-06-30",
        "timeframe": "4h",
        "initial_cash": 10000,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def job_settings(make_settings: SettingsFactory, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "rate_limit_per_hour": 100_000,
        "provisional_api_calls_per_day": 100_000,
        "backtest_workers": 1,
        "run_jobs_in_process": False,
    }
    values.update(overrides)
    return make_settings(database_url, **values)


@pytest.fixture
def make_client(
    make_settings: SettingsFactory, database_url: str, clock: FrozenClock
) -> Iterator[Callable[..., TestClient]]:
    """Build (and later close) a TestClient; ``run_jobs_in_process`` defaults to False."""
    clients: list[TestClient] = []

    def build(**overrides: Any) -> TestClient:
        app = create_app(job_settings(make_settings, database_url, **overrides), clock=clock)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def idle_client(make_client: Callable[..., TestClient]) -> TestClient:
    """An API without any job runner: submitted jobs stay queued."""
    return make_client()


@pytest.fixture
def running_client(make_client: Callable[..., TestClient]) -> TestClient:
    """An API with its in-process runner (one spawned worker process)."""
    return make_client(run_jobs_in_process=True)


def container_of(client: TestClient) -> Container:
    app: FastAPI = client.app  # type: ignore[assignment]
    container = app.state.container
    assert isinstance(container, Container)
    return container


@pytest.fixture
def worker_ctx(idle_client: TestClient) -> Iterator[WorkerContext]:
    """A worker context in this process, on the test database, with fast timings."""
    ctx = build_context(container_of(idle_client).settings, FAST)
    yield ctx
    ctx.close()


def new_key(client: TestClient, name: str = "Agent") -> tuple[str, str]:
    """Register an agent; return (api key, key id)."""
    data = register(client, name)
    return str(data["api_key"]), str(data["key_id"])


def submit(client: TestClient, key: str, **overrides: Any) -> str:
    response = client.post("/api/v1/backtest/execute", json=body(**overrides), headers=bearer(key))
    data = assert_ok(response)
    assert data["status"] == "queued"
    return str(data["backtest_id"])


def status(client: TestClient, key: str, job_id: str) -> dict[str, Any]:
    data = assert_ok(client.get(f"/api/v1/backtest/status/{job_id}", headers=bearer(key)))
    assert isinstance(data, dict)
    return data


def wait_for(
    client: TestClient,
    key: str,
    job_id: str,
    statuses: tuple[str, ...] = TERMINAL,
    timeout: float = 30.0,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data = status(client, key, job_id)
        if data["status"] in statuses:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {data} after {timeout} s")
        time.sleep(0.05)
