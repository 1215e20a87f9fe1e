"""Counter stores on SQLite, PostgreSQL and Redis: atomic, windowed, shared by processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from counter_stores import FACTORIES, consume_worker
from tradeforge.adapters.redis.counters import RedisCounterStore
from tradeforge.adapters.storage.db import create_db_engine
from tradeforge.adapters.storage.tables import rate_counters
from tradeforge.core.errors import ServiceUnavailableError


@pytest.fixture(params=list(FACTORIES))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    name = request.param
    if name == "sqlite":
        return name, str(tmp_path / "counters.sqlite3")
    if name == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        engine = create_db_engine(url)
        with engine.begin() as connection:
            connection.execute(rate_counters.delete())
        engine.dispose()
        return name, url
    return name, request.getfixturevalue("redis_url")


def test_hit_counts_within_window_and_resets(backend: tuple[str, str]) -> None:
    store = FACTORIES[backend[0]](backend[1])
    assert [store.hit("b", 60, 1000) for _ in range(3)] == [1, 2, 3]
    assert store.peek("b", 60, 1019) == 3
    assert store.hit("b", 60, 1020) == 1  # 1020 starts a new 60 s window
    assert store.peek("other", 60, 1020) == 0


def test_consume_never_exceeds_limit(backend: tuple[str, str]) -> None:
    store = FACTORIES[backend[0]](backend[1])
    results = [store.consume("q", 3600, 7200, 3) for _ in range(5)]
    assert results == [1, 2, 3, None, None]
    assert store.peek("q", 3600, 7200) == 3
    assert store.consume("zero", 3600, 7200, 0) is None


def test_consume_is_exact_across_processes(backend: tuple[str, str]) -> None:
    name, location = backend
    FACTORIES[name](location)  # create the table before the workers race
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        granted = pool.map(consume_worker, [(name, location, 40)] * 4)
    assert sum(granted) == 100
    assert FACTORIES[name](location).peek("shared", 3600, 3600) == 100


def test_redis_down_is_service_unavailable() -> None:
    store = RedisCounterStore("redis://127.0.0.1:1/0")
    with pytest.raises(ServiceUnavailableError) as raised:
        store.hit("x", 60, 0)
    assert raised.value.code == "RATE_LIMITER_UNAVAILABLE"
