"""Idempotency-Key: a retried create returns the first response and creates nothing new."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api_support import assert_error, assert_ok, bearer, create_user, live_key, register
from tradeforge.adapters.storage.idempotency import idempotency_records
from tradeforge.api.app import create_app
from tradeforge.core.accounts import Scope
from tradeforge.core.clock import FrozenClock

POST = {"category": "market_talk", "title": "BTC funding flipped", "content": "hi", "tags": ["BTC"]}
EXECUTE = {
    "strategy_type": "signal",
    "description": "RSI oversold bounce on BTC",
    "script": 'emit_signal(rsi(close, 14) < 30, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))',
    "universe": ["BINANCE:BTC/USDT"],
    "start_date": "2024-01-01",
    "end_date": "2024-01-31",
}


@pytest.fixture
def queued_client(make_settings, database_url: str, clock: FrozenClock) -> TestClient:
    app = create_app(make_settings(database_url, run_jobs_in_process=False), clock=clock)
    with TestClient(app) as client:
        yield client


def _with_key(key: str, idem: str) -> dict[str, str]:
    return {**bearer(key), "Idempotency-Key": idem}


def test_retried_backtest_submission_returns_the_same_job(queued_client: TestClient) -> None:
    key = register(queued_client)["api_key"]
    first = queued_client.post(
        "/api/v1/backtest/execute", json=EXECUTE, headers=_with_key(key, "k-1")
    )
    job = assert_ok(first)["backtest_id"]
    again = queued_client.post(
        "/api/v1/backtest/execute", json=EXECUTE, headers=_with_key(key, "k-1")
    )
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["data"]["backtest_id"] == job
    me = assert_ok(queued_client.get("/api/v1/meta/agents/me", headers=bearer(key)))
    assert me["quota"]["backtests"]["used"] == 1  # the replay spent no quota


def test_same_key_with_a_different_body_is_refused(queued_client: TestClient) -> None:
    key = register(queued_client)["api_key"]
    assert_ok(queued_client.post("/api/v1/arena/posts", json=POST, headers=_with_key(key, "p")))
    changed = {**POST, "title": "something else"}
    response = queued_client.post("/api/v1/arena/posts", json=changed, headers=_with_key(key, "p"))
    assert_error(response, 422, "IDEMPOTENCY_KEY_REUSED")


def test_keys_are_scoped_to_the_caller(queued_client: TestClient) -> None:
    first, second = register(queued_client, "a")["api_key"], register(queued_client, "b")["api_key"]
    one = assert_ok(
        queued_client.post("/api/v1/arena/posts", json=POST, headers=_with_key(first, "same"))
    )
    two = assert_ok(
        queued_client.post("/api/v1/arena/posts", json=POST, headers=_with_key(second, "same"))
    )
    assert one["id"] != two["id"]


def test_a_retried_vote_does_not_toggle_it_back(queued_client: TestClient) -> None:
    author, voter = register(queued_client, "a")["api_key"], register(queued_client, "b")["api_key"]
    post = assert_ok(queued_client.post("/api/v1/arena/posts", json=POST, headers=bearer(author)))
    url = f"/api/v1/arena/posts/{post['id']}/votes"
    first = queued_client.post(url, json={"vote_type": 1}, headers=_with_key(voter, "v1"))
    assert assert_ok(first)["my_vote"] == 1
    for _ in range(2):
        replay = queued_client.post(url, json={"vote_type": 1}, headers=_with_key(voter, "v1"))
        assert replay.headers["idempotent-replayed"] == "true"
        # The first response, verbatim: its meta.request_id names the original request.
        assert replay.json() == first.json()
    # Without the header the same body toggles, as the seed specifies.
    assert (
        assert_ok(queued_client.post(url, json={"vote_type": 1}, headers=bearer(voter)))["my_vote"]
        == 0
    )


def test_errors_are_not_stored_so_a_fixed_retry_can_succeed(queued_client: TestClient) -> None:
    key = register(queued_client)["api_key"]
    bad = {**POST, "category": "Market_Talk"}
    response = queued_client.post("/api/v1/arena/posts", json=bad, headers=_with_key(key, "e"))
    assert_error(response, 400, "VALIDATION_ERROR")
    retried = queued_client.post("/api/v1/arena/posts", json=bad, headers=_with_key(key, "e"))
    assert "idempotent-replayed" not in retried.headers
    assert_ok(queued_client.post("/api/v1/arena/posts", json=POST, headers=_with_key(key, "e")))


def test_records_expire_after_24_hours(queued_client: TestClient, clock: FrozenClock) -> None:
    app = queued_client.app
    create_user(app)  # type: ignore[arg-type]
    key = live_key(app, "alice@example.com", frozenset({Scope.RESEARCH}))  # type: ignore[arg-type]
    one = assert_ok(
        queued_client.post("/api/v1/arena/posts", json=POST, headers=_with_key(key, "x"))
    )
    clock.advance(timedelta(hours=24, seconds=1))
    again = queued_client.post("/api/v1/arena/posts", json=POST, headers=_with_key(key, "x"))
    assert "idempotent-replayed" not in again.headers
    assert assert_ok(again)["id"] != one["id"]


def test_in_progress_key_is_409(queued_client: TestClient) -> None:
    key = register(queued_client)["api_key"]
    container = queued_client.app.state.container  # type: ignore[attr-defined]
    body = json.dumps(POST).encode()
    path = "/api/v1/arena/posts"
    owner = hashlib.sha256(b"idempotency:" + f"Bearer {key}".encode()).hexdigest()
    request_hash = hashlib.sha256(path.encode() + b"?\n" + body).hexdigest()
    # The first request with this key has claimed it and is still running.
    container.idempotency.begin(owner, "busy", "POST", path, request_hash, container.clock.now())
    headers = {**_with_key(key, "busy"), "Content-Type": "application/json"}
    response = queued_client.post(path, content=body, headers=headers)
    assert_error(response, 409, "IDEMPOTENCY_IN_PROGRESS")
    assert response.headers["retry-after"] == "1"


@pytest.mark.parametrize("bad", ["", "x" * 256, "has space", "é"])
def test_malformed_keys_are_400(queued_client: TestClient, bad: str) -> None:
    key = register(queued_client)["api_key"]
    headers = {**bearer(key), "Idempotency-Key": bad.encode("utf-8")}
    response = queued_client.post("/api/v1/arena/posts", json=POST, headers=headers)
    assert_error(response, 400, "VALIDATION_ERROR")


def test_no_secret_or_credential_is_stored(queued_client: TestClient) -> None:
    key = register(queued_client)["api_key"]
    assert_ok(queued_client.post("/api/v1/arena/posts", json=POST, headers=_with_key(key, "s")))
    engine = queued_client.app.state.container.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        rows = connection.execute(select(idempotency_records)).all()
        count = connection.execute(select(func.count()).select_from(idempotency_records)).scalar()
    assert count == 1
    assert key not in str(rows)
