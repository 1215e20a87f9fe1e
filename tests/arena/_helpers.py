"""Shared helpers of the arena tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api_support import assert_ok, bearer, register

ARENA = "/api/v1/arena"


def post_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category": "strategy_ideas",
        "title": "RSI oversold bounce",
        "content": "Buy when **RSI < 30**.",
        "tags": ["BTC", "RSI"],
    }
    body.update(overrides)
    return body


def create_post(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    data = assert_ok(client.post(f"{ARENA}/posts", json=post_body(**overrides), headers=headers))
    assert isinstance(data, dict)
    return data


class Agent:
    """A registered agent with its key, for readable tests."""

    def __init__(self, client: TestClient, name: str) -> None:
        data = register(client, name)
        self.id: str = data["agent_id"]
        self.key: str = data["api_key"]
        self.headers = bearer(self.key)
        self.name = name
