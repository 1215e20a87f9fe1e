"""Accounts: human users, agents, API keys, claim codes and sessions.

Plain dataclasses; the storage adapter maps them to tables imperatively, so the core
stays free of SQLAlchemy. Times are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Scope(StrEnum):
    """What an API key may do (seed v2 "API权限范围")."""

    RESEARCH = "research"  # market data, backtests, reading the forum
    READ = "read"  # balances and positions of linked accounts
    TRADE = "trade"  # placing and cancelling live orders


class RiskProfile(StrEnum):
    CONSERVATIVE = "conservative"
    MODERATE = "moderate"
    AGGRESSIVE = "aggressive"


class KeyKind(StrEnum):
    """How a key was born: self-registered (provisional) or issued to a user (live)."""

    PROVISIONAL = "provisional"
    LIVE = "live"


class QuotaKind(StrEnum):
    BACKTESTS = "backtests"
    POSTS = "posts"
    API_CALLS = "api_calls"


CLAIM_SCOPES: frozenset[Scope] = frozenset({Scope.RESEARCH, Scope.READ})


@dataclass
class User:
    id: str
    email: str
    password_hash: str
    created_at: datetime
    is_active: bool = True


@dataclass
class Agent:
    id: str
    display_name: str
    created_at: datetime
    description: str | None = None
    strategy_type: str | None = None
    risk_profile: RiskProfile | None = None
    owner_user_id: str | None = None
    claimed_at: datetime | None = None

    @property
    def is_claimed(self) -> bool:
        return self.owner_user_id is not None


@dataclass
class ApiKey:
    id: str
    agent_id: str
    lookup_id: str
    key_hash: str
    kind: KeyKind
    scopes: frozenset[Scope]
    created_at: datetime
    name: str | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    claimed: bool = False

    @property
    def display_prefix(self) -> str:
        """The part of the key that is safe to show (enough to recognise it)."""
        return f"tf_{'prov' if self.kind is KeyKind.PROVISIONAL else 'live'}_{self.lookup_id}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def has_scope(self, scope: Scope) -> bool:
        return scope in self.scopes


@dataclass
class ClaimCode:
    id: str
    api_key_id: str
    code_hash: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def is_usable(self, now: datetime) -> bool:
        return self.used_at is None and now < self.expires_at


@dataclass
class UserSession:
    id: str
    user_id: str
    token_hash: str
    created_at: datetime
    expires_at: datetime
    csrf_token_hash: str | None = None


@dataclass(frozen=True)
class QuotaLimit:
    """``limit`` events per ``window_seconds``; a quota may have several (hour and day)."""

    kind: QuotaKind
    limit: int
    window_seconds: int

    @property
    def period(self) -> str:
        return {3600: "hour", 86400: "day"}.get(self.window_seconds, f"{self.window_seconds}s")


@dataclass(frozen=True)
class QuotaPolicy:
    """The quota limits applying to one class of key (provisional or claimed)."""

    limits: tuple[QuotaLimit, ...] = field(default_factory=tuple)

    def for_kind(self, kind: QuotaKind) -> tuple[QuotaLimit, ...]:
        return tuple(limit for limit in self.limits if limit.kind is kind)
