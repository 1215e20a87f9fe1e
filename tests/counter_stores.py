"""Counter-store factories importable by spawned worker processes."""

from __future__ import annotations

from collections.abc import Callable

from tradeforge.adapters.redis.counters import RedisCounterStore
from tradeforge.adapters.storage.counters import DatabaseCounterStore
from tradeforge.adapters.storage.db import create_db_engine
from tradeforge.adapters.storage.tables import metadata, rate_counters
from tradeforge.ports import CounterStore


def sqlite_store(path: str) -> CounterStore:
    engine = create_db_engine(f"sqlite:///{path}")
    metadata.create_all(engine, tables=[rate_counters])
    return DatabaseCounterStore(engine)


def postgres_store(url: str) -> CounterStore:
    return DatabaseCounterStore(create_db_engine(url))


def redis_store(url: str) -> CounterStore:
    return RedisCounterStore(url)


FACTORIES: dict[str, Callable[[str], CounterStore]] = {
    "sqlite": sqlite_store,
    "postgresql": postgres_store,
    "redis": redis_store,
}


def consume_worker(args: tuple[str, str, int]) -> int:
    """Try ``attempts`` consumes against a shared limit of 100; return how many succeeded."""
    name, location, attempts = args
    store = FACTORIES[name](location)
    return sum(store.consume("shared", 3600, 3600, 100) is not None for _ in range(attempts))
