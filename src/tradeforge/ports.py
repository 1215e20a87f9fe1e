"""Ports: the interfaces the domain and services use to reach the outside world.

Adapters implement them (``tradeforge.adapters``); the wiring happens once per process in
``tradeforge.api.deps`` and ``tradeforge.jobs.worker``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tradeforge.core.accounts import Agent, ApiKey, ClaimCode, User, UserSession
from tradeforge.core.candles import Candles


class CandleSource(Protocol):
    """Read access to stored candles (closed candles only, UTC ms open times)."""

    def load(
        self,
        exchange_id: str,
        symbol: str,
        timeframe: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> Candles:
        """Return candles with open time in ``[start_ms, end_ms)``; empty when none."""
        ...

    def available_range(
        self, exchange_id: str, symbol: str, timeframe: str
    ) -> tuple[int, int] | None:
        """Return the first and last stored open times, or ``None`` when nothing is stored."""
        ...


class CounterStore(Protocol):
    """Fixed-window counters shared by every process (rate limits and quotas)."""

    def hit(self, bucket: str, window_seconds: int, now_s: int) -> int:
        """Count one event in the current window and return the window's new total."""
        ...

    def consume(self, bucket: str, window_seconds: int, now_s: int, limit: int) -> int | None:
        """Count one event only if the window total stays within ``limit``.

        Returns the new total, or ``None`` (nothing counted) when the limit is reached.
        """
        ...

    def peek(self, bucket: str, window_seconds: int, now_s: int) -> int:
        """Return the current window's total without counting anything."""
        ...


class AccountRepository(Protocol):
    """Persistence of users, agents, keys, claim codes and sessions.

    Objects returned are live: changing an attribute and letting the unit of work commit
    stores the change. ``add`` methods make a new object persistent.
    """

    def add(self, obj: User | Agent | ApiKey | ClaimCode | UserSession) -> None: ...

    def flush(self) -> None:
        """Write pending changes now (to surface constraint violations early)."""
        ...

    def get_user(self, user_id: str) -> User | None: ...

    def get_user_by_email(self, email: str) -> User | None: ...

    def list_users(self) -> list[User]: ...

    def get_agent(self, agent_id: str) -> Agent | None: ...

    def count_agents_owned(self, user_id: str) -> int: ...

    def get_api_key(self, key_id: str) -> ApiKey | None: ...

    def get_api_key_by_lookup(self, lookup_id: str) -> ApiKey | None: ...

    def list_api_keys(self, owner_user_id: str | None = None) -> list[ApiKey]: ...

    def keys_of_agent(self, agent_id: str) -> list[ApiKey]: ...

    def find_claim_code(self, code_hash: str, now: datetime) -> ClaimCode | None:
        """Return the unused, unexpired claim code with this digest, if any."""
        ...

    def expire_claim_codes(self, api_key_id: str, now: datetime) -> None:
        """Mark every open claim code of a key as used (a new one replaces them)."""
        ...

    def get_session_by_hash(self, token_hash: str) -> UserSession | None: ...

    def delete(self, obj: UserSession) -> None: ...
