"""Stored responses for ``Idempotency-Key`` requests (first response replayed for 24 h).

One row per (scope, key). ``scope`` is a digest of the caller's credential (or address), so
keys never collide across tenants and no credential is stored. A row is ``in_progress``
while the first request runs, then ``completed`` with the response; a 5xx or a crash
leaves nothing behind, so the client may retry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from tradeforge.adapters.storage.tables import metadata
from tradeforge.adapters.storage.types import UTCDateTime

RETENTION = timedelta(hours=24)

idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("scope", String(64), nullable=False),
    Column("key", String(255), nullable=False),
    Column("method", String(10), nullable=False),
    Column("path", String(512), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("response_status", Integer(), nullable=True),
    Column("response_headers", Text(), nullable=True),
    Column("response_body", LargeBinary(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("scope", "key", name="pk_idempotency_records"),
    Index("ix_idempotency_records_created_at", "created_at"),
)


class Outcome(StrEnum):
    PROCEED = "proceed"  # first time: run the request, then complete() or abandon()
    REPLAY = "replay"  # same request seen: answer with the stored response
    MISMATCH = "mismatch"  # same key, different request
    IN_PROGRESS = "in_progress"  # the first request is still running


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    status: int | None = None
    headers: list[tuple[str, str]] | None = None
    body: bytes | None = None


class IdempotencyStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        dialect = engine.dialect.name
        self._insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert

    def begin(
        self, scope: str, key: str, method: str, path: str, request_hash: str, now: datetime
    ) -> Decision:
        """Claim ``key`` for this request, or say what was stored for it."""
        table = idempotency_records
        with self._engine.begin() as connection:
            connection.execute(delete(table).where(table.c.created_at < now - RETENTION))
            inserted = connection.execute(
                self._insert(table)
                .values(
                    scope=scope,
                    key=key,
                    method=method,
                    path=path,
                    request_hash=request_hash,
                    state="in_progress",
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=[table.c.scope, table.c.key])
                .returning(table.c.key)
            ).first()
            if inserted is not None:
                return Decision(Outcome.PROCEED)
            row = connection.execute(
                select(table).where(table.c.scope == scope, table.c.key == key)
            ).one()
        if (row.method, row.path, row.request_hash) != (method, path, request_hash):
            return Decision(Outcome.MISMATCH)
        if row.state != "completed":
            return Decision(Outcome.IN_PROGRESS)
        headers = [tuple(pair) for pair in json.loads(row.response_headers or "[]")]
        return Decision(Outcome.REPLAY, row.response_status, headers, row.response_body)

    def complete(
        self, scope: str, key: str, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        table = idempotency_records
        with self._engine.begin() as connection:
            connection.execute(
                update(table)
                .where(table.c.scope == scope, table.c.key == key)
                .values(
                    state="completed",
                    response_status=status,
                    response_headers=json.dumps(headers),
                    response_body=body,
                )
            )

    def abandon(self, scope: str, key: str) -> None:
        table = idempotency_records
        with self._engine.begin() as connection:
            connection.execute(delete(table).where(table.c.scope == scope, table.c.key == key))
