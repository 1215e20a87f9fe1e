"""register -> use -> request-claim -> claim -> scopes, with every seed error on the way."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_support import (
    assert_error,
    assert_ok,
    bearer,
    create_user,
    login,
    register,
    with_accounts,
)
from tradeforge.api.app import create_app
from tradeforge.core.clock import FrozenClock
from tradeforge.core.errors import ConflictError


def _claim_code(client: TestClient, key: str, **body: str) -> str:
    data = assert_ok(
        client.post("/api/v1/meta/request-claim", headers=bearer(key), json=body or None)
    )
    assert data["expires_in"] == 1800
    assert data["claim_url"].endswith("/dashboard/claim")
    code = data["claim_code"]
    assert len(code) == 6
    assert code.isdigit()
    return str(code)


def test_full_flow_register_use_claim_scopes(client: TestClient, app: FastAPI) -> None:
    registered = register(
        client,
        "Quant Bot",
        description="Backtests only",
        strategy_type="momentum",
        risk_profile="moderate",
    )
    key = registered["api_key"]
    assert key.startswith("tf_prov_")
    assert registered["scopes"] == ["research"]
    assert registered["quota"]["backtests"]["limit"] == 10
    assert {w["limit"] for w in registered["quota"]["backtests"]["windows"]} == {10, 30}
    assert registered["expires_at"].startswith("2026-01-06T12:00:00")

    me = assert_ok(client.get("/api/v1/meta/agents/me", headers=bearer(key)))
    assert me["agent_id"] == registered["agent_id"]
    assert me["claimed"] is False
    assert me["risk_profile"] == "moderate"

    code = _claim_code(client, key, display_name="Quant Bot v2")
    create_user(app)
    token = login(client)
    claimed = assert_ok(
        client.post("/api/v1/meta/claim", headers=bearer(token), json={"claim_code": code})
    )
    assert claimed["scopes"] == ["read", "research"]
    assert claimed["display_name"] == "Quant Bot v2"
    assert claimed["agent_id"] == registered["agent_id"]

    me = assert_ok(client.get("/api/v1/meta/agents/me", headers=bearer(key)))
    assert me["claimed"] is True
    assert me["expires_at"] is None
    assert me["owner_email"] == "alice@example.com"
    assert me["scopes"] == ["read", "research"]
    assert me["quota"]["backtests"]["limit"] == 100

    mine = assert_ok(client.get("/api/v1/auth/me", headers=bearer(token)))
    assert [agent["agent_id"] for agent in mine["agents"]] == [registered["agent_id"]]
    assert mine["agents"][0]["keys"][0]["key_prefix"] == registered["key_prefix"]
    assert key not in str(mine)


def test_trade_scope_only_when_chosen(client: TestClient, app: FastAPI) -> None:
    key = register(client)["api_key"]
    create_user(app)
    token = login(client)
    code = _claim_code(client, key)
    data = assert_ok(
        client.post(
            "/api/v1/meta/claim",
            headers=bearer(token),
            json={"claim_code": code, "scopes": ["trade"]},
        )
    )
    assert data["scopes"] == ["read", "research", "trade"]


def test_claim_with_unknown_scope_is_invalid_permissions(client: TestClient, app: FastAPI) -> None:
    key = register(client)["api_key"]
    create_user(app)
    token = login(client)
    code = _claim_code(client, key)
    response = client.post(
        "/api/v1/meta/claim", headers=bearer(token), json={"claim_code": code, "scopes": ["admin"]}
    )
    assert_error(response, 400, "INVALID_PERMISSIONS")
    # The failed attempt did not consume the code.
    assert_ok(client.post("/api/v1/meta/claim", headers=bearer(token), json={"claim_code": code}))


def test_claim_needs_a_logged_in_user(client: TestClient) -> None:
    key = register(client)["api_key"]
    code = _claim_code(client, key)
    assert_error(
        client.post("/api/v1/meta/claim", json={"claim_code": code}), 401, "AUTHENTICATION_REQUIRED"
    )
    # An agent key is not a user session.
    response = client.post("/api/v1/meta/claim", headers=bearer(key), json={"claim_code": code})
    assert_error(response, 401, "AUTHENTICATION_REQUIRED")


@pytest.mark.parametrize("code", ["000000", "12345", "abcdef", "1234567", " 12345"])
def test_wrong_claim_code_is_invalid_claim_code(
    client: TestClient, app: FastAPI, code: str
) -> None:
    create_user(app)
    token = login(client)
    response = client.post("/api/v1/meta/claim", headers=bearer(token), json={"claim_code": code})
    assert_error(response, 400, "INVALID_CLAIM_CODE")


def test_claim_code_expires_after_30_minutes(
    client: TestClient, app: FastAPI, clock: FrozenClock
) -> None:
    key = register(client)["api_key"]
    code = _claim_code(client, key)
    create_user(app)
    token = login(client)
    clock.advance(timedelta(minutes=30))
    response = client.post("/api/v1/meta/claim", headers=bearer(token), json={"claim_code": code})
    assert_error(response, 400, "INVALID_CLAIM_CODE")


def test_new_claim_code_replaces_the_old_one(client: TestClient, app: FastAPI) -> None:
    key = register(client)["api_key"]
    first = _claim_code(client, key)
    second = _claim_code(client, key)
    create_user(app)
    token = login(client)
    if first != second:
        response = client.post(
            "/api/v1/meta/claim", headers=bearer(token), json={"claim_code": first}
        )
        assert_error(response, 400, "INVALID_CLAIM_CODE")
    assert_ok(client.post("/api/v1/meta/claim", headers=bearer(token), json={"claim_code": second}))


def test_claim_code_is_single_use_and_claimed_agent_cannot_request_again(
    client: TestClient, app: FastAPI
) -> None:
    key = register(client)["api_key"]
    code = _claim_code(client, key)
    create_user(app)
    token = login(client)
    assert_ok(client.post("/api/v1/meta/claim", headers=bearer(token), json={"claim_code": code}))
    again = client.post("/api/v1/meta/claim", headers=bearer(token), json={"claim_code": code})
    assert_error(again, 400, "INVALID_CLAIM_CODE")
    assert_error(
        client.post("/api/v1/meta/request-claim", headers=bearer(key)), 409, "ALREADY_CLAIMED"
    )


def test_agent_limit_per_user(make_settings, database_url: str, clock: FrozenClock) -> None:
    app = create_app(make_settings(database_url, max_agents_per_user=2), clock=clock)
    with TestClient(app) as client:
        create_user(app)
        token = login(client)
        for index in range(3):
            key = register(client, f"agent {index}")["api_key"]
            code = _claim_code(client, key)
            response = client.post(
                "/api/v1/meta/claim", headers=bearer(token), json={"claim_code": code}
            )
            if index < 2:
                assert_ok(response)
            else:
                assert_error(response, 409, "AGENT_LIMIT_REACHED")


def test_key_owned_by_other_user(client: TestClient, app: FastAPI) -> None:
    key = register(client)["api_key"]
    code = _claim_code(client, key)
    create_user(app, "alice@example.com")
    bob_id = create_user(app, "bob@example.com")
    # Bob owns the agent already (e.g. claimed through a parallel code); Alice's claim fails.
    service, session = with_accounts(app)
    with session:
        principal = service.authenticate_key(key)
        agent = service.reload(principal).agent
        agent.owner_user_id = bob_id
        session.commit()
    token = login(client, "alice@example.com")
    response = client.post("/api/v1/meta/claim", headers=bearer(token), json={"claim_code": code})
    assert_error(response, 409, "KEY_OWNED_BY_OTHER_USER")


def test_provisional_key_expires_after_24_hours_unless_claimed(
    client: TestClient, app: FastAPI, clock: FrozenClock
) -> None:
    unclaimed = register(client, "a")["api_key"]
    claimed = register(client, "b")["api_key"]
    create_user(app)
    token = login(client)
    code = _claim_code(client, claimed)
    assert_ok(client.post("/api/v1/meta/claim", headers=bearer(token), json={"claim_code": code}))
    clock.advance(timedelta(hours=23, minutes=59))
    assert_ok(client.get("/api/v1/meta/agents/me", headers=bearer(unclaimed)))
    clock.advance(timedelta(minutes=1))
    assert_error(
        client.get("/api/v1/meta/agents/me", headers=bearer(unclaimed)), 401, "EXPIRED_API_KEY"
    )
    assert_ok(client.get("/api/v1/meta/agents/me", headers=bearer(claimed)))


def test_registration_limit_per_ip(client: TestClient, clock: FrozenClock) -> None:
    for index in range(5):
        register(client, f"bot {index}")
    response = client.post("/api/v1/meta/register", json={"display_name": "one too many"})
    assert_error(response, 429, "REGISTRATION_LIMIT")
    assert int(response.headers["retry-after"]) == 3600
    clock.advance(timedelta(hours=1))
    register(client, "next hour")


def test_revoked_key_is_refused_on_next_request(client: TestClient, app: FastAPI) -> None:
    registered = register(client)
    assert_ok(client.get("/api/v1/meta/agents/me", headers=bearer(registered["api_key"])))
    service, session = with_accounts(app)
    with session:
        service.revoke_key(registered["key_id"])
        session.commit()
    response = client.get("/api/v1/meta/agents/me", headers=bearer(registered["api_key"]))
    assert_error(response, 401, "INVALID_API_KEY")


def test_login_wrong_password_and_lockout(client: TestClient, app: FastAPI) -> None:
    create_user(app)
    for _ in range(10):
        response = client.post(
            "/api/v1/auth/login", json={"email": "alice@example.com", "password": "wrong password"}
        )
        assert_error(response, 401, "INVALID_CREDENTIALS")
    response = client.post(
        "/api/v1/auth/login", json={"email": "alice@example.com", "password": "wrong password"}
    )
    assert_error(response, 429, "RATE_LIMITED")


def test_logout_ends_the_session(client: TestClient, app: FastAPI) -> None:
    create_user(app)
    token = login(client)
    assert_ok(client.post("/api/v1/auth/logout", headers=bearer(token)))
    assert_error(
        client.get("/api/v1/auth/me", headers=bearer(token)), 401, "AUTHENTICATION_REQUIRED"
    )


def test_session_expires(client: TestClient, app: FastAPI, clock: FrozenClock) -> None:
    create_user(app)
    token = login(client)
    clock.advance(timedelta(hours=12))
    assert_error(
        client.get("/api/v1/auth/me", headers=bearer(token)), 401, "AUTHENTICATION_REQUIRED"
    )


def test_duplicate_user_is_conflict(app: FastAPI) -> None:
    create_user(app)
    with pytest.raises(ConflictError) as raised:
        create_user(app, "ALICE@example.com")
    assert raised.value.code == "USER_EXISTS"


def test_forwarded_for_from_an_untrusted_peer_cannot_dodge_the_registration_limit(
    client: TestClient,
) -> None:
    for index in range(5):
        spoofed = {"X-Forwarded-For": f"203.0.113.{index}"}
        assert_ok(client.post("/api/v1/meta/register", json={"display_name": "x"}, headers=spoofed))
    spoofed = {"X-Forwarded-For": "198.51.100.7"}
    response = client.post("/api/v1/meta/register", json={"display_name": "x"}, headers=spoofed)
    assert_error(response, 429, "REGISTRATION_LIMIT")


def test_forwarded_for_is_believed_from_a_trusted_proxy(
    make_settings, database_url: str, clock: FrozenClock
) -> None:
    # Starlette's test client connects from the address "testclient".
    app = create_app(make_settings(database_url, trusted_proxies=["testclient"]), clock=clock)
    with TestClient(app) as client:
        for index in range(6):
            headers = {"X-Forwarded-For": f"203.0.113.{index}"}
            body = {"display_name": "x"}
            assert_ok(client.post("/api/v1/meta/register", json=body, headers=headers))
        for _ in range(5):
            headers = {"X-Forwarded-For": "198.51.100.7"}
            assert_ok(
                client.post("/api/v1/meta/register", json={"display_name": "y"}, headers=headers)
            )
        headers = {"X-Forwarded-For": "198.51.100.7"}
        response = client.post("/api/v1/meta/register", json={"display_name": "y"}, headers=headers)
        assert_error(response, 429, "REGISTRATION_LIMIT")
