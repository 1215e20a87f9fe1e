"""Read-only queries of the web dashboard.

Two questions: "is this backtest result public?" (attached to an arena post, or
registered on the strategy leaderboard, where its script and request are public anyway;
``ix_arena_posts_strategy_settings`` serves the first half) and "which results did these
keys produce?" (a user's recent backtests).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from tradeforge.adapters.storage.tables import arena_posts, arena_strategies, backtest_results


@dataclass(frozen=True)
class ResultRow:
    """One line of a user's backtest list."""

    result_id: str
    api_key_id: str
    created_at: datetime
    description: str
    request: dict[str, Any]
    metrics: dict[str, Any]
    num_trades: int


class DashboardQueries:
    def __init__(self, session: Session) -> None:
        self._session = session

    def is_public_result(self, result_id: str) -> bool:
        posted = exists().where(arena_posts.c.strategy_settings_id == result_id)
        registered = exists().where(arena_strategies.c.result_id == result_id)
        query = select(posted.label("posted"), registered.label("registered"))
        row = self._session.execute(query).one()
        return bool(row.posted) or bool(row.registered)

    def recent_results(self, key_ids: Collection[str], limit: int) -> list[ResultRow]:
        if not key_ids:
            return []
        r = backtest_results.c
        query = (
            select(
                r.id, r.api_key_id, r.created_at, r.description, r.request, r.metrics, r.num_trades
            )
            .where(r.api_key_id.in_(list(key_ids)))
            .order_by(r.created_at.desc(), r.id)
            .limit(limit)
        )
        return [
            ResultRow(
                result_id=str(row.id),
                api_key_id=str(row.api_key_id),
                created_at=row.created_at,
                description=str(row.description),
                request=dict(row.request or {}),
                metrics=dict(row.metrics or {}),
                num_trades=int(row.num_trades),
            )
            for row in self._session.execute(query)
        ]
