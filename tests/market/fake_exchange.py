"""A local Binance look-alike on 127.0.0.1 for driving real ccxt in tests.

It serves constructed Binance-format responses for the public endpoints the downloader uses:
``/api/v3/exchangeInfo``, ``/api/v3/klines`` (spot), ``/fapi/v1/exchangeInfo``,
``/fapi/v1/klines`` and ``/fapi/v1/fundingRate`` (USD-M futures). Candles come from a
``Candles`` series per symbol; the candle that contains the server's "now" is served too,
with partial values, exactly as Binance does, so tests can check it is never stored.
Scripted failures (status + body) are returned before normal responses for a path.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tradeforge.core.candles import Candles

INTERVAL_MS = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000}
MAX_LIMIT = 1000


@dataclass
class FakeBinanceState:
    spot: dict[str, Candles] = field(default_factory=dict)  # "BTCUSDT" -> candles
    futures: dict[str, Candles] = field(default_factory=dict)
    funding: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    # The open candle: (symbol, open_ms) served with partial values after the closed ones.
    open_candle_ms: int | None = None
    failures: dict[str, deque[tuple[int, str, dict[str, str]]]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(
        self,
        path: str,
        status: int,
        body: str = "",
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        for _ in range(times):
            self.failures[path].append((status, body, headers or {}))

    def paths(self, path: str) -> list[dict[str, str]]:
        return [params for p, params in self.requests if p == path]


def _spot_symbol(name: str, base: str, quote: str) -> dict[str, Any]:
    return {
        "symbol": name,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "MARKET"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "permissions": ["SPOT"],
        "permissionSets": [["SPOT"]],
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01",
                "maxPrice": "1000000.00",
                "tickSize": "0.01",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001",
                "maxQty": "9000.00",
                "stepSize": "0.00001",
            },
            {"filterType": "NOTIONAL", "minNotional": "5.00", "maxNotional": "9000000.00"},
        ],
    }


def _futures_symbol(name: str, base: str, quote: str) -> dict[str, Any]:
    return {
        "symbol": name,
        "pair": name,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": quote,
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "orderTypes": ["LIMIT", "MARKET"],
        "timeInForce": ["GTC"],
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "556.80",
                "maxPrice": "4529764",
                "tickSize": "0.10",
            },
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
        ],
    }


def _split(name: str) -> tuple[str, str]:
    for quote in ("USDT", "USDC", "BTC"):
        if name.endswith(quote):
            return name[: -len(quote)], quote
    raise ValueError(name)


def _kline_rows(
    candles: Candles, params: dict[str, str], open_ms: int | None, step: int
) -> list[list[Any]]:
    start = int(params.get("startTime", "0"))
    end = int(params["endTime"]) if "endTime" in params else None
    limit = min(int(params.get("limit", "500")), MAX_LIMIT)
    window = candles.slice_ms(start, None if end is None else end + 1)
    rows: list[list[Any]] = []
    for i in range(min(len(window), limit)):
        ts = int(window.timestamp[i])
        rows.append(
            [
                ts,
                repr(float(window.open[i])),
                repr(float(window.high[i])),
                repr(float(window.low[i])),
                repr(float(window.close[i])),
                repr(float(window.volume[i])),
                ts + step - 1,
                "0",
                1,
                "0",
                "0",
                "0",
            ]
        )
    if open_ms is not None and len(rows) < limit and open_ms >= start:
        last_close = float(candles.close[-1]) if len(candles) else 1.0
        partial = repr(last_close)
        rows.append([open_ms, partial, partial, partial, partial, "0.5", open_ms + step - 1,
                     "0", 1, "0", "0", "0"])  # fmt: skip
    return rows


class _Handler(BaseHTTPRequestHandler):
    state: FakeBinanceState

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        state = self.state
        with state.lock:
            state.requests.append((url.path, params))
            queue = state.failures.get(url.path)
            failure = queue.popleft() if queue else None
        if failure is not None:
            self._send(*failure)
            return
        if url.path == "/api/v3/exchangeInfo":
            symbols = [_spot_symbol(n, *_split(n)) for n in state.spot]
            self._send(200, {"timezone": "UTC", "serverTime": 0, "rateLimits": [],
                             "exchangeFilters": [], "symbols": symbols})  # fmt: skip
        elif url.path == "/fapi/v1/exchangeInfo":
            symbols = [_futures_symbol(n, *_split(n)) for n in state.futures]
            self._send(200, {"timezone": "UTC", "serverTime": 0, "rateLimits": [],
                             "exchangeFilters": [], "assets": [], "symbols": symbols})  # fmt: skip
        elif url.path in ("/api/v3/klines", "/fapi/v1/klines"):
            book = state.spot if url.path.startswith("/api") else state.futures
            candles = book.get(params.get("symbol", ""))
            if candles is None:
                self._send(400, {"code": -1121, "msg": "Invalid symbol."})
                return
            step = INTERVAL_MS[params["interval"]]
            self._send(200, _kline_rows(candles, params, state.open_candle_ms, step))
        elif url.path == "/fapi/v1/fundingRate":
            series = state.funding.get(params.get("symbol", ""), [])
            start = int(params.get("startTime", "0"))
            limit = min(int(params.get("limit", "100")), MAX_LIMIT)
            rows = [
                {"symbol": params["symbol"], "fundingTime": t, "fundingRate": repr(r),
                 "markPrice": "100.0"}
                for t, r in series if t >= start
            ][:limit]  # fmt: skip
            self._send(200, rows)
        else:
            self._send(404, {"code": -1, "msg": f"no route {url.path}"})


class FakeBinance:
    """Run the fake exchange in a background thread; use as a context manager."""

    def __init__(self, state: FakeBinanceState | None = None) -> None:
        self.state = state or FakeBinanceState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeBinance:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
