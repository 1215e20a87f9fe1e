"""Markets catalogue, capabilities by scope, health when the database is down, docs."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_support import assert_error, assert_ok, bearer, create_user, live_key, register
from tradeforge.api.app import create_app
from tradeforge.config import Settings
from tradeforge.core.accounts import Scope

REQUIRED_EXCHANGES = {
    "binance": {"spot"},
    "gate": {"spot"},
    "upbit": {"spot"},
    "binancefuturesusd": {"perpetual"},
    "gatefutures": {"perpetual"},
    "hyperliquid": {"perpetual"},
    "lighter": {"perpetual"},
    "polymarket": {"prediction"},
    "bitmex": {"perpetual"},
}


def test_markets_lists_the_seed_exchanges_without_auth(client: TestClient) -> None:
    data = assert_ok(client.get("/api/v1/meta/markets"))
    by_id = {exchange["id"]: set(exchange["market_types"]) for exchange in data["exchanges"]}
    for exchange_id, types in REQUIRED_EXCHANGES.items():
        assert types <= by_id[exchange_id]
    assert set(data["market_types"]) == {"spot", "perpetual", "prediction"}


def test_capabilities_follow_the_keys_scopes(settings: Settings) -> None:
    from tradeforge.api.deps import requires

    app = create_app(settings)

    @app.get("/api/v1/trade-only", summary="trade only", **requires(Scope.TRADE))
    def trade_only() -> dict[str, bool]:
        return {"ok": True}

    with TestClient(app) as client:
        research = register(client)["api_key"]
        create_user(app)
        trader = live_key(app, "alice@example.com", frozenset({Scope.RESEARCH, Scope.TRADE}))
        seen = assert_ok(client.get("/api/v1/meta/capabilities", headers=bearer(research)))
        paths = {(e["method"], e["path"]) for e in seen["endpoints"]}
        assert ("GET", "/api/v1/meta/agents/me") in paths
        assert ("POST", "/api/v1/meta/register") in paths
        assert ("GET", "/api/v1/trade-only") not in paths
        assert seen["scopes"] == ["research"]
        seen = assert_ok(client.get("/api/v1/meta/capabilities", headers=bearer(trader)))
        assert ("GET", "/api/v1/trade-only") in {
            (e["method"], e["path"]) for e in seen["endpoints"]
        }


def _operations(app: FastAPI) -> list[tuple[str, str, dict[str, object]]]:
    return [
        (method.upper(), path, operation)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
    ]


def test_every_route_declares_its_auth(app: FastAPI) -> None:
    operations = _operations(app)
    assert len(operations) >= 10
    for method, path, operation in operations:
        assert path.startswith("/api/v1/"), path
        assert operation.get("x-auth") in {"none", "api_key", "user_session"}, (method, path)


def test_health_reports_degraded_when_database_is_down(make_settings) -> None:
    settings = make_settings("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.get("/api/v1/meta/health")
    assert response.status_code == 503
    body = response.json()
    assert body["data"]["status"] == "degraded"
    assert body["data"]["database"]["ok"] is False


def test_database_down_is_503_not_500(make_settings) -> None:
    settings = make_settings("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.post("/api/v1/meta/register", json={"display_name": "x"})
    assert_error(response, 503, "DB_UNAVAILABLE")
    assert "retry-after" in response.headers


def test_docs_negotiate_markdown_html_and_json(client: TestClient) -> None:
    markdown = client.get("/api/v1/docs/api-reference", headers={"Accept": "text/markdown"})
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "### POST `/api/v1/meta/register`" in markdown.text
    assert "| `REGISTRATION_LIMIT` | 429 |" in markdown.text
    html = client.get("/api/v1/docs/api-reference")
    assert html.headers["content-type"].startswith("text/html")
    assert "<h3>POST <code>/api/v1/meta/register</code></h3>" in html.text
    data = assert_ok(
        client.get("/api/v1/docs/api-reference", headers={"Accept": "application/json"})
    )
    assert data["content"].startswith("# tradeforge API reference")
    index = client.get("/api/v1/docs", headers={"Accept": "text/markdown"})
    assert "/api/v1/docs/api-reference" in index.text


def test_api_reference_covers_every_route(client: TestClient, app: FastAPI) -> None:
    markdown = client.get("/api/v1/docs/api-reference", headers={"Accept": "text/markdown"}).text
    for method, path, _ in _operations(app):
        assert f"### {method} `{path}`" in markdown


def test_unknown_document_is_404_with_choices(client: TestClient) -> None:
    error = assert_error(client.get("/api/v1/docs/nope"), 404, "NOT_FOUND")
    assert "api-reference" in error["suggestion"]


def test_interactive_docs_are_served_locally(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/static-offline-docs/swagger-ui-bundle.js" in page.text
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/v1/meta/register" in spec["paths"]
    register_op = spec["paths"]["/api/v1/meta/register"]["post"]
    assert "422" not in register_op["responses"]
    assert "400" in register_op["responses"]


def test_backtesting_execution_model_is_served(client: TestClient) -> None:
    page = client.get("/api/v1/docs/backtesting", headers={"Accept": "text/markdown"})
    assert page.status_code == 200
    assert "next candle's open" in page.text.lower()
    assert "sharpe" in page.text.lower()
