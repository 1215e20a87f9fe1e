"""Fixed-window counters in Redis: one key per bucket and window, expiring with it."""

from __future__ import annotations

from typing import Any

import redis

from tradeforge.core.errors import ServiceUnavailableError

# Count only while under the limit; the key expires at the end of its window. Expiry is
# relative (EXPIRE, not EXPIREAT) so it follows the caller's clock, not Redis's.
_CONSUME = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current >= tonumber(ARGV[1]) then return -1 end
current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return current
"""
_HIT = """
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return current
"""


class RedisCounterStore:
    """:class:`tradeforge.ports.CounterStore` on Redis (for several API processes)."""

    def __init__(self, url: str, prefix: str = "tf:counter:") -> None:
        self._client: Any = redis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0, decode_responses=True
        )
        self._prefix = prefix
        self._hit = self._client.register_script(_HIT)
        self._consume = self._client.register_script(_CONSUME)

    def _key(self, bucket: str, window_seconds: int, now_s: int) -> tuple[str, int]:
        """Return the window's key and its remaining lifetime in seconds."""
        start = now_s - now_s % window_seconds
        return f"{self._prefix}{bucket}:{start}", max(1, start + window_seconds - now_s)

    def _run(self, script: Any, keys: list[str], args: list[int]) -> int:
        try:
            return int(script(keys=keys, args=args))
        except redis.RedisError as e:
            raise ServiceUnavailableError(
                "The rate-limit store (Redis) is unreachable.",
                code="RATE_LIMITER_UNAVAILABLE",
                suggestion="Retry shortly; operators should check TRADEFORGE_REDIS_URL.",
                retry_after=5,
            ) from e

    def hit(self, bucket: str, window_seconds: int, now_s: int) -> int:
        key, ttl = self._key(bucket, window_seconds, now_s)
        return self._run(self._hit, [key], [ttl])

    def consume(self, bucket: str, window_seconds: int, now_s: int, limit: int) -> int | None:
        if limit <= 0:
            return None
        key, ttl = self._key(bucket, window_seconds, now_s)
        total = self._run(self._consume, [key], [limit, ttl])
        return None if total < 0 else total

    def peek(self, bucket: str, window_seconds: int, now_s: int) -> int:
        key, _ = self._key(bucket, window_seconds, now_s)
        try:
            value = self._client.get(key)
        except redis.RedisError as e:
            raise ServiceUnavailableError(
                "The rate-limit store (Redis) is unreachable.",
                code="RATE_LIMITER_UNAVAILABLE",
                retry_after=5,
            ) from e
        return int(value or 0)
