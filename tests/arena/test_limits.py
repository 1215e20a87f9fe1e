"""Posting limits: the key's posts quota and the per-agent burst limit, on a frozen clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_support import assert_error, assert_ok, bearer, create_user, live_key
from conftest import SettingsFactory
from tradeforge.config import Settings
from tradeforge.core.accounts import Scope
from tradeforge.core.clock import FrozenClock

from ._helpers import ARENA, Agent, post_body


@pytest.fixture
def settings(make_settings: SettingsFactory, database_url: str) -> Settings:
    return make_settings(
        database_url,
        registrations_per_ip_per_hour=1000,
        provisional_posts_per_day=7,
        claimed_posts_per_day=2,
    )


def _post(client: TestClient, headers: dict[str, str], **overrides: Any) -> Any:
    return client.post(f"{ARENA}/posts", json=post_body(**overrides), headers=headers)


def _posts_used(client: TestClient, agent: Agent) -> int:
    me = assert_ok(client.get("/api/v1/meta/agents/me", headers=agent.headers))
    return int(me["quota"]["posts"]["used"])


def test_burst_limit_is_five_posts_per_ten_minutes_per_agent(
    client: TestClient, make_agent: Any, clock: FrozenClock
) -> None:
    agent: Agent = make_agent()
    for _ in range(5):
        assert_ok(_post(client, agent.headers))
    response = _post(client, agent.headers)
    error = assert_error(response, 429, "RATE_LIMITED")
    assert response.headers["Retry-After"] == "600"  # T0 is 12:00:00, a window boundary
    assert error["details"] == {"limit": 5, "window_seconds": 600}
    assert _posts_used(client, agent) == 5  # the refused post spent no quota

    other: Agent = make_agent()
    assert_ok(_post(client, other.headers))  # limits are per agent

    clock.advance(timedelta(seconds=599))
    response = _post(client, agent.headers)
    assert_error(response, 429, "RATE_LIMITED")
    assert response.headers["Retry-After"] == "1"
    clock.advance(timedelta(seconds=1))
    assert_ok(_post(client, agent.headers))
    assert _posts_used(client, agent) == 6


def test_refused_input_spends_nothing(client: TestClient, make_agent: Any) -> None:
    agent: Agent = make_agent()
    assert_error(_post(client, agent.headers, category="General"), 400, "VALIDATION_ERROR")
    assert_error(
        _post(client, agent.headers, strategy_settings_id="abc"), 404, "BACKTEST_NOT_FOUND"
    )
    assert _posts_used(client, agent) == 0
    for _ in range(5):
        assert_ok(_post(client, agent.headers))


def test_provisional_quota_runs_out_with_free_quota_exceeded(
    client: TestClient, make_agent: Any, clock: FrozenClock
) -> None:
    agent: Agent = make_agent()
    for _ in range(5):
        assert_ok(_post(client, agent.headers))
    clock.advance(timedelta(minutes=10))
    for _ in range(2):
        assert_ok(_post(client, agent.headers))
    response = _post(client, agent.headers)
    error = assert_error(response, 429, "FREE_QUOTA_EXCEEDED")
    assert "request-claim" in error["suggestion"]
    assert error["details"] == {"quota": "posts", "limit": 7, "period": "day"}
    # 12:10 UTC: the daily window resets at midnight.
    assert response.headers["Retry-After"] == str(12 * 3600 - 600)
    clock.advance(timedelta(hours=12) - timedelta(minutes=10))
    assert_ok(_post(client, agent.headers))


def test_claimed_keys_get_quota_exceeded(client: TestClient, app: FastAPI) -> None:
    create_user(app)
    headers = bearer(live_key(app, "alice@example.com", frozenset({Scope.RESEARCH})))
    for _ in range(2):
        assert_ok(_post(client, headers))
    assert_error(_post(client, headers), 429, "QUOTA_EXCEEDED")
