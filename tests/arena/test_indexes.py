"""The feed query is answered from an index in sort order on both databases (no sort step).

PostgreSQL is asked to avoid scans and sorts so the test shows that an ordered index path
exists. SQLite has no such switches and no statistics for empty tables: for category + hot
+ period it prefers the (category, created_at) range and sorts that period's posts, so
that combination is checked without the period there.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tradeforge.adapters.storage.db import create_db_engine
from tradeforge.adapters.storage.repositories.arena import feed_statement
from tradeforge.core.arena import FeedQuery, FeedSort, PostCategory

SINCE = datetime(2026, 1, 1, tzinfo=UTC)

CASES = [
    (FeedQuery(FeedSort.NEW, 11, since=SINCE), "ix_arena_posts_created"),
    (FeedQuery(FeedSort.HOT, 11, since=SINCE, after=(5, "abc")), "ix_arena_posts_hot"),
    (FeedQuery(FeedSort.TOP, 11, after=(3, "abc")), "ix_arena_posts_top"),
    (
        FeedQuery(FeedSort.NEW, 11, category=PostCategory.SHOW_TELL, after=(SINCE, "abc")),
        "ix_arena_posts_category_created",
    ),
    (
        FeedQuery(FeedSort.HOT, 11, category=PostCategory.MARKET_TALK, after=(9, "abc")),
        "ix_arena_posts_category_hot",
    ),
    (
        FeedQuery(FeedSort.NEW, 11, author_agent_id="a" * 32, since=SINCE),
        "ix_arena_posts_author_created",
    ),
]


@pytest.mark.parametrize(("query", "index"), CASES)
def test_feed_pages_come_from_an_index_in_order(
    database_url: str, query: FeedQuery, index: str
) -> None:
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            compiled = feed_statement(query).compile(dialect=connection.dialect)
            params = {
                name: value.replace(tzinfo=None) if isinstance(value, datetime) else value
                for name, value in compiled.params.items()
            }
            if connection.dialect.name == "postgresql":
                # Tiny tables make a scan plus sort cheapest; forbid both to show that an
                # index can deliver the rows in order.
                for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                    connection.exec_driver_sql(f"SET {setting} = off")
                rows = connection.exec_driver_sql(f"EXPLAIN {compiled}", params)
                plan = "\n".join(str(row[0]) for row in rows)
                assert index in plan, plan
                assert "Sort" not in plan.replace("Sort Key", ""), plan
            else:
                positional = tuple(params[name] for name in compiled.positiontup or ())
                rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", positional)
                plan = "\n".join(str(row[-1]) for row in rows)
                assert index in plan, plan
                assert "TEMP B-TREE" not in plan, plan
    finally:
        engine.dispose()


def test_postgresql_serves_category_hot_within_a_period_from_the_hot_index(
    postgres_url: str,
) -> None:
    test_feed_pages_come_from_an_index_in_order(
        postgres_url,
        FeedQuery(FeedSort.HOT, 11, category=PostCategory.MARKET_TALK, since=SINCE),
        "ix_arena_posts_category_hot",
    )
