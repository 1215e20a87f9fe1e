"""E2: the scope matrix (broken function-level authorization), generated from
``app.openapi()``.

* ``x-auth: api_key`` with a required scope: every key lacking it gets 403
  ``INSUFFICIENT_PERMISSIONS`` naming the scope in ``error.details.required_scope``;
  every key holding it gets past authorization (neither 401 nor 403, nor a 5xx).
* every ``api_key`` operation: no credentials is 401; a user's session token is not an
  API key (401).
* every ``user_session`` operation: no credentials and every API key are 401.

Authorization runs in the route's dependencies, which FastAPI resolves before it
validates the body, so the denials are asserted exactly (401/403), whatever the body. A
syntactically valid minimal body is still sent (``_world.minimal_body``), so that keys
holding the scope reach the handler.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from ._catalog import documented_operations, op_param
from ._world import Operation, World, minimal_body

KEY_SETS = (
    "provisional",
    "live read",
    "live trade",
    "live read+trade",
    "live research",
    "live read+research+trade",
)

API_KEY_OPS = [op for op in documented_operations() if op.auth == "api_key"]
SESSION_OPS = [op for op in documented_operations() if op.auth == "user_session"]
SCOPED_OPS = [op for op in API_KEY_OPS if op.scope is not None]


def _path_values(op: Operation) -> dict[str, str]:
    """Unknown ids (a scope check must come before any lookup); a real strategy type."""
    return {
        name: "signal" if name == "strategy_type" else secrets.token_hex(12)
        for name in op.path_params
    }


def _call(world: World, op: Operation, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    response = world.call(op, op.url(_path_values(op)), headers, minimal_body(world.app, op))
    body = response.json()
    assert isinstance(body, dict), response.text
    return response.status_code, body


def test_the_matrix_is_not_vacuous() -> None:
    assert len(SCOPED_OPS) >= 20
    assert SESSION_OPS


@pytest.mark.parametrize("key_set", KEY_SETS)
@pytest.mark.parametrize("op", **op_param(API_KEY_OPS))
def test_scope_matrix(world: World, op: Operation, key_set: str) -> None:
    caller = world.keys[key_set]
    status, body = _call(world, op, caller.headers)
    if op.scope is not None and op.scope not in world.scopes_of(key_set):
        assert status == 403, body
        error = body["error"]
        assert error["code"] == "INSUFFICIENT_PERMISSIONS", body
        assert error["details"]["required_scope"] == op.scope, body
        assert op.scope in error["message"]
    else:
        assert status not in (401, 403), body
        assert status < 500, body


@pytest.mark.parametrize("op", **op_param(API_KEY_OPS + SESSION_OPS))
def test_no_credentials_is_401(world: World, op: Operation) -> None:
    status, body = _call(world, op, {})
    assert status == 401, body
    assert body["error"]["code"] == "AUTHENTICATION_REQUIRED", body


@pytest.mark.parametrize("op", **op_param(API_KEY_OPS + SESSION_OPS))
def test_an_unknown_key_is_401(world: World, op: Operation) -> None:
    forged = "tf_live_" + secrets.token_hex(24)
    status, body = _call(world, op, {"Authorization": f"Bearer {forged}"})
    assert status == 401, body


@pytest.mark.parametrize("op", **op_param(API_KEY_OPS))
def test_a_session_token_is_not_an_api_key(world: World, op: Operation) -> None:
    status, body = _call(world, op, world.session.headers)
    assert status == 401, body


@pytest.mark.parametrize("key_set", KEY_SETS)
@pytest.mark.parametrize("op", **op_param(SESSION_OPS))
def test_an_api_key_is_not_a_user_session(world: World, op: Operation, key_set: str) -> None:
    status, body = _call(world, op, world.keys[key_set].headers)
    assert status == 401, body


# -- pinned declarations: loosening one is a deliberate, reviewed change ---------------------------

#: API-key operations that accept a key of any scope.
ANY_SCOPE = {
    "GET /api/v1/meta/capabilities",
    "POST /api/v1/meta/request-claim",
    "GET /api/v1/meta/agents/me",
    "GET /api/v1/meta/indicators",
    "GET /api/v1/arena/profile",
    "GET /api/v1/arena/profile/subscriptions",
}

#: Operations that need no credentials at all.
PUBLIC = {
    "GET /api/v1/meta/health",
    "GET /api/v1/meta/markets",
    "POST /api/v1/meta/register",
    "POST /api/v1/auth/login",
    "GET /api/v1/docs",
    "GET /api/v1/docs/{slug}",
    "GET /api/v1/market/symbols",
    "GET /api/v1/market/tickers",
    "GET /api/v1/arena/agents/{agent_id}",
    "GET /api/v1/arena/posts",
    "GET /api/v1/arena/posts/{post_id}",
    "GET /api/v1/arena/posts/{post_id}/comments",
    "GET /api/v1/arena/leaderboard",
}


def test_public_and_any_scope_operations_are_pinned() -> None:
    ops = documented_operations()
    assert {op.id for op in ops if op.auth == "none"} == PUBLIC
    assert {op.id for op in API_KEY_OPS if op.scope is None} == ANY_SCOPE
