"""Arena profiles, membership and subscriptions (follows)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_support import assert_error, assert_ok
from tradeforge.core.clock import FrozenClock

from ._helpers import ARENA, Agent, create_post

pytestmark = pytest.mark.usefixtures("relaxed_posting")


def test_joining_is_explicit_or_implicit_and_idempotent(
    client: TestClient, make_agent: Any
) -> None:
    alice: Agent = make_agent("Alice")
    me = assert_ok(client.get(f"{ARENA}/profile", headers=alice.headers))
    assert (me["agent_id"], me["arena_member"], me["joined_at"]) == (alice.id, False, None)
    assert_error(client.get(f"{ARENA}/agents/{alice.id}"), 404, "NOT_FOUND")  # not a member

    first = assert_ok(client.post(f"{ARENA}/agents", headers=alice.headers))
    assert first["created"] is True
    assert first["profile"]["arena_member"] is True
    again = assert_ok(client.post(f"{ARENA}/agents", headers=alice.headers))
    assert again["created"] is False
    assert again["profile"]["joined_at"] == first["profile"]["joined_at"]
    public = assert_ok(client.get(f"{ARENA}/agents/{alice.id}"))
    assert public["display_name"] == "Alice"
    assert public["strategy_stats"] == {
        "registered_strategies": 0,
        "best_roi": None,
        "avg_roi": None,
        "best_sharpe": None,
        "avg_sharpe": None,
        "best_calmar": None,
    }

    bob = make_agent("Bob")
    create_post(client, bob.headers)  # posting joins
    assert assert_ok(client.get(f"{ARENA}/agents/{bob.id}"))["arena_member"] is True
    assert_error(client.get(f"{ARENA}/agents/unknown-agent"), 404, "NOT_FOUND")
    assert_error(client.get(f"{ARENA}/profile"), 401, "AUTHENTICATION_REQUIRED")
    assert_error(client.post(f"{ARENA}/agents"), 401, "AUTHENTICATION_REQUIRED")


def test_profile_update_changes_only_sent_fields(client: TestClient, make_agent: Any) -> None:
    agent: Agent = make_agent("Before")
    headers = agent.headers
    data = assert_ok(
        client.patch(
            f"{ARENA}/profile",
            json={
                "display_name": "After",
                "description": "Mean reversion on majors.",
                "strategy_type": "mean_reversion",
                "risk_profile": "conservative",
            },
            headers=headers,
        )
    )
    assert (data["display_name"], data["description"]) == ("After", "Mean reversion on majors.")
    assert (data["strategy_type"], data["risk_profile"]) == ("mean_reversion", "conservative")
    assert data["arena_member"] is True
    data = assert_ok(client.patch(f"{ARENA}/profile", json={"description": None}, headers=headers))
    assert data["description"] is None
    assert data["strategy_type"] == "mean_reversion"  # untouched
    me = assert_ok(client.get("/api/v1/meta/agents/me", headers=headers))
    assert (me["display_name"], me["risk_profile"]) == ("After", "conservative")
    public = assert_ok(client.get(f"{ARENA}/agents/{agent.id}"))
    assert public["display_name"] == "After"
    edge = assert_ok(
        client.patch(
            f"{ARENA}/profile",
            json={"display_name": "n" * 50, "description": "d" * 500},
            headers=headers,
        )
    )
    assert len(edge["display_name"]) == 50


BAD_PROFILE_BODIES: list[dict[str, Any]] = [
    {},
    {"display_name": ""},
    {"display_name": "   "},
    {"display_name": "n" * 51},
    {"display_name": None},
    {"display_name": 5},
    {"description": "d" * 501},
    {"risk_profile": "reckless"},
    {"risk_profile": "Conservative"},
    {"strategy_type": ""},
    {"strategy_type": "s" * 51},
    {"agent_id": "someone-else"},
    {"display_name": "ok", "claimed": True},
]


def test_profile_update_is_validated(client: TestClient, make_agent: Any) -> None:
    agent: Agent = make_agent("Stable")
    for body in BAD_PROFILE_BODIES:
        response = client.patch(f"{ARENA}/profile", json=body, headers=agent.headers)
        assert_error(response, 400, "VALIDATION_ERROR")
    me = assert_ok(client.get(f"{ARENA}/profile", headers=agent.headers))
    assert me["display_name"] == "Stable"
    assert_error(
        client.patch(f"{ARENA}/profile", json={"description": "x"}), 401, "AUTHENTICATION_REQUIRED"
    )


def test_subscribe_unsubscribe_and_list(
    client: TestClient, make_agent: Any, clock: FrozenClock
) -> None:
    me: Agent = make_agent("Me")
    others = [make_agent(f"Star {i}") for i in range(5)]
    for other in others:
        assert_ok(client.post(f"{ARENA}/agents", headers=other.headers))

    error = assert_error(
        client.post(f"{ARENA}/agents/{me.id}/subscribe", headers=me.headers),
        400,
        "VALIDATION_ERROR",
    )
    assert "itself" in error["message"]
    assert_error(
        client.post(f"{ARENA}/agents/nobody/subscribe", headers=me.headers), 404, "NOT_FOUND"
    )
    stranger = make_agent("Not in the arena")
    assert_error(
        client.post(f"{ARENA}/agents/{stranger.id}/subscribe", headers=me.headers),
        404,
        "NOT_FOUND",
    )

    for other in others:
        data = assert_ok(client.post(f"{ARENA}/agents/{other.id}/subscribe", headers=me.headers))
        assert (data["agent_id"], data["subscribed"], data["created"]) == (other.id, True, True)
        clock.advance(timedelta(seconds=1))
    repeat = assert_ok(client.post(f"{ARENA}/agents/{others[0].id}/subscribe", headers=me.headers))
    assert repeat["created"] is False

    listed: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = assert_ok(
            client.get(f"{ARENA}/profile/subscriptions", params=params, headers=me.headers)
        )
        listed += [entry["agent_id"] for entry in page["subscriptions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert listed == [other.id for other in reversed(others)]  # newest first
    star = assert_ok(client.get(f"{ARENA}/agents/{others[0].id}"))
    assert star["stats"]["followers"] == 1
    mine = assert_ok(client.get(f"{ARENA}/profile", headers=me.headers))
    assert mine["stats"]["following"] == 5

    gone = assert_ok(
        client.delete(f"{ARENA}/agents/{others[0].id}/unsubscribe", headers=me.headers)
    )
    assert gone["subscribed"] is False
    assert_error(
        client.delete(f"{ARENA}/agents/{others[0].id}/unsubscribe", headers=me.headers),
        404,
        "SUBSCRIPTION_NOT_FOUND",
    )
    assert_error(
        client.delete(f"{ARENA}/agents/nobody/unsubscribe", headers=me.headers), 404, "NOT_FOUND"
    )
    assert assert_ok(client.get(f"{ARENA}/agents/{others[0].id}"))["stats"]["followers"] == 0
    for params in ({"limit": 0}, {"limit": 101}, {"cursor": "bad"}):
        response = client.get(f"{ARENA}/profile/subscriptions", params=params, headers=me.headers)
        assert_error(response, 400, "VALIDATION_ERROR")
    assert_error(client.get(f"{ARENA}/profile/subscriptions"), 401, "AUTHENTICATION_REQUIRED")


def test_profile_stats_follow_posts_votes_and_comments(client: TestClient, make_agent: Any) -> None:
    author, fan, critic = make_agent(), make_agent(), make_agent()
    first = create_post(client, author.headers)["id"]
    second = create_post(client, author.headers)["id"]
    for voter in (fan, critic):
        client.post(f"{ARENA}/posts/{first}/votes", json={"vote_type": 1}, headers=voter.headers)
    client.post(f"{ARENA}/posts/{second}/votes", json={"vote_type": -1}, headers=critic.headers)
    client.post(f"{ARENA}/posts/{first}/comments", json={"content": "a"}, headers=author.headers)
    client.post(f"{ARENA}/agents/{author.id}/subscribe", headers=fan.headers)
    stats = assert_ok(client.get(f"{ARENA}/agents/{author.id}"))["stats"]
    assert stats == {
        "post_count": 2,
        "total_votes": 1,
        "upvotes_received": 2,
        "downvotes_received": 1,
        "comment_count": 1,
        "followers": 1,
        "following": 0,
    }
    client.delete(f"{ARENA}/posts/{second}", headers=author.headers)
    stats = assert_ok(client.get(f"{ARENA}/agents/{author.id}"))["stats"]
    assert (stats["post_count"], stats["total_votes"], stats["downvotes_received"]) == (1, 2, 0)
    response = client.get(f"{ARENA}/agents/{author.id}")
    assert "note" not in response.json()["meta"]
