"""Market-data endpoints on the bundled real data set: symbols, OHLCV, tickers, funding, gaps.

Values are checked against the Parquet files read directly with pyarrow, not against the
code under test.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from api_support import assert_error, assert_ok, bearer, register

BUNDLED = resources.files("tradeforge.data") / "bundled"
HOUR = 3_600_000


def _parquet(path: str) -> list[dict[str, Any]]:
    with resources.as_file(BUNDLED / path) as file:
        rows: list[dict[str, Any]] = pq.read_table(file).to_pylist()
    return rows


@pytest.fixture(scope="module")
def btc_1h() -> list[dict[str, Any]]:
    return _parquet("binance/BTC_USDT-1h.parquet")


@pytest.fixture
def auth(client: TestClient) -> dict[str, str]:
    return bearer(register(client)["api_key"])


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


# -- symbols / tickers list --------------------------------------------------------------------


def test_symbols_are_public_and_list_stored_pairs(client: TestClient) -> None:
    for path in ("/api/v1/market/symbols", "/api/v1/market/tickers"):
        data = assert_ok(client.get(path))  # no Authorization header
        assert data["exchange"] == "binance"
        by_symbol = {row["symbol"]: row for row in data["symbols"]}
        assert {"BTC/USDT", "ETH/USDT", "SOL/USDT"} <= set(by_symbol)
        btc = by_symbol["BTC/USDT"]
        assert btc["ticker"] == "BINANCE:BTC/USDT"
        assert btc["market_type"] == "spot"
        assert {"1h", "1d"} <= set(btc["timeframes"])
        assert btc["score"] is None


def test_symbols_top_market_cap_is_ranked_by_30_day_quote_volume(client: TestClient) -> None:
    data = assert_ok(client.get("/api/v1/market/symbols?category=top_market_cap&limit=3"))
    rows = data["symbols"]
    assert data["count"] == len(rows) == 3
    scores = [row["score"] for row in rows]
    assert scores == sorted(scores, reverse=True)
    assert rows[0]["symbol"] in {"BTC/USDT", "ETH/USDT"}

    # The score is sum(close * volume) over the 30 days before the newest stored candle.
    candles = _parquet("binance/BTC_USDT-1h.parquet")
    end = max(
        _parquet(f"binance/{s}-1h.parquet")[-1]["timestamp"] for s in ("BTC_USDT", "ETH_USDT")
    )
    end += HOUR
    window = [c for c in candles if end - 30 * 24 * HOUR <= c["timestamp"] < end]
    expected = sum(c["close"] * c["volume"] for c in window)
    btc = next(
        row
        for row in assert_ok(client.get("/api/v1/market/symbols?category=top_market_cap"))[
            "symbols"
        ]
        if row["symbol"] == "BTC/USDT"
    )
    assert btc["score"] == pytest.approx(expected, rel=1e-9)


def test_symbols_filters(client: TestClient) -> None:
    perps = assert_ok(
        client.get("/api/v1/market/symbols?exchange=binancefuturesusd&market_type=perpetual")
    )
    assert perps["symbols"]
    assert all(row["market_type"] == "perpetual" for row in perps["symbols"])
    assert all(row["symbol"].endswith(":USDT") for row in perps["symbols"])
    spot = assert_ok(client.get("/api/v1/market/symbols?market_type=perpetual"))
    assert spot["symbols"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=abc", "limit"),
        ("category=popular", "category"),
        ("market_type=options", "market_type"),
        ("exchange=nasdaq", None),
        ("sector=Memes%20Galore", None),
    ],
)
def test_symbols_bad_filters_are_validation_errors(
    client: TestClient, query: str, field: str | None
) -> None:
    error = assert_error(client.get(f"/api/v1/market/symbols?{query}"), 400, "VALIDATION_ERROR")
    if field is not None:
        text = str(error["details"])
        assert field in text


# -- OHLCV -------------------------------------------------------------------------------------


def test_ohlcv_requires_a_key(client: TestClient) -> None:
    assert_error(client.get("/api/v1/market/ohlcv?symbol=BTC/USDT"), 401, "AUTHENTICATION_REQUIRED")


def test_ohlcv_returns_the_stored_candles(
    client: TestClient, auth: dict[str, str], btc_1h: list[dict[str, Any]]
) -> None:
    known = btc_1h[1000]
    start = datetime.fromtimestamp(known["timestamp"] / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for symbol in ("BINANCE:BTC/USDT", "BTC/USDT", "BTCUSDT"):
        data = assert_ok(
            client.get(
                "/api/v1/market/ohlcv",
                params={"symbol": symbol, "timeframe": "1h", "start": start, "limit": 3},
                headers=auth,
            )
        )
        assert data["symbol"] == "BTC/USDT"
        assert data["ticker"] == "BINANCE:BTC/USDT"
        assert data["count"] == 3
        first = data["candles"][0]
        assert first["timestamp"] == known["timestamp"]
        assert first["time"] == start
        for key in ("open", "high", "low", "close", "volume"):
            assert first[key] == known[key]
        assert [c["timestamp"] for c in data["candles"]] == [
            row["timestamp"] for row in btc_1h[1000:1003]
        ]
    available = data["available"]
    assert available["first_ms"] == btc_1h[0]["timestamp"]
    assert available["last_ms"] == btc_1h[-1]["timestamp"]
    assert available["first"] == "2018-01-01T00:00:00Z"


def test_ohlcv_without_start_returns_the_newest_candles(
    client: TestClient, auth: dict[str, str], btc_1h: list[dict[str, Any]]
) -> None:
    data = assert_ok(client.get("/api/v1/market/ohlcv?symbol=BTC/USDT&limit=5", headers=auth))
    assert [c["timestamp"] for c in data["candles"]] == [r["timestamp"] for r in btc_1h[-5:]]
    assert data["candles"][-1]["close"] == btc_1h[-1]["close"]
    assert data["next_cursor"] is None


def test_ohlcv_dates_are_utc_midnight_and_end_is_exclusive(
    client: TestClient, auth: dict[str, str]
) -> None:
    data = assert_ok(
        client.get(
            "/api/v1/market/ohlcv?symbol=BTC/USDT&start=2021-03-01&end=2021-03-02&limit=100",
            headers=auth,
        )
    )
    stamps = [c["timestamp"] for c in data["candles"]]
    assert stamps[0] == _ms("2021-03-01T00:00:00")
    assert stamps[-1] == _ms("2021-03-01T23:00:00")
    assert len(stamps) == 24
    # An explicit offset is honoured; a naive datetime is read as UTC.
    offset = assert_ok(
        client.get(
            "/api/v1/market/ohlcv",
            params={"symbol": "BTC/USDT", "start": "2021-03-01T02:00:00+02:00", "limit": 1},
            headers=auth,
        )
    )
    assert offset["candles"][0]["timestamp"] == _ms("2021-03-01T00:00:00")
    naive = assert_ok(
        client.get(
            "/api/v1/market/ohlcv",
            params={"symbol": "BTC/USDT", "start": "2021-03-01T05:00:00", "limit": 1},
            headers=auth,
        )
    )
    assert naive["candles"][0]["timestamp"] == _ms("2021-03-01T05:00:00")


def test_ohlcv_pages_are_contiguous_and_do_not_overlap(
    client: TestClient, auth: dict[str, str], btc_1h: list[dict[str, Any]]
) -> None:
    params: dict[str, Any] = {"symbol": "BTC/USDT", "start": "2022-06-01", "limit": 50}
    seen: list[int] = []
    for _ in range(4):
        data = assert_ok(client.get("/api/v1/market/ohlcv", params=params, headers=auth))
        seen += [c["timestamp"] for c in data["candles"]]
        assert data["next_cursor"]
        params = {"symbol": "BTC/USDT", "cursor": data["next_cursor"], "limit": 50}
    assert len(seen) == len(set(seen)) == 200
    first = next(i for i, row in enumerate(btc_1h) if row["timestamp"] == _ms("2022-06-01T00:00"))
    assert seen == [row["timestamp"] for row in btc_1h[first : first + 200]]


def test_ohlcv_last_page_has_no_cursor(client: TestClient, auth: dict[str, str]) -> None:
    data = assert_ok(
        client.get("/api/v1/market/ohlcv?symbol=BTC/USDT&start=2026-05-16&limit=5000", headers=auth)
    )
    assert data["next_cursor"] is None
    assert data["count"] > 0


@pytest.mark.parametrize(
    ("query", "code", "status", "needle"),
    [
        ("symbol=BTC/USDX", "VALIDATION_ERROR", 400, "BTC/USDT"),
        ("symbol=BTC/USDT&timeframe=1hour", "VALIDATION_ERROR", 400, "1h"),
        ("symbol=BTC/USDT&limit=0", "VALIDATION_ERROR", 400, None),
        ("symbol=BTC/USDT&limit=5001", "VALIDATION_ERROR", 400, None),
        ("symbol=BTC/USDT&limit=abc", "VALIDATION_ERROR", 400, None),
        ("symbol=BTC/USDT&start=2022-02-01&end=2022-01-01", "VALIDATION_ERROR", 400, "Swap"),
        ("symbol=BTC/USDT&start=yesterday", "VALIDATION_ERROR", 400, "2024-01-31"),
        ("symbol=BTC/USDT&cursor=garbage", "VALIDATION_ERROR", 400, "next_cursor"),
        ("symbol=BTC/USDT&exchange=nasdaq", "VALIDATION_ERROR", 400, None),
        ("timeframe=1h", "VALIDATION_ERROR", 400, None),
        ("symbol=BTC/USDT&start=2030-01-01", "DATA_UNAVAILABLE", 404, "2018-01-01T00:00:00Z"),
        ("symbol=BTC/USDT&end=2010-01-01", "DATA_UNAVAILABLE", 404, "2026-05-16"),
        ("symbol=ATOM/USDT&timeframe=1m", "DATA_UNAVAILABLE", 404, "1d"),
    ],
)
def test_ohlcv_bad_requests(
    client: TestClient,
    auth: dict[str, str],
    query: str,
    code: str,
    status: int,
    needle: str | None,
) -> None:
    error = assert_error(client.get(f"/api/v1/market/ohlcv?{query}", headers=auth), status, code)
    if needle is not None:
        assert needle in error["suggestion"], error


# -- ticker ------------------------------------------------------------------------------------


def test_ticker_from_the_newest_candles(
    client: TestClient, auth: dict[str, str], btc_1h: list[dict[str, Any]]
) -> None:
    data = assert_ok(client.get("/api/v1/market/ticker?symbol=BINANCE:BTC/USDT", headers=auth))
    day = btc_1h[-24:]
    assert data["last_price"] == day[-1]["close"]
    assert data["open_24h"] == day[0]["open"]
    assert data["change_24h_pct"] == pytest.approx((day[-1]["close"] / day[0]["open"] - 1) * 100)
    assert data["volume_24h"] == pytest.approx(sum(c["volume"] for c in day))
    assert data["high_24h"] == max(c["high"] for c in day)
    assert data["as_of_ms"] == day[-1]["timestamp"] + HOUR
    assert_error(
        client.get("/api/v1/market/ticker?symbol=BTC/USDT"), 401, "AUTHENTICATION_REQUIRED"
    )


def test_post_ticker_batches_in_order(client: TestClient, auth: dict[str, str]) -> None:
    body = {"symbols": ["ETH/USDT", "BINANCE:BTC/USDT"], "exchange": "binance"}
    data = assert_ok(client.post("/api/v1/market/ticker", json=body, headers=auth))
    assert [t["symbol"] for t in data["tickers"]] == ["ETH/USDT", "BTC/USDT"]
    eth = _parquet("binance/ETH_USDT-1h.parquet")[-1]
    assert data["tickers"][0]["last_price"] == eth["close"]

    too_many = {"symbols": ["BTC/USDT"] * 21}
    assert_error(
        client.post("/api/v1/market/ticker", json=too_many, headers=auth), 400, "VALIDATION_ERROR"
    )
    empty = {"symbols": []}
    assert_error(
        client.post("/api/v1/market/ticker", json=empty, headers=auth), 400, "VALIDATION_ERROR"
    )
    unknown = {"symbols": ["BTC/USDT", "NOPE/USDT"]}
    error = assert_error(
        client.post("/api/v1/market/ticker", json=unknown, headers=auth), 400, "VALIDATION_ERROR"
    )
    assert "NOPE/USDT" in error["message"]


# -- funding rates and gaps --------------------------------------------------------------------


def test_funding_rates_page_matches_the_file(client: TestClient, auth: dict[str, str]) -> None:
    rows = _parquet("binancefuturesusd/BTC_USDT_USDT-funding_rate.parquet")
    data = assert_ok(
        client.get(
            "/api/v1/market/funding-rates?symbol=BTC/USDT:USDT&start=2021-01-01&limit=10",
            headers=auth,
        )
    )
    series = data["series"][0]
    assert series["symbol"] == "BTC/USDT:USDT"
    first = next(i for i, r in enumerate(rows) if r["timestamp"] >= _ms("2021-01-01T00:00"))
    assert [r["timestamp"] for r in series["rates"]] == [
        r["timestamp"] for r in rows[first : first + 10]
    ]
    assert [r["funding_rate"] for r in series["rates"]] == [
        r["funding_rate"] for r in rows[first : first + 10]
    ]
    assert series["next_cursor"]


def test_funding_rates_snapshot_without_symbol(client: TestClient, auth: dict[str, str]) -> None:
    data = assert_ok(client.get("/api/v1/market/funding-rates", headers=auth))
    assert data["exchange"] == "binancefuturesusd"
    by_symbol = {s["symbol"]: s for s in data["series"]}
    assert "BTC/USDT:USDT" in by_symbol
    rows = _parquet("binancefuturesusd/BTC_USDT_USDT-funding_rate.parquet")
    assert by_symbol["BTC/USDT:USDT"]["rates"][0]["timestamp"] == rows[-1]["timestamp"]
    assert_error(
        client.get("/api/v1/market/funding-rates?exchange=coinbase", headers=auth),
        404,
        "DATA_UNAVAILABLE",
    )
    assert_error(
        client.get("/api/v1/market/funding-rates?symbol=BTC/USDT&limit=0", headers=auth),
        400,
        "VALIDATION_ERROR",
    )


def test_gaps_report(
    client: TestClient, auth: dict[str, str], btc_1h: list[dict[str, Any]]
) -> None:
    data = assert_ok(client.get("/api/v1/market/gaps?symbol=BTC/USDT&timeframe=1h", headers=auth))
    stamps = [r["timestamp"] for r in btc_1h]
    expected_missing = sum((b - a) // HOUR - 1 for a, b in itertools.pairwise(stamps))
    assert data["missing_candles"] == expected_missing
    assert data["gap_count"] == sum(1 for a, b in itertools.pairwise(stamps) if b - a > HOUR)
    if data["gaps"]:
        gap = data["gaps"][0]
        assert gap["start_ms"] - HOUR in stamps
        assert gap["end_ms"] in stamps
    assert_error(client.get("/api/v1/market/gaps?symbol=BTC/USDT"), 401, "AUTHENTICATION_REQUIRED")


def test_market_endpoints_are_in_openapi_with_auth(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/api/v1/market/symbols"]["get"]["x-auth"] == "none"
    assert paths["/api/v1/market/ohlcv"]["get"]["x-required-scope"] == "research"
    schema = paths["/api/v1/market/ohlcv"]["get"]["responses"]["200"]["content"]
    assert "OhlcvResponse" in str(schema)
