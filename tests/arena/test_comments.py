"""Comments: validation, replies and their depth, pagination, ownership, deletion."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from api_support import assert_error, assert_ok
from tradeforge.core.clock import FrozenClock

from ._helpers import ARENA, Agent, create_post


def _comment(
    client: TestClient, agent: Agent, post_id: str, content: Any = "hi", **extra: Any
) -> Response:
    response: Response = client.post(
        f"{ARENA}/posts/{post_id}/comments",
        json={"content": content, **extra},
        headers=agent.headers,
    )
    return response


def test_comment_fields_are_validated(client: TestClient, make_agent: Any) -> None:
    agent = make_agent()
    post_id = create_post(client, agent.headers)["id"]
    for content in ("", "   ", "x" * 2001, None, 5, "nul\x00"):
        assert_error(_comment(client, agent, post_id, content), 400, "VALIDATION_ERROR")
    assert_error(_comment(client, agent, post_id, parent_id=""), 400, "VALIDATION_ERROR")
    assert_error(_comment(client, agent, post_id, parent_id=5), 400, "VALIDATION_ERROR")
    assert_error(_comment(client, agent, post_id, extra="x"), 400, "VALIDATION_ERROR")
    assert_ok(_comment(client, agent, post_id, "x" * 2000))
    assert_ok(_comment(client, agent, post_id, "line\nbreak\ttab"))
    post = assert_ok(client.get(f"{ARENA}/posts/{post_id}"))["post"]
    assert post["comment_count"] == 2


def test_replies_belong_to_the_same_post_and_nest_at_most_ten_deep(
    client: TestClient, make_agent: Any
) -> None:
    alice, bob = make_agent(), make_agent()
    post_id = create_post(client, alice.headers)["id"]
    other_post = create_post(client, alice.headers)["id"]
    top = assert_ok(_comment(client, alice, post_id, "top"))
    assert (top["depth"], top["parent_id"]) == (0, None)

    foreign = assert_ok(_comment(client, bob, other_post, "elsewhere"))
    error = assert_error(
        _comment(client, bob, post_id, parent_id=foreign["id"]), 400, "VALIDATION_ERROR"
    )
    assert error["details"]["field"] == "parent_id"
    assert_error(_comment(client, bob, post_id, parent_id="missing"), 400, "VALIDATION_ERROR")

    parent = top
    for depth in range(1, 11):
        parent = assert_ok(_comment(client, bob, post_id, f"depth {depth}", parent_id=parent["id"]))
        assert (parent["depth"], parent["post_id"]) == (depth, post_id)
    error = assert_error(
        _comment(client, alice, post_id, "too deep", parent_id=parent["id"]),
        400,
        "VALIDATION_ERROR",
    )
    assert error["details"]["max_depth"] == 10
    # Replying higher up the thread still works.
    assert assert_ok(_comment(client, alice, post_id, "ok", parent_id=top["id"]))["depth"] == 1


def test_comments_page_oldest_first_and_stay_stable_while_new_ones_arrive(
    client: TestClient, make_agent: Any, clock: FrozenClock
) -> None:
    alice, bob = make_agent(), make_agent()
    post_id = create_post(client, alice.headers)["id"]
    made = []
    for index in range(25):
        made.append(assert_ok(_comment(client, bob, post_id, f"c{index}")))
        if index % 2:
            clock.advance(timedelta(seconds=1))  # some share a timestamp: the id breaks ties
    original = [c["id"] for c in sorted(made, key=lambda c: (c["created_at"], c["id"]))]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 10}
        if cursor:
            params["cursor"] = cursor
        data = assert_ok(client.get(f"{ARENA}/posts/{post_id}/comments", params=params))
        seen += [comment["id"] for comment in data["comments"]]
        cursor = data["next_cursor"]
        pages += 1
        if pages == 1:
            clock.advance(timedelta(seconds=1))
            late = assert_ok(_comment(client, alice, post_id, "late"))["id"]
        if cursor is None:
            break
    assert seen == [*original, late]  # the late comment is appended, nothing repeats
    detail = assert_ok(client.get(f"{ARENA}/posts/{post_id}"))
    assert [c["id"] for c in detail["comments"]["comments"]] == original[:20]
    assert detail["comments"]["next_cursor"] is not None
    assert detail["post"]["comment_count"] == 26
    for params in ({"limit": 0}, {"limit": 101}, {"cursor": "junk"}):
        response = client.get(f"{ARENA}/posts/{post_id}/comments", params=params)
        assert_error(response, 400, "VALIDATION_ERROR")
    other = create_post(client, alice.headers)["id"]
    misuse = client.get(
        f"{ARENA}/posts/{other}/comments", params={"cursor": detail["comments"]["next_cursor"]}
    )
    assert_error(misuse, 400, "VALIDATION_ERROR")
    page = assert_ok(client.get(f"{ARENA}/posts/{post_id}/comments", params={"limit": 100}))
    assert len(page["comments"]) == 26
    assert page["next_cursor"] is None


def test_authors_edit_and_delete_their_comments_others_get_404(
    client: TestClient, make_agent: Any, clock: FrozenClock
) -> None:
    alice, bob = make_agent(), make_agent()
    post_id = create_post(client, alice.headers)["id"]
    comment = assert_ok(_comment(client, bob, post_id, "original"))
    clock.advance(timedelta(seconds=1))
    reply = assert_ok(_comment(client, alice, post_id, "reply", parent_id=comment["id"]))
    path = f"{ARENA}/comments/{comment['id']}"

    assert_error(client.patch(path, json={"content": "x"}, headers=alice.headers), 404, "NOT_FOUND")
    assert_error(client.delete(path, headers=alice.headers), 404, "NOT_FOUND")
    missing = client.patch(f"{ARENA}/comments/nope", json={"content": "x"}, headers=bob.headers)
    assert_error(missing, 404, "NOT_FOUND")

    clock.advance(timedelta(minutes=2))
    edited = assert_ok(client.patch(path, json={"content": "**edited**"}, headers=bob.headers))
    assert edited["content"] == "**edited**"
    assert edited["content_html"] == "<p><strong>edited</strong></p>\n"
    assert edited["edited_at"] == "2026-01-05T12:02:01Z"
    for body in ({"content": ""}, {"content": "x" * 2001}, {}, {"content": "x", "parent_id": None}):
        assert_error(client.patch(path, json=body, headers=bob.headers), 400, "VALIDATION_ERROR")

    assert assert_ok(client.delete(path, headers=bob.headers)) == {
        "id": comment["id"],
        "deleted": True,
    }
    listed = assert_ok(client.get(f"{ARENA}/posts/{post_id}/comments"))["comments"]
    assert [(c["id"], c["deleted"], c["content"]) for c in listed] == [
        (comment["id"], True, None),
        (reply["id"], False, "reply"),
    ]
    assert listed[0]["content_html"] is None
    post = assert_ok(client.get(f"{ARENA}/posts/{post_id}"))["post"]
    assert post["comment_count"] == 1
    assert_error(client.delete(path, headers=bob.headers), 404, "NOT_FOUND")
    assert_error(client.patch(path, json={"content": "x"}, headers=bob.headers), 404, "NOT_FOUND")
    error = assert_error(
        _comment(client, alice, post_id, "to a deleted one", parent_id=comment["id"]),
        400,
        "VALIDATION_ERROR",
    )
    assert error["details"]["field"] == "parent_id"


def test_comments_need_auth_to_write_but_not_to_read(client: TestClient, make_agent: Any) -> None:
    agent = make_agent()
    post_id = create_post(client, agent.headers)["id"]
    response = client.post(f"{ARENA}/posts/{post_id}/comments", json={"content": "x"})
    assert_error(response, 401, "AUTHENTICATION_REQUIRED")
    assert_error(
        client.patch(f"{ARENA}/comments/x", json={"content": "x"}), 401, "AUTHENTICATION_REQUIRED"
    )
    assert_error(client.delete(f"{ARENA}/comments/x"), 401, "AUTHENTICATION_REQUIRED")
    assert assert_ok(client.get(f"{ARENA}/posts/{post_id}/comments"))["comments"] == []
    assert_error(client.get(f"{ARENA}/posts/nope/comments"), 404, "NOT_FOUND")


def test_parallel_comments_keep_an_exact_count(client: TestClient, make_agent: Any) -> None:
    author = make_agent()
    post_id = create_post(client, author.headers)["id"]
    agents = [make_agent() for _ in range(8)]
    barrier = threading.Barrier(len(agents))

    def comment(agent: Agent) -> int:
        barrier.wait()
        return _comment(client, agent, post_id, f"from {agent.name}").status_code

    with ThreadPoolExecutor(max_workers=len(agents)) as pool:
        assert set(pool.map(comment, agents)) == {200}
    post = assert_ok(client.get(f"{ARENA}/posts/{post_id}"))
    assert post["post"]["comment_count"] == 8
    assert len(post["comments"]["comments"]) == 8
