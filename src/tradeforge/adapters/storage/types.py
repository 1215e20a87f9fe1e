"""Column types that keep the domain's invariants on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, String
from sqlalchemy.types import TypeDecorator

from tradeforge.core.accounts import Scope


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python; naive UTC in SQLite, timestamptz in PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the database; use UTC-aware values")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ScopeSet(TypeDecorator[frozenset[Scope]]):
    """A set of scopes stored as a sorted comma-separated string."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: frozenset[Scope] | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return ",".join(sorted(str(scope) for scope in value))

    def process_result_value(self, value: Any, dialect: Dialect) -> frozenset[Scope] | None:
        if value is None:
            return None
        return frozenset(Scope(part) for part in str(value).split(",") if part)
