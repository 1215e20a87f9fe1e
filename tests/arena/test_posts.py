"""Posts: validation, rendering, reading, ownership, feed filters and sorts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_support import assert_error, assert_ok
from tradeforge.core.clock import FrozenClock

from ._helpers import ARENA, Agent, create_post, post_body

pytestmark = pytest.mark.usefixtures("relaxed_posting")

CATEGORIES = ["market_talk", "strategy_ideas", "news_analysis", "show_tell"]


def test_create_post_returns_the_post_with_rendered_content(
    client: TestClient, make_agent: Any
) -> None:
    alice: Agent = make_agent("Alice")
    post = create_post(client, alice.headers, content="## Idea\n\nBuy **dips**.")
    assert post["author"] == {"agent_id": alice.id, "display_name": "Alice"}
    assert post["category"] == "strategy_ideas"
    assert post["tags"] == ["BTC", "RSI"]
    assert post["content"] == "## Idea\n\nBuy **dips**."
    assert post["content_html"] == "<h2>Idea</h2>\n<p>Buy <strong>dips</strong>.</p>\n"
    assert (post["score"], post["upvotes"], post["downvotes"], post["comment_count"]) == (
        0,
        0,
        0,
        0,
    )
    assert post["my_vote"] == 0
    assert post["strategy_settings_id"] is None
    fetched = assert_ok(client.get(f"{ARENA}/posts/{post['id']}"))
    assert fetched["post"]["title"] == post["title"]
    assert fetched["post"]["my_vote"] is None  # anonymous
    assert fetched["comments"] == {"comments": [], "next_cursor": None}


def test_every_category_is_accepted(client: TestClient, make_agent: Any) -> None:
    agent = make_agent()
    for category in CATEGORIES:
        assert create_post(client, agent.headers, category=category)["category"] == category


BAD_CATEGORIES: list[Any] = [
    "Market_talk", "MARKET_TALK", "general", "", "market-talk", " market_talk", 1, None, ["x"],
]  # fmt: skip


def test_other_categories_are_refused_naming_the_allowed_values(
    client: TestClient, make_agent: Any
) -> None:
    headers = make_agent().headers
    for category in BAD_CATEGORIES:
        response = client.post(f"{ARENA}/posts", json=post_body(category=category), headers=headers)
        error = assert_error(response, 400, "VALIDATION_ERROR")
        if isinstance(category, str):
            for name in CATEGORIES:
                assert name in error["message"], (category, error)
    assert assert_ok(client.get(f"{ARENA}/posts"))["posts"] == []


BAD_FIELDS: list[tuple[str, Any]] = [
    ("title", ""),
    ("title", "   "),
    ("title", "x" * 201),
    ("title", "bad\x00title"),
    ("title", "tab\tin title"),
    ("title", None),
    ("title", 5),
    ("content", "x" * 5001),
    ("content", "nul\x00byte"),
    ("content", 5),
    ("tags", []),
    ("tags", ["t"] * 11),
    ("tags", [""]),
    ("tags", ["   "]),
    ("tags", ["x" * 33]),
    ("tags", "BTC"),
    ("tags", [1]),
    ("strategy_settings_id", ""),
    ("strategy_settings_id", "x" * 65),
    ("strategy_settings_id", 12),
    ("unknown_field", "x"),
]


def test_post_fields_are_validated(client: TestClient, make_agent: Any) -> None:
    headers = make_agent().headers
    for field, value in BAD_FIELDS:
        response = client.post(f"{ARENA}/posts", json=post_body(**{field: value}), headers=headers)
        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert any(field in problem["field"] for problem in error["details"]["fields"]), (
            field,
            value,
            error,
        )
    assert assert_ok(client.get(f"{ARENA}/posts"))["posts"] == []


def test_missing_required_fields_and_non_json_are_refused(
    client: TestClient, make_agent: Any
) -> None:
    headers = make_agent().headers
    assert_error(
        client.post(f"{ARENA}/posts", json={"title": "x"}, headers=headers), 400, "VALIDATION_ERROR"
    )
    assert_error(
        client.post(f"{ARENA}/posts", json={"category": "show_tell"}, headers=headers),
        400,
        "VALIDATION_ERROR",
    )
    response = client.post(
        f"{ARENA}/posts",
        content=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert_error(response, 400, "VALIDATION_ERROR")


def test_limits_are_inclusive(client: TestClient, make_agent: Any) -> None:
    post = create_post(
        client,
        make_agent().headers,
        title="t" * 200,
        content="c" * 5000,
        tags=[f"tag{i}" for i in range(10)],
    )
    assert len(post["title"]) == 200
    assert len(post["content"]) == 5000
    assert len(post["tags"]) == 10
    minimal = assert_ok(
        client.post(
            f"{ARENA}/posts",
            json={"category": "market_talk", "title": "x"},
            headers=make_agent().headers,
        )
    )
    assert (minimal["content"], minimal["content_html"], minimal["tags"]) == ("", "", [])


def test_tags_are_deduplicated_in_order(client: TestClient, make_agent: Any) -> None:
    post = create_post(client, make_agent().headers, tags=["ETH", "BTC", "ETH", "x" * 32])
    assert post["tags"] == ["ETH", "BTC", "x" * 32]


def test_unknown_backtest_results_cannot_be_attached(client: TestClient, make_agent: Any) -> None:
    """Unknown result ids are refused (attaching real ones: test_strategies.py)."""
    agent = make_agent()
    response = client.post(
        f"{ARENA}/posts", json=post_body(strategy_settings_id="res_123"), headers=agent.headers
    )
    error = assert_error(response, 404, "BACKTEST_NOT_FOUND")
    assert "strategy_settings_id" in error["suggestion"]
    assert error["details"] == {"field": "strategy_settings_id"}
    assert assert_ok(client.get(f"{ARENA}/posts", params={"period": "all"}))["posts"] == []
    post = create_post(client, agent.headers)
    assert post["backtest"] is None
    response = client.patch(
        f"{ARENA}/posts/{post['id']}", json={"strategy_settings_id": "r"}, headers=agent.headers
    )
    assert_error(response, 404, "BACKTEST_NOT_FOUND")


def test_writing_needs_a_key_with_the_research_scope(
    client: TestClient, app: Any, make_agent: Any
) -> None:
    from api_support import bearer, create_user, live_key
    from tradeforge.core.accounts import Scope

    assert_error(client.post(f"{ARENA}/posts", json=post_body()), 401, "AUTHENTICATION_REQUIRED")
    assert_error(
        client.post(f"{ARENA}/posts", json=post_body(), headers=bearer("tf_live_nope")),
        401,
        "INVALID_API_KEY",
    )
    create_user(app)
    read_only = bearer(live_key(app, "alice@example.com", frozenset({Scope.READ})))
    assert_error(
        client.post(f"{ARENA}/posts", json=post_body(), headers=read_only),
        403,
        "INSUFFICIENT_PERMISSIONS",
    )
    post = create_post(client, make_agent().headers)
    for method, path, body in [
        ("POST", f"/posts/{post['id']}/votes", {"vote_type": 1}),
        ("POST", f"/posts/{post['id']}/comments", {"content": "hi"}),
        ("PATCH", "/profile", {"description": "x"}),
        ("POST", "/agents", None),
    ]:
        response = client.request(method, f"{ARENA}{path}", json=body, headers=read_only)
        assert_error(response, 403, "INSUFFICIENT_PERMISSIONS")
    # Reading stays open to that key (and to anonymous callers).
    assert_ok(client.get(f"{ARENA}/posts", headers=read_only))
    assert_ok(client.get(f"{ARENA}/posts/{post['id']}", headers=read_only))


def test_a_bad_key_on_a_public_read_is_refused_not_ignored(client: TestClient) -> None:
    from api_support import bearer

    response = client.get(f"{ARENA}/posts", headers=bearer("tf_prov_garbage"))
    assert_error(response, 401, "INVALID_API_KEY")
    response = client.get(f"{ARENA}/posts", params={"api_key": "tf_prov_x"})
    assert_error(response, 400, "VALIDATION_ERROR")


def test_authors_edit_and_delete_their_posts_others_get_404(
    client: TestClient, make_agent: Any, clock: FrozenClock
) -> None:
    alice, bob = make_agent("Alice"), make_agent("Bob")
    post = create_post(client, alice.headers)
    path = f"{ARENA}/posts/{post['id']}"
    comment = assert_ok(
        client.post(f"{path}/comments", json={"content": "hi"}, headers=bob.headers)
    )
    assert_ok(client.post(f"{path}/votes", json={"vote_type": 1}, headers=bob.headers))

    for response in (
        client.patch(path, json={"title": "hijacked"}, headers=bob.headers),
        client.delete(path, headers=bob.headers),
    ):
        error = assert_error(response, 404, "NOT_FOUND")
    missing = client.patch(f"{ARENA}/posts/nope", json={"title": "x"}, headers=bob.headers)
    assert assert_error(missing, 404, "NOT_FOUND")["suggestion"] == error["suggestion"]
    assert assert_ok(client.get(path))["post"]["title"] == "RSI oversold bounce"

    clock.advance(timedelta(minutes=5))
    edited = assert_ok(
        client.patch(
            path,
            json={
                "title": "Better title",
                "content": "*new*",
                "category": "show_tell",
                "tags": ["X"],
            },
            headers=alice.headers,
        )
    )
    assert edited["title"] == "Better title"
    assert edited["content_html"] == "<p><em>new</em></p>\n"
    assert (edited["category"], edited["tags"]) == ("show_tell", ["X"])
    assert edited["edited_at"] == "2026-01-05T12:05:00Z"
    assert edited["created_at"] == "2026-01-05T12:00:00Z"
    assert edited["score"] == 1  # votes survive edits
    assert_error(client.patch(path, json={}, headers=alice.headers), 400, "VALIDATION_ERROR")
    assert_error(
        client.patch(path, json={"title": ""}, headers=alice.headers), 400, "VALIDATION_ERROR"
    )
    assert_error(
        client.patch(path, json={"category": "Show_tell"}, headers=alice.headers),
        400,
        "VALIDATION_ERROR",
    )

    deleted = assert_ok(client.delete(path, headers=alice.headers))
    assert deleted == {"id": post["id"], "deleted": True}
    assert_error(client.get(path), 404, "NOT_FOUND")
    assert_error(client.get(f"{path}/comments"), 404, "NOT_FOUND")
    assert_error(
        client.patch(
            f"{ARENA}/comments/{comment['id']}", json={"content": "x"}, headers=bob.headers
        ),
        404,
        "NOT_FOUND",
    )
    assert_error(client.delete(path, headers=alice.headers), 404, "NOT_FOUND")


def test_unknown_post_is_404(client: TestClient, make_agent: Any) -> None:
    agent = make_agent()
    assert_error(client.get(f"{ARENA}/posts/does-not-exist"), 404, "NOT_FOUND")
    assert_error(
        client.post(f"{ARENA}/posts/nope/votes", json={"vote_type": 1}, headers=agent.headers),
        404,
        "NOT_FOUND",
    )
    assert_error(
        client.post(f"{ARENA}/posts/nope/comments", json={"content": "x"}, headers=agent.headers),
        404,
        "NOT_FOUND",
    )
    assert_error(client.get(f"{ARENA}/posts/{'x' * 65}"), 400, "VALIDATION_ERROR")


def test_hostile_content_is_sanitised_in_posts_and_comments(
    client: TestClient, make_agent: Any
) -> None:
    from .test_rules import HOSTILE_MARKDOWN, assert_harmless

    agent = make_agent()
    content = "\n\n".join(HOSTILE_MARKDOWN)
    post = create_post(client, agent.headers, content=content)
    assert post["content"] == content  # the raw text is kept as written
    assert_harmless(post["content_html"])
    comment = assert_ok(
        client.post(
            f"{ARENA}/posts/{post['id']}/comments",
            json={"content": content[:2000]},
            headers=agent.headers,
        )
    )
    assert_harmless(comment["content_html"])
    feed = assert_ok(client.get(f"{ARENA}/posts"))
    assert_harmless(feed["posts"][0]["content_html"])


def _ids(client: TestClient, **params: Any) -> list[str]:
    return [p["id"] for p in assert_ok(client.get(f"{ARENA}/posts", params=params))["posts"]]


def test_feed_filters_by_category_author_and_period(
    client: TestClient, make_agent: Any, clock: FrozenClock
) -> None:
    alice, bob = make_agent("Alice"), make_agent("Bob")
    old = create_post(client, alice.headers, category="news_analysis")
    clock.advance(timedelta(days=25))
    month = create_post(client, bob.headers, category="market_talk")
    clock.advance(timedelta(days=10))
    week = create_post(client, alice.headers, category="market_talk")
    clock.advance(timedelta(days=5))
    today = create_post(client, bob.headers, category="show_tell")
    clock.advance(timedelta(hours=1))
    # Ages now: old 40 days, month 15 days, week 5 days, today 1 hour.

    assert _ids(client, sort="new") == [today["id"], week["id"]]  # default period 7d
    assert _ids(client, sort="new", period="24h") == [today["id"]]
    assert _ids(client, sort="new", period="30d") == [today["id"], week["id"], month["id"]]
    assert _ids(client, sort="new", period="all") == [
        today["id"],
        week["id"],
        month["id"],
        old["id"],
    ]
    assert _ids(client, sort="new", period="all", category="market_talk") == [
        week["id"],
        month["id"],
    ]
    assert _ids(client, sort="new", period="all", category="all") == _ids(
        client, sort="new", period="all"
    )
    assert _ids(client, sort="new", period="all", author_agent_id=alice.id) == [
        week["id"],
        old["id"],
    ]
    assert _ids(client, sort="new", period="all", author_agent_id="nobody") == []


BAD_FEED_PARAMS: list[dict[str, Any]] = [
    {"sort": "best"},
    {"sort": "HOT"},
    {"category": "Market_talk"},
    {"category": "general"},
    {"period": "1y"},
    {"period": "7D"},
    {"limit": 0},
    {"limit": 51},
    {"limit": "ten"},
    {"author_agent_id": ""},
    {"author_agent_id": "x" * 65},
    {"cursor": ""},
    {"cursor": "not-a-cursor"},
]


def test_feed_parameters_are_validated(client: TestClient) -> None:
    for params in BAD_FEED_PARAMS:
        error = assert_error(client.get(f"{ARENA}/posts", params=params), 400, "VALIDATION_ERROR")
        assert error["suggestion"]
    error = assert_error(
        client.get(f"{ARENA}/posts", params={"sort": "best"}), 400, "VALIDATION_ERROR"
    )
    for name in ("hot", "new", "top"):
        assert name in error["message"]
    for limit in (1, 50):
        assert_ok(client.get(f"{ARENA}/posts", params={"limit": limit}))


def test_feed_sorts_with_deterministic_ties(
    client: TestClient, make_agent: Any, clock: FrozenClock
) -> None:
    author = make_agent()
    voters = [make_agent() for _ in range(3)]
    first = create_post(client, author.headers, title="first")
    clock.advance(timedelta(hours=1))
    second = create_post(client, author.headers, title="second")
    clock.advance(timedelta(hours=1))
    third = create_post(client, author.headers, title="third")
    clock.advance(timedelta(minutes=1))
    for voter in voters:
        client.post(
            f"{ARENA}/posts/{first['id']}/votes", json={"vote_type": 1}, headers=voter.headers
        )
    for voter in voters[:2]:
        client.post(
            f"{ARENA}/posts/{third['id']}/votes", json={"vote_type": -1}, headers=voter.headers
        )

    assert _ids(client, sort="new") == [third["id"], second["id"], first["id"]]
    assert _ids(client, sort="top") == [first["id"], second["id"], third["id"]]
    # hot: +3 outweighs 2 hours of recency; -2 costs more than the 1 hour third is newer.
    assert _ids(client, sort="hot") == [first["id"], second["id"], third["id"]]
    assert _ids(client) == _ids(client, sort="hot")

    # Same time, same score: ties break by id, descending, on every sort.
    tied = [create_post(client, author.headers, title=f"tie {i}")["id"] for i in range(4)]
    expected = sorted(tied, reverse=True)
    assert [i for i in _ids(client, sort="new") if i in tied] == expected
    assert [i for i in _ids(client, sort="top") if i in tied] == expected
    assert [i for i in _ids(client, sort="hot") if i in tied] == expected


def test_feed_reports_my_vote_when_a_key_is_sent(client: TestClient, make_agent: Any) -> None:
    alice, bob = make_agent(), make_agent()
    up = create_post(client, alice.headers, title="up")
    down = create_post(client, alice.headers, title="down")
    none = create_post(client, alice.headers, title="none")
    client.post(f"{ARENA}/posts/{up['id']}/votes", json={"vote_type": 1}, headers=bob.headers)
    client.post(f"{ARENA}/posts/{down['id']}/votes", json={"vote_type": -1}, headers=bob.headers)
    mine = {
        p["id"]: p["my_vote"]
        for p in assert_ok(client.get(f"{ARENA}/posts", headers=bob.headers))["posts"]
    }
    assert mine == {up["id"]: 1, down["id"]: -1, none["id"]: 0}
    anonymous = assert_ok(client.get(f"{ARENA}/posts"))["posts"]
    assert {p["my_vote"] for p in anonymous} == {None}
    detail = assert_ok(client.get(f"{ARENA}/posts/{down['id']}", headers=bob.headers))
    assert detail["post"]["my_vote"] == -1
    response = client.get(f"{ARENA}/posts")
    assert "log10" in response.json()["meta"]["hot_formula"]
