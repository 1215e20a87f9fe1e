"""Signal-DSL-backed endpoints: indicators, validate, guide, evaluate, scan, rank, docs.

Expected values are computed independently: candles read from the bundled Parquet files
with pyarrow, indicators computed with TA-Lib directly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import talib
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_support import (
    assert_error,
    assert_ok,
    bearer,
    create_user,
    live_key,
    register,
)
from tradeforge.core.accounts import Scope
from tradeforge.docs import read_document
from tradeforge.dsl import operators_markdown
from tradeforge.indicators import indicators_catalog

BUNDLED = resources.files("tradeforge.data") / "bundled"
SEED_SCRIPT = (
    "oversold = rsi(close, 14) < 30\n"
    'emit_signal(oversold, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))'
)


def _columns(path: str) -> dict[str, np.ndarray]:
    with resources.as_file(BUNDLED / path) as file:
        table = pq.read_table(file)
    return {name: table.column(name).to_numpy() for name in table.column_names}


def _spot_1h(base: str) -> dict[str, np.ndarray]:
    return _columns(f"binance/{base}_USDT-1h.parquet")


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def auth(client: TestClient) -> dict[str, str]:
    return bearer(register(client)["api_key"])


# -- /meta/indicators --------------------------------------------------------------------------


def test_indicators_catalogue_comes_from_the_registry(
    client: TestClient, auth: dict[str, str]
) -> None:
    assert_error(client.get("/api/v1/meta/indicators"), 401, "AUTHENTICATION_REQUIRED")
    data = assert_ok(client.get("/api/v1/meta/indicators", headers=auth))
    catalog = indicators_catalog()
    assert data["count"] == len(catalog) == len(data["indicators"])
    assert [i["name"] for i in data["indicators"]] == [c["name"] for c in catalog]
    rsi = next(i for i in data["indicators"] if i["name"] == "rsi")
    assert rsi["params"][0]["default"] == 14
    assert "rsi(" in rsi["signature"]
    variables = {v["name"]: v["group"] for v in data["variables"]}
    assert variables["close"] == "price"
    assert variables["funding_rate"] == "funding"
    assert variables["position_side"] == "state"
    assert {"emit_signal", "entry", "Weight", "tf"} <= {f["name"] for f in data["functions"]}
    assert any("and" in op["name"] for op in data["operators"])
    assert "1h" in data["timeframes"]
    assert data["limits"]["MAX_EXPRESSION_BYTES"] == 4096


def test_indicators_need_any_scope_but_dsl_endpoints_need_research(
    app: FastAPI, client: TestClient
) -> None:
    create_user(app)
    read_only = bearer(live_key(app, "alice@example.com", frozenset({Scope.READ})))
    assert_ok(client.get("/api/v1/meta/indicators", headers=read_only))
    body = {"expression": "close", "symbol": "BTC/USDT"}
    assert_error(
        client.post("/api/v1/market/evaluate", json=body, headers=read_only),
        403,
        "INSUFFICIENT_PERMISSIONS",
    )
    for method, path in (
        ("POST", "/api/v1/market/evaluate"),
        ("POST", "/api/v1/market/scan"),
        ("POST", "/api/v1/market/rank"),
        ("POST", "/api/v1/backtest/validate"),
        ("GET", "/api/v1/backtest/strategies/signal/guide"),
    ):
        assert_error(client.request(method, path, json={}), 401, "AUTHENTICATION_REQUIRED")


# -- /backtest/validate ------------------------------------------------------------------------


def test_validate_seed_example_is_valid(client: TestClient, auth: dict[str, str]) -> None:
    body = {"script": SEED_SCRIPT, "universe": ["BINANCE:BTC/USDT"]}
    data = assert_ok(client.post("/api/v1/backtest/validate", json=body, headers=auth))
    assert data["valid"] is True
    assert data["errors"] == []
    assert data["warnings"] == []
    assert isinstance(data["required_warmup"], int)
    assert data["required_warmup"] >= 14
    assert data["tickers"] == ["BINANCE:BTC/USDT"]
    assert data["timeframe"] == "1h"


def test_validate_typo_is_a_report_with_position(client: TestClient, auth: dict[str, str]) -> None:
    body = {"script": SEED_SCRIPT.replace("rsi(", "rsii("), "universe": ["BINANCE:BTC/USDT"]}
    data = assert_ok(client.post("/api/v1/backtest/validate", json=body, headers=auth))
    assert data["valid"] is False
    assert data["required_warmup"] is None
    (error,) = data["errors"]
    assert error["code"] == "DSL_UNKNOWN_NAME"
    assert (error["line"], error["column"]) == (1, 12)
    assert "rsi" in error["suggestion"]
    assert error["caret"].strip() == "^^^^"

    syntax = {"script": "x = rsi(close, 14\n", "universe": ["BINANCE:BTC/USDT"]}
    data = assert_ok(client.post("/api/v1/backtest/validate", json=syntax, headers=auth))
    assert data["valid"] is False
    assert data["errors"][0]["code"] == "DSL_SYNTAX_ERROR"
    assert data["errors"][0]["line"] is not None


def test_validate_warns_about_tickers_without_data(
    client: TestClient, auth: dict[str, str]
) -> None:
    script = 'emit_signal(close > 0, entry("COINBASE:ETH/USD", "LONG", Weight(0.5)))'
    body = {"script": script, "universe": ["COINBASE:ETH/USD"]}
    data = assert_ok(client.post("/api/v1/backtest/validate", json=body, headers=auth))
    assert data["valid"] is True
    assert [w["code"] for w in data["warnings"]] == ["DATA_UNAVAILABLE"]


@pytest.mark.parametrize(
    "body",
    [
        {"universe": ["BINANCE:BTC/USDT"]},
        {"script": SEED_SCRIPT},
        {"script": 42, "universe": ["BINANCE:BTC/USDT"]},
        {"script": SEED_SCRIPT, "universe": []},
        {"script": SEED_SCRIPT, "universe": ["BINANCE:BTC/USDT"], "extra": 1},
    ],
)
def test_validate_malformed_body_is_400(
    client: TestClient, auth: dict[str, str], body: dict[str, Any]
) -> None:
    assert_error(
        client.post("/api/v1/backtest/validate", json=body, headers=auth), 400, "VALIDATION_ERROR"
    )


# -- guide and docs ----------------------------------------------------------------------------


def test_signal_guide_content(client: TestClient, auth: dict[str, str]) -> None:
    data = assert_ok(client.get("/api/v1/backtest/strategies/signal/guide", headers=auth))
    content = data["content"]
    assert content.startswith(read_document("signal-dsl").splitlines()[0])
    assert "`rsi(" in content  # generated operator table
    assert "top20" in content  # named universes documented


@pytest.mark.parametrize("slug", ["signal-dsl", "operators", "data", "market-research"])
def test_documents_are_served_as_markdown(client: TestClient, slug: str) -> None:
    response = client.get(f"/api/v1/docs/{slug}", headers={"Accept": "text/markdown"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    text = response.text
    if slug == "signal-dsl":
        assert text == read_document("signal-dsl")
    elif slug == "operators":
        assert text == operators_markdown()
    elif slug == "data":
        assert "# Signal DSL data" in text
        assert "# Market data" in text
    index = client.get("/api/v1/docs", headers={"Accept": "text/markdown"}).text
    assert f"/api/v1/docs/{slug}" in index


# -- /market/evaluate --------------------------------------------------------------------------


def test_evaluate_latest_rsi_matches_talib(client: TestClient, auth: dict[str, str]) -> None:
    candles = _spot_1h("BTC")
    expected = talib.RSI(candles["close"], 14)[-1]
    body = {"expression": "rsi(close, 14)", "symbol": "BINANCE:BTC/USDT", "timeframe": "1h"}
    data = assert_ok(client.post("/api/v1/market/evaluate", json=body, headers=auth))
    assert data["kind"] == "number"
    assert data["value"] == pytest.approx(expected, rel=1e-6)
    assert data["timestamp"] == int(candles["timestamp"][-1])
    assert data["close"] == candles["close"][-1]
    assert data["series"] is None

    as_bool = {**body, "expression": "close > sma(close, 20)"}
    data = assert_ok(client.post("/api/v1/market/evaluate", json=as_bool, headers=auth))
    assert data["kind"] == "bool"
    assert data["value"] is bool(candles["close"][-1] > talib.SMA(candles["close"], 20)[-1])


def test_evaluate_series_over_a_range_matches_talib(
    client: TestClient, auth: dict[str, str]
) -> None:
    candles = _spot_1h("ETH")
    body = {
        "expression": "ema(close, 10)",
        "symbol": "ETH/USDT",
        "start": "2021-05-01",
        "end": "2021-05-03T00:00:00Z",
        "series": True,
    }
    data = assert_ok(client.post("/api/v1/market/evaluate", json=body, headers=auth))
    series = data["series"]
    assert len(series) == 48
    stamps = candles["timestamp"]
    lo = int(np.searchsorted(stamps, _ms("2021-05-01T00:00")))
    assert [p["timestamp"] for p in series] == stamps[lo : lo + 48].tolist()
    expected = talib.EMA(candles["close"], 10)[lo : lo + 48]
    assert [p["value"] for p in series] == pytest.approx(expected.tolist(), rel=1e-6)
    assert data["timestamp"] == series[-1]["timestamp"]
    assert series[0]["time"] == "2021-05-01T00:00:00Z"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"expression": "rsi(close, 14"}, 400, "DSL_SYNTAX_ERROR"),
        ({"expression": "rsii(close, 14)"}, 400, "DSL_UNKNOWN_NAME"),
        ({"expression": "sma(close, 0)"}, 400, "TA_OUT_OF_RANGE"),
        ({"expression": "rsi(close, 14)", "symbol": "BTC/USDX"}, 400, "VALIDATION_ERROR"),
        ({"expression": "rsi(close, 14)", "timeframe": "7h"}, 400, "VALIDATION_ERROR"),
        ({"expression": "close", "end": "2001-01-01"}, 404, "DATA_UNAVAILABLE"),
        (
            {"expression": "close", "start": "2022-01-02", "end": "2022-01-01"},
            400,
            "VALIDATION_ERROR",
        ),
        ({"expression": "close", "start": "soon", "series": True}, 400, "VALIDATION_ERROR"),
        ({"expression": "close", "series": True, "start": "2018-01-01"}, 400, "VALIDATION_ERROR"),
        ({"expression": "close", "limit": 0, "series": True}, 400, "VALIDATION_ERROR"),
        ({"expression": "close", "bogus": 1}, 400, "VALIDATION_ERROR"),
        ({"expression": ""}, 400, "VALIDATION_ERROR"),
    ],
)
def test_evaluate_errors(
    client: TestClient, auth: dict[str, str], body: dict[str, Any], status: int, code: str
) -> None:
    request = {"symbol": "BTC/USDT", **body}
    error = assert_error(
        client.post("/api/v1/market/evaluate", json=request, headers=auth), status, code
    )
    if code.startswith(("DSL_", "TA_")):
        assert error["details"]["line"] == 1
        assert error["details"]["column"] >= 1
        assert "caret" in error["details"]
    if code == "DATA_UNAVAILABLE":
        assert "2018-01-01T00:00:00Z" in error["suggestion"]


# -- /market/scan ------------------------------------------------------------------------------


def test_scan_matches_a_direct_talib_computation(client: TestClient, auth: dict[str, str]) -> None:
    bases = ["BTC", "ETH", "SOL", "DOGE", "LINK"]
    rsi = {f"{b}/USDT": float(talib.RSI(_spot_1h(b)["close"], 14)[-1]) for b in bases}
    threshold = float(np.median(list(rsi.values())))
    body = {
        "universe": [f"{b}/USDT" for b in bases],
        "exchange": "binance",
        "timeframe": "1h",
        "condition": f"rsi(close, 14) < {threshold!r}",
    }
    data = assert_ok(client.post("/api/v1/market/scan", json=body, headers=auth))
    expected = sorted(s for s, v in rsi.items() if v < threshold)
    assert sorted(data["matched"]) == expected
    assert 0 < len(expected) < len(bases)
    assert data["scanned_count"] == len(bases)
    for detail in data["details"]:
        assert detail["values"]["rsi(close, 14)"] == pytest.approx(rsi[detail["symbol"]], rel=1e-6)
        assert detail["matched"] is (detail["symbol"] in expected)


def test_scan_named_universe_reports_skipped_symbols(
    client: TestClient, auth: dict[str, str]
) -> None:
    top = assert_ok(client.get("/api/v1/market/symbols?category=top_market_cap&limit=20"))
    stored_1h = {s["symbol"] for s in top["symbols"] if "1h" in s["timeframes"]}
    body = {"universe": ["top20"], "condition": "close > 0 and volume >= 0"}
    data = assert_ok(client.post("/api/v1/market/scan", json=body, headers=auth))
    assert {d["symbol"] for d in data["details"]} == stored_1h
    assert set(data["matched"]) == stored_1h
    assert {s["symbol"] for s in data["skipped"]} == {
        s["symbol"] for s in top["symbols"]
    } - stored_1h


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"universe": ["top7"], "condition": "close > 0"}, "VALIDATION_ERROR"),
        ({"universe": ["NOPE/USDT"], "condition": "close > 0"}, "VALIDATION_ERROR"),
        ({"universe": [], "condition": "close > 0"}, "VALIDATION_ERROR"),
        ({"universe": ["BTC/USDT"], "condition": "rsi(close, 14)"}, "DSL_TYPE_ERROR"),
        ({"universe": ["BTC/USDT"], "condition": "rsi(close, 14) <"}, "DSL_SYNTAX_ERROR"),
        (
            {"universe": ["BTC/USDT"], "condition": "close > 0", "timeframe": "2x"},
            "VALIDATION_ERROR",
        ),
    ],
)
def test_scan_errors(
    client: TestClient, auth: dict[str, str], body: dict[str, Any], code: str
) -> None:
    assert_error(client.post("/api/v1/market/scan", json=body, headers=auth), 400, code)


# -- /market/rank ------------------------------------------------------------------------------


def test_rank_matches_a_direct_talib_computation(client: TestClient, auth: dict[str, str]) -> None:
    bases = ["BTC", "ETH", "SOL", "XRP", "ADA", "AVAX"]
    closes = {f"{b}/USDT": _spot_1h(b)["close"] for b in bases}
    roc = {s: float(talib.ROC(c, 7)[-1]) for s, c in closes.items()}
    for order in ("desc", "asc"):
        body = {
            "universe": list(roc),
            "expression": "roc(close, 7)",
            "order": order,
            "limit": 4,
        }
        data = assert_ok(client.post("/api/v1/market/rank", json=body, headers=auth))
        expected = sorted(roc, key=lambda s: roc[s], reverse=order == "desc")[:4]
        assert [r["symbol"] for r in data["ranked"]] == expected
        assert [r["rank"] for r in data["ranked"]] == [1, 2, 3, 4]
        for row in data["ranked"]:
            assert row["score"] == pytest.approx(roc[row["symbol"]], rel=1e-9)
            assert row["price"] == closes[row["symbol"]][-1]
        assert data["ranked_count"] == len(bases)
        assert data["unranked"] == []


def test_rank_lists_nan_symbols_separately(client: TestClient, auth: dict[str, str]) -> None:
    # On 2020-10-01 AVAX has about 200 hourly candles: too few for a 500-bar average.
    body = {
        "universe": ["BTC/USDT", "AVAX/USDT", "DOT/USDT"],
        "expression": "sma(close, 500)",
        "end": "2020-10-01",
    }
    data = assert_ok(client.post("/api/v1/market/rank", json=body, headers=auth))
    assert [u["symbol"] for u in data["unranked"]] == ["AVAX/USDT"]
    assert {r["symbol"] for r in data["ranked"]} == {"BTC/USDT", "DOT/USDT"}
    btc = _spot_1h("BTC")
    hi = int(np.searchsorted(btc["timestamp"], _ms("2020-10-01T00:00")))
    expected = float(np.mean(btc["close"][hi - 500 : hi]))
    score = next(r["score"] for r in data["ranked"] if r["symbol"] == "BTC/USDT")
    assert score == pytest.approx(expected, rel=1e-9)
    assert data["scanned_count"] == 3


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"universe": ["BTC/USDT"], "expression": "close > 1"}, "DSL_TYPE_ERROR"),
        (
            {"universe": ["BTC/USDT"], "expression": "roc(close, 7)", "order": "up"},
            "VALIDATION_ERROR",
        ),
        ({"universe": ["BTC/USDT"], "expression": "roc(close, 7)", "limit": 0}, "VALIDATION_ERROR"),
        ({"universe": ["BTC/USDT"] * 101, "expression": "close"}, "VALIDATION_ERROR"),
    ],
)
def test_rank_errors(
    client: TestClient, auth: dict[str, str], body: dict[str, Any], code: str
) -> None:
    assert_error(client.post("/api/v1/market/rank", json=body, headers=auth), 400, code)


def test_research_endpoints_documented_in_openapi(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/market/evaluate", "/api/v1/market/scan", "/api/v1/market/rank"):
        operation = paths[path]["post"]
        assert operation["x-required-scope"] == "research"
        assert "requestBody" in operation
    assert paths["/api/v1/meta/indicators"]["get"].get("x-required-scope") is None
    assert paths["/api/v1/meta/indicators"]["get"]["x-auth"] == "api_key"


def test_evaluate_funding_rate_of_a_perpetual(client: TestClient, auth: dict[str, str]) -> None:
    candles = _columns("binancefuturesusd/BTC_USDT_USDT-1h.parquet")
    funding = _columns("binancefuturesusd/BTC_USDT_USDT-funding_rate.parquet")
    close_time = int(candles["timestamp"][-1]) + 3_600_000
    published = funding["timestamp"] <= close_time
    expected = float(funding["funding_rate"][published][-1])
    body = {
        "expression": "funding_rate",
        "symbol": "BTC/USDT:USDT",
        "exchange": "binancefuturesusd",
    }
    data = assert_ok(client.post("/api/v1/market/evaluate", json=body, headers=auth))
    assert data["value"] == expected
    spot = {"expression": "funding_rate", "symbol": "BTC/USDT"}
    assert_error(
        client.post("/api/v1/market/evaluate", json=spot, headers=auth), 404, "DATA_UNAVAILABLE"
    )


def test_rank_by_a_cross_sectional_expression(client: TestClient, auth: dict[str, str]) -> None:
    bases = ["BTC", "ETH", "SOL", "LINK"]
    roc = {f"{b}/USDT": float(talib.ROC(_spot_1h(b)["close"], 7)[-1]) for b in bases}
    body = {"universe": list(roc), "expression": "rank(roc(close, 7))", "order": "desc"}
    data = assert_ok(client.post("/api/v1/market/rank", json=body, headers=auth))
    assert [r["symbol"] for r in data["ranked"]] == sorted(roc, key=lambda s: -roc[s])
    scores = [r["score"] for r in data["ranked"]]
    assert len(set(scores)) == len(bases)
