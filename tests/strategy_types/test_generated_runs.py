"""pair_trading and cross_sectional run through the job path on bundled data, and their
trades are checked against a direct numpy / TA-Lib computation of the same rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import talib
from fastapi.testclient import TestClient
from numpy.lib.stride_tricks import sliding_window_view

from api_support import assert_ok, bearer
from jobs.conftest import new_key, wait_for
from tradeforge.adapters.candles import open_market_data
from tradeforge.dsl import compile_script
from tradeforge.services.strategy_types import PairTradingParams, generate_script

API = "/api/v1/backtest"
BTC, ETH = "BINANCE:BTC/USDT", "BINANCE:ETH/USDT"
MAJORS = [
    "BINANCE:BTC/USDT",
    "BINANCE:ETH/USDT",
    "BINANCE:BNB/USDT",
    "BINANCE:ADA/USDT",
    "BINANCE:XRP/USDT",
    "BINANCE:DOGE/USDT",
]
HOUR, DAY = 3_600_000, 86_400_000
FloatArray = npt.NDArray[np.float64]


def _run(client: TestClient, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    queued = assert_ok(client.post(f"{API}/execute", json=payload, headers=bearer(key)))
    done = wait_for(client, key, queued["backtest_id"], timeout=90)
    assert done["status"] == "completed", done
    result_id = done["result_id"]
    summary = assert_ok(client.get(f"{API}/results/{result_id}", headers=bearer(key)))
    trades = assert_ok(
        client.get(f"{API}/results/{result_id}/trades?limit=500", headers=bearer(key))
    )
    assert trades["next_cursor"] is None
    summary["trades"] = trades["trades"]
    return dict(summary)


def _candles(ticker: str, timeframe: str) -> Any:
    exchange, symbol = ticker.split(":", 1)
    return open_market_data(None).load(exchange.lower(), symbol, timeframe)


def _rolling(x: FloatArray, n: int) -> FloatArray:
    """Windows ending at each bar (NaN rows before the first full window)."""
    out = np.full((x.shape[0], n), np.nan)
    out[n - 1 :] = sliding_window_view(x, n)
    return out


def _pair_z(a: Any, b: Any, lookback: int, hedge_window: int) -> FloatArray:
    """The z-score of the hedged log spread, computed directly: for every bar, the OLS
    slope of ln(a) on ln(b) over the last hedge_window bars (np.polyfit), the spread with
    that slope, then (spread - mean) / population std over the last lookback bars."""
    idx = np.searchsorted(b.timestamp, a.timestamp, "right") - 1
    assert (idx >= 0).all()
    la, lb = np.log(a.close), np.log(b.close[idx])
    beta = np.full(la.shape[0], np.nan)
    wa, wb = _rolling(la, hedge_window), _rolling(lb, hedge_window)
    for i in range(hedge_window - 1, la.shape[0]):
        beta[i] = np.polyfit(wb[i], wa[i], 1)[0]
    spread = la - beta * lb
    ws = _rolling(spread, lookback)
    with np.errstate(invalid="ignore"):
        z: FloatArray = (spread - ws.mean(axis=1)) / ws.std(axis=1)
    return z


def test_pair_trading_enters_on_z_crossings_with_opposite_legs(
    running_client: TestClient,
) -> None:
    client = running_client
    key, _ = new_key(client)
    params = {"leg_a": BTC, "leg_b": ETH, "lookback": 72, "hedge_window": 240, "entry_z": 2.0}
    start, end = "2023-01-01", "2023-04-30"
    summary = _run(
        client,
        key,
        {
            "strategy_type": "pair_trading",
            "description": "BTC/ETH hedged spread mean reversion on 1h",
            "strategy_params": params,
            "start_date": start,
            "end_date": end,
            "timeframe": "1h",
        },
    )
    # The result carries the generated script, the parameters and the catalogue type.
    expected = generate_script(
        "pair_trading", PairTradingParams.model_validate(params), (), "1h"
    ).script
    assert summary["script"] == expected
    assert summary["strategy"]["type"] == "pair_trading"
    assert summary["strategy"]["script_generated"] is True
    assert summary["strategy"]["params"]["hedge_window"] == 240
    assert summary["request"]["strategy_type"] == "pair_trading"
    compile_script(summary["script"], [BTC, ETH], timeframe="1h")  # forkable as it is

    a, b = _candles(BTC, "1h"), _candles(ETH, "1h")
    z = _pair_z(a, b, 72, 240)
    lo = int(np.searchsorted(a.timestamp, 1672531200000))  # 2023-01-01
    hi = int(np.searchsorted(a.timestamp, 1682899200000))  # 2023-05-01 (end day included)
    trades = summary["trades"]
    legs_a = [t for t in trades if t["symbol"] == BTC]
    legs_b = [t for t in trades if t["symbol"] == ETH]
    assert len(legs_a) >= 5, "too few entries to check"

    # Both legs open on the same bar, in opposite directions.
    b_by_entry = {t["entry_time_ms"]: t for t in legs_b}
    for t in legs_a:
        other = b_by_entry[t["entry_time_ms"]]
        assert {t["side"], other["side"]} == {"long", "short"}

    # Every leg-a entry fills at the open after a bar where z crossed the threshold.
    checked = 0
    for t in legs_a:
        i = int(np.searchsorted(a.timestamp, t["entry_time_ms"])) - 1  # the signal bar
        assert a.timestamp[i + 1] == t["entry_time_ms"]
        now, before = z[i], z[i - 1]
        if min(abs(now - 2), abs(now + 2), abs(before - 2), abs(before + 2)) < 1e-6:
            continue  # too close to call between two float paths
        if t["side"] == "short":
            assert before <= 2.0 < now < 4.0, (t, before, now)
        else:
            assert -4.0 < now < -2.0 <= before, (t, before, now)
        checked += 1
    assert checked >= 5

    # And every such crossing inside the window, while not already on that side, entered.
    def holding(side: str, ts: int) -> bool:
        return any(
            t["side"] == side and t["entry_time_ms"] <= ts < t["exit_time_ms"] for t in legs_a
        )

    entries = {(t["entry_time_ms"], t["side"]) for t in legs_a}
    crossings = 0
    for i in range(max(lo, 1), hi - 1):
        up = z[i - 1] <= 2.0 < z[i] < 4.0
        down = z[i - 1] >= -2.0 > z[i] > -4.0
        if not (up or down):
            continue
        side = "short" if up else "long"
        if holding(side, int(a.timestamp[i])):
            continue
        assert (int(a.timestamp[i + 1]), side) in entries, (i, z[i - 1], z[i])
        crossings += 1
    assert crossings >= 5


def _epoch_bar(ts: int, step: int) -> int:
    return ts // step


@pytest.mark.parametrize(
    ("strategy_params", "mode", "start", "end"),
    [
        (
            {"ranking_expression": "roc(close, 20)", "top_n": 2, "rebalance_period": 7},
            "isolated",
            "2021-01-01",
            "2022-06-30",
        ),
        (
            {
                "ranking_expression": "roc(close, 10) / natr(14)",
                "top_n": 2,
                "bottom_n": 2,
                "rebalance_period": 5,
                "direction": "long_short",
            },
            "cross",
            "2022-01-01",
            "2022-09-30",
        ),
    ],
)
def test_cross_sectional_holds_exactly_the_ranked_tickers(
    running_client: TestClient,
    strategy_params: dict[str, Any],
    mode: str,
    start: str,
    end: str,
) -> None:
    client = running_client
    key, _ = new_key(client)
    summary = _run(
        client,
        key,
        {
            "strategy_type": "cross_sectional",
            "description": "Rank six majors and hold the leaders",
            "universe": MAJORS,
            "strategy_params": strategy_params,
            "start_date": start,
            "end_date": end,
            "timeframe": "1d",
            "mode": mode,
        },
    )
    assert summary["strategy"]["type"] == "cross_sectional"
    assert "rank(score)" in summary["script"]
    trades = summary["trades"]
    assert not [t for t in trades if t["reason"] not in ("signal", "end")], trades

    candles = {t: _candles(t, "1d") for t in MAJORS}
    expression = strategy_params["ranking_expression"]
    scores: dict[str, FloatArray] = {}
    for t, c in candles.items():
        if expression == "roc(close, 20)":
            s = talib.ROC(c.close, 20)
        else:
            s = talib.ROC(c.close, 10) / talib.NATR(c.high, c.low, c.close, 14)
        scores[t] = s
    top_n, bottom_n = strategy_params["top_n"], strategy_params.get("bottom_n", 0)
    period = strategy_params["rebalance_period"]

    def held(side: str, when: int) -> set[str]:
        return {
            t["symbol"]
            for t in trades
            if t["side"] == side
            and t["entry_time_ms"] <= when
            and (when < t["exit_time_ms"] or t["is_open"])
        }

    start_ms = int(np.datetime64(start, "ms").astype(np.int64))
    end_ms = int(np.datetime64(end, "ms").astype(np.int64)) + DAY
    rebalances = 0
    for day in range(start_ms, end_ms - DAY, DAY):
        if _epoch_bar(day, DAY) % period:
            continue
        row = {}
        for t, c in candles.items():
            j = int(np.searchsorted(c.timestamp, day))
            assert c.timestamp[j] == day
            row[t] = float(scores[t][j])
        assert all(np.isfinite(v) for v in row.values())
        ordered = sorted(row, key=row.__getitem__)
        fill = day + DAY  # rebalance orders fill at the next day's open
        assert held("long", fill) == set(ordered[-top_n:]), (day, row)
        assert held("short", fill) == set(ordered[:bottom_n]), (day, row)
        rebalances += 1
    assert rebalances >= 30
