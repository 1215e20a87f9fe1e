"""Typed intermediate representation produced by the checker and consumed by the compiler.

A :class:`Node` is a typed operation over numpy arrays in an evaluation context
(:class:`Ctx`: which symbol and which timeframe its bars come from). Built-in names (data
fields, bar-time fields, account state), timeframes and the ticker format live here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tradeforge.dsl.ast import Span


class Kind(StrEnum):
    NUMBER = "number"  # scalar float known before the run
    BOOL = "bool"  # scalar boolean known before the run
    SERIES = "series"  # float per bar
    BOOL_SERIES = "bool_series"  # boolean per bar
    STRING = "string"
    TUPLE = "tuple"  # multi-output indicator, only valid on the right of a, b = ...
    SIZE = "size"  # Weight(...), Amount(...), Quantity(...)
    ACTION = "action"  # entry(...), exit(...)


NUMERIC = frozenset({Kind.NUMBER, Kind.SERIES})
BOOLEAN = frozenset({Kind.BOOL, Kind.BOOL_SERIES})


@dataclass(frozen=True, slots=True)
class Ctx:
    """Where a node's bars come from: ``ticker`` None is the current symbol, ``timeframe``
    None the strategy's base timeframe."""

    ticker: str | None = None
    timeframe: str | None = None


BASE = Ctx()


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    op: str
    kind: Kind
    args: tuple[Node, ...] = ()
    params: tuple[Any, ...] = ()
    ctx: Ctx = BASE
    span: Span | None = None
    dynamic: bool = False  # depends on simulated account state (evaluated per bar)

    @property
    def is_const(self) -> bool:
        return self.op == "const"

    @property
    def value(self) -> Any:
        return self.params[0]


@dataclass(frozen=True, slots=True)
class Action:
    kind: str  # "entry" or "exit"
    ticker: str
    side: str | None  # "LONG" / "SHORT" for entries
    size_kind: str | None  # "weight" / "amount" / "quantity" for entries
    size: Node | None
    stop_loss: Node | None
    take_profit: Node | None
    trailing_stop: Node | None
    fraction: Node | None  # exits: share of the position to close
    span: Span


@dataclass(frozen=True, slots=True)
class Signal:
    condition: Node
    action: Action
    span: Span


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: float
    minimum: float
    maximum: float
    value: float
    is_integer: bool
    span: Span


@dataclass
class CheckedScript:
    """The typed result of checking: signals, bare expressions, params and warnings."""

    source: str
    signals: list[Signal] = field(default_factory=list)
    expressions: list[Node] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    data_tickers: list[str] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    uses_state: bool = False
    uses_funding: bool = False


# --- built-in names ----------------------------------------------------------------------

PRICE_FIELDS: dict[str, str] = {
    "open": "Open price of the bar.",
    "high": "Highest price of the bar.",
    "low": "Lowest price of the bar.",
    "close": "Close price of the bar (the latest closed price at signal time).",
    "volume": "Traded volume of the bar, in base-asset units.",
    "hl2": "(high + low) / 2.",
    "hlc3": "(high + low + close) / 3.",
    "ohlc4": "(open + high + low + close) / 4.",
}
TIME_FIELDS: dict[str, str] = {
    "minute": "Minute of the bar's open time, 0-59 (UTC).",
    "hour": "Hour of the bar's open time, 0-23 (UTC).",
    "day_of_week": "Weekday of the bar's open time, 0 = Monday ... 6 = Sunday (UTC).",
    "day_of_month": "Day of month of the bar's open time, 1-31 (UTC).",
    "month": "Month of the bar's open time, 1-12 (UTC).",
    "year": "Year of the bar's open time (UTC).",
}
FUNDING_FIELD = "funding_rate"
FUNDING_DOC = (
    "Funding rate of a perpetual market: the latest funding rate published at or before "
    "the bar's close (a fraction; 0.0001 = 0.01%). Perpetual exchanges only."
)
STATE_FIELDS: dict[str, str] = {
    "position_side": "Simulated position of the current symbol: 1 long, -1 short, 0 flat.",
    "position_size": "Absolute size of that position in base-asset units (0 when flat).",
    "entry_price": "Average entry price of that position (NaN when flat).",
    "bars_since_entry": "Bars since the position was opened (NaN when flat).",
    "equity": "Account equity in quote currency, marked at the bar's close.",
}

CURRENT_TICKER = "current_ticker"
CURRENT_TICKER_DOC = (
    "The ticker of the symbol the script is running for, as a string. Use it in actions "
    'to write one strategy for a whole universe: entry(current_ticker, "LONG", Weight(0.1)).'
)
#: Placeholder stored in actions that target the current symbol; resolved at run time.
CURRENT = "$current"

TIMEFRAMES: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
#: Bucket offsets: weekly candles start on Monday 00:00 UTC (the epoch was a Thursday).
TIMEFRAME_OFFSET_MS: dict[str, int] = {"1w": 4 * 86_400_000}

TICKER_RE = re.compile(
    r"^([A-Z][A-Z0-9]{1,19}):([A-Z0-9]{1,20})/([A-Z0-9]{1,20})(?::([A-Z0-9]{1,20}))?$"
)


def split_ticker(ticker: str) -> tuple[str, str]:
    """Return ``(exchange_id, symbol)``: ``"BINANCE:BTC/USDT"`` -> ``("binance", "BTC/USDT")``."""
    exchange, _, symbol = ticker.partition(":")
    return exchange.lower(), symbol
