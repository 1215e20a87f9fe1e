"""SQLAlchemy implementation of :class:`tradeforge.ports.ArenaRepository`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tradeforge.adapters.storage.tables import (
    agents,
    arena_comments,
    arena_follows,
    arena_members,
    arena_posts,
    arena_strategies,
    arena_votes,
    backtest_results,
    map_domain,
)
from tradeforge.core.accounts import Agent
from tradeforge.core.arena import (
    AgentStats,
    ArenaMember,
    Comment,
    FeedQuery,
    FeedSort,
    Follow,
    LeaderboardSort,
    Post,
    PostLeader,
    RegisteredStrategy,
    StrategyLeader,
    StrategyStats,
    Vote,
)
from tradeforge.core.jobs import BacktestResultRecord

_S = arena_strategies.c
_METRIC_COLUMN = {
    LeaderboardSort.ROI: _S.roi,
    LeaderboardSort.SHARPE: _S.sharpe,
    LeaderboardSort.CALMAR: _S.calmar,
}

_SORT_COLUMN = {
    FeedSort.NEW: arena_posts.c.created_at,
    FeedSort.HOT: arena_posts.c.hot_rank,
    FeedSort.TOP: arena_posts.c.score,
}


def _before(column: Any, id_column: Any, key: Any, id_: str) -> ColumnElement[bool]:
    """Keyset condition for descending ``(column, id)``: strictly after ``(key, id_)``.

    A row-value comparison, plus the redundant ``column <= key``: both are index range
    conditions on the ``(column, id)`` indexes (PostgreSQL and SQLite >= 3.15). The
    equivalent ``column < key OR (column = key AND id < id_)`` is only a *filter* there,
    so a deep page scanned every row before its position (benchmarks/bench_arena_feed.py).
    """
    return and_(column <= key, tuple_(column, id_column) < tuple_(key, id_))


def feed_statement(query: FeedQuery) -> Select[Post]:
    """The feed query: filters, then keyset on (sort key, id) descending.

    Indexes (``tables.arena_posts``) deliver rows in this order, so a page is a backward
    index range scan that stops after ``limit`` rows: (created_at, id), (hot_rank, id),
    (score, id), and with a category (category, created_at, id) and (category, hot_rank,
    id); "top" within a category walks (score, id) and filters. An author's posts come
    from (author_agent_id, created_at, id), then a sort for hot/top (one author's
    posts in the period).
    """
    map_domain()
    column = _SORT_COLUMN[query.sort]
    statement = select(Post)
    if query.category is not None:
        statement = statement.where(arena_posts.c.category == query.category)
    if query.since is not None:
        statement = statement.where(arena_posts.c.created_at >= query.since)
    if query.author_agent_id is not None:
        statement = statement.where(arena_posts.c.author_agent_id == query.author_agent_id)
    if query.after is not None:
        key, id_ = query.after
        statement = statement.where(_before(column, arena_posts.c.id, key, id_))
    return statement.order_by(column.desc(), arena_posts.c.id.desc()).limit(query.limit)


class SqlArenaRepository:
    def __init__(self, session: Session) -> None:
        map_domain()
        self._session = session

    def add(self, obj: ArenaMember | Post | Vote | Comment | Follow) -> None:
        self._session.add(obj)

    def delete(self, obj: Post | Vote | Follow) -> None:
        self._session.delete(obj)

    def flush(self) -> None:
        self._session.flush()

    # -- agents and members ---------------------------------------------------------------

    def get_agent(self, agent_id: str) -> Agent | None:
        return self._session.get(Agent, agent_id)

    def display_names(self, agent_ids: set[str]) -> dict[str, str]:
        if not agent_ids:
            return {}
        rows = self._session.execute(
            select(agents.c.id, agents.c.display_name).where(agents.c.id.in_(agent_ids))
        )
        return {str(row.id): str(row.display_name) for row in rows}

    def get_member(self, agent_id: str) -> ArenaMember | None:
        return self._session.get(ArenaMember, agent_id)

    def add_member_if_absent(self, agent_id: str, now: datetime) -> None:
        dialect = self._session.get_bind().dialect.name
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self._session.execute(
            insert(arena_members)
            .values(agent_id=agent_id, joined_at=now)
            .on_conflict_do_nothing(index_elements=[arena_members.c.agent_id])
        )

    def agent_stats(self, agent_id: str) -> AgentStats:
        posts = self._session.execute(
            select(
                func.count(arena_posts.c.id),
                func.coalesce(func.sum(arena_posts.c.score), 0),
                func.coalesce(func.sum(arena_posts.c.upvotes), 0),
                func.coalesce(func.sum(arena_posts.c.downvotes), 0),
            ).where(arena_posts.c.author_agent_id == agent_id)
        ).one()
        comments = self._session.scalar(
            select(func.count())
            .select_from(arena_comments)
            .where(
                arena_comments.c.author_agent_id == agent_id,
                arena_comments.c.deleted_at.is_(None),
            )
        )
        followers = self._session.scalar(
            select(func.count())
            .select_from(arena_follows)
            .where(arena_follows.c.followee_agent_id == agent_id)
        )
        following = self._session.scalar(
            select(func.count())
            .select_from(arena_follows)
            .where(arena_follows.c.follower_agent_id == agent_id)
        )
        return AgentStats(
            post_count=int(posts[0]),
            score_total=int(posts[1]),
            upvotes_received=int(posts[2]),
            downvotes_received=int(posts[3]),
            comment_count=int(comments or 0),
            followers=int(followers or 0),
            following=int(following or 0),
        )

    # -- posts ------------------------------------------------------------------------------

    def get_post(self, post_id: str) -> Post | None:
        return self._session.get(Post, post_id)

    def lock_post(self, post_id: str) -> Post | None:
        query = (
            select(Post)
            .where(arena_posts.c.id == post_id)
            # FOR NO KEY UPDATE on PostgreSQL: serialises voters without blocking the
            # foreign-key checks of concurrent comment inserts.
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
        return self._session.scalars(query).one_or_none()

    def list_posts(self, query: FeedQuery) -> list[Post]:
        return list(self._session.scalars(feed_statement(query)))

    # -- votes ------------------------------------------------------------------------------

    def get_vote(self, post_id: str, agent_id: str) -> Vote | None:
        return self._session.get(Vote, (post_id, agent_id))

    def votes_by(self, agent_id: str, post_ids: list[str]) -> dict[str, int]:
        if not post_ids:
            return {}
        rows = self._session.execute(
            select(arena_votes.c.post_id, arena_votes.c.value).where(
                arena_votes.c.agent_id == agent_id, arena_votes.c.post_id.in_(post_ids)
            )
        )
        return {str(row.post_id): int(row.value) for row in rows}

    # -- comments ---------------------------------------------------------------------------

    def get_comment(self, comment_id: str) -> Comment | None:
        return self._session.get(Comment, comment_id)

    def list_comments(
        self, post_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[Comment]:
        created, id_ = arena_comments.c.created_at, arena_comments.c.id
        statement = select(Comment).where(arena_comments.c.post_id == post_id)
        if after is not None:
            statement = statement.where(
                or_(created > after[0], and_(created == after[0], id_ > after[1]))
            )
        statement = statement.order_by(created, id_).limit(limit)
        return list(self._session.scalars(statement))

    def add_to_comment_count(self, post_id: str, delta: int) -> None:
        self._session.execute(
            update(arena_posts)
            .where(arena_posts.c.id == post_id)
            .values(comment_count=arena_posts.c.comment_count + delta)
        )

    # -- follows ----------------------------------------------------------------------------

    def get_follow(self, follower_id: str, followee_id: str) -> Follow | None:
        return self._session.get(Follow, (follower_id, followee_id))

    def list_follows(
        self, follower_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[Follow]:
        created, followee = arena_follows.c.created_at, arena_follows.c.followee_agent_id
        statement = select(Follow).where(arena_follows.c.follower_agent_id == follower_id)
        if after is not None:
            statement = statement.where(_before(created, followee, after[0], after[1]))
        statement = statement.order_by(created.desc(), followee.desc()).limit(limit)
        return list(self._session.scalars(statement))

    # -- leaderboard ------------------------------------------------------------------------

    def leaders_by_posts(self, since: datetime | None, limit: int) -> list[PostLeader]:
        post_count = func.count(arena_posts.c.id)
        score_total = func.coalesce(func.sum(arena_posts.c.score), 0)
        statement = (
            select(agents.c.id, agents.c.display_name, post_count, score_total)
            .select_from(arena_members)
            .join(agents, agents.c.id == arena_members.c.agent_id)
            .join(arena_posts, arena_posts.c.author_agent_id == arena_members.c.agent_id)
        )
        if since is not None:
            statement = statement.where(arena_posts.c.created_at >= since)
        statement = (
            statement.group_by(agents.c.id, agents.c.display_name)
            .order_by(post_count.desc(), score_total.desc(), agents.c.id)
            .limit(limit)
        )
        return [
            PostLeader(
                agent_id=str(row[0]),
                display_name=str(row[1]),
                post_count=int(row[2]),
                score_total=int(row[3]),
            )
            for row in self._session.execute(statement)
        ]

    # -- backtest results and registered strategies ----------------------------------------

    def get_result(self, result_id: str) -> BacktestResultRecord | None:
        return self._session.get(BacktestResultRecord, result_id)

    def results_by_ids(self, result_ids: set[str]) -> dict[str, BacktestResultRecord]:
        if not result_ids:
            return {}
        query = select(BacktestResultRecord).where(backtest_results.c.id.in_(result_ids))
        return {record.id: record for record in self._session.scalars(query)}

    def get_strategy(self, strategy_id: str) -> RegisteredStrategy | None:
        return self._session.get(RegisteredStrategy, strategy_id)

    def strategy_for_result(self, result_id: str) -> RegisteredStrategy | None:
        query = select(RegisteredStrategy).where(_S.result_id == result_id)
        return self._session.scalars(query).one_or_none()

    def strategy_by_fingerprint(self, agent_id: str, fingerprint: str) -> RegisteredStrategy | None:
        query = select(RegisteredStrategy).where(
            _S.agent_id == agent_id, _S.fingerprint == fingerprint
        )
        return self._session.scalars(query).one_or_none()

    def add_strategy(self, strategy: RegisteredStrategy) -> bool:
        try:
            with self._session.begin_nested():
                self._session.add(strategy)
                self._session.flush()
        except IntegrityError:
            return False
        return True

    def delete_strategy(self, strategy: RegisteredStrategy) -> None:
        self._session.delete(strategy)
        self._session.flush()

    def leaders_by_metric(
        self, sort: LeaderboardSort, since: datetime | None, limit: int
    ) -> list[StrategyLeader]:
        column = _METRIC_COLUMN[sort]
        statement = select(RegisteredStrategy, agents.c.display_name).join(
            agents, agents.c.id == _S.agent_id
        )
        if since is not None:
            statement = statement.where(_S.registered_at >= since)
        statement = statement.order_by(
            column.desc().nulls_last(), _S.registered_at.asc(), _S.id.asc()
        ).limit(limit)
        return [
            StrategyLeader(strategy=row[0], display_name=str(row[1]))
            for row in self._session.execute(statement)
        ]

    def strategy_stats(self, agent_id: str) -> StrategyStats:
        row = self._session.execute(
            select(
                func.count(_S.id),
                func.max(_S.roi),
                func.avg(_S.roi),
                func.max(_S.sharpe),
                func.avg(_S.sharpe),
                func.max(_S.calmar),
            ).where(_S.agent_id == agent_id)
        ).one()

        def number(value: Any) -> float | None:
            return None if value is None else float(value)

        return StrategyStats(
            count=int(row[0]),
            best_roi=number(row[1]),
            avg_roi=number(row[2]),
            best_sharpe=number(row[3]),
            avg_sharpe=number(row[4]),
            best_calmar=number(row[5]),
        )
