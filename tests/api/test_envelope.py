"""Every response, success or error, is the seed envelope; no input can cause a 500."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_support import assert_error, assert_ok, bearer, register
from tradeforge.api.app import create_app
from tradeforge.config import Settings


def test_health_success_envelope_reports_database(client: TestClient) -> None:
    data = assert_ok(client.get("/api/v1/meta/health"))
    assert data["status"] == "ok"
    assert data["database"]["ok"] is True
    assert data["database"]["revision"] == data["database"]["expected_revision"]
    assert data["version"]


def test_unknown_path_is_not_found_envelope(client: TestClient) -> None:
    assert_error(client.get("/api/v1/no/such/thing"), 404, "NOT_FOUND")


def test_wrong_method_is_405_with_allow_header(client: TestClient) -> None:
    response = client.delete("/api/v1/meta/markets")
    error = assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET"
    assert "GET" in error["suggestion"]


def test_validation_error_names_the_field(client: TestClient) -> None:
    response = client.post("/api/v1/meta/register", json={"display_name": "x" * 51})
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"]["fields"][0]["field"] == "display_name"


def test_missing_key_is_401(client: TestClient) -> None:
    assert_error(client.get("/api/v1/meta/agents/me"), 401, "AUTHENTICATION_REQUIRED")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer tf_live_notakey",
        "Bearer " + "tf_live_" + "a" * 12 + "_" + "b" * 32 + "_" + "c" * 6,
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "bearer ",
        "Bearer tf_live_é" + "x" * 40,
        "Bearer " + "x" * 5000,
    ],
)
def test_bad_authorization_headers_are_401_never_500(client: TestClient, header: str) -> None:
    response = client.get(
        "/api/v1/meta/agents/me", headers={"Authorization": header.encode("utf-8")}
    )
    assert_error(response, 401, "INVALID_API_KEY")


def test_key_in_query_string_is_refused(client: TestClient) -> None:
    key = register(client)["api_key"]
    response = client.get(f"/api/v1/meta/agents/me?api_key={key}")
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert "Authorization" in error["suggestion"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{", "application/json"),
        (b"", "application/json"),
        (b"null", "application/json"),
        (b"[]", "application/json"),
        (b'"a string"', "application/json"),
        (b"{}x", "application/json"),
        (b'{"display_name": NaN}', "application/json"),
        (b'{"display_name": 1e999}', "application/json"),
        (b'{"display_name": ' + b"9" * 5000 + b"}", "application/json"),
        (b'{"display_name": true}', "application/json"),
        (b'{"display_name": "ok", "display_name": ""}', "application/json"),
        (b'{"display_name": "a\\ud800"}', "application/json"),
        (b"\xef\xbb\xbf{}", "application/json"),
        (b"\xff\xfe\xfa", "application/json"),
        (b"display_name=x", "application/x-www-form-urlencoded"),
        (b'{"display_name": "ok"}', "text/plain"),
        (b'{"display_name": "ok", "is_admin": true}', "application/json"),
        (b'{"display_name": "ok", "scopes": ["trade"]}', "application/json"),
        (b'{"display_name": "ok", "risk_profile": "YOLO"}', "application/json"),
        (b'{"display_name": ["a"]}', "application/json"),
        (b'{"display_name": {"a": 1}}', "application/json"),
        (b'{"display_name": "\\u0000bad"}', "application/json"),
    ],
)
def test_malformed_bodies_get_400_envelope(
    client: TestClient, body: bytes, content_type: str
) -> None:
    response = client.post(
        "/api/v1/meta/register", content=body, headers={"Content-Type": content_type}
    )
    assert_error(response, 400, "VALIDATION_ERROR")


def test_deep_json_is_refused_before_parsing(client: TestClient) -> None:
    body = "[" * 100_000 + "]" * 100_000
    response = client.post(
        "/api/v1/meta/register", content=body, headers={"Content-Type": "application/json"}
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"]["max_json_depth"] == 64


def test_deep_object_json_is_refused(client: TestClient) -> None:
    body = '{"a":' * 5000 + "1" + "}" * 5000
    response = client.post(
        "/api/v1/meta/register", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "VALIDATION_ERROR")


def test_brackets_inside_strings_do_not_count_as_depth(client: TestClient) -> None:
    response = client.post("/api/v1/meta/register", json={"display_name": "[" * 40 + "{" * 10})
    assert_ok(response)


def test_oversized_body_is_413(client: TestClient) -> None:
    body = json.dumps({"display_name": "x", "description": "y" * (1024 * 1024)})
    response = client.post(
        "/api/v1/meta/register", content=body, headers={"Content-Type": "application/json"}
    )
    error = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert error["details"]["max_bytes"] == 1024 * 1024


def test_oversized_chunked_body_is_413(client: TestClient) -> None:
    def chunks():
        yield b'{"display_name": "x", "description": "'
        for _ in range(40):
            yield b"y" * 32_768
        yield b'"}'

    response = client.post(
        "/api/v1/meta/register", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_compressed_body_is_415(client: TestClient) -> None:
    response = client.post(
        "/api/v1/meta/register",
        content=b"\x1f\x8b\x08\x00",
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_request_id_is_echoed_when_sane_and_replaced_when_not(client: TestClient) -> None:
    sane = client.get("/api/v1/meta/markets", headers={"X-Request-ID": "abc-123"})
    assert sane.headers["x-request-id"] == "abc-123"
    assert sane.json()["meta"]["request_id"] == "abc-123"
    hostile = client.get("/api/v1/meta/markets", headers={"X-Request-ID": "a" * 200})
    assert hostile.headers["x-request-id"] != "a" * 200
    assert len(hostile.headers["x-request-id"]) == 32


def test_unexpected_exception_is_generic_internal_error(settings: Settings) -> None:
    app: FastAPI = create_app(settings)

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internals: /etc/passwd")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/boom")
    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    assert error["message"] == "Unexpected server error."


def test_security_headers_present(client: TestClient) -> None:
    response = client.get("/api/v1/meta/markets")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


def test_scoped_endpoint_denies_missing_scope(settings: Settings) -> None:
    from tradeforge.api.deps import requires
    from tradeforge.core.accounts import Scope

    app = create_app(settings)

    @app.get("/api/v1/needs-trade", **requires(Scope.TRADE))
    def needs_trade() -> dict[str, bool]:
        return {"ok": True}

    with TestClient(app, raise_server_exceptions=False) as client:
        key = register(client)["api_key"]
        error = assert_error(
            client.get("/api/v1/needs-trade", headers=bearer(key)), 403, "INSUFFICIENT_PERMISSIONS"
        )
        assert error["details"]["required_scope"] == "trade"


@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "PUT", "PATCH"])
def test_unsupported_methods_are_405_envelopes(client: TestClient, method: str) -> None:
    response = client.request(method, "/api/v1/meta/markets")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["allow"]
