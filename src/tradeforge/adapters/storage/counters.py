"""Fixed-window counters shared across processes: one table, upserted atomically.

Works on SQLite (3.35+) and PostgreSQL with ``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING``; a conditional ``WHERE count < limit`` on the update makes ``consume`` a
single atomic statement, so concurrent requests can never overshoot a quota.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from tradeforge.adapters.storage.tables import rate_counters

_CLEANUP_EVERY = 500


def _window_start(now_s: int, window_seconds: int) -> int:
    return now_s - now_s % window_seconds


class DatabaseCounterStore:
    """:class:`tradeforge.ports.CounterStore` on the application database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        dialect = engine.dialect.name
        self._insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self._calls = 0
        self._lock = threading.Lock()

    def _upsert(
        self, bucket: str, window_seconds: int, now_s: int, limit: int | None
    ) -> int | None:
        if limit is not None and limit <= 0:
            return None
        start = _window_start(now_s, window_seconds)
        statement = self._insert(rate_counters).values(
            bucket=bucket, window_start=start, count=1, expires_at=start + window_seconds
        )
        where = None if limit is None else rate_counters.c.count < limit
        statement = statement.on_conflict_do_update(
            index_elements=[rate_counters.c.bucket, rate_counters.c.window_start],
            set_={"count": rate_counters.c.count + 1},
            where=where,
        ).returning(rate_counters.c.count)
        with self._engine.begin() as connection:
            row = connection.execute(statement).first()
            if self._should_clean():
                connection.execute(delete(rate_counters).where(rate_counters.c.expires_at < now_s))
        return None if row is None else int(row[0])

    def _should_clean(self) -> bool:
        with self._lock:
            self._calls += 1
            return self._calls % _CLEANUP_EVERY == 0

    def hit(self, bucket: str, window_seconds: int, now_s: int) -> int:
        total = self._upsert(bucket, window_seconds, now_s, None)
        assert total is not None
        return total

    def consume(self, bucket: str, window_seconds: int, now_s: int, limit: int) -> int | None:
        return self._upsert(bucket, window_seconds, now_s, limit)

    def peek(self, bucket: str, window_seconds: int, now_s: int) -> int:
        start = _window_start(now_s, window_seconds)
        query = select(rate_counters.c.count).where(
            rate_counters.c.bucket == bucket, rate_counters.c.window_start == start
        )
        with self._engine.connect() as connection:
            value = connection.execute(query).scalar()
        return int(value or 0)
