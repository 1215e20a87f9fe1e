"""Per-key rate limits and quotas on a shared :class:`~tradeforge.ports.CounterStore`.

Rate limit: every authenticated request counts against ``rate_limit_per_hour`` in fixed
hourly windows (aligned to the UTC hour). Quotas: named budgets (backtests, posts,
api_calls) with one or more windows each; provisional keys and claimed keys have
separate policies, and running out answers ``FREE_QUOTA_EXCEEDED`` or ``QUOTA_EXCEEDED``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tradeforge.core.accounts import ApiKey, KeyKind, QuotaKind, QuotaLimit, QuotaPolicy
from tradeforge.core.clock import Clock
from tradeforge.core.errors import LimitExceededError
from tradeforge.ports import CounterStore

HOUR = 3600
DAY = 86400


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset_seconds: int
    window_seconds: int


@dataclass(frozen=True)
class QuotaSettings:
    rate_limit_per_hour: int
    provisional: QuotaPolicy
    claimed: QuotaPolicy


def quota_settings_from(config: Any) -> QuotaSettings:
    """Build quota settings from an object with the ``Settings`` quota fields."""

    def policy(prefix: str) -> QuotaPolicy:
        return QuotaPolicy(
            (
                QuotaLimit(
                    QuotaKind.BACKTESTS, getattr(config, f"{prefix}_backtests_per_hour"), HOUR
                ),
                QuotaLimit(
                    QuotaKind.BACKTESTS, getattr(config, f"{prefix}_backtests_per_day"), DAY
                ),
                QuotaLimit(QuotaKind.POSTS, getattr(config, f"{prefix}_posts_per_day"), DAY),
                QuotaLimit(
                    QuotaKind.API_CALLS, getattr(config, f"{prefix}_api_calls_per_day"), DAY
                ),
            )
        )

    return QuotaSettings(
        rate_limit_per_hour=int(config.rate_limit_per_hour),
        provisional=policy("provisional"),
        claimed=policy("claimed"),
    )


class QuotaService:
    def __init__(self, counters: CounterStore, clock: Clock, settings: QuotaSettings) -> None:
        self._counters = counters
        self._clock = clock
        self._settings = settings

    def _now_s(self) -> int:
        return int(self._clock.now().timestamp())

    def policy_for(self, key: ApiKey) -> QuotaPolicy:
        is_free = key.kind is KeyKind.PROVISIONAL and not key.claimed
        return self._settings.provisional if is_free else self._settings.claimed

    def check_rate_limit(self, key: ApiKey) -> RateLimitState:
        """Count one request; raise ``RATE_LIMITED`` when the hourly budget is spent."""
        now_s = self._now_s()
        limit = self._settings.rate_limit_per_hour
        total = self._counters.hit(f"rl:{key.id}", HOUR, now_s)
        reset = HOUR - now_s % HOUR
        state = RateLimitState(limit, max(0, limit - total), reset, HOUR)
        if total > limit:
            raise LimitExceededError(
                f"Rate limit of {limit} requests per hour exceeded for this API key.",
                code="RATE_LIMITED",
                suggestion=f"Wait {reset} seconds (Retry-After) before the next request.",
                retry_after=reset,
                details={"limit": limit, "window_seconds": HOUR},
            )
        return state

    def consume(self, key: ApiKey, kind: QuotaKind) -> None:
        """Spend one unit of ``kind``; raise when any of its windows is used up.

        Windows are checked shortest first, so a refused request spends nothing in the
        windows after the one that refused it.
        """
        now_s = self._now_s()
        policy = self.policy_for(key)
        for limit in sorted(policy.for_kind(kind), key=lambda item: item.window_seconds):
            bucket = f"q:{kind}:{limit.window_seconds}:{key.id}"
            if self._counters.consume(bucket, limit.window_seconds, now_s, limit.limit) is None:
                raise self._exhausted(key, limit, now_s)

    def _exhausted(self, key: ApiKey, limit: QuotaLimit, now_s: int) -> LimitExceededError:
        reset = limit.window_seconds - now_s % limit.window_seconds
        is_free = self.policy_for(key) is self._settings.provisional
        suggestion = (
            "Provisional quota used up: claim this agent (POST /api/v1/meta/request-claim, "
            "then have your user enter the code at /dashboard/claim) to unlock full limits, "
            f"or wait {reset} seconds."
            if is_free
            else f"Wait {reset} seconds (Retry-After) for the quota window to reset."
        )
        return LimitExceededError(
            f"Quota for {limit.kind} exhausted: {limit.limit} per {limit.period}.",
            code="FREE_QUOTA_EXCEEDED" if is_free else "QUOTA_EXCEEDED",
            suggestion=suggestion,
            retry_after=reset,
            details={"quota": str(limit.kind), "limit": limit.limit, "period": limit.period},
        )

    def usage(self, key: ApiKey) -> dict[str, dict[str, Any]]:
        """Return used/limit per quota kind and window, e.g. ``{"backtests": {...}}``."""
        now_s = self._now_s()
        report: dict[str, dict[str, Any]] = {}
        for limit in self.policy_for(key).limits:
            bucket = f"q:{limit.kind}:{limit.window_seconds}:{key.id}"
            used = self._counters.peek(bucket, limit.window_seconds, now_s)
            entry = report.setdefault(str(limit.kind), {"windows": []})
            entry["windows"].append(
                {
                    "period": limit.period,
                    "used": used,
                    "limit": limit.limit,
                    "resets_in_seconds": limit.window_seconds - now_s % limit.window_seconds,
                }
            )
        for entry in report.values():
            # The tightest window summarises the quota (what the seed calls used/limit).
            tightest = min(entry["windows"], key=lambda w: w["limit"] - w["used"])
            entry["used"] = tightest["used"]
            entry["limit"] = tightest["limit"]
            entry["period"] = tightest["period"]
        return report
