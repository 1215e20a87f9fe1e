"""Fixtures of the security matrices (RELIABILITY §4 E1, E2, J3).

One app per database per module (``world``): building an app and running real backtests
for every parametrized case would take minutes, and the matrices only read the world or
check that a request by the wrong caller changed nothing. Every module that uses ``world``
gets its own fresh database (SQLite file copied from the migrated template; PostgreSQL
truncated), on both backends.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import T0, _truncate_postgres
from tradeforge.api.app import create_app
from tradeforge.config import Settings
from tradeforge.core.clock import FrozenClock
from tradeforge.services.arena import ArenaPolicy

from ._world import World


def _settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        environment="test",
        log_json=False,
        registrations_per_ip_per_hour=1000,
        provisional_key_ttl_hours=24 * 365,
        provisional_posts_per_day=1000,
        claimed_posts_per_day=1000,
        provisional_backtests_per_hour=1000,
        provisional_backtests_per_day=1000,
        provisional_api_calls_per_day=100_000,
        rate_limit_per_hour=100_000,
        run_jobs_in_process=False,  # jobs are run synchronously with the worker code
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("security") / "data"
    data_dir.mkdir(parents=True)
    if request.param == "sqlite":
        target = data_dir / "tradeforge.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        url = f"sqlite:///{target}"
    else:
        url = request.getfixturevalue("postgres_url")
        _truncate_postgres(url)
    settings = _settings(data_dir, url)
    app = create_app(settings, clock=FrozenClock(T0))
    app.state.container.extras["arena_policy"] = ArenaPolicy(posts_per_window=10_000)
    with TestClient(app, raise_server_exceptions=False) as client:
        built = World(app, client, settings)
        yield built
        built.close()
