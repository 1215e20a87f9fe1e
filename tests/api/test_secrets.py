"""Secrets are stored only as digests and never appear in any log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from api_support import PASSWORD, assert_ok, bearer, create_user, login, register
from tradeforge.adapters.storage.tables import metadata
from tradeforge.observability import RedactingFilter, configure_logging, redact


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Everything the root logger emits, through the production handler and filter."""
    configure_logging("DEBUG", json_lines=True)
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_tradeforge", False))
    stream = io.StringIO()
    original = handler.stream  # type: ignore[attr-defined]
    handler.stream = stream  # type: ignore[attr-defined]
    try:
        yield stream
    finally:
        handler.stream = original  # type: ignore[attr-defined]
        logging.getLogger().setLevel(logging.WARNING)


def _run_flow(client: TestClient, app: FastAPI) -> list[str]:
    registered = register(client, "Secretive")
    key = registered["api_key"]
    assert_ok(client.get("/api/v1/meta/agents/me", headers=bearer(key)))
    code = assert_ok(client.post("/api/v1/meta/request-claim", headers=bearer(key)))["claim_code"]
    create_user(app)
    token = login(client)
    assert_ok(client.post("/api/v1/meta/claim", headers=bearer(token), json={"claim_code": code}))
    # Failures log too: a bad key, a key in the URL, a wrong password.
    client.get("/api/v1/meta/agents/me", headers=bearer(key[:-1] + "x"))
    client.get(f"/api/v1/meta/agents/me?api_key={key}")
    client.post(
        "/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD + "!"}
    )
    return [key, token, PASSWORD, key.split("_")[3]]


def test_database_holds_no_plaintext_secret(client: TestClient, app: FastAPI) -> None:
    secrets = _run_flow(client, app)
    engine = app.state.container.engine
    dump = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                dump.append(" ".join(str(value) for value in row))
    text = "\n".join(dump)
    assert "tf_prov_" not in text
    for secret in secrets:
        assert secret not in text


def test_logs_hold_no_secret(client: TestClient, app: FastAPI, captured_logs: io.StringIO) -> None:
    secrets = _run_flow(client, app)
    logging.getLogger("tradeforge.test").info("header was Authorization: Bearer %s", secrets[0])
    logging.getLogger("ccxt").warning("request with apiKey=%s", secrets[0])
    output = captured_logs.getvalue()
    assert "tradeforge.access" in output  # the access log did run
    assert '"request_id": "' in output
    for secret in secrets:
        assert secret not in output


@pytest.mark.parametrize(
    "text",
    [
        "key tf_live_AbCdEfGhIjKl_0123456789abcdefghijABCDEFGHIJ_abc123 used",
        "Authorization: Bearer sk-something-secret",
        'password="hunter2hunter2"',
        "api_key=abc123",
        "token: tf_sess_xyz",
    ],
)
def test_redact_masks_known_secret_shapes(text: str) -> None:
    masked = redact(text)
    assert "[REDACTED]" in masked
    for fragment in ("AbCdEfGhIjKl_0123", "sk-something", "hunter2", "abc123", "xyz"):
        assert fragment not in masked


def test_filter_renders_args_before_redacting() -> None:
    record = logging.makeLogRecord(
        {"msg": "got %s", "args": ("tf_prov_AAAAAAAAAAAA_BBBB",), "levelno": logging.INFO}
    )
    RedactingFilter().filter(record)
    assert record.getMessage() == "got [REDACTED]"
