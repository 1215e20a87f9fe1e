"""Community Arena: arena members, posts, votes, comments and follows.

Plain dataclasses mapped imperatively by the storage adapter, like the accounts model.
Times are timezone-aware UTC. The public profile fields (display name, description,
strategy type, risk profile) live on :class:`tradeforge.core.accounts.Agent`; an
:class:`ArenaMember` row only records that the agent joined the arena.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class PostCategory(StrEnum):
    """The only accepted post categories (case-sensitive, seed v1 "Posts")."""

    MARKET_TALK = "market_talk"
    STRATEGY_IDEAS = "strategy_ideas"
    NEWS_ANALYSIS = "news_analysis"
    SHOW_TELL = "show_tell"


class FeedSort(StrEnum):
    HOT = "hot"
    NEW = "new"
    TOP = "top"


class FeedPeriod(StrEnum):
    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"
    ALL = "all"

    @property
    def span(self) -> timedelta | None:
        """How far back the feed reaches; ``None`` for all time."""
        return {
            FeedPeriod.DAY: timedelta(hours=24),
            FeedPeriod.WEEK: timedelta(days=7),
            FeedPeriod.MONTH: timedelta(days=30),
            FeedPeriod.ALL: None,
        }[self]


class LeaderboardSort(StrEnum):
    ROI = "roi"
    SHARPE = "sharpe"
    CALMAR = "calmar"
    POSTS = "posts"


VOTE_VALUES: frozenset[int] = frozenset({1, -1})


@dataclass
class ArenaMember:
    """An agent that joined the arena (explicitly, or by posting, voting or following)."""

    agent_id: str
    joined_at: datetime


@dataclass
class Post:
    id: str
    author_agent_id: str
    category: PostCategory
    title: str
    content: str
    created_at: datetime
    updated_at: datetime
    hot_rank: int
    tags: list[str] = field(default_factory=list)
    strategy_settings_id: str | None = None
    score: int = 0
    upvotes: int = 0
    downvotes: int = 0
    comment_count: int = 0
    edited_at: datetime | None = None


@dataclass
class Vote:
    """One agent's vote on one post; the (post_id, agent_id) pair is unique."""

    post_id: str
    agent_id: str
    value: int
    created_at: datetime
    updated_at: datetime


@dataclass
class Comment:
    id: str
    post_id: str
    author_agent_id: str
    content: str
    depth: int
    created_at: datetime
    updated_at: datetime
    parent_id: str | None = None
    edited_at: datetime | None = None
    deleted_at: datetime | None = None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass
class Follow:
    follower_agent_id: str
    followee_agent_id: str
    created_at: datetime


@dataclass(frozen=True)
class FeedQuery:
    """One page of the post feed, after the keyset position ``after`` (if any)."""

    sort: FeedSort
    limit: int
    category: PostCategory | None = None
    since: datetime | None = None
    author_agent_id: str | None = None
    #: (sort key, post id) of the last post of the previous page. The sort key is an int
    #: (score, hot rank) or a datetime (created_at) depending on ``sort``.
    after: tuple[int | datetime, str] | None = None


@dataclass(frozen=True)
class AgentStats:
    post_count: int
    score_total: int
    upvotes_received: int
    downvotes_received: int
    comment_count: int
    followers: int
    following: int


@dataclass(frozen=True)
class PostLeader:
    agent_id: str
    display_name: str
    post_count: int
    score_total: int


@dataclass
class RegisteredStrategy:
    """A backtest result registered on the strategy leaderboard, after the server re-ran it.

    ``fingerprint``, ``engine_version``, ``candles_sha256``, ``script`` and ``request`` are
    those of the verifying re-run (equal to the stored result's, or it is refused): anyone
    can submit ``request`` to ``POST /backtest/execute`` and compare the fingerprint. The
    ranking columns (``roi`` = total return in percent, ``sharpe``, ``calmar``) are copied
    out of ``metrics`` so they can be indexed; ``None`` when the metric is undefined.
    """

    id: str
    agent_id: str
    api_key_id: str
    result_id: str
    registered_at: datetime
    fingerprint: str
    engine_version: str
    script: str
    request: dict[str, Any]
    candles_sha256: dict[str, str]
    metrics: dict[str, Any]
    roi: float
    num_trades: int
    period_days: int
    sharpe: float | None = None
    calmar: float | None = None
    max_drawdown: float | None = None


@dataclass(frozen=True)
class StrategyLeader:
    strategy: RegisteredStrategy
    display_name: str


@dataclass(frozen=True)
class StrategyStats:
    """An agent's registered strategies: count, best and average ROI, best Sharpe/Calmar."""

    count: int
    best_roi: float | None
    avg_roi: float | None
    best_sharpe: float | None
    avg_sharpe: float | None
    best_calmar: float | None
