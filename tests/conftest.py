"""Shared fixtures: both databases, a frozen clock, a fresh app per test.

PostgreSQL and Redis are real servers on loopback. When they are missing the tests that
need them FAIL with instructions; nothing is skipped silently.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tradeforge.adapters.storage.db import create_db_engine
from tradeforge.adapters.storage.migrate import upgrade
from tradeforge.adapters.storage.tables import metadata
from tradeforge.api.app import create_app
from tradeforge.config import Settings
from tradeforge.core.clock import FrozenClock

POSTGRES_URL = os.environ.get(
    "TRADEFORGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TRADEFORGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
T0 = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)


def _unreachable(what: str, url: str, error: Exception) -> None:
    pytest.fail(
        f"{what} is required by the test suite but unreachable at {url}: {error!r}. "
        "Run 'make services' (scripts/ensure-services.sh) or set TRADEFORGE_TEST_POSTGRES_URL / "
        "TRADEFORGE_TEST_REDIS_URL.",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"tf_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        _unreachable("PostgreSQL", POSTGRES_URL, error)
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "tradeforge.sqlite3"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _truncate_postgres(url: str) -> None:
    engine = create_db_engine(url)
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The application database, once per backend."""
    if request.param == "sqlite":
        target = tmp_path / "data" / "tradeforge.sqlite3"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_url")
    _truncate_postgres(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only, for tests whose subject does not depend on the database."""
    target = tmp_path / "data" / "tradeforge.sqlite3"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except Exception as error:
        _unreachable("Redis", REDIS_URL, error)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    def build(database_url: str, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "environment": "test",
            "log_json": False,
        }
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def settings(make_settings: SettingsFactory, database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> FastAPI:
    return create_app(settings, clock=clock)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
