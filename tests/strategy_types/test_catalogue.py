"""The strategy-type catalogue: listing, JSON Schemas from the validating models, and
parameter validation naming the field (both databases)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_support import assert_error, assert_ok, bearer
from jobs.conftest import new_key
from tradeforge.api.errors import ERROR_CODES
from tradeforge.api.schemas.backtest import EXECUTE_MODELS
from tradeforge.services.strategy_types import (
    CATALOGUE,
    CrossSectionalParams,
    DcaParams,
    GridParams,
    PairTradingParams,
)

API = "/api/v1/backtest"
BTC, ETH = "BINANCE:BTC/USDT", "BINANCE:ETH/USDT"

DCA = {"base_order": 100, "safety_order": 50, "take_profit_pct": 2.0}
GRID = {"lower_price": 20000, "upper_price": 30000, "grid_count": 10, "investment": 1000}
PAIR = {"leg_a": BTC, "leg_b": ETH}
CROSS = {"ranking_expression": "roc(close, 20)", "top_n": 1}


def body(strategy_type: str, params: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "strategy_type": strategy_type,
        "description": f"{strategy_type} strategy from the catalogue test",
        "universe": [BTC, ETH],
        "start_date": "2023-01-01",
        "end_date": "2023-03-31",
        "strategy_params": params,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _backtests_used(client: TestClient, key: str) -> int:
    me = assert_ok(client.get("/api/v1/meta/agents/me", headers=bearer(key)))
    return int(me["quota"]["backtests"]["used"])


def test_list_strategy_types(idle_client: TestClient) -> None:
    key, _ = new_key(idle_client)
    data = assert_ok(idle_client.get(f"{API}/strategies", headers=bearer(key)))
    rows = {row["type"]: row for row in data["strategies"]}
    assert list(rows) == ["signal", "dca", "grid", "pair_trading", "cross_sectional"]
    for name in ("signal", "dca", "grid", "pair_trading", "cross_sectional"):
        assert rows[name]["supported"] is True
        assert rows[name]["reason"] is None
    for row in rows.values():
        assert row["name"]
        assert row["description"]
        assert row["schema_url"] == f"{API}/strategies/{row['type']}/schema"
    # The seed's scope: research. No key, no catalogue.
    assert_error(idle_client.get(f"{API}/strategies"), 401, "AUTHENTICATION_REQUIRED")


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_schema_is_the_validating_model(idle_client: TestClient, name: str) -> None:
    key, _ = new_key(idle_client)
    data = assert_ok(idle_client.get(f"{API}/strategies/{name}/schema", headers=bearer(key)))
    assert data["strategy_type"] == name
    assert data["supported"] is CATALOGUE[name].supported
    schema = data["schema"]
    assert schema == json.loads(json.dumps(EXECUTE_MODELS[name].model_json_schema()))
    assert schema["properties"]["strategy_type"]["const"] == name
    assert schema["additionalProperties"] is False
    model = CATALOGUE[name].params_model
    if model is None:
        assert "script" in schema["required"]
        assert "strategy_params" not in schema["properties"]
        return
    assert "strategy_params" in schema["required"]
    params = schema["$defs"][model.__name__]
    assert params == json.loads(json.dumps(model.model_json_schema()))
    assert set(params["properties"]) == set(model.model_fields)


def test_params_schemas_cover_the_documented_fields() -> None:
    assert {
        "direction",
        "base_order",
        "safety_order",
        "safety_orders_count",
        "price_deviation_pct",
        "step_scale",
        "volume_scale",
        "take_profit_pct",
        "stop_loss_pct",
    } <= set(DcaParams.model_fields)
    assert {
        "lower_price",
        "upper_price",
        "grid_count",
        "grid_type",
        "investment",
        "investment_asset",
        "start_condition",
        "stop_condition",
    } <= set(GridParams.model_fields)
    assert GridParams.model_json_schema()["properties"]["grid_type"]["enum"] == [
        "arithmetic",
        "geometric",
    ]
    assert {
        "leg_a",
        "leg_b",
        "lookback",
        "hedge_window",
        "entry_z",
        "exit_z",
        "stop_z",
    } <= set(PairTradingParams.model_fields)
    assert {
        "ranking_expression",
        "top_n",
        "bottom_n",
        "rebalance_period",
        "direction",
    } <= set(CrossSectionalParams.model_fields)


def test_unknown_type_schema_is_404_with_the_list(idle_client: TestClient) -> None:
    key, _ = new_key(idle_client)
    error = assert_error(
        idle_client.get(f"{API}/strategies/martingale/schema", headers=bearer(key)),
        404,
        "NOT_FOUND",
    )
    for name in CATALOGUE:
        assert name in error["suggestion"]


@pytest.mark.parametrize(("name", "params"), [("dca", DCA), ("grid", GRID)])
def test_dca_and_grid_need_exactly_one_ticker(
    idle_client: TestClient, name: str, params: dict[str, Any]
) -> None:
    key, _ = new_key(idle_client)
    response = idle_client.post(f"{API}/execute", json=body(name, params), headers=bearer(key))
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == "universe"
    assert "one ticker" in error["message"]
    assert "STRATEGY_TYPE_UNSUPPORTED" in ERROR_CODES  # still the code for a future type
    assert _backtests_used(idle_client, key) == 0


@pytest.mark.parametrize(
    ("name", "params", "field", "code", "column"),
    [
        ("dca", {**DCA, "start_condition": "rsii(close, 14) < 30"}, "start_condition",
         "DSL_UNKNOWN_NAME", 1),
        ("grid", {**GRID, "stop_condition": "close +* 2"}, "stop_condition",
         "DSL_SYNTAX_ERROR", 8),
        ("grid", {**GRID, "start_condition": "close"}, "start_condition", "DSL_TYPE_ERROR",
         None),
    ],
)  # fmt: skip
def test_ladder_condition_errors_point_into_the_expression(
    idle_client: TestClient,
    name: str,
    params: dict[str, Any],
    field: str,
    code: str,
    column: int | None,
) -> None:
    key, _ = new_key(idle_client)
    response = idle_client.post(
        f"{API}/execute", json=body(name, params, universe=[BTC]), headers=bearer(key)
    )
    error = assert_error(response, 400, code)
    assert error["details"]["field"] == f"strategy_params.{field}"
    if column is None:  # a number where a condition goes: found where it is used
        assert "true/false condition" in error["message"]
        return
    assert error["details"]["column"] == column
    assert error["details"]["source_line"] == params[field]


@pytest.mark.parametrize(
    ("strategy_type", "params", "overrides", "field"),
    [
        ("pair_trading", {**PAIR, "entry_z": -1}, {}, "strategy_params.entry_z"),
        ("pair_trading", {**PAIR, "lookback": 1}, {}, "strategy_params.lookback"),
        ("pair_trading", {**PAIR, "lookback": 20.5}, {}, "strategy_params.lookback"),
        ("pair_trading", {"leg_a": BTC}, {}, "strategy_params.leg_b"),
        ("pair_trading", {**PAIR, "leg_b": "ETHUSDT"}, {}, "strategy_params.leg_b"),
        ("pair_trading", {**PAIR, "surprise": 1}, {}, "strategy_params.surprise"),
        ("pair_trading", {**PAIR, "exit_z": 3}, {}, "exit_z"),
        ("pair_trading", {**PAIR, "stop_z": 1.5}, {}, "stop_z"),
        ("pair_trading", PAIR, {"universe": [ETH, BTC]}, "universe"),
        ("pair_trading", PAIR, {"script": "x = 1"}, "script"),
        ("cross_sectional", {**CROSS, "top_n": 0}, {}, "strategy_params.top_n"),
        ("cross_sectional", {**CROSS, "top_n": 3}, {}, "strategy_params.top_n"),
        ("cross_sectional", {**CROSS, "rebalance_period": 0}, {}, "rebalance_period"),
        ("cross_sectional", {**CROSS, "direction": "short_only"}, {}, "direction"),
        ("cross_sectional", {**CROSS, "bottom_n": 1}, {}, "bottom_n"),
        ("cross_sectional", {"top_n": 1}, {}, "strategy_params.ranking_expression"),
        (
            "cross_sectional",
            {**CROSS, "ranking_expression": "close\nemit_signal(true, exit(current_ticker))"},
            {},
            "strategy_params.ranking_expression",
        ),
        ("cross_sectional", CROSS, {"universe": [BTC]}, "universe"),
        ("dca", {**DCA, "take_profit_pct": 0}, {"universe": [BTC]}, "take_profit_pct"),
        (
            "dca",
            {**DCA, "safety_orders_count": 10, "price_deviation_pct": 20},
            {"universe": [BTC]},
            "safety_orders_count",
        ),
        ("grid", {**GRID, "upper_price": 10000}, {"universe": [BTC]}, "upper_price"),
        ("grid", {**GRID, "stop_loss_price": 25000}, {"universe": [BTC]}, "stop_loss_price"),
        ("grid", {**GRID, "investment": 1e6}, {"universe": [BTC]}, "strategy_params.investment"),
        ("grid", GRID, {"universe": [BTC, ETH]}, "universe"),
        ("signal", PAIR, {"script": "x = 1"}, "strategy_params"),
        ("martingale", PAIR, {}, "strategy_type"),
    ],
)
def test_invalid_params_name_the_field(
    idle_client: TestClient,
    strategy_type: str,
    params: dict[str, Any],
    overrides: dict[str, Any],
    field: str,
) -> None:
    key, _ = new_key(idle_client)
    response = idle_client.post(
        f"{API}/execute", json=body(strategy_type, params, **overrides), headers=bearer(key)
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert field in json.dumps(error), error
    assert _backtests_used(idle_client, key) == 0


@pytest.mark.parametrize(
    ("expression", "code", "column"),
    [
        ("roc(close, 20) +* 1", "DSL_SYNTAX_ERROR", 17),
        ("nosuch(close)", "DSL_UNKNOWN_NAME", 1),
        ("close > open", "DSL_TYPE_ERROR", 1),
    ],
)
def test_ranking_expression_errors_point_into_the_expression(
    idle_client: TestClient, expression: str, code: str, column: int
) -> None:
    key, _ = new_key(idle_client)
    params = {**CROSS, "ranking_expression": expression}
    response = idle_client.post(
        f"{API}/execute", json=body("cross_sectional", params), headers=bearer(key)
    )
    error = assert_error(response, 400, code)
    assert error["details"]["field"] == "strategy_params.ranking_expression"
    assert error["details"]["column"] == column
    assert error["details"]["source_line"] == expression
    assert error["details"]["caret"].index("^") == column - 1
