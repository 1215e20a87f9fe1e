"""Download public OHLCV and funding-rate history through ccxt into the user store.

* Paginated: pages of ``page_limit`` candles from ``since`` until ``until`` (or now).
* Incremental: a series already stored resumes after its last candle; a ``since`` before the
  stored range fetches only the missing head.
* Closed candles only: a candle whose close time is after the injected clock's *now* is never
  stored; funding settlements in the future are never stored.
* Polite: ccxt's own rate limiter is on, and transient errors (rate limits, timeouts, 5xx)
  are retried with exponential backoff, honouring ``retry_after`` when the venue sends it.
* Safe: ccxt is created with ``verbose=False`` and without API keys (public data only);
  every ccxt call goes through :func:`translate_ccxt_errors`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import ccxt
import numpy as np

from tradeforge.adapters.candles.parquet_store import ParquetStore
from tradeforge.core.candles import Candles
from tradeforge.core.clock import Clock, to_ms
from tradeforge.core.errors import InvalidInputError, TradeforgeError
from tradeforge.market.catalog import ExchangeInfo, MarketType
from tradeforge.market.source import FundingRates
from tradeforge.market.symbols import Instrument, InstrumentId, parse_instrument, resolve_exchange
from tradeforge.market.timeframes import floor_ms, timeframe_ms, validate_timeframe

from .errors import translate_ccxt_errors

logger = logging.getLogger(__name__)

T = TypeVar("T")
Progress = Callable[[int, int], None]

# Which ccxt market types to load per catalogue market type (keeps load_markets to one call).
_CCXT_MARKET_TYPES = {MarketType.SPOT: "spot", MarketType.PERPETUAL: "linear"}
FLUSH_ROWS = 50_000


@dataclass(frozen=True, slots=True)
class DownloadResult:
    exchange_id: str
    symbol: str
    timeframe: str | None
    fetched: int
    added: int
    requests: int
    first_ms: int | None
    last_ms: int | None


def create_exchange(
    info: ExchangeInfo,
    *,
    api_base_url: str | None = None,
    rate_limit_ms: int | None = None,
    timeout_ms: int = 30_000,
) -> Any:
    """Return a public-data ccxt client for a catalogue exchange.

    Args:
        info: the catalogue entry (its ``ccxt_id`` picks the ccxt class).
        api_base_url: send every request to this scheme+host instead of the venue's own
            (a mirror, a proxy, or the local fake exchange in tests).
        rate_limit_ms: override ccxt's minimum delay between requests.
        timeout_ms: per-request timeout.

    Raises:
        InvalidInputError: ccxt has no client for this exchange.
    """
    if info.ccxt_id is None or not hasattr(ccxt, info.ccxt_id):
        raise InvalidInputError(
            f"{info.name} has no ccxt client; tradeforge cannot download its history.",
            suggestion="Import files you already have with 'tradeforge data import'.",
        )
    types = [_CCXT_MARKET_TYPES[t] for t in info.market_types if t in _CCXT_MARKET_TYPES]
    config: dict[str, Any] = {
        "enableRateLimit": True,
        "verbose": False,
        "timeout": timeout_ms,
        "options": {"fetchMarkets": {"types": types}} if types else {},
    }
    if rate_limit_ms is not None:
        config["rateLimit"] = rate_limit_ms
    exchange = getattr(ccxt, info.ccxt_id)(config)
    if api_base_url is not None:
        _redirect(exchange.urls, api_base_url.rstrip("/"))
    return exchange


def _redirect(urls: Any, base: str) -> None:
    # Replace the scheme and host of every API URL, keeping the path.
    api = urls.get("api")
    if isinstance(api, str):
        urls["api"] = _rebase(api, base)
        return
    if isinstance(api, dict):
        for key, value in api.items():
            if isinstance(value, str):
                api[key] = _rebase(value, base)
            elif isinstance(value, dict):
                for sub, url in value.items():
                    if isinstance(url, str):
                        value[sub] = _rebase(url, base)


def _rebase(url: str, base: str) -> str:
    _, sep, rest = url.partition("://")
    if not sep:
        return url
    _, slash, path = rest.partition("/")
    return f"{base}/{path}" if slash else base


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class CcxtDownloader:
    """Fetch public history from one exchange and merge it into a :class:`ParquetStore`.

    Args:
        exchange_id: a catalogue id (``binance``, ``binancefuturesusd``, ...).
        store: the user store to write into.
        clock: decides which candles are closed.
        exchange: a ready ccxt client (default: :func:`create_exchange`).
        sleep: how to wait between retries (tests pass a recorder).
        max_retries: retries per request for retryable errors.
        backoff_s: first retry delay; doubles per attempt, capped at ``max_backoff_s``.
        page_limit: candles per request.
    """

    def __init__(
        self,
        exchange_id: str,
        store: ParquetStore,
        *,
        clock: Clock,
        exchange: Any | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        page_limit: int = 1000,
    ) -> None:
        self.info = resolve_exchange(exchange_id)
        self.store = store
        self.clock = clock
        self.exchange = exchange if exchange is not None else create_exchange(self.info)
        self.sleep = sleep
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.page_limit = page_limit
        self.requests = 0
        self._markets_loaded = False

    # -- plumbing --------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                self.requests += 1
                with translate_ccxt_errors(self.info.id):
                    return fn()
            except TradeforgeError as e:
                if not e.retryable or attempt >= self.max_retries:
                    raise
                delay = min(self.backoff_s * 2**attempt, self.max_backoff_s)
                retry_after = e.retry_after or self._retry_after_header()
                if retry_after is not None:
                    delay = max(delay, float(min(retry_after, self.max_backoff_s)))
                logger.warning(
                    "%s: %s, retry %d/%d in %.1fs",
                    self.info.id, e.code, attempt + 1, self.max_retries, delay,
                )  # fmt: skip
                self.sleep(delay)
                attempt += 1

    def _retry_after_header(self) -> int | None:
        # Binance and most venues send Retry-After (seconds) with 429/418 responses.
        headers = getattr(self.exchange, "last_response_headers", None) or {}
        for name, value in dict(headers).items():
            if str(name).lower() == "retry-after" and str(value).strip().isdigit():
                return int(str(value).strip())
        return None

    def _ensure_markets(self) -> None:
        if not self._markets_loaded:
            self._call(lambda: self.exchange.load_markets())
            self._markets_loaded = True

    def _instrument(self, symbol: str) -> InstrumentId:
        return parse_instrument(symbol, self.info.id)

    def instruments(self) -> list[Instrument]:
        """Return the exchange's active instruments with their precision and limits."""
        self._ensure_markets()
        out = []
        for market in self.exchange.markets.values():
            if not market.get("active", True) or market.get("type") not in ("spot", "swap"):
                continue
            settle = market.get("settle") if market.get("type") == "swap" else None
            iid = InstrumentId(self.info.id, market["base"], market["quote"], settle)
            precision, limits = market.get("precision") or {}, market.get("limits") or {}
            out.append(
                Instrument(
                    iid,
                    price_precision=_decimal(precision.get("price")),
                    quantity_precision=_decimal(precision.get("amount")),
                    min_quantity=_decimal((limits.get("amount") or {}).get("min")),
                    min_notional=_decimal((limits.get("cost") or {}).get("min")),
                    contract_size=_decimal(market.get("contractSize")),
                )
            )
        return sorted(out, key=lambda i: i.id)

    # -- OHLCV ---------------------------------------------------------------------------

    def fetch_ohlcv_page(self, symbol: str, timeframe: str, since_ms: int) -> Candles:
        """Fetch one page of candles from ``since_ms`` (open and closed alike)."""
        self._ensure_markets()
        rows = self._call(
            lambda: self.exchange.fetch_ohlcv(symbol, timeframe, since_ms, self.page_limit)
        )
        if not rows:
            return Candles.empty()
        arr = np.asarray(rows, dtype=np.float64)
        ts = arr[:, 0].astype(np.int64)
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        keep = np.r_[ts[1:] != ts[:-1], True]
        a = arr[order][keep]
        return Candles.from_arrays(ts[keep], a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5])

    def _segments(
        self, symbol: str, timeframe: str, since: int, until: int
    ) -> list[tuple[int, int]]:
        stored = self.store.candles_range(self.info.id, symbol, timeframe)
        if stored is None:
            return [(since, until)]
        step = timeframe_ms(timeframe)
        first, last = stored
        segments = []
        if since < first:
            segments.append((since, min(first, until)))
        tail = max(since, last + step)
        if tail < until:
            segments.append((tail, until))
        return segments

    def download_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        *,
        since_ms: int,
        until_ms: int | None = None,
        progress: Progress | None = None,
    ) -> DownloadResult:
        """Download closed candles with open time in ``[since_ms, until_ms)`` into the store.

        Resumes after the last stored candle; returns what was fetched and added.

        Raises:
            InvalidInputError: bad symbol or timeframe (also a symbol the venue lacks).
            ExchangeError: the venue failed after all retries (subclass says why).
        """
        instrument = self._instrument(symbol)
        sym = instrument.symbol
        validate_timeframe(timeframe)
        step = timeframe_ms(timeframe)
        now_ms = to_ms(self.clock.now())
        open_bucket = floor_ms(now_ms, timeframe)
        hi = open_bucket if until_ms is None else min(until_ms, open_bucket)
        lo = floor_ms(since_ms, timeframe) if since_ms % step else since_ms
        segments = self._segments(sym, timeframe, lo, hi)
        total = sum(max(0, (b - a) // step) for a, b in segments)
        fetched = added = 0
        first: int | None = None
        last: int | None = None
        requests_before = self.requests
        for seg_lo, seg_hi in segments:
            buffer: list[Candles] = []
            cursor = seg_lo
            while cursor < seg_hi:
                page = self.fetch_ohlcv_page(sym, timeframe, cursor)
                closed = page.slice_ms(cursor, seg_hi)
                # A page can only contain candles that closed before "now" when hi <= open bucket.
                closed = closed.slice_ms(None, open_bucket)
                if len(closed) == 0:
                    break
                buffer.append(closed)
                fetched += len(closed)
                cursor = int(closed.timestamp[-1]) + step
                if progress is not None:
                    progress(min(fetched, total), total)
                if sum(len(c) for c in buffer) >= FLUSH_ROWS:
                    added += self._flush(sym, timeframe, buffer)
                    buffer = []
            added += self._flush(sym, timeframe, buffer)
        rng = self.store.candles_range(self.info.id, sym, timeframe)
        if rng is not None:
            first, last = rng
        if progress is not None:
            progress(total, total)
        return DownloadResult(
            self.info.id, sym, timeframe, fetched, added, self.requests - requests_before,
            first, last,
        )  # fmt: skip

    def _flush(self, symbol: str, timeframe: str, buffer: list[Candles]) -> int:
        if not buffer:
            return 0
        merged = Candles.from_arrays(
            *(
                np.concatenate([getattr(c, name) for c in buffer])
                for name in ("timestamp", "open", "high", "low", "close", "volume")
            )
        )
        return self.store.write_candles(self.info.id, symbol, timeframe, merged).added

    # -- funding -------------------------------------------------------------------------

    def download_funding(
        self,
        symbol: str,
        *,
        since_ms: int,
        until_ms: int | None = None,
        progress: Progress | None = None,
    ) -> DownloadResult:
        """Download settled funding rates in ``[since_ms, until_ms)`` (perpetuals only).

        Raises:
            InvalidInputError: the symbol is not a perpetual.
            ExchangeError: the venue failed after all retries.
        """
        instrument = self._instrument(symbol)
        if instrument.market_type is not MarketType.PERPETUAL:
            raise InvalidInputError(
                f"{instrument.symbol} on {self.info.id} is not a perpetual; it has no funding.",
                suggestion="Use a perpetual symbol such as BTC/USDT:USDT on binancefuturesusd.",
            )
        sym = instrument.symbol
        now_ms = to_ms(self.clock.now())
        hi = now_ms + 1 if until_ms is None else min(until_ms, now_ms + 1)
        stored = self.store.funding_range(self.info.id, sym)
        cursor = since_ms if stored is None else max(since_ms, stored[1] + 1)
        self._ensure_markets()
        requests_before = self.requests
        ts_parts: list[np.ndarray[Any, np.dtype[np.int64]]] = []
        rate_parts: list[np.ndarray[Any, np.dtype[np.float64]]] = []
        fetched = 0
        while cursor < hi:
            fetch = self.exchange.fetch_funding_rate_history
            rows = self._call(partial(fetch, sym, cursor, self.page_limit))
            pairs = sorted(
                {int(r["timestamp"]): float(r["fundingRate"]) for r in rows or []}.items()
            )
            pairs = [(t, r) for t, r in pairs if cursor <= t < hi]
            if not pairs:
                break
            ts_parts.append(np.array([p[0] for p in pairs], dtype=np.int64))
            rate_parts.append(np.array([p[1] for p in pairs], dtype=np.float64))
            fetched += len(pairs)
            cursor = pairs[-1][0] + 1
            if progress is not None:
                progress(fetched, 0)
        added = 0
        if ts_parts:
            rates = FundingRates.from_arrays(np.concatenate(ts_parts), np.concatenate(rate_parts))
            added = self.store.write_funding(self.info.id, sym, rates).added
        rng = self.store.funding_range(self.info.id, sym)
        return DownloadResult(
            self.info.id, sym, None, fetched, added, self.requests - requests_before,
            None if rng is None else rng[0], None if rng is None else rng[1],
        )  # fmt: skip
