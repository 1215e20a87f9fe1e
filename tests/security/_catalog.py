"""The coverage tables of the matrices, and the operations they are generated from.

A new operation with a path parameter must be added either to ``RESOURCES`` (owner-only:
it joins the BOLA matrix) or to ``EXEMPT`` (with the reason); otherwise the inventory test
fails (RELIABILITY E1, API9).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from api_support import assert_ok
from tradeforge.api.app import create_app
from tradeforge.config import Settings

from ._world import API, Operation, World, operations, same_shape


@cache
def documented_operations() -> tuple[Operation, ...]:
    """The operations of ``app.openapi()``, for parametrizing at collection time (the
    document does not depend on the database)."""
    data_dir = Path(tempfile.mkdtemp(prefix="tf-openapi-")) / "data"
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'openapi.sqlite3'}",
        environment="test",
        log_json=False,
    )
    return tuple(operations(create_app(settings)))


@dataclass(frozen=True)
class Resource:
    """One of A's resources: how to make it and how A checks that it is intact."""

    kind: str
    make: Callable[[World], str]
    intact: Callable[[World, str], None]


def _post_intact(world: World, post_id: str) -> None:
    data = assert_ok(world.client.get(f"{API}/arena/posts/{post_id}"))
    assert data["post"]["title"] == "A's post", data


def _comment_intact(world: World, comment_id: str) -> None:
    data = assert_ok(world.client.get(f"{API}/arena/posts/{world.post}/comments"))
    mine = [c for c in data["comments"] if c["id"] == comment_id]
    assert len(mine) == 1, data
    assert mine[0]["content"] == "A's comment", mine
    assert not mine[0]["deleted"], mine


def _strategy_intact(world: World, strategy_id: str) -> None:
    data = assert_ok(
        world.client.get(f"{API}/arena/leaderboard", params={"sort": "roi", "period": "all"})
    )
    assert strategy_id in [row.get("strategy_id") for row in data["leaders"]], data


def _job_intact(world: World, job_id: str) -> None:
    data = assert_ok(world.client.get(f"{API}/backtest/status/{job_id}", headers=world.a.headers))
    assert data["status"] == "queued", data
    assert not data.get("cancel_requested"), data


def _result_intact(world: World, result_id: str) -> None:
    data = assert_ok(
        world.client.get(f"{API}/backtest/results/{result_id}", headers=world.a.headers)
    )
    assert data["result_id"] == result_id


POST = Resource("post", lambda w: w.post, _post_intact)
COMMENT = Resource("comment", lambda w: w.comment, _comment_intact)
STRATEGY = Resource("registered strategy", lambda w: w.strategy, _strategy_intact)
JOB = Resource("backtest job (queued)", lambda w: w.queued_job, _job_intact)
RESULT = Resource("backtest result", lambda w: w.result, _result_intact)

#: (path prefix before the parameter, parameter name) -> the owned resource it names.
RESOURCES: dict[tuple[str, str], Resource] = {
    (f"{API}/arena/posts/", "post_id"): POST,
    (f"{API}/arena/comments/", "comment_id"): COMMENT,
    (f"{API}/arena/strategies/", "strategy_id"): STRATEGY,
    (f"{API}/backtest/status/", "job_id"): JOB,
    (f"{API}/backtest/cancel/", "job_id"): JOB,
    (f"{API}/backtest/results/", "result_id"): RESULT,
}


@dataclass(frozen=True)
class Exempt:
    """An id-bearing operation that is not owner-only. It must still answer an unknown id
    with 404; ``unknown`` builds the path values of an id that does not exist."""

    reason: str
    unknown: Callable[[World], dict[str, str]]


def _fresh_agent(world: World) -> dict[str, str]:
    assert world.a.agent_id is not None
    return {"agent_id": same_shape(world.a.agent_id)}


def _fresh_post(world: World) -> dict[str, str]:
    return {"post_id": same_shape(world.post)}


EXEMPT: dict[str, Exempt] = {
    # Public documentation pages, by slug.
    f"GET {API}/docs/{{slug}}": Exempt("public docs page", lambda w: {"slug": "no-such-page"}),
    # The static strategy-type catalogue: not a stored resource.
    f"GET {API}/backtest/strategies/{{strategy_type}}/schema": Exempt(
        "strategy-type catalogue", lambda w: {"strategy_type": "no_such_type"}
    ),
    # Public profiles: any agent's profile is readable by anyone.
    f"GET {API}/arena/agents/{{agent_id}}": Exempt("public profile", _fresh_agent),
    # Following another agent is the point; the subscription belongs to the caller.
    f"POST {API}/arena/agents/{{agent_id}}/subscribe": Exempt("acts on caller", _fresh_agent),
    f"DELETE {API}/arena/agents/{{agent_id}}/unsubscribe": Exempt(
        "acts on caller's own subscription", _fresh_agent
    ),
    # Posts are public to read; anyone may vote on or comment on anyone's post (the vote
    # and the comment belong to the caller; editing them is in the matrix).
    f"GET {API}/arena/posts/{{post_id}}": Exempt("public read", _fresh_post),
    f"GET {API}/arena/posts/{{post_id}}/comments": Exempt("public read", _fresh_post),
    f"POST {API}/arena/posts/{{post_id}}/votes": Exempt("vote belongs to caller", _fresh_post),
    f"POST {API}/arena/posts/{{post_id}}/comments": Exempt(
        "comment belongs to caller", _fresh_post
    ),
}


def resources_of(op: Operation) -> dict[str, Resource] | None:
    """The owned resource behind each path parameter, or ``None`` when one is unmapped."""
    found: dict[str, Resource] = {}
    for name in op.path_params:
        resource = RESOURCES.get((op.param_prefix(name), name))
        if resource is None:
            return None
        found[name] = resource
    return found


def id_operations() -> list[Operation]:
    return [op for op in documented_operations() if op.path_params]


def bola_operations() -> list[Operation]:
    return [op for op in id_operations() if op.id not in EXEMPT]


def exempt_operations() -> list[Operation]:
    return [op for op in id_operations() if op.id in EXEMPT]


def op_param(ops: list[Operation]) -> dict[str, Any]:
    return {"argvalues": ops, "ids": [op.id for op in ops]}
