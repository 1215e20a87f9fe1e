"""The async Backtest API end to end: execute, status, results, validation, quota and
ownership, with the in-process runner (spawned worker processes) on both databases."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_support import assert_error, assert_ok, bearer

from .conftest import body, new_key, status, submit, wait_for


def _get(client: TestClient, key: str, path: str) -> Any:
    return assert_ok(client.get(f"/api/v1/backtest/results/{path}", headers=bearer(key)))


def test_execute_poll_and_fetch_every_result_view(running_client: TestClient) -> None:
    client = running_client
    key, _ = new_key(client)
    response = client.post("/api/v1/backtest/execute", json=body(), headers=bearer(key))
    queued = assert_ok(response)
    assert queued["status"] == "queued"
    job_id = queued["backtest_id"]
    assert queued["status_url"] == f"/api/v1/backtest/status/{job_id}"

    done = wait_for(client, key, job_id)
    assert done["status"] == "completed", done
    assert done["progress"] == 100
    assert done["attempts"] == 1
    result_id = done["result_id"]
    assert result_id
    assert result_id != job_id

    summary = _get(client, key, result_id)
    assert summary["backtest_id"] == job_id
    assert summary["script"] == body()["script"]
    assert len(summary["fingerprint"]) == 64
    assert summary["dashboard_url"].endswith(f"/dashboard/backtests/{result_id}")
    for name in (
        "total_return_pct",
        "max_drawdown",
        "sharpe_ratio",
        "sortino_ratio",
        "calmar_ratio",
        "win_rate",
        "num_trades",
        "profit_factor",
    ):
        assert name in summary["metrics"], name
    assert summary["request"]["timeframe"] == "4h"

    metrics = _get(client, key, f"{result_id}/metrics")
    assert (
        metrics["groups"]["returns"]["total_return_pct"] == summary["metrics"]["total_return_pct"]
    )

    per_ticker = _get(client, key, f"{result_id}/per-ticker")
    assert [t["ticker"] for t in per_ticker["tickers"]] == ["BINANCE:BTC/USDT"]
    assert per_ticker["tickers"][0]["coverage"]["bars"] > 1000

    # Keyset pagination: pages of 1 add up to the whole list, in order, without repeats.
    everything = _get(client, key, f"{result_id}/trades?limit=500")
    assert everything["total"] == summary["num_trades"] == len(everything["trades"]) > 1
    assert everything["next_cursor"] is None
    paged: list[dict[str, Any]] = []
    cursor = None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        page = _get(client, key, f"{result_id}/trades?limit=1{suffix}")
        paged.extend(page["trades"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == everything["trades"]
    bad = client.get(
        f"/api/v1/backtest/results/{result_id}/trades?cursor=nonsense", headers=bearer(key)
    )
    assert_error(bad, 400, "VALIDATION_ERROR")

    full = _get(client, key, f"{result_id}/equity?points=5000")
    small = _get(client, key, f"{result_id}/equity?points=20")
    assert full["total_points"] == full["returned"] > 1000
    assert small["returned"] <= 20
    values = [p["equity"] for p in full["points"]]
    kept = [p["equity"] for p in small["points"]]
    assert small["points"][0] == full["points"][0]
    assert small["points"][-1] == full["points"][-1]
    assert min(values) in kept
    assert max(values) in kept
    assert [p["timestamp"] for p in small["points"]] == sorted(
        p["timestamp"] for p in small["points"]
    )

    analysis = _get(client, key, f"{result_id}/analysis")
    assert analysis == _get(client, key, f"{result_id}/analysis")  # deterministic
    assert analysis["verdict"] in ("promising", "mixed", "weak")
    topics = {f["topic"] for f in analysis["findings"]}
    assert {"return", "drawdown", "trades"} <= topics
    if summary["metrics"]["num_trades"] < 10:
        assert "too few trades" in json.dumps(analysis)


def test_job_failure_is_reported_with_code_and_message(running_client: TestClient) -> None:
    client = running_client
    key, _ = new_key(client)
    # Stored data starts on 2018-01-01: too little history before this start for the
    # indicator warm-up, which only the run itself finds out. The job fails cleanly.
    job_id = submit(client, key, start_date="2018-01-03", end_date="2018-03-01")
    done = wait_for(client, key, job_id)
    assert done["status"] == "failed"
    assert done["error_code"] == "TA_OUT_OF_RANGE"
    assert done["suggestion"]
    assert done["message"]
    assert done["result_id"] is None


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"description": "too short"}, "VALIDATION_ERROR", "description"),
        ({"description": None}, "VALIDATION_ERROR", "description"),
        ({"strategy_type": None}, "VALIDATION_ERROR", "strategy_type"),
        ({"strategy_type": "dca"}, "VALIDATION_ERROR", "strategy_params"),
        ({"strategy_type": "martingale"}, "VALIDATION_ERROR", "strategy_type"),
        ({"script": None}, "VALIDATION_ERROR", "script"),
        ({"universe": []}, "VALIDATION_ERROR", "universe"),
        ({"universe": ["BTC/USDT"]}, "VALIDATION_ERROR", "universe"),
        ({"universe": [f"BINANCE:C{i}/USDT" for i in range(21)]}, "VALIDATION_ERROR", "universe"),
        ({"start_date": "2024/01/01"}, "VALIDATION_ERROR", "start_date"),
        ({"start_date": "2024-02-30"}, "VALIDATION_ERROR", "start_date"),
        ({"end_date": "2024-01-01"}, "VALIDATION_ERROR", "end_date"),
        ({"timeframe": "2h"}, "VALIDATION_ERROR", "timeframe"),
        ({"initial_cash": 0}, "VALIDATION_ERROR", "initial_cash"),
        ({"initial_cash": "1000"}, "VALIDATION_ERROR", "initial_cash"),
        ({"leverage": 101}, "VALIDATION_ERROR", "leverage"),
        ({"trading_fee": 0.5}, "VALIDATION_ERROR", "trading_fee"),
        ({"slippage": -0.1}, "VALIDATION_ERROR", "slippage"),
        ({"stop_loss": 0}, "VALIDATION_ERROR", "stop_loss"),
        ({"mode": "hedge"}, "VALIDATION_ERROR", "mode"),
        ({"surprise": 1}, "VALIDATION_ERROR", "surprise"),
        ({"script": "emit_signal(close >, entry())"}, "DSL_SYNTAX_ERROR", None),
        (
            {
                "script": "x = nosuchfn(close)\n"
                'emit_signal(x > 1, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))'
            },
            "DSL_UNKNOWN_NAME",
            None,
        ),
    ],
)
def test_bad_requests_are_refused_before_queueing(
    idle_client: TestClient, overrides: dict[str, Any], code: str, field: str | None
) -> None:
    key, _ = new_key(idle_client)
    response = idle_client.post(
        "/api/v1/backtest/execute", json=body(**overrides), headers=bearer(key)
    )
    error = assert_error(response, 400, code)
    if field is not None:
        assert field in json.dumps(error), error
    # Nothing was spent: the quota still allows the full 10 backtests this hour.
    me = assert_ok(idle_client.get("/api/v1/meta/agents/me", headers=bearer(key)))
    assert me["quota"]["backtests"]["used"] == 0


def test_dsl_error_reports_position(idle_client: TestClient) -> None:
    key, _ = new_key(idle_client)
    response = idle_client.post(
        "/api/v1/backtest/execute",
        json=body(script='a = close +\nemit_signal(a > 1, entry("BINANCE:BTC/USDT", "LONG"))'),
        headers=bearer(key),
    )
    error = assert_error(response, 400, "DSL_SYNTAX_ERROR")
    assert error["details"]["line"] >= 1


def test_non_finite_money_is_refused(idle_client: TestClient) -> None:
    key, _ = new_key(idle_client)
    raw = json.dumps(body()).replace('"initial_cash": 10000', '"initial_cash": NaN')
    response = idle_client.post(
        "/api/v1/backtest/execute",
        content=raw,
        headers={**bearer(key), "Content-Type": "application/json"},
    )
    assert_error(response, 400, "VALIDATION_ERROR")


def test_span_cap_refuses_five_years_of_minutes_with_a_suggestion(idle_client: TestClient) -> None:
    key, _ = new_key(idle_client)
    response = idle_client.post(
        "/api/v1/backtest/execute",
        json=body(timeframe="1m", start_date="2019-01-01", end_date="2024-01-01"),
        headers=bearer(key),
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert "cap" in error["message"]
    assert "timeframe" in error["suggestion"]
    assert "days" in error["suggestion"]
    assert error["details"]["max_bars_per_ticker"] < error["details"]["bars_per_ticker"]
    # Two years of minutes is fine (about 1.05 million bars).
    ok = idle_client.post(
        "/api/v1/backtest/execute",
        json=body(timeframe="1m", start_date="2023-09-01", end_date="2025-08-01"),
        headers=bearer(key),
    )
    assert_ok(ok)


def test_eleventh_backtest_in_an_hour_is_refused_for_a_provisional_key(
    idle_client: TestClient,
) -> None:
    key, _ = new_key(idle_client)
    for _ in range(10):
        submit(idle_client, key)
    response = idle_client.post("/api/v1/backtest/execute", json=body(), headers=bearer(key))
    error = assert_error(response, 429, "FREE_QUOTA_EXCEEDED")
    assert "claim" in error["suggestion"].lower()
    assert int(response.headers["retry-after"]) > 0


def test_another_keys_job_and_result_are_not_found(running_client: TestClient) -> None:
    client = running_client
    owner, _ = new_key(client, "Owner")
    other, _ = new_key(client, "Other")
    job_id = submit(client, owner)
    result_id = wait_for(client, owner, job_id)["result_id"]
    assert result_id

    def not_found_body(response: Any) -> dict[str, Any]:
        error = assert_error(response, 404, "BACKTEST_NOT_FOUND")
        return {k: error[k] for k in ("code", "suggestion")}

    missing_job = not_found_body(
        client.get("/api/v1/backtest/status/bt_doesnotexist", headers=bearer(other))
    )
    calls = [
        client.get(f"/api/v1/backtest/status/{job_id}", headers=bearer(other)),
        client.post(f"/api/v1/backtest/cancel/{job_id}", headers=bearer(other)),
        *(
            client.get(f"/api/v1/backtest/results/{result_id}{suffix}", headers=bearer(other))
            for suffix in ("", "/metrics", "/per-ticker", "/trades", "/equity", "/analysis")
        ),
    ]
    for response in calls:
        assert not_found_body(response) == missing_job
    # The job id is not a result id, and a result id is not a job id.
    assert_error(
        client.get(f"/api/v1/backtest/results/{job_id}", headers=bearer(owner)),
        404,
        "BACKTEST_NOT_FOUND",
    )
    assert_error(
        client.get(f"/api/v1/backtest/status/{result_id}", headers=bearer(owner)),
        404,
        "BACKTEST_NOT_FOUND",
    )
    # The owner still sees everything.
    assert status(client, owner, job_id)["status"] == "completed"


def test_endpoints_need_a_key(idle_client: TestClient) -> None:
    assert_error(
        idle_client.post("/api/v1/backtest/execute", json=body()), 401, "AUTHENTICATION_REQUIRED"
    )
    assert_error(idle_client.get("/api/v1/backtest/status/x"), 401, "AUTHENTICATION_REQUIRED")


def test_no_stored_candles_is_refused_at_submit(idle_client: TestClient) -> None:
    key, _ = new_key(idle_client)
    for overrides in (
        {"start_date": "2010-01-01", "end_date": "2010-03-01"},
        {
            "universe": ["BINANCE:NOPE/USDT"],
            "script": 'emit_signal(close > 0, entry(current_ticker, "LONG", Weight(0.5)))',
        },
    ):
        response = idle_client.post(
            "/api/v1/backtest/execute", json=body(**overrides), headers=bearer(key)
        )
        error = assert_error(response, 404, "DATA_UNAVAILABLE")
        assert "candles" in error["message"]
    me = assert_ok(idle_client.get("/api/v1/meta/agents/me", headers=bearer(key)))
    assert me["quota"]["backtests"]["used"] == 0
