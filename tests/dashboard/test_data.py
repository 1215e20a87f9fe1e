"""The charts' JSON: shapes, access rules and bad input."""

from __future__ import annotations

import gzip
import itertools
import json
import math

from api_support import assert_error, assert_ok, bearer

from ._support import API, Dash, Owned, Person

TICKER = "BINANCE:BTC/USDT"


def _data(owned: Owned, what: str, **params: str) -> dict[str, object]:
    url = f"/dashboard/data/backtests/{owned.result_id}/{what}"
    data = assert_ok(owned.person.client.get(url, params=params))
    assert isinstance(data, dict)
    return data


def test_candles_are_columnar_ascending_and_cover_the_window(owned: Owned) -> None:
    data = _data(owned, "candles", ticker=TICKER)
    t = data["t"]
    assert isinstance(t, list)
    n = len(t)
    assert data["count"] == n == 35 * 24  # 2024-01-01 .. 2024-02-04 inclusive, 1h
    for column in ("o", "h", "l", "c"):
        assert len(data[column]) == n  # type: ignore[arg-type]
    assert all(b > a for a, b in itertools.pairwise(t))
    assert t[0] == 1704067200  # 2024-01-01T00:00Z in seconds
    highs, lows = data["h"], data["l"]
    assert all(h >= lo for h, lo in zip(highs, lows, strict=True))  # type: ignore[call-overload]
    assert data["bars_merged"] == 1


def test_markers_are_two_per_closed_trade(dash: Dash, owned: Owned) -> None:
    data = _data(owned, "markers")
    metrics = assert_ok(
        dash.client.get(
            f"{API}/backtest/results/{owned.result_id}/metrics", headers=bearer(owned.agent["key"])
        )
    )["metrics"]
    columns = data["tickers"][TICKER]  # type: ignore[index]
    entries = sum(1 for t in columns["entry_t"] if t is not None)
    exits = sum(1 for t in columns["exit_t"] if t is not None)
    assert entries == metrics["num_trades"] + metrics["open_trades"]
    assert exits == metrics["num_trades"]
    assert data["truncated"] is False


def test_equity_drawdown_and_buy_and_hold(dash: Dash, owned: Owned) -> None:
    data = _data(owned, "equity")
    metrics = assert_ok(
        dash.client.get(
            f"{API}/backtest/results/{owned.result_id}/metrics", headers=bearer(owned.agent["key"])
        )
    )["metrics"]
    t, equity, drawdown, hold = data["t"], data["equity"], data["drawdown_pct"], data["buy_hold"]
    assert isinstance(t, list)
    assert isinstance(equity, list)
    assert isinstance(drawdown, list)
    assert isinstance(hold, list)
    assert len(t) == len(equity) == len(drawdown) == len(hold) > 100
    assert all(d is None or d <= 1e-9 for d in drawdown)
    assert math.isclose(-min(d for d in drawdown if d is not None), metrics["max_drawdown_pct"])
    assert math.isclose(equity[-1], metrics["final_equity"])
    expected_hold = metrics["initial_equity"] * (1 + metrics["buy_and_hold_return_pct"] / 100)
    assert math.isclose(hold[-1], expected_hold, rel_tol=1e-9)


def test_big_bodies_are_gzipped_when_accepted(owned: Owned) -> None:
    url = f"/dashboard/data/backtests/{owned.result_id}/candles"
    response = owned.person.client.get(
        url, params={"ticker": TICKER}, headers={"Accept-Encoding": "gzip"}
    )
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    # httpx decodes it; the raw body is smaller than the JSON.
    assert len(gzip.compress(response.content)) < len(json.dumps(response.json()))


def test_data_access_rules(dash: Dash, owned: Owned, visitor: Person) -> None:
    url = f"/dashboard/data/backtests/{owned.result_id}/equity"
    anonymous = dash.browser_client()
    assert_error(anonymous.get(url), 401, "AUTHENTICATION_REQUIRED")
    other = visitor
    mine = other.client.get(url)
    fake = other.client.get("/dashboard/data/backtests/res_ffffffffffffffffffffffff/equity")
    assert_error(mine, 404, "BACKTEST_NOT_FOUND")
    assert_error(fake, 404, "BACKTEST_NOT_FOUND")


def test_data_bad_input_is_an_envelope_not_a_500(owned: Owned) -> None:
    base = f"/dashboard/data/backtests/{owned.result_id}"
    client = owned.person.client
    assert_error(
        client.get(f"{base}/candles", params={"ticker": "BINANCE:ETH/USDT"}), 404, "NOT_FOUND"
    )
    assert_error(client.get(f"{base}/candles"), 400, "VALIDATION_ERROR")
    assert_error(
        client.get(f"{base}/candles", params={"ticker": "x" * 500}), 400, "VALIDATION_ERROR"
    )
    assert_error(
        client.get(f"/dashboard/data/backtests/{'r' * 65}/equity"), 400, "VALIDATION_ERROR"
    )
    assert client.get("/dashboard/data/arena/posts/nope/equity").status_code == 404
