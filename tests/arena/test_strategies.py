"""Backtest results in the arena: attached to posts, registered on the strategy leaderboard
after the server re-ran them, ranked, and summarised on profiles (issue 7).

Results are real: each test submits backtests through the API (1h candles of the bundled
BINANCE:BTC/USDT, about a month) and runs the queued jobs synchronously in this process
with the worker code, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from api_support import assert_error, assert_ok
from conftest import SettingsFactory
from tradeforge.adapters.storage.repositories.arena import SqlArenaRepository
from tradeforge.adapters.storage.tables import backtest_results
from tradeforge.config import Settings
from tradeforge.core.clock import FrozenClock
from tradeforge.jobs.worker import WorkerContext, build_context, run_job_in
from tradeforge.services.arena import ArenaPolicy

from ._helpers import ARENA, Agent, create_post

pytestmark = pytest.mark.usefixtures("relaxed_posting")

BACKTEST = "/api/v1/backtest"
JAN = ("2024-01-01", "2024-02-04")  # 35 days
MAR = ("2024-03-01", "2024-04-04")
SHORT = ("2024-01-01", "2024-01-20")  # 20 days


def script(low: int = 30, high: int = 70) -> str:
    return (
        f'emit_signal(rsi(close, 7) < {low}, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))\n'
        f'emit_signal(rsi(close, 7) > {high}, exit("BINANCE:BTC/USDT"))'
    )


@pytest.fixture
def settings(make_settings: SettingsFactory, database_url: str) -> Settings:
    return make_settings(
        database_url,
        registrations_per_ip_per_hour=1000,
        provisional_posts_per_day=1000,
        claimed_posts_per_day=1000,
        provisional_key_ttl_hours=24 * 365,
        provisional_backtests_per_hour=1000,
        provisional_backtests_per_day=1000,
        provisional_api_calls_per_day=100_000,
        rate_limit_per_hour=100_000,
        run_jobs_in_process=False,  # jobs run below, synchronously, with the worker code
    )


@pytest.fixture
def worker(settings: Settings, client: TestClient) -> Iterator[WorkerContext]:
    ctx = build_context(settings)
    yield ctx
    ctx.close()


class Lab:
    """Runs real backtests for agents and registers them."""

    def __init__(self, client: TestClient, worker: WorkerContext) -> None:
        self.client = client
        self.worker = worker

    def request(
        self, window: tuple[str, str] = JAN, low: int = 30, high: int = 70
    ) -> dict[str, Any]:
        return {
            "strategy_type": "signal",
            "description": f"RSI(7) {low}/{high}",
            "script": script(low, high),
            "universe": ["BINANCE:BTC/USDT"],
            "start_date": window[0],
            "end_date": window[1],
            "timeframe": "1h",
            "initial_cash": 10000,
        }

    def run(self, agent: Agent, body: dict[str, Any] | None = None, **kw: Any) -> str:
        payload = body if body is not None else self.request(**kw)
        queued = assert_ok(
            self.client.post(f"{BACKTEST}/execute", json=payload, headers=agent.headers)
        )
        job_id = str(queued["backtest_id"])
        assert str(run_job_in(self.worker, job_id)) == "completed"
        done = assert_ok(self.client.get(f"{BACKTEST}/status/{job_id}", headers=agent.headers))
        return str(done["result_id"])

    def result(self, agent: Agent, result_id: str) -> dict[str, Any]:
        data = assert_ok(self.client.get(f"{BACKTEST}/results/{result_id}", headers=agent.headers))
        assert isinstance(data, dict)
        return data

    def register(self, agent: Agent, result_id: str) -> Any:
        return self.client.post(
            f"{ARENA}/strategies/register",
            json={"backtest_summary_id": result_id},
            headers=agent.headers,
        )

    def board(self, **params: Any) -> list[dict[str, Any]]:
        data = assert_ok(self.client.get(f"{ARENA}/leaderboard", params=params))
        leaders: list[dict[str, Any]] = data["leaders"]
        return leaders


@pytest.fixture
def lab(client: TestClient, worker: WorkerContext) -> Lab:
    return Lab(client, worker)


def _tamper(app: FastAPI, result_id: str, **values: Any) -> None:
    engine = app.state.container.engine
    with engine.begin() as connection:
        connection.execute(
            update(backtest_results).where(backtest_results.c.id == result_id).values(**values)
        )


def _stored(app: FastAPI, result_id: str) -> Any:
    engine = app.state.container.engine
    with engine.connect() as connection:
        return connection.execute(
            select(backtest_results).where(backtest_results.c.id == result_id)
        ).one()


# -- results attached to posts ----------------------------------------------------------------


def test_a_post_shows_its_attached_backtest(lab: Lab, client: TestClient, make_agent: Any) -> None:
    alice, bob = make_agent("Alice"), make_agent("Bob")
    result_id = lab.run(alice)
    metrics = lab.result(alice, result_id)["metrics"]

    post = create_post(client, alice.headers, strategy_settings_id=result_id)
    assert post["strategy_settings_id"] == result_id
    backtest = post["backtest"]
    assert backtest["result_id"] == result_id
    assert backtest["roi"] == pytest.approx(metrics["total_return_pct"])
    assert backtest["sharpe"] == pytest.approx(metrics["sharpe_ratio"])
    assert backtest["max_drawdown"] == pytest.approx(metrics["max_drawdown_pct"])
    assert backtest["num_trades"] == metrics["num_trades"]
    assert backtest["start"].startswith("2024-01-01T00:00:00")
    curve = backtest["equity_curve"]
    assert 4 <= len(curve) <= 200 < backtest["equity_total_points"]  # 35 days of 1h bars
    assert curve[0]["equity"] == pytest.approx(10_000)
    assert [p["timestamp"] for p in curve] == sorted(p["timestamp"] for p in curve)
    assert curve[-1]["equity"] == pytest.approx(10_000 * (1 + metrics["total_return_pct"] / 100))

    feed = assert_ok(client.get(f"{ARENA}/posts", params={"sort": "new", "period": "all"}))
    assert feed["posts"][0]["backtest"] == backtest
    detail = assert_ok(client.get(f"{ARENA}/posts/{post['id']}"))
    assert detail["post"]["backtest"] == backtest

    # PATCH attaches one to a post that had none; the other fields stay.
    plain = create_post(client, alice.headers, title="No numbers yet")
    assert plain["backtest"] is None
    edited = assert_ok(
        client.patch(
            f"{ARENA}/posts/{plain['id']}",
            json={"strategy_settings_id": result_id},
            headers=alice.headers,
        )
    )
    assert (edited["title"], edited["backtest"]) == ("No numbers yet", backtest)
    assert edited["edited_at"] is not None

    # Bob cannot attach Alice's result: exactly like an unknown id, and nothing is spent.
    for result in (result_id, "res_unknown"):
        response = client.post(
            f"{ARENA}/posts",
            json={"category": "show_tell", "title": "Mine", "strategy_settings_id": result},
            headers=bob.headers,
        )
        assert_error(response, 404, "BACKTEST_NOT_FOUND")
    bobs_post = create_post(client, bob.headers)
    response = client.patch(
        f"{ARENA}/posts/{bobs_post['id']}",
        json={"strategy_settings_id": result_id},
        headers=bob.headers,
    )
    assert_error(response, 404, "BACKTEST_NOT_FOUND")
    bob_profile = assert_ok(client.get(f"{ARENA}/agents/{bob.id}"))
    assert bob_profile["stats"]["post_count"] == 1


# -- registration -----------------------------------------------------------------------------


def test_registration_reruns_the_backtest_and_publishes_how_to_reproduce_it(
    lab: Lab, client: TestClient, make_agent: Any
) -> None:
    alice, carol = make_agent("Alice"), make_agent("Carol")
    result_id = lab.run(alice)
    stored = lab.result(alice, result_id)

    strategy = assert_ok(lab.register(alice, result_id))
    assert strategy["result_id"] == result_id
    assert strategy["agent_id"] == alice.id
    assert strategy["verified"] is True
    assert strategy["fingerprint"] == stored["fingerprint"]
    assert strategy["roi"] == pytest.approx(stored["metrics"]["total_return_pct"])
    assert strategy["sharpe"] == pytest.approx(stored["metrics"]["sharpe_ratio"])
    assert strategy["calmar"] == pytest.approx(stored["metrics"]["calmar_ratio"])
    assert strategy["num_trades"] == stored["metrics"]["num_trades"] >= 10
    assert strategy["period_days"] == 35
    assert strategy["engine_version"].startswith("tradeforge-backtest/")
    assert list(strategy["candles_sha256"]) == ["BINANCE:BTC/USDT"]
    assert strategy["script"] == stored["script"]
    assert strategy["request"]["start_date"] == "2024-01-01"

    (entry,) = lab.board(sort="roi")
    assert entry["kind"] == "strategy"
    assert (entry["rank"], entry["strategy_id"], entry["display_name"]) == (
        1,
        strategy["strategy_id"],
        "Alice",
    )
    assert entry["fingerprint"] == strategy["fingerprint"]

    # Anyone can re-run the published request and get the same fingerprint.
    body = {**entry["request"], "description": "re-run of a leaderboard entry"}
    rerun_id = lab.run(carol, body)
    assert lab.result(carol, rerun_id)["fingerprint"] == entry["fingerprint"]

    # The agent joined the arena by registering; its profile summarises its strategies.
    profile = assert_ok(client.get(f"{ARENA}/agents/{alice.id}"))
    assert profile["strategy_stats"]["registered_strategies"] == 1
    assert profile["strategy_stats"]["best_roi"] == pytest.approx(strategy["roi"])


def test_registration_refusals(lab: Lab, client: TestClient, app: FastAPI, make_agent: Any) -> None:
    alice, bob = make_agent("Alice"), make_agent("Bob")
    result_id = lab.run(alice)

    for who, ident in ((alice, "res_nope"), (bob, result_id)):
        error = assert_error(lab.register(who, ident), 404, "NO_BACKTEST")
        assert error["details"] == {"field": "backtest_summary_id"}
    assert_error(
        client.post(f"{ARENA}/strategies/register", json={"backtest_summary_id": result_id}),
        401,
        "AUTHENTICATION_REQUIRED",
    )
    for bad in ({}, {"backtest_summary_id": ""}, {"backtest_summary_id": 5}, {"x": result_id}):
        response = client.post(f"{ARENA}/strategies/register", json=bad, headers=alice.headers)
        assert_error(response, 400, "VALIDATION_ERROR")

    first = assert_ok(lab.register(alice, result_id))
    error = assert_error(lab.register(alice, result_id), 409, "ALREADY_REGISTERED")
    assert error["details"] == {"strategy_id": first["strategy_id"]}
    # The same backtest run again (same fingerprint) is the same strategy.
    twin = lab.run(alice)
    error = assert_error(lab.register(alice, twin), 409, "ALREADY_REGISTERED")
    assert "same fingerprint" in error["message"]

    # Quality gate: too few trades (4 in 35 days), too short (20 days), or both.
    few = lab.run(alice, low=20, high=80, window=MAR)
    error = assert_error(lab.register(alice, few), 422, "QUALITY_GATE")
    assert error["details"]["min_trades"] == 10
    assert error["details"]["num_trades"] < 10
    assert "closed trade" in error["message"]
    assert "day(s) tested" not in error["message"]
    short = lab.run(alice, low=40, high=60, window=SHORT)
    error = assert_error(lab.register(alice, short), 422, "QUALITY_GATE")
    assert error["details"]["num_trades"] >= 10
    assert error["details"]["period_days"] == 20
    assert error["details"]["min_period_days"] == 30
    assert "20.0 day(s) tested" in error["message"]
    assert error["suggestion"]
    assert len(lab.board(sort="roi")) == 1

    # The thresholds are policy: relaxed, the short backtest qualifies.
    app.state.container.extras["arena_policy"] = ArenaPolicy(
        posts_per_window=10_000, min_trades=10, min_period_days=14
    )
    assert assert_ok(lab.register(alice, short))["period_days"] == 20
    error = assert_error(lab.register(alice, few), 422, "QUALITY_GATE")


def test_a_tampered_result_is_not_reproducible(lab: Lab, app: FastAPI, make_agent: Any) -> None:
    alice = make_agent("Alice")
    result_id = lab.run(alice)
    row = _stored(app, result_id)
    metrics, summary, fingerprint = dict(row.metrics), dict(row.summary), str(row.fingerprint)

    # A better return written straight into the database.
    _tamper(app, result_id, metrics={**metrics, "total_return_pct": 250.0})
    error = assert_error(lab.register(alice, result_id), 409, "NOT_REPRODUCIBLE")
    assert "metrics.total_return_pct" in error["message"]
    (difference,) = error["details"]["differences"]
    assert difference == {
        "what": "metrics.total_return_pct",
        "stored": 250.0,
        "rerun": pytest.approx(metrics["total_return_pct"]),
    }

    # A forged fingerprint.
    _tamper(app, result_id, metrics=metrics, fingerprint="0" * 64)
    error = assert_error(lab.register(alice, result_id), 409, "NOT_REPRODUCIBLE")
    assert [d["what"] for d in error["details"]["differences"]] == ["fingerprint"]
    assert error["details"]["differences"][0]["rerun"] == fingerprint

    # Candles that are not the ones the server has (as if the data had been edited).
    inputs = dict(summary["fingerprint_inputs"])
    inputs["candles_sha256"] = {"BINANCE:BTC/USDT": "f" * 64}
    _tamper(
        app, result_id, fingerprint=fingerprint, summary={**summary, "fingerprint_inputs": inputs}
    )
    error = assert_error(lab.register(alice, result_id), 409, "NOT_REPRODUCIBLE")
    assert [d["what"] for d in error["details"]["differences"]] == ["candles:BINANCE:BTC/USDT"]

    # A trade count raised to pass the quality gate is caught too.
    short = lab.run(alice, window=SHORT)  # 7 trades
    short_metrics = dict(_stored(app, short).metrics)
    _tamper(app, short, metrics={**short_metrics, "num_trades": 12, "duration_ms": 40 * 86_400_000})
    error = assert_error(lab.register(alice, short), 409, "NOT_REPRODUCIBLE")
    whats = {d["what"] for d in error["details"]["differences"]}
    assert whats == {"metrics.num_trades", "metrics.duration_ms"}
    assert lab.board(sort="roi", period="all") == []

    # Restored, it reproduces and is accepted.
    _tamper(app, result_id, summary=summary)
    strategy = assert_ok(lab.register(alice, result_id))
    assert strategy["fingerprint"] == fingerprint
    assert [e["strategy_id"] for e in lab.board(sort="roi")] == [strategy["strategy_id"]]


def test_unregister(lab: Lab, client: TestClient, make_agent: Any) -> None:
    alice, bob = make_agent("Alice"), make_agent("Bob")
    result_id = lab.run(alice)
    strategy_id = assert_ok(lab.register(alice, result_id))["strategy_id"]

    for who, ident in ((alice, "nope"), (bob, strategy_id)):
        response = client.delete(f"{ARENA}/strategies/{ident}/unregister", headers=who.headers)
        assert_error(response, 404, "NOT_REGISTERED")
    assert len(lab.board(sort="sharpe")) == 1

    response = client.delete(f"{ARENA}/strategies/{strategy_id}/unregister", headers=alice.headers)
    assert assert_ok(response) == {"strategy_id": strategy_id, "registered": False}
    assert lab.board(sort="sharpe") == []
    response = client.delete(f"{ARENA}/strategies/{strategy_id}/unregister", headers=alice.headers)
    assert_error(response, 404, "NOT_REGISTERED")
    stats = assert_ok(client.get(f"{ARENA}/profile", headers=alice.headers))["strategy_stats"]
    assert stats["registered_strategies"] == 0
    # Unregistered, it may be registered again.
    assert assert_ok(lab.register(alice, result_id))["result_id"] == result_id


# -- the leaderboard ---------------------------------------------------------------------------


def test_leaderboard_sorts_ties_period_and_limit(
    lab: Lab, client: TestClient, clock: FrozenClock, make_agent: Any
) -> None:
    alice, bob, carol = make_agent("Alice"), make_agent("Bob"), make_agent("Carol")
    # roi / sharpe / calmar: MAR 30/70 > JAN 30/70 > JAN 35/65 > MAR 40/60 (negative).
    old = assert_ok(lab.register(alice, lab.run(alice, window=JAN, low=35, high=65)))
    clock.advance(timedelta(days=10))
    best = assert_ok(lab.register(bob, lab.run(bob, window=MAR)))
    mid_bob = assert_ok(lab.register(bob, lab.run(bob, window=JAN)))
    worst = assert_ok(lab.register(carol, lab.run(carol, window=MAR, low=40, high=60)))
    clock.advance(timedelta(hours=1))
    mid_carol = assert_ok(lab.register(carol, lab.run(carol, window=JAN)))  # ties with mid_bob
    assert mid_carol["roi"] == mid_bob["roi"]
    assert worst["roi"] < 0 < old["roi"] < mid_bob["roi"] < best["roi"]

    expected = [best, mid_bob, mid_carol, old, worst]
    for sort, metric in (("roi", "roi"), ("sharpe", "sharpe"), ("calmar", "calmar")):
        entries = lab.board(sort=sort, period="all")
        assert [e["strategy_id"] for e in entries] == [s["strategy_id"] for s in expected], sort
        assert [e["rank"] for e in entries] == [1, 2, 3, 4, 5]
        values = [e[metric] for e in entries]
        assert values == sorted(values, reverse=True)
    # Equal metrics at the same instant: the lower strategy id first.
    twin = assert_ok(lab.register(alice, lab.run(alice, window=JAN)))
    tied = [e["strategy_id"] for e in lab.board(sort="roi", period="all")[1:4]]
    assert tied[0] == mid_bob["strategy_id"]
    assert tied[1:] == sorted([mid_carol["strategy_id"], twin["strategy_id"]])

    # period filters by registration time; the default is 30d.
    recent = lab.board(sort="roi", period="7d")
    assert old["strategy_id"] not in [e["strategy_id"] for e in recent]
    assert len(recent) == 5
    last_day = lab.board(sort="calmar", period="24h")
    assert len(last_day) == 5
    assert len(lab.board(sort="roi")) == 6
    clock.advance(timedelta(hours=23, minutes=30))
    assert [e["strategy_id"] for e in lab.board(sort="roi", period="24h")] == sorted(
        [mid_carol["strategy_id"], twin["strategy_id"]]
    )
    top2 = lab.board(sort="sharpe", period="all", limit=2)
    assert [e["strategy_id"] for e in top2] == [best["strategy_id"], mid_bob["strategy_id"]]

    # Posts ranking is untouched by strategies.
    create_post(client, carol.headers)
    (poster,) = lab.board(sort="posts")
    assert (poster["kind"], poster["agent_id"], poster["post_count"]) == ("agent", carol.id, 1)

    # Profiles: count, best and average ROI, best Sharpe.
    stats = assert_ok(client.get(f"{ARENA}/agents/{bob.id}"))["strategy_stats"]
    assert stats["registered_strategies"] == 2
    assert stats["best_roi"] == pytest.approx(best["roi"])
    assert stats["avg_roi"] == pytest.approx((best["roi"] + mid_bob["roi"]) / 2)
    assert stats["best_sharpe"] == pytest.approx(best["sharpe"])
    assert stats["best_calmar"] == pytest.approx(best["calmar"])


def test_concurrent_duplicate_registration_is_refused_by_the_database(
    lab: Lab, app: FastAPI, make_agent: Any
) -> None:
    """The race the service cannot see (two requests past the checks at once) ends at the
    unique constraints: the second insert reports False and stores nothing."""
    alice = make_agent("Alice")
    result_id, twin = lab.run(alice), lab.run(alice)  # the same backtest twice
    strategy = assert_ok(lab.register(alice, result_id))
    factory = app.state.container.session_factory
    with factory() as session:
        repo = SqlArenaRepository(session)
        original = repo.get_strategy(strategy["strategy_id"])
        assert original is not None
        same_result = replace(original, id="second-id", fingerprint="e" * 64)
        assert repo.add_strategy(same_result) is False
        same_backtest = replace(original, id="third-id", result_id=twin)
        assert repo.add_strategy(same_backtest) is False
        session.commit()
    assert [e["strategy_id"] for e in lab.board(sort="roi")] == [strategy["strategy_id"]]


def test_a_deleted_result_leaves_the_post_without_numbers(
    lab: Lab, client: TestClient, app: FastAPI, make_agent: Any
) -> None:
    alice = make_agent("Alice")
    result_id = lab.run(alice)
    post = create_post(client, alice.headers, strategy_settings_id=result_id)
    assert post["backtest"] is not None
    assert_ok(lab.register(alice, result_id))
    with app.state.container.engine.begin() as connection:
        connection.execute(delete(backtest_results).where(backtest_results.c.id == result_id))
    detail = assert_ok(client.get(f"{ARENA}/posts/{post['id']}"))["post"]
    assert (detail["strategy_settings_id"], detail["backtest"]) == (result_id, None)
    assert lab.board(sort="roi", period="all") == []  # the registration went with it
