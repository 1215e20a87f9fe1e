"""Ports: the interfaces the domain and services use to reach the outside world.

Adapters implement them (``tradeforge.adapters``); the wiring happens once per process in
``tradeforge.api.deps`` and ``tradeforge.jobs.worker``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from tradeforge.core.accounts import Agent, ApiKey, ClaimCode, User, UserSession
from tradeforge.core.arena import (
    AgentStats,
    ArenaMember,
    Comment,
    FeedQuery,
    Follow,
    LeaderboardSort,
    Post,
    PostLeader,
    RegisteredStrategy,
    StrategyLeader,
    StrategyStats,
    Vote,
)
from tradeforge.core.candles import Candles
from tradeforge.core.jobs import (
    BacktestJob,
    BacktestResultRecord,
    ClaimedJob,
    JobStatus,
    ReapReport,
)


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


class ArenaRepository(Protocol):
    """Persistence of the Community Arena: members, posts, votes, comments and follows.

    Objects returned are live (changes are stored when the unit of work commits).
    """

    def add(self, obj: ArenaMember | Post | Vote | Comment | Follow) -> None: ...

    def delete(self, obj: Post | Vote | Follow) -> None: ...

    def flush(self) -> None: ...

    def get_agent(self, agent_id: str) -> Agent | None: ...

    def display_names(self, agent_ids: set[str]) -> dict[str, str]: ...

    def get_member(self, agent_id: str) -> ArenaMember | None: ...

    def add_member_if_absent(self, agent_id: str, now: datetime) -> None:
        """Insert the membership row unless it exists (safe under concurrent calls)."""
        ...

    def agent_stats(self, agent_id: str) -> AgentStats: ...

    def get_post(self, post_id: str) -> Post | None: ...

    def lock_post(self, post_id: str) -> Post | None:
        """Return the post with its row locked until the unit of work ends (fresh values)."""
        ...

    def list_posts(self, query: FeedQuery) -> list[Post]:
        """Return up to ``query.limit`` posts in feed order, after ``query.after``."""
        ...

    def get_vote(self, post_id: str, agent_id: str) -> Vote | None: ...

    def votes_by(self, agent_id: str, post_ids: list[str]) -> dict[str, int]: ...

    def get_comment(self, comment_id: str) -> Comment | None: ...

    def list_comments(
        self, post_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[Comment]:
        """Comments of a post, oldest first, after the keyset position ``after``."""
        ...

    def add_to_comment_count(self, post_id: str, delta: int) -> None:
        """Atomically change a post's comment counter."""
        ...

    def get_follow(self, follower_id: str, followee_id: str) -> Follow | None: ...

    def list_follows(
        self, follower_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[Follow]:
        """Agents ``follower_id`` follows, newest first, after the keyset position ``after``."""
        ...

    def leaders_by_posts(self, since: datetime | None, limit: int) -> list[PostLeader]:
        """Arena members by posts since ``since``; ties by net score, then agent id."""
        ...

    # -- backtest results and registered strategies (issue 7) -----------------------------

    def get_result(self, result_id: str) -> BacktestResultRecord | None:
        """A stored backtest result (any key's: callers check ownership)."""
        ...

    def results_by_ids(self, result_ids: set[str]) -> dict[str, BacktestResultRecord]: ...

    def get_strategy(self, strategy_id: str) -> RegisteredStrategy | None: ...

    def strategy_for_result(self, result_id: str) -> RegisteredStrategy | None: ...

    def strategy_by_fingerprint(
        self, agent_id: str, fingerprint: str
    ) -> RegisteredStrategy | None: ...

    def add_strategy(self, strategy: RegisteredStrategy) -> bool:
        """Insert a registration; False (nothing stored) when its result, or the same
        fingerprint for the same agent, is already registered (a concurrent request)."""
        ...

    def delete_strategy(self, strategy: RegisteredStrategy) -> None: ...

    def leaders_by_metric(
        self, sort: LeaderboardSort, since: datetime | None, limit: int
    ) -> list[StrategyLeader]:
        """Registered strategies by ``sort`` (roi, sharpe or calmar) descending, registered
        since ``since``; undefined metrics last; ties by registered_at, then id."""
        ...

    def strategy_stats(self, agent_id: str) -> StrategyStats: ...


class BacktestJobRepository(Protocol):
    """Persistence of backtest jobs and their results (the queue lives in the database).

    State changes are conditional updates (compare-and-set on ``status`` and, for a running
    job, on the claim token in ``claimed_by``): each returns whether it took effect, so a
    duplicate claim or a write from a worker that lost its job is a harmless no-op. The
    caller owns the transaction (commit after each worker step).
    """

    def add(self, job: BacktestJob) -> None: ...

    def get_job(self, job_id: str) -> BacktestJob | None:
        """Return the job with fresh values from the database."""
        ...

    def has_queued(self) -> bool: ...

    def queued_ids(self, enqueued_before_ns: int, limit: int) -> list[str]:
        """Ids of jobs still queued that were submitted before ``enqueued_before_ns``."""
        ...

    def cancel_queued(self, job_id: str, now: datetime) -> bool:
        """``queued -> cancelled``; False when the job is no longer queued."""
        ...

    def request_cancel(self, job_id: str) -> bool:
        """Set the cooperative cancel flag of a running job; False when not running."""
        ...

    def claim_next(self, token: str, now: datetime) -> ClaimedJob | None:
        """Claim the next queued job fairly across API keys (``queued -> running``).

        Order: the key with the fewest running jobs, then the key served least recently
        (never served first), then the oldest queued job of that key. Concurrent claimers
        never get the same job (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's
        ``BEGIN IMMEDIATE`` serialises writers).
        """
        ...

    def claim(self, job_id: str, token: str, now: datetime) -> ClaimedJob | None:
        """Claim one specific job (a Celery delivery); None when it is not queued."""
        ...

    def heartbeat(self, job_id: str, token: str, now: datetime) -> bool | None:
        """Refresh the heartbeat; return the cancel flag, or None when the claim is lost."""
        ...

    def set_progress(
        self, job_id: str, token: str, progress: int, stage: str, now: datetime
    ) -> bool: ...

    def cancel_wanted(self, job_id: str, token: str) -> bool:
        """True when cancel was requested or the claim was lost (stop working either way)."""
        ...

    def complete(
        self,
        job_id: str,
        token: str,
        result: BacktestResultRecord,
        trades: list[dict[str, Any]],
        now: datetime,
    ) -> bool:
        """``running -> completed`` and store the result; False (nothing stored) when the
        claim was lost or cancel was requested meanwhile."""
        ...

    def finish(
        self,
        job_id: str,
        token: str,
        status: JobStatus,
        now: datetime,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
        error_suggestion: str | None = None,
    ) -> bool:
        """``running -> failed | cancelled`` for the owning claim."""
        ...

    def reap(self, stale_before: datetime, now: datetime, max_attempts: int) -> ReapReport:
        """Running jobs whose heartbeat is older than ``stale_before`` go back to
        ``queued`` (attempts < ``max_attempts``) or to ``failed`` with ``WORKER_LOST``."""
        ...

    def get_result(self, result_id: str) -> BacktestResultRecord | None: ...

    def list_trades(
        self, result_id: str, after_seq: int, limit: int
    ) -> list[tuple[int, dict[str, Any]]]:
        """Trades with ``seq > after_seq`` in order, at most ``limit``."""
        ...
