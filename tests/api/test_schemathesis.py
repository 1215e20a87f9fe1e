"""Property-based contract test over the whole OpenAPI document (schemathesis).

Every operation gets generated valid and invalid requests, with a valid API key or user
session attached according to its declared auth. No response may be a 5xx, and every
response must match the documented status codes, content types and schemas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api_support import PASSWORD, create_user
from tradeforge.api.app import create_app
from tradeforge.config import Settings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def contract_app(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> tuple[FastAPI, dict[str, str]]:
    data_dir = tmp_path_factory.mktemp("contract")
    target = data_dir / "tradeforge.sqlite3"
    target.write_bytes(sqlite_template.read_bytes())
    app = create_app(
        Settings(
            data_dir=data_dir,
            database_url=f"sqlite:///{target}",
            rate_limit_per_hour=1_000_000,
            registrations_per_ip_per_hour=1_000_000,
            provisional_api_calls_per_day=1_000_000,
            environment="test",
            log_json=False,
        )
    )
    with TestClient(app) as client:
        key = client.post("/api/v1/meta/register", json={"display_name": "fuzz"}).json()["data"]
        create_user(app)
        token = client.post(
            "/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD}
        ).json()["data"]["token"]
    return app, {"api_key": key["api_key"], "user_session": token}


@pytest.fixture(scope="module")
def api_schema(contract_app: tuple[FastAPI, dict[str, str]]) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", contract_app[0])


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_contract(case: Any, contract_app: tuple[FastAPI, dict[str, str]]) -> None:
    _, credentials = contract_app
    auth = case.operation.definition.raw.get("x-auth", "none")
    headers = {}
    if auth in credentials and "authorization" not in {k.lower() for k in (case.headers or {})}:
        headers["Authorization"] = f"Bearer {credentials[auth]}"
    if case.path == "/api/v1/auth/logout":
        return  # would end the shared session mid-run; covered by test_accounts_flow
    case.call_and_validate(headers=headers, checks=CHECKS)
