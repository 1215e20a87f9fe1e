"""Schemas of the market-data endpoints (``/market/symbols``, ``/ohlcv``, ``/ticker``, ...)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated

from pydantic import Field, StringConstraints

from tradeforge.api.envelope import RequestSchema, Schema
from tradeforge.core.clock import from_ms, to_ms
from tradeforge.core.errors import InvalidInputError

SymbolText = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ExchangeText = Annotated[str, StringConstraints(min_length=1, max_length=40)]

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def iso(ms: int) -> str:
    """Return ``ms`` as an ISO-8601 UTC string (``2024-01-01T00:00:00Z``)."""
    return from_ms(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None, field: str) -> int | None:
    """Parse a query/body time into UTC milliseconds.

    Accepts ``YYYY-MM-DD`` (UTC midnight), ISO datetimes with an offset or ``Z``, and
    datetimes without an offset, which are read as UTC (never as server-local time).

    Raises:
        InvalidInputError: the text is not a date or datetime.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        if _DATE_RE.match(text):
            return to_ms(datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC))
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as e:
        raise InvalidInputError(
            f"{field} is not a valid date or datetime: '{text[:40]}'.",
            suggestion=f"Write {field} as 2024-01-31 or 2024-01-31T12:00:00Z (UTC).",
            details={"field": field},
        ) from e
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return to_ms(parsed)


class AvailableRange(Schema):
    first: str = Field(description="Open time of the first stored candle (UTC, ISO-8601).")
    last: str = Field(description="Open time of the last stored candle (UTC, ISO-8601).")
    first_ms: int
    last_ms: int


class SymbolOut(Schema):
    symbol: str = Field(examples=["BTC/USDT"])
    ticker: str = Field(description="Qualified ticker used in the Signal DSL.")
    exchange: str
    market_type: str
    base: str
    quote: str
    settle: str | None
    sector: str | None
    timeframes: list[str] = Field(description="Stored candle timeframes.")
    available: AvailableRange
    has_funding: bool
    score: float | None = Field(
        description="Ranking score when a category was asked (30-day quote volume for "
        "top_market_cap, the trending score for trending); null otherwise."
    )


class SymbolsResponse(Schema):
    exchange: str
    category: str | None
    count: int
    symbols: list[SymbolOut]


class CandleOut(Schema):
    time: str = Field(description="Open time, UTC ISO-8601.")
    timestamp: int = Field(description="Open time, UTC milliseconds since the epoch.")
    open: float
    high: float
    low: float
    close: float
    volume: float = Field(description="Base-asset volume.")


class OhlcvResponse(Schema):
    exchange: str
    symbol: str
    ticker: str
    timeframe: str
    count: int
    candles: list[CandleOut]
    next_cursor: str | None = Field(
        description="Pass as cursor to get the next page; null on the last page."
    )
    available: AvailableRange


class TickerOut(Schema):
    exchange: str
    symbol: str
    ticker: str
    last_price: float
    open_24h: float
    change_24h_pct: float = Field(description="Percent change over the last 24 hours.")
    high_24h: float
    low_24h: float
    volume_24h: float = Field(description="Base-asset volume over 24 hours.")
    quote_volume_24h: float
    as_of: str = Field(description="Close time of the newest stored candle (data can be old).")
    as_of_ms: int
    timeframe: str = Field(description="Candle timeframe the figures were computed from.")


class TickersRequest(RequestSchema):
    symbols: list[SymbolText] = Field(min_length=1, max_length=20, examples=[["BTC/USDT"]])
    exchange: ExchangeText = "binance"


class TickersResponse(Schema):
    exchange: str
    count: int
    tickers: list[TickerOut]


class FundingRateOut(Schema):
    time: str
    timestamp: int
    funding_rate: float = Field(description="Rate per funding interval (0.0001 = 0.01%).")


class FundingSeriesOut(Schema):
    symbol: str
    ticker: str
    count: int
    rates: list[FundingRateOut]
    next_cursor: str | None


class FundingRatesResponse(Schema):
    exchange: str
    series: list[FundingSeriesOut] = Field(
        description="One entry per symbol: the requested page for one symbol, or the latest "
        "settlement of every stored perpetual when no symbol was given."
    )


class GapOut(Schema):
    start: str = Field(description="Open time of the first missing candle.")
    end: str = Field(description="Open time of the candle where data resumes.")
    start_ms: int
    end_ms: int
    missing: int
    description: str


class GapsResponse(Schema):
    exchange: str
    symbol: str
    timeframe: str
    gap_count: int
    missing_candles: int
    gaps: list[GapOut]
    available: AvailableRange
