"""E1: route inventory and the BOLA matrix, generated from ``app.openapi()``.

Agent A owns one of every resource type (queued job, completed job's result, post,
comment, registered strategy). For every owner-only id-bearing operation, another tenant
acting on A's id must get exactly what a random id of the same shape gets: 404 with the
same ``error.code`` (message, suggestion and details equal once the id is masked), and A's
resource must be unchanged. Two "other tenants" are used: agent B (self-registered,
provisional key) and a user's live key with every scope.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from httpx import Response

from api_support import assert_ok
from tradeforge.core.accounts import Scope

from ._catalog import (
    EXEMPT,
    RESOURCES,
    bola_operations,
    documented_operations,
    exempt_operations,
    id_operations,
    op_param,
    resources_of,
)
from ._world import API, Caller, Operation, World, minimal_body, same_shape

AUTH_KINDS = {"none", "api_key", "user_session"}
OTHER_TENANTS = ("agent B", "full-scope key of another user")


# -- inventory (API9) ----------------------------------------------------------------------------


def test_every_operation_declares_its_auth() -> None:
    ops = documented_operations()
    assert ops
    scopes = {str(s) for s in Scope}
    for op in ops:
        assert op.auth in AUTH_KINDS, f"{op.id} has x-auth {op.auth!r}"
        if op.auth == "api_key":  # absent or null: any scope will do
            assert op.scope is None or op.scope in scopes, op.id
        else:
            assert op.scope is None, f"{op.id}: a scope on a non-api_key operation"


def test_every_id_bearing_operation_is_in_the_matrix_or_exempt() -> None:
    missing = [op.id for op in id_operations() if op.id not in EXEMPT and resources_of(op) is None]
    assert not missing, (
        "id-bearing operations neither in the BOLA matrix (tests/security/_catalog.py "
        f"RESOURCES) nor in EXEMPT: {missing}"
    )
    known = {op.id for op in documented_operations()}
    stale = sorted(set(EXEMPT) - known)
    assert not stale, f"EXEMPT names operations that no longer exist: {stale}"
    used = {(op.param_prefix(name), name) for op in bola_operations() for name in op.path_params}
    assert not set(RESOURCES) - used, f"unused RESOURCES entries: {set(RESOURCES) - used}"
    # The matrix must not be vacuous.
    assert len(bola_operations()) >= 10


def test_no_undocumented_api_routes(world: World) -> None:
    documented = {(op.method.upper(), op.path) for op in world.ops}
    hidden = sorted(
        f"{method} {route.path}"
        for route in world.app.routes
        if isinstance(route, APIRoute) and route.path.startswith(API)
        for method in route.methods or ()
        if method not in ("HEAD", "OPTIONS") and (method, route.path) not in documented
    )
    assert not hidden, f"routes missing from the OpenAPI document: {hidden}"


# -- the BOLA matrix (E1) ------------------------------------------------------------------------


def _other(world: World, who: str) -> Caller:
    if who == "agent B":
        return world.b
    return world.keys["live read+research+trade"]


def _masked(response: Response, ident: dict[str, str]) -> dict[str, Any]:
    error = dict(response.json()["error"])
    text = repr(error)
    for value in ident.values():
        text = text.replace(value, "<id>")
    return {"status": response.status_code, "error": text}


def _assert_same_404(
    mine: Response, fake: Response, real: dict[str, str], made_up: dict[str, str]
) -> None:
    assert fake.status_code == 404, fake.text
    assert mine.status_code == 404, f"another tenant got {mine.status_code}: {mine.text}"
    assert mine.json()["error"]["code"] == fake.json()["error"]["code"], (mine.text, fake.text)
    assert _masked(mine, real) == _masked(fake, made_up)


@pytest.mark.parametrize("who", OTHER_TENANTS)
@pytest.mark.parametrize("op", **op_param(bola_operations()))
def test_other_tenant_gets_404_like_a_missing_id(world: World, op: Operation, who: str) -> None:
    resources = resources_of(op)
    assert resources is not None
    real = {name: resource.make(world) for name, resource in resources.items()}
    made_up = {name: same_shape(value) for name, value in real.items()}
    caller = _other(world, who)
    body = minimal_body(world.app, op)

    if op.method == "get":  # the owner can read it: the id is real
        assert_ok(world.call(op, op.url(real), world.a.headers))

    mine = world.call(op, op.url(real), caller.headers, body)
    fake = world.call(op, op.url(made_up), caller.headers, body)
    _assert_same_404(mine, fake, real, made_up)
    for name, resource in resources.items():
        resource.intact(world, real[name])


@pytest.mark.parametrize("op", **op_param(exempt_operations()))
def test_exempt_operations_404_on_unknown_ids(world: World, op: Operation) -> None:
    values = EXEMPT[op.id].unknown(world)
    headers = {} if op.auth == "none" else world.b.headers
    response = world.call(op, op.url(values), headers, minimal_body(world.app, op))
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"]


# -- ids inside request bodies ---------------------------------------------------------------------


@pytest.mark.parametrize("who", OTHER_TENANTS)
def test_attaching_another_tenants_result_to_a_post(world: World, who: str) -> None:
    caller = _other(world, who)
    op = Operation("post", f"{API}/arena/posts", {})
    real, made_up = world.result, same_shape(world.result)
    base = {"category": "show_tell", "title": "Look at this", "content": "x"}
    mine = world.call(op, op.path, caller.headers, {**base, "strategy_settings_id": real})
    fake = world.call(op, op.path, caller.headers, {**base, "strategy_settings_id": made_up})
    _assert_same_404(mine, fake, {"id": real}, {"id": made_up})

    own = assert_ok(world.client.post(op.path, json=base, headers=caller.headers))
    edit = Operation("patch", f"{API}/arena/posts/{own['id']}", {})
    mine = world.call(edit, edit.path, caller.headers, {"strategy_settings_id": real})
    fake = world.call(edit, edit.path, caller.headers, {"strategy_settings_id": made_up})
    _assert_same_404(mine, fake, {"id": real}, {"id": made_up})


@pytest.mark.parametrize("who", OTHER_TENANTS)
def test_registering_another_tenants_result(world: World, who: str) -> None:
    caller = _other(world, who)
    op = Operation("post", f"{API}/arena/strategies/register", {})
    real, made_up = world.result, same_shape(world.result)
    mine = world.call(op, op.path, caller.headers, {"backtest_summary_id": real})
    fake = world.call(op, op.path, caller.headers, {"backtest_summary_id": made_up})
    _assert_same_404(mine, fake, {"id": real}, {"id": made_up})


def test_owner_can_act_on_its_own_resources(world: World) -> None:
    """The matrix's 404s come from ownership, not from broken ids: A itself succeeds."""
    headers = world.a.headers
    assert_ok(world.client.get(f"{API}/backtest/status/{world.queued_job}", headers=headers))
    assert_ok(world.client.get(f"{API}/backtest/results/{world.result}", headers=headers))
    assert_ok(
        world.client.patch(
            f"{API}/arena/comments/{world.comment}",
            json={"content": "A's comment"},
            headers=headers,
        )
    )
    assert_ok(
        world.client.patch(
            f"{API}/arena/posts/{world.post}", json={"title": "A's post"}, headers=headers
        )
    )
    cancelled = assert_ok(
        world.client.post(f"{API}/backtest/cancel/{world.submit(world.a)}", headers=headers)
    )
    assert cancelled["status"] == "cancelled"
