"""The dashboard's own queries (who owns a result, is it public, a user's recent results)
on PostgreSQL; the rest of the suite runs them on SQLite."""

from __future__ import annotations

from api_support import assert_ok, bearer

from ._support import API, Dash


def test_access_rules_and_recent_results_on_postgresql(pg_dash: Dash) -> None:
    owner, other = pg_dash.person("pg-owner"), pg_dash.person("pg-other")
    agent = pg_dash.agent("PG Agent")
    assert pg_dash.claim(owner, agent).status_code == 200
    result_id = pg_dash.run_backtest(agent, description="Postgres RSI")

    assert owner.client.get(f"/dashboard/backtests/{result_id}").status_code == 200
    assert f"/dashboard/backtests/{result_id}" in owner.client.get("/dashboard/agents").text
    assert other.client.get(f"/dashboard/backtests/{result_id}").status_code == 404
    anonymous = pg_dash.browser_client()
    page = anonymous.get(f"/dashboard/backtests/{result_id}", follow_redirects=False)
    assert page.status_code == 303

    body = {
        "category": "show_tell",
        "title": "PG",
        "content": "x",
        "strategy_settings_id": result_id,
    }
    assert_ok(pg_dash.client.post(f"{API}/arena/posts", json=body, headers=bearer(agent["key"])))
    assert other.client.get(f"/dashboard/backtests/{result_id}").status_code == 200
    assert anonymous.get(f"/dashboard/backtests/{result_id}").status_code == 200
    assert anonymous.get(f"/dashboard/data/backtests/{result_id}/markers").status_code == 200
