"""Small helpers shared by the API tests."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from tradeforge.adapters.storage.repositories.accounts import SqlAccountRepository
from tradeforge.api.deps import Container
from tradeforge.core.accounts import Scope
from tradeforge.services.accounts import AccountService

PASSWORD = "correct horse battery staple"


def assert_error(response: Response, status: int, code: str) -> dict[str, Any]:
    """Assert an error envelope with ``status`` and ``code``; return the error body."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["data"] is None
    error = body["error"]
    assert error["code"] == code, body
    assert error["message"]
    assert error["suggestion"]
    assert body["meta"]["request_id"] == response.headers["x-request-id"]
    assert "timestamp" in body["meta"]
    return dict(error)


def assert_ok(response: Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    assert body["error"] is None
    assert body["meta"]["request_id"] == response.headers["x-request-id"]
    return body["data"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def register(client: TestClient, name: str = "Test Agent", **extra: Any) -> dict[str, Any]:
    data = assert_ok(client.post("/api/v1/meta/register", json={"display_name": name, **extra}))
    assert isinstance(data, dict)
    return data


def with_accounts(app: FastAPI) -> tuple[AccountService, Any]:
    container: Container = app.state.container
    session = container.session_factory()
    service = AccountService(
        SqlAccountRepository(session), container.clock, container.counters, container.account_policy
    )
    return service, session


def create_user(app: FastAPI, email: str = "alice@example.com") -> str:
    service, session = with_accounts(app)
    with session:
        user = service.create_user(email, PASSWORD)
        session.commit()
        return user.id


def login(client: TestClient, email: str = "alice@example.com") -> str:
    data = assert_ok(client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}))
    return str(data["token"])


def live_key(app: FastAPI, email: str, scopes: frozenset[Scope]) -> str:
    service, session = with_accounts(app)
    with session:
        user = service.get_user_by_email(email)
        issued = service.issue_key_for_user(user, scopes, name="test")
        session.commit()
        return issued.plaintext
