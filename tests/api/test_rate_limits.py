"""Per-key rate limit and quotas at their edges, with a frozen clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from api_support import assert_error, assert_ok, bearer, create_user, login, register
from tradeforge.api.app import create_app
from tradeforge.core.accounts import QuotaKind
from tradeforge.core.clock import FrozenClock
from tradeforge.core.errors import LimitExceededError


def test_rate_limit_edge_and_reset(make_settings, database_url: str, clock: FrozenClock) -> None:
    app = create_app(make_settings(database_url, rate_limit_per_hour=3), clock=clock)
    with TestClient(app) as client:
        key = register(client)["api_key"]
        clock.advance(timedelta(minutes=30))
        remaining = []
        for _ in range(3):
            response = client.get("/api/v1/meta/agents/me", headers=bearer(key))
            assert_ok(response)
            remaining.append(int(response.headers["ratelimit-remaining"]))
            assert response.headers["ratelimit-limit"] == "3"
            assert response.headers["ratelimit-policy"] == "3;w=3600"
        assert remaining == [2, 1, 0]
        response = client.get("/api/v1/meta/agents/me", headers=bearer(key))
        error = assert_error(response, 429, "RATE_LIMITED")
        assert response.headers["retry-after"] == "1800"
        assert response.headers["ratelimit-remaining"] == "0"
        assert error["details"]["limit"] == 3
        clock.advance(timedelta(minutes=29, seconds=59))
        assert_error(client.get("/api/v1/meta/agents/me", headers=bearer(key)), 429, "RATE_LIMITED")
        clock.advance(timedelta(seconds=1))
        assert_ok(client.get("/api/v1/meta/agents/me", headers=bearer(key)))


def test_rate_limit_is_per_key(make_settings, database_url: str, clock: FrozenClock) -> None:
    app = create_app(make_settings(database_url, rate_limit_per_hour=1), clock=clock)
    with TestClient(app) as client:
        first, second = register(client, "a")["api_key"], register(client, "b")["api_key"]
        assert_ok(client.get("/api/v1/meta/agents/me", headers=bearer(first)))
        assert_error(
            client.get("/api/v1/meta/agents/me", headers=bearer(first)), 429, "RATE_LIMITED"
        )
        assert_ok(client.get("/api/v1/meta/agents/me", headers=bearer(second)))


def test_api_calls_quota_free_then_claimed(
    make_settings, database_url: str, clock: FrozenClock
) -> None:
    settings = make_settings(
        database_url, provisional_api_calls_per_day=2, claimed_api_calls_per_day=4
    )
    app = create_app(settings, clock=clock)
    with TestClient(app) as client:
        key = register(client)["api_key"]
        assert_ok(client.get("/api/v1/meta/agents/me", headers=bearer(key)))
        code = assert_ok(client.post("/api/v1/meta/request-claim", headers=bearer(key)))[
            "claim_code"
        ]
        response = client.get("/api/v1/meta/agents/me", headers=bearer(key))
        error = assert_error(response, 429, "FREE_QUOTA_EXCEEDED")
        assert "claim" in error["suggestion"].lower()
        assert error["details"] == {"quota": "api_calls", "limit": 2, "period": "day"}
        assert int(response.headers["retry-after"]) == 12 * 3600
        create_user(app)
        token = login(client)
        assert_ok(
            client.post("/api/v1/meta/claim", headers=bearer(token), json={"claim_code": code})
        )
        # The claimed policy counts in the same day window: 2 used, 4 allowed.
        assert_ok(client.get("/api/v1/meta/agents/me", headers=bearer(key)))
        assert_ok(client.get("/api/v1/meta/agents/me", headers=bearer(key)))
        assert_error(
            client.get("/api/v1/meta/agents/me", headers=bearer(key)), 429, "QUOTA_EXCEEDED"
        )
        clock.advance(timedelta(hours=12))
        assert_ok(client.get("/api/v1/meta/agents/me", headers=bearer(key)))


def test_backtest_quota_hour_and_day_windows(
    make_settings, database_url: str, clock: FrozenClock
) -> None:
    app = create_app(make_settings(database_url), clock=clock)
    container = app.state.container
    with TestClient(app) as client:
        registered = register(client)
    from api_support import with_accounts

    service, session = with_accounts(app)
    with session:
        key = service.authenticate_key(registered["api_key"]).key
    quotas = container.quota_service
    for _hour in range(3):
        for _ in range(10):
            quotas.consume(key, QuotaKind.BACKTESTS)
        with pytest.raises(LimitExceededError) as refused:
            quotas.consume(key, QuotaKind.BACKTESTS)
        assert refused.value.code == "FREE_QUOTA_EXCEEDED"
        assert refused.value.details["period"] == "hour"
        clock.advance(timedelta(hours=1))
    # A fresh hour, but 30 already spent today: the day window refuses.
    with pytest.raises(LimitExceededError) as refused:
        quotas.consume(key, QuotaKind.BACKTESTS)
    assert refused.value.details["period"] == "day"
    usage = quotas.usage(key)["backtests"]
    assert usage["used"] == 30
    assert usage["period"] == "day"


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_two_app_instances_share_the_limit(
    make_settings,
    database_url: str,
    clock: FrozenClock,
    backend: str,
    request: pytest.FixtureRequest,
) -> None:
    extra = {"counter_backend": backend, "rate_limit_per_hour": 4}
    if backend == "redis":
        extra["redis_url"] = request.getfixturevalue("redis_url")
    first = create_app(make_settings(database_url, **extra), clock=clock)
    second = create_app(make_settings(database_url, **extra), clock=clock)
    with TestClient(first) as one, TestClient(second) as two:
        key = register(one)["api_key"]
        for client in (one, two, one, two):
            assert_ok(client.get("/api/v1/meta/agents/me", headers=bearer(key)))
        assert_error(two.get("/api/v1/meta/agents/me", headers=bearer(key)), 429, "RATE_LIMITED")
        assert_error(one.get("/api/v1/meta/agents/me", headers=bearer(key)), 429, "RATE_LIMITED")
