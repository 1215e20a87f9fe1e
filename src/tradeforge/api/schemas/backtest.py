"""Schemas of the async Backtest API (seed v1 §3): execute, status, cancel and results."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from tradeforge.api.envelope import RequestSchema, Schema
from tradeforge.services.strategy_types import (
    CrossSectionalParams,
    DcaParams,
    GridParams,
    PairTradingParams,
)

TickerText = Annotated[
    str,
    StringConstraints(
        min_length=3,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.\-]+:[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+(:[A-Za-z0-9_.\-]+)?$",
    ),
]
DayText = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
Script = Annotated[str, StringConstraints(min_length=1, max_length=65536, strip_whitespace=False)]
ParamName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


_STRATEGY_TYPE_TEXT = (
    "signal (send a script), pair_trading or cross_sectional (send strategy_params; the "
    "server converts them to a Signal DSL script), dca or grid (send strategy_params and one "
    "ticker; they run in the ladder engine). See GET /backtest/strategies."
)
ScriptParams = dict[ParamName, Annotated[float, Field(allow_inf_nan=False)]]


class ExecuteCommon(RequestSchema):
    """The fields every strategy type shares."""

    universe: list[TickerText] = Field(
        min_length=1,
        max_length=20,
        description="1-20 tickers EXCHANGE:BASE/QUOTE[:SETTLE]; the first is the current symbol.",
        examples=[["BINANCE:BTC/USDT"]],
    )
    start_date: DayText = Field(description="YYYY-MM-DD (UTC, included).", examples=["2024-01-01"])
    end_date: DayText = Field(
        description="YYYY-MM-DD (UTC, the whole day included); after start_date.",
        examples=["2024-06-30"],
    )
    description: Annotated[str, StringConstraints(min_length=10, max_length=500)] = Field(
        description="What the strategy does, in plain words (10-500 characters).",
        examples=["RSI oversold: buy BTC when RSI below 30 with 50% weight"],
    )
    exchange: Annotated[str, StringConstraints(min_length=1, max_length=40)] = Field(
        default="binance", description="Default exchange id for the request."
    )
    timeframe: Literal["1m", "5m", "15m", "1h", "4h", "1d"] = "1h"
    initial_cash: float = Field(
        default=10_000.0, gt=0, le=1e12, allow_inf_nan=False, description="Starting capital."
    )
    leverage: float = Field(default=1.0, ge=1, le=100, allow_inf_nan=False)
    trading_fee: float = Field(
        default=0.0005,
        ge=0,
        lt=0.1,
        allow_inf_nan=False,
        description="Fee per fill (0.0005 = 5 bps).",
    )
    slippage: float = Field(default=0.0005, ge=0, lt=0.1, allow_inf_nan=False)
    stop_loss: float | None = Field(
        default=None, gt=0, lt=100, allow_inf_nan=False, description="Portfolio stop-loss, %."
    )
    take_profit: float | None = Field(
        default=None, gt=0, le=10_000, allow_inf_nan=False, description="Portfolio take-profit, %."
    )
    mode: Literal["isolated", "cross"] = Field(
        default="isolated", description="isolated: one sub-account per ticker; cross: shared."
    )


class ExecuteRequest(ExecuteCommon):
    """The body of ``POST /backtest/execute`` for every type; the type's own model
    (``GET /backtest/strategies/{strategy_type}/schema``) then validates it again."""

    strategy_type: Annotated[str, StringConstraints(min_length=1, max_length=40)] = Field(
        description=_STRATEGY_TYPE_TEXT, examples=["signal"]
    )
    universe: list[TickerText] | None = Field(  # type: ignore[assignment]
        default=None,
        min_length=1,
        max_length=20,
        description="1-20 tickers EXCHANGE:BASE/QUOTE[:SETTLE]; the first is the current "
        "symbol. Required except for pair_trading (defaults to [leg_a, leg_b]).",
        examples=[["BINANCE:BTC/USDT"]],
    )
    script: Script | None = Field(
        default=None,
        description="Signal DSL script (required for strategy_type signal; up to 64 KiB).",
        examples=[
            'oversold = rsi(close, 14) < 30\nemit_signal(oversold, entry("BINANCE:BTC/USDT", '
            '"LONG", Weight(0.5)))'
        ],
    )
    params: ScriptParams | None = Field(
        default=None, max_length=50, description="Values for the script's param(...) inputs."
    )
    strategy_params: dict[ParamName, Any] | None = Field(
        default=None,
        max_length=50,
        description="Parameters of a parameter-based strategy type; their JSON Schema is "
        "GET /backtest/strategies/{strategy_type}/schema.",
    )


class SignalExecuteRequest(ExecuteCommon):
    """strategy_type signal: you send the Signal DSL script."""

    strategy_type: Literal["signal"]
    script: Script = Field(
        description="Signal DSL script (up to 64 KiB); see GET /backtest/strategies/signal/guide."
    )
    params: ScriptParams | None = Field(
        default=None, max_length=50, description="Values for the script's param(...) inputs."
    )


class DcaExecuteRequest(ExecuteCommon):
    """strategy_type dca: deals with safety orders on one ticker (the ladder engine)."""

    strategy_type: Literal["dca"]
    strategy_params: DcaParams


class GridExecuteRequest(ExecuteCommon):
    """strategy_type grid: a long grid of limit orders on one ticker (the ladder engine)."""

    strategy_type: Literal["grid"]
    strategy_params: GridParams


class PairTradingExecuteRequest(ExecuteCommon):
    """strategy_type pair_trading: converted to a Signal DSL script on the server."""

    strategy_type: Literal["pair_trading"]
    universe: list[TickerText] | None = Field(  # type: ignore[assignment]
        default=None,
        min_length=2,
        max_length=2,
        description="Optional: [leg_a, leg_b] (the default).",
    )
    strategy_params: PairTradingParams


class CrossSectionalExecuteRequest(ExecuteCommon):
    """strategy_type cross_sectional: converted to a per-symbol Signal DSL script."""

    strategy_type: Literal["cross_sectional"]
    universe: list[TickerText] = Field(
        min_length=2, max_length=20, description="2-20 tickers to rank."
    )
    strategy_params: CrossSectionalParams


#: The model that validates ``POST /backtest/execute`` for each strategy type; the schema
#: endpoint serves exactly these.
EXECUTE_MODELS: dict[str, type[ExecuteCommon]] = {
    "signal": SignalExecuteRequest,
    "dca": DcaExecuteRequest,
    "grid": GridExecuteRequest,
    "pair_trading": PairTradingExecuteRequest,
    "cross_sectional": CrossSectionalExecuteRequest,
}


class StrategyTypeOut(Schema):
    type: str = Field(examples=["pair_trading"])
    name: str
    description: str
    supported: bool = Field(description="Whether POST /backtest/execute runs this type.")
    reason: str | None = Field(default=None, description="Why an unsupported type cannot run.")
    schema_url: str


class StrategiesResponse(Schema):
    strategies: list[StrategyTypeOut]


class StrategySchemaResponse(Schema):
    strategy_type: str
    supported: bool
    schema_: dict[str, Any] = Field(
        alias="schema",
        serialization_alias="schema",
        description="JSON Schema of the POST /backtest/execute body for this type.",
    )


class StrategyOut(Schema):
    type: str
    params: dict[str, Any] | None = Field(
        default=None, description="The strategy_params of a parameter-based type."
    )
    script_generated: bool = Field(
        description="True when the server generated the script from strategy_params."
    )


class ExecuteResponse(Schema):
    backtest_id: str = Field(description="Use as job_id for status and cancel.")
    status: str = Field(examples=["queued"])
    status_url: str
    cancel_url: str
    created_at: datetime
    strategy_type: str
    universe: list[str]
    timeframe: str
    start_date: str
    end_date: str
    message: str


class StatusResponse(Schema):
    backtest_id: str
    status: str = Field(description="queued, running, completed, failed or cancelled.")
    progress: int = Field(ge=0, le=100)
    stage: str | None = Field(description="loading_script, loading_data or executing.")
    result_id: str | None = Field(description="Set when completed: use it for /results.")
    message: str | None = Field(description="Why it failed or was cancelled.")
    error_code: str | None = None
    suggestion: str | None = None
    cancel_requested: bool
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    results_url: str | None = None


class CancelResponse(Schema):
    backtest_id: str
    status: str
    cancel_requested: bool
    message: str


class ResultSummaryResponse(Schema):
    result_id: str
    backtest_id: str
    description: str
    created_at: datetime
    fingerprint: str = Field(description="sha256 over engine, script, config and data.")
    engine: str | None = None
    script: str
    request: dict[str, Any]
    strategy: StrategyOut = Field(
        description="The strategy type and, for parameter-based types, the parameters the "
        "script was generated from (the script itself is in 'script', ready to fork)."
    )
    metrics: dict[str, Any]
    per_ticker: dict[str, Any]
    warnings: list[str]
    num_trades: int
    dashboard_url: str
    links: dict[str, str]


class MetricsResponse(Schema):
    result_id: str
    metrics: dict[str, Any]
    groups: dict[str, dict[str, Any]]


class TickerPerformance(Schema):
    ticker: str
    num_trades: int | None = None
    pnl: float | None = None
    fees_paid: float | None = None
    funding_paid: float | None = None
    funding_coverage: float | None = None
    coverage: dict[str, Any] | None = None


class PerTickerResponse(Schema):
    result_id: str
    tickers: list[TickerPerformance]


class TradesResponse(Schema):
    result_id: str
    trades: list[dict[str, Any]]
    limit: int
    total: int
    next_cursor: str | None = Field(description="Pass as cursor for the next page.")


class EquityPoint(Schema):
    timestamp: int = Field(description="Bar open time, UTC ms.")
    time: str
    equity: float | None


class EquityResponse(Schema):
    result_id: str
    points: list[EquityPoint]
    returned: int
    total_points: int


class Finding(Schema):
    topic: str
    severity: str = Field(description="good, info, warning or critical.")
    text: str


class AnalysisResponse(Schema):
    result_id: str
    verdict: str = Field(description="promising, mixed or weak.")
    summary: str
    findings: list[Finding]
    counts: dict[str, int]
    method: str
    narrative: str | None = Field(
        default=None,
        description="A language model's rewrite of the findings, when an operator configured "
        "one (TRADEFORGE_LLM_BASE_URL); the facts above are what it was given.",
    )
    narrative_error: str | None = Field(
        default=None, description="Why the configured model gave no narrative this time."
    )
