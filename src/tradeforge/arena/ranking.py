"""The "hot" ranking of posts.

``hot = sign(score) * log10(max(|score|, 1)) + (created_at - 2025-01-01) / 45000 s``

Each tenfold increase in net score is worth 12.5 hours of recency. The rank is the log of
``score`` times an exponential growth in creation time, so it orders posts exactly like a
decay ``score * exp(-age / tau)`` would at any instant, but without ``now`` in it: it is
computed once per vote, stored as an integer (``round(hot * 10**7)``) in an indexed
column, and identical on SQLite and PostgreSQL. Ties (same rank) are broken by post id.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

HOT_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
HOT_SECONDS_PER_DECADE = 45_000
HOT_SCALE = 10**7

HOT_FORMULA = (
    "hot = sign(score) * log10(max(|score|, 1)) + (created_at - 2025-01-01T00:00:00Z) / 45000s;"
    " every 10x net score equals 12.5 h of recency; ties broken by post id (descending)"
)


def hot_rank(score: int, created_at: datetime) -> int:
    """Return the stored integer hot rank of a post with ``score`` created at ``created_at``."""
    if created_at.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    order = math.log10(max(abs(score), 1))
    sign = (score > 0) - (score < 0)
    seconds = (created_at - HOT_EPOCH).total_seconds()
    return round((sign * order + seconds / HOT_SECONDS_PER_DECADE) * HOT_SCALE)
