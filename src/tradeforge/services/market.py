"""Market-data use cases behind the HTTP endpoints: symbols, OHLCV, tickers, funding.

Every function takes a :class:`~tradeforge.market.source.MarketDataSource` (wired in
``api/deps.py`` to ``tradeforge.adapters.candles.open_market_data(settings)``) and validates
its inputs at this boundary: bad parameters raise ``InvalidInputError`` (VALIDATION_ERROR)
with a suggestion, data outside what is stored raises ``DataUnavailableError`` naming the
available range.

Ranking formulas (``category`` in :func:`list_symbols`), computed from stored candles only,
with windows ending at the newest candle among the listed symbols ("as of"):

* ``top_market_cap``: no market-cap data is stored, so symbols are ranked by a liquidity
  proxy, the traded quote volume of the last 30 days, ``sum(close * volume)``.
* ``trending``: ``abs(r7) * v7 / v30`` where ``r7`` is the 7-day return
  ``close_now / close_7d_ago - 1`` and ``v7``/``v30`` the average daily quote volume over
  the last 7 and 30 days: big moves on rising volume rank first.

Symbols without candles in the window score 0 and sort last (ties by symbol).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from tradeforge.core.candles import Candles
from tradeforge.core.clock import from_ms
from tradeforge.core.errors import DataUnavailableError, InvalidInputError
from tradeforge.market.catalog import MarketType
from tradeforge.market.gaps import Gap, find_gaps
from tradeforge.market.metadata import sector_of, validate_sector
from tradeforge.market.source import FundingRates, MarketDataSource, SeriesInfo, SeriesKind
from tradeforge.market.symbols import (
    InstrumentId,
    parse_instrument,
    require_known,
    resolve_exchange,
)
from tradeforge.market.timeframes import (
    DAY_MS,
    HOUR_MS,
    TIMEFRAMES,
    timeframe_ms,
    validate_timeframe,
)

SYMBOLS_MAX_LIMIT = 500
OHLCV_MAX_LIMIT = 5000
FUNDING_MAX_LIMIT = 5000
TICKERS_MAX = 20


class SymbolCategory(StrEnum):
    TOP_MARKET_CAP = "top_market_cap"
    TRENDING = "trending"


@dataclass(frozen=True, slots=True)
class SymbolSummary:
    exchange_id: str
    symbol: str
    market_type: MarketType
    base: str
    quote: str
    settle: str | None
    sector: str | None
    timeframes: tuple[str, ...]
    first_ms: int
    last_ms: int
    has_funding: bool
    score: float | None = None


@dataclass(frozen=True, slots=True)
class OhlcvPage:
    exchange_id: str
    symbol: str
    timeframe: str
    candles: Candles
    next_cursor: str | None
    available_first_ms: int
    available_last_ms: int

    def rows(self) -> list[tuple[int, float, float, float, float, float]]:
        """Return ``(timestamp, open, high, low, close, volume)`` tuples for JSON output."""
        c = self.candles
        return list(
            zip(
                c.timestamp.tolist(),
                c.open.tolist(),
                c.high.tolist(),
                c.low.tolist(),
                c.close.tolist(),
                c.volume.tolist(),
                strict=True,
            )
        )


@dataclass(frozen=True, slots=True)
class Ticker:
    exchange_id: str
    symbol: str
    last_price: float
    open_24h: float
    change_24h_pct: float
    high_24h: float
    low_24h: float
    volume_24h: float
    quote_volume_24h: float
    as_of_ms: int
    timeframe: str


@dataclass(frozen=True, slots=True)
class FundingPage:
    exchange_id: str
    symbol: str
    rates: FundingRates
    next_cursor: str | None

    def rows(self) -> list[tuple[int, float]]:
        """Return ``(timestamp, funding_rate)`` tuples for JSON output."""
        return list(zip(self.rates.timestamp.tolist(), self.rates.rate.tolist(), strict=True))


# -- validation helpers ----------------------------------------------------------------------


def _check_limit(limit: int, maximum: int, field: str = "limit") -> int:
    if not 1 <= limit <= maximum:
        raise InvalidInputError(
            f"{field} must be between 1 and {maximum}, got {limit}.",
            suggestion=f"Pass {field} in 1..{maximum} and page with the cursor for more.",
            details={"field": field},
        )
    return limit


def _check_window(start_ms: int | None, end_ms: int | None) -> None:
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        raise InvalidInputError(
            "start must be before end.",
            suggestion="Swap the values, or drop one of them.",
            details={"field": "start"},
        )


def encode_cursor(ms: int) -> str:
    """Return the opaque cursor that resumes a listing at open time ``ms``."""
    return base64.urlsafe_b64encode(f"v1:{ms}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Return the open time a cursor resumes at.

    Raises:
        InvalidInputError: the cursor was not produced by :func:`encode_cursor`.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, value = raw.partition(":")
        if version != "v1":
            raise ValueError(version)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as e:
        raise InvalidInputError(
            "The pagination cursor is not valid.",
            suggestion="Pass the next_cursor value from the previous page unchanged.",
            details={"field": "cursor"},
        ) from e


def _iso(ms: int) -> str:
    return from_ms(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def _series_by_symbol(
    series: list[SeriesInfo], exchange_id: str | None = None
) -> dict[tuple[str, str], list[SeriesInfo]]:
    out: dict[tuple[str, str], list[SeriesInfo]] = {}
    for info in series:
        if exchange_id is None or info.exchange_id == exchange_id:
            out.setdefault((info.exchange_id, info.symbol), []).append(info)
    return out


def _resolve(
    source: MarketDataSource, exchange_id: str, symbol: str, kind: SeriesKind = SeriesKind.OHLCV
) -> tuple[InstrumentId, list[SeriesInfo]]:
    stored = [
        s for s in source.list_series() if s.exchange_id == exchange_id.lower() and s.kind == kind
    ]
    known = sorted({s.symbol for s in stored})
    instrument = parse_instrument(symbol, exchange_id, known=known or None)
    require_known(instrument, known, text=symbol)
    return instrument, [s for s in stored if s.symbol == instrument.symbol]


# -- symbols ---------------------------------------------------------------------------------


def _quote_volume(candles: Candles) -> float:
    return float(np.dot(candles.close, candles.volume))


def _scores(
    source: MarketDataSource, groups: dict[tuple[str, str], list[SeriesInfo]], category: str
) -> dict[tuple[str, str], float]:
    # Windows end at the close of the newest candle among the listed symbols.
    end = max(
        s.last_ms + timeframe_ms(s.timeframe)
        for group in groups.values()
        for s in group
        if s.timeframe is not None
    )
    scores: dict[tuple[str, str], float] = {}
    for key, group in groups.items():
        tfs = {s.timeframe for s in group if s.kind == SeriesKind.OHLCV}
        tf = "1h" if "1h" in tfs else "1d"
        candles = source.load(key[0], key[1], tf, end - 30 * DAY_MS, end)
        if len(candles) == 0:
            scores[key] = 0.0
            continue
        v30 = _quote_volume(candles)
        if category == SymbolCategory.TOP_MARKET_CAP:
            scores[key] = v30
            continue
        week = candles.slice_ms(end - 7 * DAY_MS, None)
        before = candles.slice_ms(None, end - 7 * DAY_MS)
        if len(week) == 0 or len(before) == 0 or v30 == 0.0:
            scores[key] = 0.0
            continue
        r7 = float(week.close[-1]) / float(before.close[-1]) - 1.0
        scores[key] = abs(r7) * (_quote_volume(week) / 7.0) / (v30 / 30.0)
    return scores


def list_symbols(
    source: MarketDataSource,
    *,
    exchange_id: str | None = None,
    market_type: str | None = None,
    category: str | None = None,
    sector: str | None = None,
    limit: int = 100,
) -> list[SymbolSummary]:
    """List stored symbols, optionally filtered and ranked.

    Args:
        source: the market data store.
        exchange_id: only this exchange.
        market_type: ``spot``, ``perpetual`` or ``prediction``.
        category: ``top_market_cap`` or ``trending`` (see the module docstring).
        sector: a curated sector (``L1``, ``DeFi``, ``AI``, ...).
        limit: 1..500 results.

    Raises:
        InvalidInputError: an unknown filter value or a limit out of range.
    """
    _check_limit(limit, SYMBOLS_MAX_LIMIT)
    if exchange_id is not None:
        exchange_id = resolve_exchange(exchange_id).id
    wanted_type = None if market_type is None else _market_type(market_type)
    wanted_sector = None if sector is None else validate_sector(sector)
    wanted_category = None if category is None else _category(category)
    groups = _series_by_symbol(source.list_series(), exchange_id)
    rows: dict[tuple[str, str], SymbolSummary] = {}
    for (exchange, symbol), group in groups.items():
        ohlcv = [s for s in group if s.kind == SeriesKind.OHLCV]
        if not ohlcv:
            continue
        iid = parse_instrument(symbol, exchange)
        summary = SymbolSummary(
            exchange_id=exchange,
            symbol=symbol,
            market_type=iid.market_type,
            base=iid.base,
            quote=iid.quote,
            settle=iid.settle,
            sector=sector_of(iid.base),
            timeframes=tuple(t for t in TIMEFRAMES if any(s.timeframe == t for s in ohlcv)),
            first_ms=min(s.first_ms for s in ohlcv),
            last_ms=max(s.last_ms for s in ohlcv),
            has_funding=any(s.kind == SeriesKind.FUNDING_RATE for s in group),
        )
        if wanted_type is not None and summary.market_type is not wanted_type:
            continue
        if wanted_sector is not None and summary.sector != wanted_sector:
            continue
        rows[(exchange, symbol)] = summary
    if wanted_category is None or not rows:
        return sorted(rows.values(), key=lambda r: (r.exchange_id, r.symbol))[:limit]
    scores = _scores(source, {k: groups[k] for k in rows}, wanted_category)
    ranked = sorted(rows, key=lambda k: (-scores[k], k))
    return [_with_score(rows[k], scores[k]) for k in ranked[:limit]]


def _with_score(summary: SymbolSummary, score: float) -> SymbolSummary:
    fields = {name: getattr(summary, name) for name in SymbolSummary.__slots__}
    fields["score"] = score
    return SymbolSummary(**fields)


def _market_type(value: str) -> MarketType:
    try:
        return MarketType(value.lower())
    except ValueError as e:
        raise InvalidInputError(
            f"Unknown market_type '{value}'.",
            suggestion=f"Use one of: {', '.join(m.value for m in MarketType)}.",
            details={"field": "market_type"},
        ) from e


def _category(value: str) -> SymbolCategory:
    try:
        return SymbolCategory(value.lower())
    except ValueError as e:
        raise InvalidInputError(
            f"Unknown category '{value}'.",
            suggestion=f"Use one of: {', '.join(c.value for c in SymbolCategory)}.",
            details={"field": "category"},
        ) from e


# -- OHLCV -----------------------------------------------------------------------------------


def _unavailable(
    instrument: InstrumentId, what: str, rng: tuple[int, int] | None, extra: str = ""
) -> DataUnavailableError:
    available = "nothing" if rng is None else f"{_iso(rng[0])} .. {_iso(rng[1])}"
    return DataUnavailableError(
        f"No {what} for {instrument.qualified} in the requested range.",
        suggestion=f"Available: {available}.{extra}",
        details={
            "available_first": None if rng is None else _iso(rng[0]),
            "available_last": None if rng is None else _iso(rng[1]),
        },
    )


def get_ohlcv(
    source: MarketDataSource,
    exchange_id: str,
    symbol: str,
    timeframe: str = "1h",
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = 500,
    cursor: str | None = None,
) -> OhlcvPage:
    """Return one page of closed candles.

    With ``start_ms`` (or a ``cursor``) the page runs forward from it and ``next_cursor``
    resumes after its last candle; without, it holds the newest ``limit`` candles before
    ``end_ms`` (or the end of the data).

    Raises:
        InvalidInputError: bad symbol, timeframe, limit, window or cursor.
        DataUnavailableError: nothing stored in the window (the suggestion names the range).
    """
    _check_limit(limit, OHLCV_MAX_LIMIT)
    validate_timeframe(timeframe)
    if cursor is not None:
        start_ms = decode_cursor(cursor)
    _check_window(start_ms, end_ms)
    instrument, series = _resolve(source, exchange_id, symbol)
    rng = source.available_range(instrument.exchange_id, instrument.symbol, timeframe)
    if rng is None:
        stored = ", ".join(t for t in TIMEFRAMES if any(s.timeframe == t for s in series))
        raise _unavailable(
            instrument, f"{timeframe} candles", None, f" Stored timeframes: {stored}."
        )
    first, last = rng
    if (start_ms is not None and start_ms > last) or (end_ms is not None and end_ms <= first):
        raise _unavailable(instrument, f"{timeframe} candles", rng)
    candles = source.load(instrument.exchange_id, instrument.symbol, timeframe, start_ms, end_ms)
    next_cursor = None
    if start_ms is None:
        candles = (
            candles.slice_ms(int(candles.timestamp[-limit]), None)
            if len(candles) > limit
            else candles
        )
    elif len(candles) > limit:
        next_cursor = encode_cursor(int(candles.timestamp[limit]))
        candles = candles.slice_ms(None, int(candles.timestamp[limit]))
    if len(candles) == 0:
        raise _unavailable(instrument, f"{timeframe} candles", rng, " The window falls in a gap.")
    return OhlcvPage(
        instrument.exchange_id, instrument.symbol, timeframe, candles, next_cursor, first, last
    )


def get_gaps(
    source: MarketDataSource,
    exchange_id: str,
    symbol: str,
    timeframe: str = "1h",
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[Gap]:
    """Return the runs of missing candles in a stored series (never filled).

    Raises:
        InvalidInputError: bad symbol, timeframe or window.
    """
    validate_timeframe(timeframe)
    _check_window(start_ms, end_ms)
    instrument, _ = _resolve(source, exchange_id, symbol)
    candles = source.load(instrument.exchange_id, instrument.symbol, timeframe, start_ms, end_ms)
    return find_gaps(candles, timeframe)


# -- tickers ---------------------------------------------------------------------------------


def get_ticker(source: MarketDataSource, exchange_id: str, symbol: str) -> Ticker:
    """Return last price, 24h change and 24h volume from the newest stored candles.

    ``as_of_ms`` is the close time of the newest candle: stored data can be old.

    Raises:
        InvalidInputError: bad exchange or symbol.
    """
    instrument, series = _resolve(source, exchange_id, symbol)
    intraday = [
        s for s in series if s.timeframe is not None and timeframe_ms(s.timeframe) <= HOUR_MS
    ]
    pool = intraday or series
    best = max(
        pool,
        key=lambda s: (
            s.last_ms + timeframe_ms(s.timeframe or "1d"),
            timeframe_ms(s.timeframe or "1d"),
        ),
    )
    tf = best.timeframe or "1d"
    step = timeframe_ms(tf)
    close_time = best.last_ms + step
    window = source.load(
        instrument.exchange_id,
        instrument.symbol,
        tf,
        close_time - DAY_MS if tf != "1d" else best.last_ms,
        close_time,
    )
    last = float(window.close[-1])
    first_open = float(window.open[0])
    volume = float(window.volume.sum())
    return Ticker(
        exchange_id=instrument.exchange_id,
        symbol=instrument.symbol,
        last_price=last,
        open_24h=first_open,
        change_24h_pct=(last / first_open - 1.0) * 100.0 if first_open else 0.0,
        high_24h=float(window.high.max()),
        low_24h=float(window.low.min()),
        volume_24h=volume,
        quote_volume_24h=_quote_volume(window),
        as_of_ms=close_time,
        timeframe=tf,
    )


def get_tickers(source: MarketDataSource, exchange_id: str, symbols: list[str]) -> list[Ticker]:
    """Return tickers for 1 to 20 symbols, in the order asked.

    Raises:
        InvalidInputError: no symbols, more than 20, or any bad symbol.
    """
    if not 1 <= len(symbols) <= TICKERS_MAX:
        raise InvalidInputError(
            f"Ask for 1 to {TICKERS_MAX} symbols at a time, got {len(symbols)}.",
            suggestion=f"Split the request into batches of at most {TICKERS_MAX} symbols.",
            details={"field": "symbols"},
        )
    return [get_ticker(source, exchange_id, s) for s in symbols]


# -- funding ---------------------------------------------------------------------------------


def get_funding_rates(
    source: MarketDataSource,
    exchange_id: str,
    symbol: str,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = 500,
    cursor: str | None = None,
) -> FundingPage:
    """Return one page of funding settlements for a perpetual (same paging as OHLCV).

    Raises:
        InvalidInputError: bad symbol (not a stored perpetual), limit, window or cursor.
        DataUnavailableError: nothing stored in the window.
    """
    _check_limit(limit, FUNDING_MAX_LIMIT)
    if cursor is not None:
        start_ms = decode_cursor(cursor)
    _check_window(start_ms, end_ms)
    instrument, series = _resolve(source, exchange_id, symbol, SeriesKind.FUNDING_RATE)
    rng = (min(s.first_ms for s in series), max(s.last_ms for s in series))
    rates = source.load_funding(instrument.exchange_id, instrument.symbol, start_ms, end_ms)
    next_cursor = None
    if start_ms is None:
        rates = rates.slice_ms(int(rates.timestamp[-limit]), None) if len(rates) > limit else rates
    elif len(rates) > limit:
        next_cursor = encode_cursor(int(rates.timestamp[limit]))
        rates = rates.slice_ms(None, int(rates.timestamp[limit]))
    if len(rates) == 0:
        raise _unavailable(instrument, "funding rates", rng)
    return FundingPage(instrument.exchange_id, instrument.symbol, rates, next_cursor)
