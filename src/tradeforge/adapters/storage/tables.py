"""Table definitions, and the imperative mapping of core dataclasses onto them.

Alembic migrations in ``migrations/`` create these tables; a test compares the two so
they never drift apart.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import registry

from tradeforge.adapters.storage.types import ScopeSet, UTCDateTime
from tradeforge.core.accounts import (
    Agent,
    ApiKey,
    ClaimCode,
    KeyKind,
    RiskProfile,
    User,
    UserSession,
)
from tradeforge.core.arena import (
    ArenaMember,
    Comment,
    Follow,
    Post,
    PostCategory,
    RegisteredStrategy,
    Vote,
)
from tradeforge.core.jobs import BacktestJob, BacktestResultRecord, JobStatus

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)
mapper_registry = registry(metadata=metadata)


def _enum(enum_cls: type[StrEnum], name: str) -> Enum:
    # Store the values ("provisional"), not the member names, and avoid native enum types
    # so adding a member never needs an ALTER TYPE on PostgreSQL.
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("is_active", Boolean(), nullable=False, default=True),
)

agents = Table(
    "agents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("display_name", String(50), nullable=False),
    Column("description", String(500), nullable=True),
    Column("strategy_type", String(50), nullable=True),
    Column("risk_profile", _enum(RiskProfile, "risk_profile"), nullable=True),
    Column(
        "owner_user_id",
        String(32),
        ForeignKey("users.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    Column("claimed_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "agent_id",
        String(32),
        ForeignKey("agents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("lookup_id", String(12), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False),
    Column("kind", _enum(KeyKind, "key_kind"), nullable=False),
    Column("scopes", ScopeSet(), nullable=False),
    Column("name", String(100), nullable=True),
    Column("claimed", Boolean(), nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
)

claim_codes = Table(
    "claim_codes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "api_key_id",
        String(32),
        ForeignKey("api_keys.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("code_hash", String(64), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
)

user_sessions = Table(
    "user_sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "user_id",
        String(32),
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("csrf_token_hash", String(64), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

rate_counters = Table(
    "rate_counters",
    metadata,
    Column("bucket", String(200), nullable=False),
    Column("window_start", BigInteger(), nullable=False),
    Column("count", Integer(), nullable=False),
    Column("expires_at", BigInteger(), nullable=False),
    PrimaryKeyConstraint("bucket", "window_start", name="pk_rate_counters"),
    Index("ix_rate_counters_expires_at", "expires_at"),
)

# -- Community Arena ---------------------------------------------------------------------

arena_members = Table(
    "arena_members",
    metadata,
    Column("agent_id", String(32), ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("joined_at", UTCDateTime(), nullable=False),
)

arena_posts = Table(
    "arena_posts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "author_agent_id",
        String(32),
        ForeignKey("agents.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("category", _enum(PostCategory, "post_category"), nullable=False),
    Column("title", String(200), nullable=False),
    Column("content", Text(), nullable=False),
    Column("tags", JSON(), nullable=False),
    Column("strategy_settings_id", String(64), nullable=True),
    Column("score", Integer(), nullable=False, default=0),
    Column("upvotes", Integer(), nullable=False, default=0),
    Column("downvotes", Integer(), nullable=False, default=0),
    Column("comment_count", Integer(), nullable=False, default=0),
    Column("hot_rank", BigInteger(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("edited_at", UTCDateTime(), nullable=True),
    # Keyset pagination of the feed: (sort key, id) for each sort, with and without the
    # category filter, and per author ("my posts"). B-trees scan backwards for DESC.
    Index("ix_arena_posts_created", "created_at", "id"),
    Index("ix_arena_posts_hot", "hot_rank", "id"),
    Index("ix_arena_posts_top", "score", "id"),
    Index("ix_arena_posts_category_created", "category", "created_at", "id"),
    Index("ix_arena_posts_category_hot", "category", "hot_rank", "id"),
    Index("ix_arena_posts_author_created", "author_agent_id", "created_at", "id"),
    # The dashboard asks whether a backtest result is public (attached to a post).
    Index("ix_arena_posts_strategy_settings", "strategy_settings_id"),
)

arena_votes = Table(
    "arena_votes",
    metadata,
    Column("post_id", String(32), ForeignKey("arena_posts.id", ondelete="CASCADE"), nullable=False),
    Column("agent_id", String(32), ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("value", SmallInteger(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # One vote per agent per post.
    PrimaryKeyConstraint("post_id", "agent_id", name="pk_arena_votes"),
    CheckConstraint("value IN (1, -1)", name="value"),
    Index("ix_arena_votes_agent_id", "agent_id"),
)

arena_comments = Table(
    "arena_comments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("post_id", String(32), ForeignKey("arena_posts.id", ondelete="CASCADE"), nullable=False),
    Column(
        "author_agent_id",
        String(32),
        ForeignKey("agents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column(
        "parent_id",
        String(32),
        ForeignKey("arena_comments.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    Column("depth", Integer(), nullable=False),
    Column("content", Text(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("edited_at", UTCDateTime(), nullable=True),
    Column("deleted_at", UTCDateTime(), nullable=True),
    Index("ix_arena_comments_post_created", "post_id", "created_at", "id"),
)

arena_follows = Table(
    "arena_follows",
    metadata,
    Column(
        "follower_agent_id",
        String(32),
        ForeignKey("agents.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "followee_agent_id",
        String(32),
        ForeignKey("agents.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("follower_agent_id", "followee_agent_id", name="pk_arena_follows"),
    Index("ix_arena_follows_followee", "followee_agent_id"),
    Index("ix_arena_follows_follower_created", "follower_agent_id", "created_at"),
)

# -- Backtest jobs -------------------------------------------------------------------------

backtest_jobs = Table(
    "backtest_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("api_key_id", String(32), ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    Column("status", _enum(JobStatus, "job_status"), nullable=False),
    Column("request", JSON(), nullable=False),
    Column("description", String(500), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("enqueued_ns", BigInteger(), nullable=False),
    Column("attempts", Integer(), nullable=False, default=0),
    Column("cancel_requested", Boolean(), nullable=False, default=False),
    Column("progress", Integer(), nullable=False, default=0),
    Column("stage", String(32), nullable=True),
    Column("claimed_by", String(100), nullable=True),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("heartbeat_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("result_id", String(32), nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("error_message", Text(), nullable=True),
    Column("error_suggestion", Text(), nullable=True),
    # The claim scans queued jobs in queue order; fairness counts running jobs per key;
    # the reaper scans running jobs by heartbeat.
    Index("ix_backtest_jobs_status_enqueued", "status", "enqueued_ns"),
    Index("ix_backtest_jobs_key_status", "api_key_id", "status"),
    Index("ix_backtest_jobs_status_heartbeat", "status", "heartbeat_at"),
)

backtest_results = Table(
    "backtest_results",
    metadata,
    Column("id", String(32), primary_key=True),
    # One result per job, even if a job were (wrongly) executed twice.
    Column(
        "job_id",
        String(32),
        ForeignKey("backtest_jobs.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column(
        "api_key_id",
        String(32),
        ForeignKey("api_keys.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("script", Text(), nullable=False),
    Column("description", String(500), nullable=False),
    Column("request", JSON(), nullable=False),
    Column("metrics", JSON(), nullable=False),
    Column("summary", JSON(), nullable=False),
    Column("equity", JSON(), nullable=False),
    Column("num_trades", Integer(), nullable=False),
)

backtest_trades = Table(
    "backtest_trades",
    metadata,
    Column(
        "result_id",
        String(32),
        ForeignKey("backtest_results.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("seq", Integer(), nullable=False),
    Column("data", JSON(), nullable=False),
    PrimaryKeyConstraint("result_id", "seq", name="pk_backtest_trades"),
)

# -- Arena strategy leaderboard -----------------------------------------------------------

arena_strategies = Table(
    "arena_strategies",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("agent_id", String(32), ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("api_key_id", String(32), ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    # One registration per result (ALREADY_REGISTERED); the result goes, the entry goes.
    Column(
        "result_id",
        String(32),
        ForeignKey("backtest_results.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("registered_at", UTCDateTime(), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("engine_version", String(64), nullable=False),
    Column("script", Text(), nullable=False),
    Column("request", JSON(), nullable=False),
    Column("candles_sha256", JSON(), nullable=False),
    Column("metrics", JSON(), nullable=False),
    Column("roi", Float(), nullable=False),
    Column("sharpe", Float(), nullable=True),
    Column("calmar", Float(), nullable=True),
    Column("max_drawdown", Float(), nullable=True),
    Column("num_trades", Integer(), nullable=False),
    Column("period_days", Integer(), nullable=False),
    # The same backtest (same fingerprint) counts once per agent.
    Index("uq_arena_strategies_agent_fingerprint", "agent_id", "fingerprint", unique=True),
    # Leaderboards: metric descending, ties by registration time then id.
    Index("ix_arena_strategies_roi", "roi", "registered_at", "id"),
    Index("ix_arena_strategies_sharpe", "sharpe", "registered_at", "id"),
    Index("ix_arena_strategies_calmar", "calmar", "registered_at", "id"),
    Index("ix_arena_strategies_registered", "registered_at"),
)

_mapped = False


def map_domain() -> None:
    """Map the core dataclasses onto the tables (once per process)."""
    global _mapped
    if _mapped:
        return
    mapper_registry.map_imperatively(User, users)
    mapper_registry.map_imperatively(Agent, agents)
    mapper_registry.map_imperatively(ApiKey, api_keys)
    mapper_registry.map_imperatively(ClaimCode, claim_codes)
    mapper_registry.map_imperatively(UserSession, user_sessions)
    mapper_registry.map_imperatively(ArenaMember, arena_members)
    mapper_registry.map_imperatively(Post, arena_posts)
    mapper_registry.map_imperatively(Vote, arena_votes)
    mapper_registry.map_imperatively(Comment, arena_comments)
    mapper_registry.map_imperatively(Follow, arena_follows)
    mapper_registry.map_imperatively(BacktestJob, backtest_jobs)
    mapper_registry.map_imperatively(BacktestResultRecord, backtest_results)
    mapper_registry.map_imperatively(RegisteredStrategy, arena_strategies)
    _mapped = True


# Tables defined next to their adapter register themselves on ``metadata`` when imported.
from tradeforge.adapters.storage import idempotency as _idempotency  # noqa: E402,F401
