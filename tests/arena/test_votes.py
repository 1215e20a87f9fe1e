"""Votes: toggling, flipping, validation, and exact counts under concurrent voting."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from api_support import assert_error, assert_ok
from tradeforge.adapters.storage.tables import arena_votes

from ._helpers import ARENA, Agent, create_post


def _vote(client: TestClient, agent: Agent, post_id: str, value: Any) -> Response:
    response: Response = client.post(
        f"{ARENA}/posts/{post_id}/votes", json={"vote_type": value}, headers=agent.headers
    )
    return response


def test_same_vote_again_cancels_and_the_other_value_flips(
    client: TestClient, make_agent: Any
) -> None:
    author, voter = make_agent(), make_agent()
    post_id = create_post(client, author.headers)["id"]

    def state(value: int) -> tuple[int, int, int, int]:
        data = assert_ok(_vote(client, voter, post_id, value))
        assert data["post_id"] == post_id
        return data["score"], data["upvotes"], data["downvotes"], data["my_vote"]

    assert state(1) == (1, 1, 0, 1)
    assert state(1) == (0, 0, 0, 0)  # cancelled
    assert state(-1) == (-1, 0, 1, -1)
    assert state(1) == (1, 1, 0, 1)  # flipped
    assert state(-1) == (-1, 0, 1, -1)
    assert state(-1) == (0, 0, 0, 0)
    second = make_agent()
    assert state(1) == (1, 1, 0, 1)
    data = assert_ok(_vote(client, second, post_id, -1))
    assert (data["score"], data["upvotes"], data["downvotes"], data["my_vote"]) == (0, 1, 1, -1)
    # The author may vote on their own post too.
    data = assert_ok(_vote(client, author, post_id, 1))
    assert (data["score"], data["upvotes"], data["downvotes"]) == (1, 2, 1)
    post = assert_ok(client.get(f"{ARENA}/posts/{post_id}", headers=voter.headers))["post"]
    assert (post["score"], post["upvotes"], post["downvotes"], post["my_vote"]) == (1, 2, 1, 1)


def test_vote_type_is_validated(client: TestClient, make_agent: Any) -> None:
    author = make_agent()
    post_id = create_post(client, author.headers)["id"]
    for value in (0, 2, -2, "1", True, 1.0, None, [1]):
        assert_error(_vote(client, author, post_id, value), 400, "VALIDATION_ERROR")
    for body in ({}, {"vote_type": 1, "extra": 1}, {"type": 1}):
        response = client.post(f"{ARENA}/posts/{post_id}/votes", json=body, headers=author.headers)
        assert_error(response, 400, "VALIDATION_ERROR")
    post = assert_ok(client.get(f"{ARENA}/posts/{post_id}"))["post"]
    assert post["score"] == 0


def _count_votes(app: FastAPI, post_id: str) -> int:
    with app.state.container.engine.connect() as connection:
        query = (
            select(func.count()).select_from(arena_votes).where(arena_votes.c.post_id == post_id)
        )
        return int(connection.execute(query).scalar_one())


def _parallel(calls: list[Any]) -> list[Response]:
    barrier = threading.Barrier(len(calls))

    def run(call: Any) -> Response:
        barrier.wait()
        return call()  # type: ignore[no-any-return]

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_parallel_votes_from_many_agents_end_with_exact_counts(
    client: TestClient, app: FastAPI, make_agent: Any
) -> None:
    author = make_agent()
    post_id = create_post(client, author.headers)["id"]
    ups = [make_agent() for _ in range(10)]
    downs = [make_agent() for _ in range(6)]
    calls = [lambda a=agent: _vote(client, a, post_id, 1) for agent in ups]
    calls += [lambda a=agent: _vote(client, a, post_id, -1) for agent in downs]
    responses = _parallel(calls)
    assert [r.status_code for r in responses] == [200] * len(calls), [r.text for r in responses]
    post = assert_ok(client.get(f"{ARENA}/posts/{post_id}"))["post"]
    assert (post["upvotes"], post["downvotes"], post["score"]) == (10, 6, 4)
    assert _count_votes(app, post_id) == 16
    # Each response saw a consistent state: its own vote plus some of the others.
    for response in responses:
        data = response.json()["data"]
        assert data["score"] == data["upvotes"] - data["downvotes"]
    # Now all of them cancel in parallel.
    calls = [lambda a=agent: _vote(client, a, post_id, 1) for agent in ups]
    calls += [lambda a=agent: _vote(client, a, post_id, -1) for agent in downs]
    assert {r.status_code for r in _parallel(calls)} == {200}
    post = assert_ok(client.get(f"{ARENA}/posts/{post_id}"))["post"]
    assert (post["upvotes"], post["downvotes"], post["score"]) == (0, 0, 0)
    assert _count_votes(app, post_id) == 0


def test_parallel_repeats_by_one_agent_keep_one_vote(
    client: TestClient, app: FastAPI, make_agent: Any
) -> None:
    """Seven simultaneous identical votes toggle seven times: the vote ends up cast once."""
    author, voter = make_agent(), make_agent()
    post_id = create_post(client, author.headers)["id"]
    responses = _parallel([lambda: _vote(client, voter, post_id, 1) for _ in range(7)])
    assert {r.status_code for r in responses} == {200}
    assert sorted(r.json()["data"]["my_vote"] for r in responses) == [0, 0, 0, 1, 1, 1, 1]
    post = assert_ok(client.get(f"{ARENA}/posts/{post_id}", headers=voter.headers))["post"]
    assert (post["upvotes"], post["downvotes"], post["score"], post["my_vote"]) == (1, 0, 1, 1)
    assert _count_votes(app, post_id) == 1


def test_parallel_flips_keep_counters_consistent(
    client: TestClient, app: FastAPI, make_agent: Any
) -> None:
    count = 6
    author = make_agent()
    post_id = create_post(client, author.headers)["id"]
    voters = [make_agent() for _ in range(count)]
    for voter in voters:
        assert_ok(_vote(client, voter, post_id, 1))
    calls = [lambda a=voter: _vote(client, a, post_id, -1) for voter in voters]
    calls += [lambda a=voter: _vote(client, a, post_id, -1) for voter in voters[: count // 2]]
    assert {r.status_code for r in _parallel(calls)} == {200}
    post = assert_ok(client.get(f"{ARENA}/posts/{post_id}"))["post"]
    # Two -1 requests on a +1 vote give -1 then cancel, whichever runs first: half the
    # voters end at -1, the other half at no vote. Counters must match the stored rows.
    with app.state.container.engine.connect() as connection:
        rows = connection.execute(
            select(arena_votes.c.value).where(arena_votes.c.post_id == post_id)
        ).scalars()
        values = list(rows)
    assert values == [-1] * (count - count // 2)
    assert (post["upvotes"], post["downvotes"]) == (0, len(values))
    assert post["score"] == sum(values)
