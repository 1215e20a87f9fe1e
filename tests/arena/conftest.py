"""Arena fixtures: many agents per test and a clock that moves by weeks, so registrations
per address, daily post quotas and key expiry are relaxed (quota tests set their own)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import SettingsFactory
from tradeforge.config import Settings
from tradeforge.services.arena import ArenaPolicy

from ._helpers import Agent


@pytest.fixture
def settings(make_settings: SettingsFactory, database_url: str) -> Settings:
    return make_settings(
        database_url,
        registrations_per_ip_per_hour=1000,
        provisional_posts_per_day=1000,
        claimed_posts_per_day=1000,
        # Feed tests move the clock by weeks; keep provisional keys alive meanwhile.
        provisional_key_ttl_hours=24 * 365,
    )


@pytest.fixture
def relaxed_posting(app: FastAPI) -> None:
    """Lift the per-agent burst limit, for tests that need many posts quickly."""
    app.state.container.extras["arena_policy"] = ArenaPolicy(posts_per_window=10_000)


@pytest.fixture
def make_agent(client: TestClient) -> Any:
    counter = iter(range(1, 10_000))

    def build(name: str | None = None) -> Agent:
        return Agent(client, name or f"Agent {next(counter)}")

    return build
