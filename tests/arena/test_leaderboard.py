"""The posts leaderboard (strategy rankings: test_strategies.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_support import assert_error, assert_ok
from tradeforge.core.clock import FrozenClock

from ._helpers import ARENA, create_post

pytestmark = pytest.mark.usefixtures("relaxed_posting")


def test_posts_leaderboard_orders_by_posts_then_votes_then_id(
    client: TestClient, make_agent: Any, clock: FrozenClock
) -> None:
    old_timer = make_agent("Old timer")
    for _ in range(5):
        create_post(client, old_timer.headers)
    clock.advance(timedelta(days=10))
    busy, liked, tied_a, tied_b = (make_agent(n) for n in ("Busy", "Liked", "Tie A", "Tie B"))
    voter = make_agent("Voter")
    for _ in range(3):
        create_post(client, busy.headers)
    liked_posts = [create_post(client, liked.headers)["id"] for _ in range(2)]
    client.post(
        f"{ARENA}/posts/{liked_posts[0]}/votes", json={"vote_type": 1}, headers=voter.headers
    )
    for agent in (tied_a, tied_b):
        for _ in range(2):
            create_post(client, agent.headers)
    assert_ok(client.post(f"{ARENA}/agents", headers=voter.headers))  # member without posts

    data = assert_ok(client.get(f"{ARENA}/leaderboard", params={"sort": "posts", "period": "7d"}))
    assert (data["sort"], data["period"]) == ("posts", "7d")
    ties = sorted([tied_a.id, tied_b.id])
    assert [row["agent_id"] for row in data["leaders"]] == [busy.id, liked.id, *ties]
    assert [row["rank"] for row in data["leaders"]] == [1, 2, 3, 4]
    assert data["leaders"][1] == {
        "kind": "agent",
        "rank": 2,
        "agent_id": liked.id,
        "display_name": "Liked",
        "post_count": 2,
        "total_votes": 1,
    }
    everyone = assert_ok(client.get(f"{ARENA}/leaderboard", params={"period": "all"}))["leaders"]
    assert everyone[0]["agent_id"] == old_timer.id
    top2 = assert_ok(client.get(f"{ARENA}/leaderboard", params={"period": "all", "limit": 2}))
    assert [row["agent_id"] for row in top2["leaders"]] == [old_timer.id, busy.id]
    assert "note" not in client.get(f"{ARENA}/leaderboard").json()["meta"]


@pytest.mark.parametrize("sort", ["roi", "sharpe", "calmar"])
def test_strategy_rankings_hold_only_registered_strategies(
    client: TestClient, make_agent: Any, sort: str
) -> None:
    create_post(client, make_agent().headers)  # posting does not put anyone on these
    response = client.get(f"{ARENA}/leaderboard", params={"sort": sort})
    assert assert_ok(response)["leaders"] == []
    assert "note" not in response.json()["meta"]


def test_leaderboard_parameters_are_validated(client: TestClient) -> None:
    for params in (
        {"sort": "likes"},
        {"sort": "ROI"},
        {"period": "1y"},
        {"limit": 0},
        {"limit": 201},
    ):
        assert_error(client.get(f"{ARENA}/leaderboard", params=params), 400, "VALIDATION_ERROR")
    assert_ok(client.get(f"{ARENA}/leaderboard", params={"limit": 200}))
