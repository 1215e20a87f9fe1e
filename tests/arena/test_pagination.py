"""Keyset pagination of the feed: stable while posts arrive, tied to its query."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_support import assert_error, assert_ok
from tradeforge.core.clock import FrozenClock

from ._helpers import ARENA, create_post

pytestmark = pytest.mark.usefixtures("relaxed_posting")


def _page(client: TestClient, **params: Any) -> tuple[list[str], str | None]:
    data = assert_ok(client.get(f"{ARENA}/posts", params=params))
    return [post["id"] for post in data["posts"]], data["next_cursor"]


@pytest.mark.parametrize("sort", ["new", "hot", "top"])
def test_pages_stay_stable_while_new_posts_arrive(
    client: TestClient, make_agent: Any, clock: FrozenClock, sort: str
) -> None:
    author, voter = make_agent(), make_agent()
    original = []
    for index in range(11):
        post = create_post(client, author.headers, title=f"post {index}")
        if index % 3 == 0:  # some scores differ, so "top" and "hot" have real work to do
            client.post(
                f"{ARENA}/posts/{post['id']}/votes", json={"vote_type": 1}, headers=voter.headers
            )
        original.append(post["id"])
        clock.advance(timedelta(minutes=1))
    expected, _ = _page(client, sort=sort, limit=50)
    assert sorted(expected) == sorted(original)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"sort": sort, "limit": 4}
        if cursor:
            params["cursor"] = cursor
        ids, cursor = _page(client, **params)
        seen += ids
        pages += 1
        # Newer posts arrive between page fetches.
        for extra in range(2):
            create_post(client, author.headers, title=f"late {pages}.{extra}")
            clock.advance(timedelta(seconds=30))
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a post was returned twice"
    assert [i for i in seen if i in original] == expected, "an original post was skipped"
    if sort != "top":
        # New posts rank above every original on "new" and "hot", so they never reach
        # the later pages; on "top" they may (score 0 ties), without disturbing originals.
        assert pages == 3


def test_same_instant_posts_page_by_id_without_gaps(client: TestClient, make_agent: Any) -> None:
    """The frozen clock gives every post the same created_at: the id tie-break carries it."""
    author = make_agent()
    ids = sorted((create_post(client, author.headers)["id"] for _ in range(7)), reverse=True)
    for sort in ("new", "hot", "top"):
        seen: list[str] = []
        page, cursor = _page(client, sort=sort, limit=3)
        seen += page
        while cursor:
            page, cursor = _page(client, sort=sort, limit=3, cursor=cursor)
            seen += page
        assert seen == ids, sort


def test_period_window_is_fixed_by_the_first_page(
    client: TestClient, make_agent: Any, clock: FrozenClock
) -> None:
    author = make_agent()
    ids = []
    for _ in range(6):
        ids.append(create_post(client, author.headers)["id"])
        clock.advance(timedelta(hours=3))
    ids.reverse()  # newest first; ages 3h .. 18h
    first, cursor = _page(client, sort="new", period="24h", limit=3)
    assert first == ids[:3]
    clock.advance(timedelta(hours=22))  # every post is now older than 24h
    rest, cursor = _page(client, sort="new", period="24h", limit=3, cursor=cursor)
    assert rest == ids[3:]
    assert cursor is None
    assert _page(client, sort="new", period="24h")[0] == []  # a fresh query sees today's window


def test_cursor_belongs_to_its_query(client: TestClient, make_agent: Any) -> None:
    author = make_agent()
    for _ in range(3):
        create_post(client, author.headers, category="market_talk")
    _, cursor = _page(client, sort="new", limit=1)
    assert cursor is not None
    for params in (
        {"sort": "top"},
        {"sort": "new", "category": "market_talk"},
        {"sort": "new", "period": "all"},
        {"sort": "new", "author_agent_id": author.id},
    ):
        response = client.get(f"{ARENA}/posts", params={**params, "cursor": cursor})
        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert error["details"] == {"field": "cursor"}
    post_id = _page(client)[0][0]
    comments_cursor_misuse = client.get(
        f"{ARENA}/posts/{post_id}/comments", params={"cursor": cursor}
    )
    assert_error(comments_cursor_misuse, 400, "VALIDATION_ERROR")
    assert_ok(client.get(f"{ARENA}/posts", params={"sort": "new", "limit": 1, "cursor": cursor}))


@pytest.mark.parametrize(
    "payload",
    [
        '{"t":"posts","s":"new","c":null,"p":"7d","a":null,"since":null,"k":5,"i":"x"}',
        '{"t":"posts","s":"new","c":null,"p":"7d","a":null,"since":"yesterday","k":"x","i":"x"}',
        '{"t":"posts","s":"new","c":null,"p":"7d","a":null,"since":null,"k":"2026-01-01T00:00:00","i":"x"}',
        '{"t":"posts","s":"new","c":null,"p":"7d","a":null,"since":null,"k":"2026-01-01T00:00:00+00:00","i":7}',
        "[1, 2]",
        '"text"',
    ],
)
def test_tampered_cursors_are_refused_not_crashing(client: TestClient, payload: str) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    response = client.get(f"{ARENA}/posts", params={"sort": "new", "cursor": cursor})
    assert_error(response, 400, "VALIDATION_ERROR")
