"""Table definitions, and the imperative mapping of core dataclasses onto them.

Alembic migrations in ``migrations/`` create these tables; a test compares the two so
they never drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
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

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)
mapper_registry = registry(metadata=metadata)


def _enum(enum_cls: type[KeyKind] | type[RiskProfile], name: str) -> Enum:
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
    _mapped = True
