"""dca and grid through the job path: POST /backtest/execute to completion on bundled data,
then the result, trades, equity, metrics and analysis endpoints, and the stored script."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api_support import assert_ok, bearer
from jobs.conftest import new_key, wait_for
from tradeforge.adapters.candles import open_market_data
from tradeforge.dsl import compile_script
from tradeforge.services.strategy_types import DcaParams, GridParams, generate_script

API = "/api/v1/backtest"
BTC = "BINANCE:BTC/USDT"


def _run(client: TestClient, key: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    queued = assert_ok(client.post(f"{API}/execute", json=payload, headers=bearer(key)))
    assert queued["strategy_type"] == payload["strategy_type"]
    done = wait_for(client, key, queued["backtest_id"], timeout=120)
    assert done["status"] == "completed", done
    result_id = done["result_id"]
    summary = assert_ok(client.get(f"{API}/results/{result_id}", headers=bearer(key)))
    return result_id, dict(summary)


def _trades(client: TestClient, key: str, result_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    url = f"{API}/results/{result_id}/trades?limit=500"
    while True:
        page = assert_ok(client.get(url, headers=bearer(key)))
        out += page["trades"]
        if page["next_cursor"] is None:
            return out
        url = f"{API}/results/{result_id}/trades?limit=500&cursor={page['next_cursor']}"


def _payload(strategy_type: str, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "strategy_type": strategy_type,
        "description": f"{strategy_type} on BTC/USDT 1h, first half of 2024",
        "universe": [BTC],
        "start_date": "2024-01-01",
        "end_date": "2024-06-30",
        "timeframe": "1h",
        "strategy_params": params,
        **extra,
    }


def _common_checks(client: TestClient, key: str, result_id: str, summary: dict[str, Any]) -> None:
    assert summary["strategy"]["script_generated"] is True
    compile_script(summary["script"], [BTC], timeframe="1h")  # forkable as a signal script
    equity = assert_ok(client.get(f"{API}/results/{result_id}/equity", headers=bearer(key)))
    assert equity["total_points"] == 182 * 24  # every 1h bar of 2024-01-01 .. 2024-06-30
    assert equity["points"][0]["equity"] > 0
    metrics = assert_ok(client.get(f"{API}/results/{result_id}/metrics", headers=bearer(key)))
    assert metrics["groups"]["returns"]["initial_equity"] == 10_000
    analysis = assert_ok(client.get(f"{API}/results/{result_id}/analysis", headers=bearer(key)))
    assert analysis["verdict"] in ("promising", "mixed", "weak")


def test_grid_runs_to_completion_with_fills_on_its_lines(running_client: TestClient) -> None:
    client = running_client
    key, _ = new_key(client)
    params = {
        "lower_price": 38000,
        "upper_price": 72000,
        "grid_count": 30,
        "investment": 10000,
        "trade_to_fill": True,
        "stop_condition": "close < 36000",
        "stop_exit": True,
    }
    result_id, summary = _run(client, key, _payload("grid", params, trading_fee=0.0002))
    grid = GridParams.model_validate(params)
    assert summary["script"] == generate_script("grid", grid, (BTC,), "1h").script
    assert summary["strategy"]["type"] == "grid"
    assert summary["request"]["strategy_type"] == "grid"
    assert summary["strategy"]["params"]["grid_count"] == 30
    _common_checks(client, key, result_id, summary)
    trades = _trades(client, key, result_id)
    closed = [t for t in trades if not t["is_open"]]
    assert len(closed) > 100
    assert summary["metrics"]["num_trades"] == len(closed)
    levels = np.array(grid.levels())
    candles = open_market_data(None).load("binance", "BTC/USDT", "1h", 1704067200000, None)
    opens = dict(zip(candles.timestamp.tolist(), candles.open.tolist(), strict=True))
    for t in closed:
        on_line = bool(np.any(np.isclose(levels, t["exit_price"], rtol=1e-12)))
        assert on_line or t["exit_price"] == opens[t["exit_time_ms"]], t
        assert t["reason"] == "take_profit"


def test_dca_runs_to_completion_with_deals_as_trades(running_client: TestClient) -> None:
    client = running_client
    key, _ = new_key(client)
    params = {
        "base_order": 1000,
        "safety_order": 500,
        "safety_orders_count": 4,
        "price_deviation_pct": 1.5,
        "step_scale": 1.3,
        "volume_scale": 1.5,
        "take_profit_pct": 2.0,
        "stop_loss_pct": 20.0,
        "start_condition": "rsi(close, 14) < 40",
    }
    result_id, summary = _run(client, key, _payload("dca", params, leverage=2, stop_loss=50))
    dca = DcaParams.model_validate(params)
    assert summary["script"] == generate_script("dca", dca, (BTC,), "1h").script
    assert "# safety order 4: limit" in summary["script"]
    assert summary["strategy"]["type"] == "dca"
    _common_checks(client, key, result_id, summary)
    trades = _trades(client, key, result_id)
    assert len(trades) >= 5
    for t in trades:
        assert t["side"] == "long"
        if t["reason"] == "take_profit":
            assert t["exit_price"] == pytest.approx(t["entry_price"] * 1.02, rel=1e-9) or (
                t["exit_price"] > t["entry_price"] * 1.02
            )
    assert summary["request"]["leverage"] == 2
    # The RSI's warm-up came from before the window, like any script's.
    assert summary["request"]["strategy_params"]["start_condition"] == "rsi(close, 14) < 40"
