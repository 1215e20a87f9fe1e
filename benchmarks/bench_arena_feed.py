"""Arena feed benchmark: ``GET /api/v1/arena/posts`` over 100k posts (not a test).

Seeds a fresh database with bulk inserts (1,000 agents, 100,000 posts spread over 90 days
in the four categories, with random scores and the stored hot rank), then times the feed
through the real ASGI app (FastAPI TestClient, anonymous requests, ``period=all``) for
every sort (new, hot, top), without and with a category, on the first page and on a deep
page (a cursor half way through the sort order: keyset pagination should cost the same at
any depth). It prints the median and p95 per case (target: median < 50 ms) and the plan
of the feed query the repository issues (``EXPLAIN QUERY PLAN`` on SQLite,
``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL), captured from the exact statement and
parameters via a cursor hook.

SQLite always; PostgreSQL too when reachable (``TRADEFORGE_TEST_POSTGRES_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``): a temporary database is created
and dropped. Run::

    .venv/bin/python benchmarks/bench_arena_feed.py [--posts 100000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, insert, select, text
from sqlalchemy.engine import make_url

from tradeforge.adapters.storage.db import create_db_engine
from tradeforge.adapters.storage.migrate import upgrade
from tradeforge.adapters.storage.repositories.arena import feed_statement
from tradeforge.adapters.storage.tables import agents, arena_members, arena_posts
from tradeforge.api.app import create_app
from tradeforge.arena.cursors import encode_cursor
from tradeforge.arena.ranking import hot_rank
from tradeforge.config import Settings
from tradeforge.core.arena import FeedQuery, FeedSort, PostCategory
from tradeforge.core.clock import FrozenClock

POSTGRES_URL = os.environ.get(
    "TRADEFORGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
AGENTS = 1_000
BATCH = 5_000
PAGE = 10  # the API's default page size
TARGET_MS = 50.0
CATEGORIES = list(PostCategory)


# -- seeding ----------------------------------------------------------------------------------


def seed(engine: Engine, posts: int, rng: random.Random) -> float:
    started = time.perf_counter()
    agent_ids = [f"ag{n:030d}" for n in range(AGENTS)]
    with engine.begin() as connection:
        connection.execute(
            insert(agents),
            [
                {"id": a, "display_name": f"Bench {i}", "created_at": NOW}
                for i, a in enumerate(agent_ids)
            ],
        )
        connection.execute(
            insert(arena_members), [{"agent_id": a, "joined_at": NOW} for a in agent_ids]
        )
    span = 90 * 86_400
    for start in range(0, posts, BATCH):
        rows = []
        for n in range(start, min(posts, start + BATCH)):
            created = NOW - timedelta(seconds=rng.randrange(span))
            up = int(rng.paretovariate(1.2)) - 1
            down = int(rng.paretovariate(1.8)) - 1
            score = up - down
            rows.append(
                {
                    "id": f"{uuid.UUID(int=rng.getrandbits(128)).hex}",
                    "author_agent_id": agent_ids[n % AGENTS],
                    "category": CATEGORIES[rng.randrange(4)],
                    "title": f"Post {n}",
                    "content": "Buy when **RSI < 30**; sell above 70. " * 3,
                    "tags": ["BTC", "RSI"],
                    "score": score,
                    "upvotes": up,
                    "downvotes": down,
                    "comment_count": 0,
                    "hot_rank": hot_rank(score, created),
                    "created_at": created,
                    "updated_at": created,
                }
            )
        with engine.begin() as connection:
            connection.execute(insert(arena_posts), rows)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    return time.perf_counter() - started


# -- the plan of the feed query ---------------------------------------------------------------


def install_explain(engine: Engine) -> None:
    """Before a statement runs on a connection flagged with ``info["explain"]``, run it once
    under EXPLAIN with the very same (processed) parameters and keep the plan rows."""

    @event.listens_for(engine, "before_cursor_execute")
    def _explain(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not statement.lstrip().upper().startswith("SELECT"):
            return  # e.g. SQLite's BEGIN IMMEDIATE
        prefix = conn.info.pop("explain", None)
        if prefix:
            cursor.execute(prefix + statement, parameters)
            conn.info["plan"] = [tuple(row) for row in cursor.fetchall()]


def explain(engine: Engine, query: FeedQuery) -> list[str]:
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as connection:
        connection.info["explain"] = (
            "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
        )
        connection.execute(feed_statement(query)).all()
        plan = connection.info.pop("plan", [])
    if postgres:
        return [str(row[0]) for row in plan]
    return [str(row[-1]) for row in plan]


# -- cases ------------------------------------------------------------------------------------


_SORT_COLUMN = {
    FeedSort.NEW: arena_posts.c.created_at,
    FeedSort.HOT: arena_posts.c.hot_rank,
    FeedSort.TOP: arena_posts.c.score,
}


def deep_position(
    engine: Engine, sort: FeedSort, category: PostCategory | None, depth: int
) -> tuple[Any, str]:
    """(sort key, id) of the post ``depth`` places down the feed order."""
    column = _SORT_COLUMN[sort]
    query = select(column, arena_posts.c.id)
    if category is not None:
        query = query.where(arena_posts.c.category == category)
    query = query.order_by(column.desc(), arena_posts.c.id.desc()).offset(depth).limit(1)
    with engine.connect() as connection:
        row = connection.execute(query).one()
    key: Any = row[0]  # UTCDateTime already returns aware UTC datetimes
    return key, str(row[1])


def cursor_for(sort: FeedSort, category: PostCategory | None, key: Any, id_: str) -> str:
    """A cursor as the service issues it (``tradeforge.services.arena.ArenaService.feed``)."""
    return encode_cursor(
        {
            "t": "posts",
            "s": str(sort),
            "c": None if category is None else str(category),
            "p": "all",
            "a": None,
            "since": None,
            "k": key.isoformat() if isinstance(key, datetime) else int(key),
            "i": id_,
        }
    )


def time_request(client: TestClient, params: dict[str, Any], repeat: int) -> tuple[float, float]:
    for _ in range(3):  # warm up (plan cache, markdown cache)
        response = client.get("/api/v1/arena/posts", params=params)
        assert response.status_code == 200, response.text
        assert len(response.json()["data"]["posts"]) == PAGE, response.text
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get("/api/v1/arena/posts", params=params)
        samples.append((time.perf_counter() - started) * 1e3)
        assert response.status_code == 200
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def run(label: str, url: str, data_dir: Path, posts: int, repeat: int) -> None:
    print(f"\n=== {label}: {posts:,} posts ===")
    engine = create_db_engine(url)
    upgrade(engine)
    seconds = seed(engine, posts, random.Random(7))
    print(f"seeded in {seconds:.1f} s")
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        environment="test",
        log_json=False,
        run_jobs_in_process=False,
        rate_limit_per_hour=1_000_000,
    )
    app = create_app(settings, clock=FrozenClock(NOW))
    install_explain(app.state.container.engine)
    rows: list[tuple[str, float, float]] = []
    plans: list[tuple[str, list[str]]] = []
    with TestClient(app) as client:
        for sort in FeedSort:
            for category in (None, PostCategory.STRATEGY_IDEAS):
                base: dict[str, Any] = {"sort": str(sort), "period": "all", "limit": PAGE}
                if category is not None:
                    base["category"] = str(category)
                name = f"{sort:<3} {'all' if category is None else str(category):<14}"
                depth = (posts // (1 if category is None else 4)) // 2
                key, id_ = deep_position(engine, sort, category, depth)
                for page, params, after in (
                    ("first", base, None),
                    (
                        f"deep@{depth:,}",
                        {**base, "cursor": cursor_for(sort, category, key, id_)},
                        (key, id_),
                    ),
                ):
                    median, p95 = time_request(client, params, repeat)
                    rows.append((f"{name} {page:<12}", median, p95))
                    query = FeedQuery(sort=sort, limit=PAGE + 1, category=category, after=after)
                    plans.append((f"{name} {page}", explain(app.state.container.engine, query)))
    print(f"\n{'case':<42} {'median ms':>10} {'p95 ms':>8}")
    for case, median, p95 in rows:
        flag = "" if median < TARGET_MS else "  <-- over target"
        print(f"{case:<42} {median:>10.2f} {p95:>8.2f}{flag}")
    worst = max(m for _, m, _ in rows)
    print(f"worst median {worst:.2f} ms (target < {TARGET_MS:.0f} ms)")
    print("\nplans of the feed query:")
    for case, plan in plans:
        print(f"-- {case}")
        for line in plan:
            print(f"   {line}")
    engine.dispose()


@contextmanager
def postgres_database() -> Iterator[str | None]:
    try:
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        name = f"tf_bench_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # reported; the SQLite run still counts
        print(f"\nPostgreSQL not reachable at {POSTGRES_URL} ({type(error).__name__}); skipped.")
        yield None
        return
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tf_bench_arena_") as tmp:
        root = Path(tmp)
        run(
            "SQLite",
            f"sqlite:///{root / 'arena.sqlite3'}",
            root / "sqlite",
            args.posts,
            args.repeat,
        )
        if not args.no_postgres:
            with postgres_database() as url:
                if url is not None:
                    run("PostgreSQL", url, root / "pg", args.posts, args.repeat)


if __name__ == "__main__":
    main()
