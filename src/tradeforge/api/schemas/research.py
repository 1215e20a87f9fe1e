"""Schemas of the Signal-DSL-backed endpoints: indicators, validate, evaluate, scan, rank."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from tradeforge.api.envelope import RequestSchema, Schema

Expression = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
Script = Annotated[str, StringConstraints(min_length=1, max_length=65536, strip_whitespace=False)]
SymbolText = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ExchangeText = Annotated[str, StringConstraints(min_length=1, max_length=40)]
TimeframeText = Annotated[str, StringConstraints(min_length=1, max_length=10)]
TimeText = Annotated[str, StringConstraints(min_length=1, max_length=40)]

_TIME_DOC = "UTC date (2024-01-31 = midnight) or ISO datetime; no offset means UTC."


# -- /meta/indicators ------------------------------------------------------------------------


class IndicatorParamOut(Schema):
    name: str
    type: str
    default: int | float
    min: int | float
    max: int | float
    description: str


class IndicatorIoOut(Schema):
    name: str
    type: str
    default: str | None = None


class IndicatorOut(Schema):
    name: str
    signature: str
    category: str
    description: str
    inputs: list[IndicatorIoOut]
    params: list[IndicatorParamOut]
    outputs: list[IndicatorIoOut]
    lookback_default: int
    warmup_default: int
    source: str
    path_dependent: bool


class NamedDoc(Schema):
    name: str
    description: str


class VariableOut(Schema):
    name: str
    group: str = Field(description="price, time, ticker, funding or state.")
    description: str


class IndicatorsResponse(Schema):
    count: int
    indicators: list[IndicatorOut]
    operators: list[NamedDoc]
    functions: list[NamedDoc] = Field(description="Statements and action builtins.")
    variables: list[VariableOut]
    timeframes: list[str]
    limits: dict[str, float]


# -- /backtest/validate ----------------------------------------------------------------------


class ValidateRequest(RequestSchema):
    script: Script = Field(description="Signal DSL source (up to 64 KiB).")
    universe: list[SymbolText] = Field(
        min_length=1,
        max_length=1000,
        description='Tickers as "EXCHANGE:BASE/QUOTE"; the first is the current symbol.',
        examples=[["BINANCE:BTC/USDT"]],
    )
    timeframe: TimeframeText = "1h"


class DslIssue(Schema):
    code: str = Field(examples=["DSL_UNKNOWN_NAME"])
    message: str
    suggestion: str | None = None
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None
    source_line: str | None = None
    caret: str | None = None
    details: dict[str, Any] | None = None


class ScriptParam(Schema):
    name: str
    default: float
    min: float
    max: float
    value: float
    integer: bool


class ValidateResponse(Schema):
    valid: bool
    errors: list[DslIssue]
    warnings: list[DslIssue]
    required_warmup: int | None = Field(
        description="Bars of history the script needs before its first signal."
    )
    params: list[ScriptParam]
    tickers: list[str] = Field(description="Tickers the script trades or reads.")
    uses_state: bool = Field(description="Whether the script reads position/equity state.")
    timeframe: str


# -- /market/evaluate ------------------------------------------------------------------------


class EvaluateRequest(RequestSchema):
    expression: Expression = Field(examples=["rsi(close, 14)"])
    symbol: SymbolText = Field(examples=["BINANCE:BTC/USDT"])
    exchange: ExchangeText = "binance"
    timeframe: TimeframeText = "1h"
    start: TimeText | None = Field(default=None, description=_TIME_DOC + " Series only.")
    end: TimeText | None = Field(
        default=None, description=_TIME_DOC + " Exclusive; the value is as of the last candle."
    )
    series: bool = Field(default=False, description="Return the values over the range too.")
    limit: int = Field(
        default=500, ge=1, le=5000, description="Series points when start is not given."
    )


class SeriesPointOut(Schema):
    time: str
    timestamp: int
    value: float | bool | None = Field(description="null where undefined (warm-up, NaN).")


class EvaluateResponse(Schema):
    exchange: str
    symbol: str
    ticker: str
    timeframe: str
    expression: str
    kind: Literal["number", "bool"]
    value: float | bool | None = Field(description="Value on the latest closed candle.")
    time: str | None = Field(description="Open time of that candle.")
    timestamp: int | None
    close: float | None = Field(description="Close price of that candle.")
    warmup_bars: int
    bars_used: int = Field(description="Candles loaded (warm-up included).")
    series: list[SeriesPointOut] | None = None


# -- /market/scan and /market/rank -----------------------------------------------------------

_UNIVERSE_DOC = (
    'Named universe ("top10", "top20", "top50", "top100": ranked by stored 30-day quote '
    'volume) and/or symbols ("BTC/USDT", "BINANCE:ETH/USDT"); at most 100 symbols.'
)


class ScanRequest(RequestSchema):
    universe: list[SymbolText] = Field(
        min_length=1, max_length=100, description=_UNIVERSE_DOC, examples=[["top20"]]
    )
    exchange: ExchangeText = "binance"
    timeframe: TimeframeText = "1h"
    condition: Expression = Field(examples=["rsi(close, 14) < 30 and volume > sma(volume, 20)"])
    end: TimeText | None = Field(default=None, description="As of: " + _TIME_DOC)


class SkippedOut(Schema):
    symbol: str
    reason: str


class ScanDetailOut(Schema):
    symbol: str
    ticker: str
    matched: bool
    time: str | None
    timestamp: int | None
    close: float | None
    values: dict[str, float | bool | None] = Field(
        description="Values of the comparison operands behind the decision."
    )


class ScanResponse(Schema):
    exchange: str
    timeframe: str
    condition: str
    matched: list[str]
    details: list[ScanDetailOut]
    scanned_count: int
    matched_count: int
    skipped: list[SkippedOut] = Field(description="Symbols without data on this timeframe.")


class RankRequest(RequestSchema):
    universe: list[SymbolText] = Field(
        min_length=1, max_length=100, description=_UNIVERSE_DOC, examples=[["top20"]]
    )
    exchange: ExchangeText = "binance"
    timeframe: TimeframeText = "1h"
    expression: Expression = Field(examples=["roc(close, 7)"])
    order: Literal["asc", "desc"] = "desc"
    limit: int = Field(default=20, ge=1, le=100)
    end: TimeText | None = Field(default=None, description="As of: " + _TIME_DOC)


class RankedOut(Schema):
    rank: int
    symbol: str
    ticker: str
    score: float
    price: float | None = Field(description="Close of the latest candle.")
    time: str | None
    timestamp: int | None


class RankResponse(Schema):
    exchange: str
    timeframe: str
    expression: str
    order: Literal["asc", "desc"]
    ranked: list[RankedOut]
    ranked_count: int = Field(description="Symbols with a defined value (before limit).")
    unranked: list[SkippedOut] = Field(description="Symbols whose value is NaN (too little data).")
    skipped: list[SkippedOut] = Field(description="Symbols without data on this timeframe.")
    scanned_count: int


# -- guide -----------------------------------------------------------------------------------


class GuideResponse(Schema):
    title: str
    format: Literal["markdown"] = "markdown"
    content: str
