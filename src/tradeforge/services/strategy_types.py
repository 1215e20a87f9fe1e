"""The strategy-type catalogue of ``POST /backtest/execute`` (seed v1 §3 "Prerequisites").

Five types: ``signal`` (the caller sends a Signal DSL script) and four parameter-based
types. Each parameter-based type has a pydantic model here; the HTTP layer serves its JSON
Schema (``GET /backtest/strategies/{type}/schema``) and validates ``strategy_params`` with
the same model.

* ``pair_trading`` and ``cross_sectional`` are converted server-side into Signal DSL
  scripts (:func:`generate_script`). The script is compiled like any user script, runs
  through the same job path, and is stored with the result, so it can be read and forked.
* ``dca`` and ``grid`` need several simultaneous orders on one symbol (safety orders that
  add to a position, a ladder of resting grid orders), which the DSL cannot express. They
  run in the ladder engine (:mod:`tradeforge.backtest.ladder`). Their generated script
  holds what the DSL can express, the start (and grid stop) conditions, which the DSL
  evaluates to feed the engine, behind a comment header listing the ladder's exact orders.
  Run as a ``signal`` strategy, that script trades the base order alone.

Pure: no HTTP framework and no database.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from tradeforge.core.errors import InvalidInputError
from tradeforge.dsl.errors import DslError

#: Tickers as the DSL writes them: ``EXCHANGE:BASE/QUOTE[:SETTLE]``.
Ticker = Annotated[
    str,
    StringConstraints(
        min_length=3,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.\-]+:[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+(:[A-Za-z0-9_.\-]+)?$",
    ),
]
#: One DSL expression on one line (no control characters, so it cannot add statements).
Expression = Annotated[
    str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Finite = Annotated[float, Field(allow_inf_nan=False)]

#: Minutes per bar of each request timeframe (the rebalance schedule counts bars in time).
TIMEFRAME_MINUTES: dict[str, int] = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}


class StrategyTypeUnsupportedError(InvalidInputError):
    """The strategy type is catalogued (its schema is served) but cannot be executed."""

    default_code = "STRATEGY_TYPE_UNSUPPORTED"
    default_suggestion = "Use strategy_type 'signal' with a Signal DSL script."


class StrategyParams(BaseModel):
    """Base of the parameter models: unknown fields refused, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


# -- dca ---------------------------------------------------------------------------------------


class DcaParams(StrategyParams):
    """Dollar-cost averaging with safety orders (3Commas-style deal)."""

    direction: Literal["long", "short"] = Field(default="long", description="Side of every deal.")
    base_order: Finite = Field(
        gt=0, description="Quote amount of the first order of a deal (e.g. 100 USDT)."
    )
    safety_order: Finite = Field(gt=0, description="Quote amount of the first safety order.")
    safety_orders_count: int = Field(
        default=5, ge=0, le=50, description="Maximum safety orders per deal."
    )
    price_deviation_pct: Finite = Field(
        default=1.0,
        gt=0,
        lt=100,
        description="Adverse move from the base order's price that places the first "
        "safety order, in percent.",
    )
    step_scale: Finite = Field(
        default=1.0,
        ge=0.1,
        le=10,
        description="Multiplier of the deviation between consecutive safety orders.",
    )
    volume_scale: Finite = Field(
        default=1.0, ge=0.1, le=10, description="Multiplier of each safety order's amount."
    )
    take_profit_pct: Finite = Field(
        gt=0, le=1000, description="Take profit from the deal's average entry price, %."
    )
    stop_loss_pct: Finite | None = Field(
        default=None, gt=0, lt=100, description="Stop loss from the deal's average entry, %."
    )
    start_condition: Expression | None = Field(
        default=None,
        description="Signal DSL condition that opens a deal (default: open one at once and "
        "after every close).",
        examples=["rsi(close, 14) < 30"],
    )

    def safety_deviations(self) -> list[float]:
        """Cumulative deviation (percent) of each safety order from the base fill price:
        ``d_i = price_deviation_pct * (1 + s + ... + s^(i-1))``."""
        out: list[float] = []
        step, total = self.price_deviation_pct, 0.0
        for _ in range(self.safety_orders_count):
            total += step
            out.append(total)
            step *= self.step_scale
        return out

    def safety_amounts(self) -> list[float]:
        """Quote amount of each safety order: ``safety_order * volume_scale^(i-1)``."""
        return [self.safety_order * self.volume_scale**i for i in range(self.safety_orders_count)]

    @model_validator(mode="after")
    def _reachable(self) -> DcaParams:
        deviations = self.safety_deviations()
        if self.direction == "long" and deviations and deviations[-1] >= 100:
            raise ValueError(
                f"the last safety order would rest {deviations[-1]:g}% below the base price; "
                "lower safety_orders_count, price_deviation_pct or step_scale"
            )
        return self


# -- grid --------------------------------------------------------------------------------------


class GridParams(StrategyParams):
    """A ladder of buy and sell limit orders between two prices."""

    lower_price: Finite = Field(gt=0, description="Lowest grid line.")
    upper_price: Finite = Field(gt=0, description="Highest grid line (above lower_price).")
    grid_count: int = Field(ge=2, le=500, description="Number of grid lines.")
    grid_type: Literal["arithmetic", "geometric"] = Field(
        default="arithmetic",
        description="arithmetic: equal price steps; geometric: equal percentage steps.",
    )
    investment: Finite = Field(gt=0, description="Capital committed to the grid.")
    investment_asset: Literal["quote", "base"] = Field(
        default="quote", description="Whether investment is in the quote or the base asset."
    )
    trade_to_fill: bool = Field(
        default=False,
        description="At the start, buy at market the lots of the grid cells above the price, "
        "so that they start with sell orders (Haas 'Trade to fill grids').",
    )
    start_condition: Expression | None = Field(
        default=None,
        description="Signal DSL condition that starts the grid at the next open (default: "
        "at the first bar's open). Price: 'close > 42000'; RSI: 'rsi(close, 14) < 30'.",
        examples=["close < 30000"],
    )
    stop_condition: Expression | None = Field(
        default=None,
        description="Signal DSL condition that stops the grid at the next open: its orders "
        "are cancelled, and its lots sold at market when stop_exit is true.",
        examples=["close < 20000"],
    )
    stop_exit: bool = Field(
        default=False,
        description="When stop_condition fires, sell every lot at market (else keep them).",
    )
    stop_loss_price: Finite | None = Field(
        default=None,
        gt=0,
        description="Below lower_price: when the price trades there, every lot is sold by a "
        "stop order and the grid stops.",
    )

    @model_validator(mode="after")
    def _prices_ordered(self) -> GridParams:
        if self.upper_price <= self.lower_price:
            raise ValueError("upper_price must be above lower_price")
        if self.stop_loss_price is not None and self.stop_loss_price >= self.lower_price:
            raise ValueError("stop_loss_price must be below lower_price")
        return self

    def levels(self) -> list[float]:
        """The ``grid_count`` grid lines from lower_price to upper_price (both included):
        arithmetic ``lower + k * (upper - lower) / (n - 1)``, geometric
        ``lower * (upper / lower) ** (k / (n - 1))``."""
        n, lo, hi = self.grid_count, self.lower_price, self.upper_price
        if self.grid_type == "geometric":
            out = [lo * (hi / lo) ** (k / (n - 1)) for k in range(n)]
        else:
            out = [lo + k * ((hi - lo) / (n - 1)) for k in range(n)]
        out[0], out[-1] = lo, hi
        return out


# -- pair_trading ------------------------------------------------------------------------------


class PairTradingParams(StrategyParams):
    """Mean reversion of the hedged log-price spread of two tickers.

    ``hedge_ratio`` is the rolling OLS slope of ``ln(leg_a)`` on ``ln(leg_b)`` over
    ``hedge_window`` bars; ``spread = ln(leg_a) - hedge_ratio * ln(leg_b)``; ``z`` is the
    spread's z-score over ``lookback`` bars (population standard deviation).
    """

    leg_a: Ticker = Field(description="First leg; the universe's first ticker.")
    leg_b: Ticker = Field(description="Second leg (the hedge).")
    lookback: int = Field(
        default=100, ge=2, le=5000, description="Bars of the spread's z-score window."
    )
    hedge_window: int = Field(
        default=168,
        ge=2,
        le=5000,
        description="Bars of the rolling regression that gives the hedge ratio.",
    )
    entry_z: Finite = Field(
        default=2.0,
        gt=0,
        le=20,
        description="Enter when z crosses above +entry_z (short leg_a, long leg_b) or "
        "below -entry_z (long leg_a, short leg_b).",
    )
    exit_z: Finite = Field(
        default=0.5,
        ge=0,
        le=20,
        description="Close both legs when z crosses back inside +-exit_z (below entry_z).",
    )
    stop_z: Finite | None = Field(
        default=4.0,
        gt=0,
        le=50,
        description="Close both legs when |z| crosses above stop_z (above entry_z); null: "
        "no z-score stop.",
    )
    leg_weight: Finite = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Weight(...) of each leg's entry: a fraction of the equity of the "
        "account the leg trades in (its sleeve in isolated mode, the shared account in "
        "cross mode).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> PairTradingParams:
        if self.leg_a.upper() == self.leg_b.upper():
            raise ValueError("leg_a and leg_b must be different tickers")
        if self.exit_z >= self.entry_z:
            raise ValueError("exit_z must be below entry_z")
        if self.stop_z is not None and self.stop_z <= self.entry_z:
            raise ValueError("stop_z must be above entry_z")
        return self


# -- cross_sectional ---------------------------------------------------------------------------


class CrossSectionalParams(StrategyParams):
    """Rank the universe by an expression and hold the top (and bottom) N.

    On each rebalance bar every ticker's score is ranked across the universe with the DSL's
    ``rank``; the ``top_n`` highest are held long and, in ``long_short``, the
    ``bottom_n`` lowest short. Every other ticker is closed.
    """

    ranking_expression: Expression = Field(
        description="Signal DSL numeric expression evaluated per ticker (higher ranks first).",
        examples=["roc(close, 20)"],
    )
    top_n: int = Field(default=1, ge=1, le=19, description="Tickers held long.")
    bottom_n: int = Field(
        default=0, ge=0, le=19, description="Tickers held short (long_short only)."
    )
    rebalance_period: int = Field(
        default=7,
        ge=1,
        le=10_000,
        description="Bars between rebalances. Rebalance bars are those whose open time, "
        "counted in bars since 1970-01-01 00:00 UTC, is a multiple of rebalance_period.",
    )
    direction: Literal["long_only", "long_short"] = Field(
        default="long_only", description="long_only holds the top_n; long_short also shorts."
    )

    @model_validator(mode="after")
    def _consistent(self) -> CrossSectionalParams:
        if self.direction == "long_only" and self.bottom_n:
            raise ValueError("bottom_n must be 0 when direction is long_only")
        if self.direction == "long_short" and not self.bottom_n:
            raise ValueError("bottom_n must be at least 1 when direction is long_short")
        return self


# -- the catalogue -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StrategyType:
    type: str
    name: str
    description: str
    supported: bool
    reason: str | None
    params_model: builtins.type[StrategyParams] | None


CATALOGUE: dict[str, StrategyType] = {
    s.type: s
    for s in (
        StrategyType(
            "signal",
            "Signal DSL script",
            "You write the rules in the Signal DSL (script); read "
            "GET /backtest/strategies/signal/guide first.",
            True,
            None,
            None,
        ),
        StrategyType(
            "dca",
            "Dollar-cost averaging",
            "A base order plus safety orders at growing adverse deviations, closed at a take "
            "profit from the average entry. Runs in the ladder engine on one ticker.",
            True,
            None,
            DcaParams,
        ),
        StrategyType(
            "grid",
            "Grid trading",
            "Buy and sell limit orders on a ladder of prices between lower_price and "
            "upper_price; each lot bought at a line is sold one line up. Runs in the ladder "
            "engine on one ticker.",
            True,
            None,
            GridParams,
        ),
        StrategyType(
            "pair_trading",
            "Pair trading",
            "Trade the z-score of the hedged log-price spread of two tickers: short the rich "
            "leg and buy the cheap one when it stretches, close both when it reverts. "
            "Converted to a Signal DSL script.",
            True,
            None,
            PairTradingParams,
        ),
        StrategyType(
            "cross_sectional",
            "Cross-sectional ranking",
            "Rank a universe by an expression every rebalance_period bars and hold the top "
            "N (and short the bottom N). Converted to a Signal DSL script.",
            True,
            None,
            CrossSectionalParams,
        ),
    )
}


def strategy_type(name: str) -> StrategyType:
    """Return the catalogue entry or raise ``VALIDATION_ERROR`` naming ``strategy_type``."""
    found = CATALOGUE.get(name)
    if found is None:
        raise InvalidInputError(
            f"strategy_type must be one of {list(CATALOGUE)}, got {name!r}.",
            suggestion="List the types with GET /api/v1/backtest/strategies.",
            details={"field": "strategy_type", "allowed": list(CATALOGUE)},
        )
    return found


def check_executable(name: str) -> StrategyType:
    """Return the catalogue entry of a type that can run, else raise (400)."""
    entry = strategy_type(name)
    if not entry.supported:
        raise StrategyTypeUnsupportedError(
            f"strategy_type '{name}' cannot be executed: {entry.reason}",
            suggestion=(
                f"Express a simplified {entry.name.lower()} as strategy_type 'signal' with a "
                "Signal DSL script (one position per symbol, e.g. entry on a dip, exit at a "
                "take_profit); the guide is at GET /api/v1/backtest/strategies/signal/guide. "
                f"The {name} parameter schema stays at GET /api/v1/backtest/strategies/"
                f"{name}/schema."
            ),
            details={"field": "strategy_type", "strategy_type": name},
        )
    return entry


# -- script generation -------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedStrategy:
    """A parameter-based strategy converted to a Signal DSL script.

    ``ranking_line`` is the 1-based line of the user's ranking expression (for mapping DSL
    errors back to ``strategy_params.ranking_expression``), or ``None``. ``expressions``
    maps the line of any other user expression to ``(its first column, its field name)``.
    A column of 0 marks a line that uses (not writes) the expression: errors there name the
    field without a column. ``is_ladder`` is true for ``dca`` and ``grid``, which run in
    the ladder engine.
    """

    strategy_type: str
    script: str
    universe: tuple[str, ...]
    params: dict[str, Any]
    ranking_line: int | None = None
    ranking_column: int | None = None
    expressions: tuple[tuple[int, int, str], ...] = ()
    is_ladder: bool = False


def _num(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _field_error(name: str, message: str, suggestion: str) -> InvalidInputError:
    return InvalidInputError(
        f"strategy_params.{name} {message}",
        suggestion=suggestion,
        details={"field": f"strategy_params.{name}"},
    )


def pair_trading_script(p: PairTradingParams) -> str:
    a, b = p.leg_a.upper(), p.leg_b.upper()
    w = _num(p.leg_weight)
    entry, exit_ = _num(p.entry_z), _num(p.exit_z)
    short_in = f"crossover(spread_z, {entry})"
    long_in = f"crossunder(spread_z, -{entry})"
    if p.stop_z is not None:
        stop = _num(p.stop_z)
        short_in += f" and spread_z < {stop}"
        long_in += f" and spread_z > -{stop}"
    lines = [
        f"# pair_trading: {a} vs {b} (generated by tradeforge from strategy_params)",
        "# hedge_ratio: rolling OLS slope of ln(leg_a) on ln(leg_b)",
        "# spread_z: z-score of the hedged log spread (population standard deviation)",
        "log_a = ln(close)",
        f'log_b = ln(close("{b}"))',
        f"hedge_ratio = correl(log_a, log_b, {p.hedge_window}) * "
        f"stddev(log_a, {p.hedge_window}) / stddev(log_b, {p.hedge_window})",
        "spread = log_a - hedge_ratio * log_b",
        f"spread_z = zscore(spread, {p.lookback})",
        "# spread rich: short leg_a, buy leg_b",
        f'emit_signal({short_in}, entry("{a}", "SHORT", Weight({w})), '
        f'entry("{b}", "LONG", Weight({w})))',
        "# spread cheap: buy leg_a, short leg_b",
        f'emit_signal({long_in}, entry("{a}", "LONG", Weight({w})), '
        f'entry("{b}", "SHORT", Weight({w})))',
        "# reverted: close both legs",
        f"emit_signal(crossunder(spread_z, {exit_}) or crossover(spread_z, -{exit_}), "
        f'exit("{a}"), exit("{b}"))',
    ]
    if p.stop_z is not None:
        stop = _num(p.stop_z)
        lines += [
            "# diverged past the stop: close both legs",
            f"emit_signal(crossover(spread_z, {stop}) or crossunder(spread_z, -{stop}), "
            f'exit("{a}"), exit("{b}"))',
        ]
    return "\n".join(lines) + "\n"


#: The first line of the cross-sectional script that holds the user's expression.
_SCORE_PREFIX = "score = "


def cross_sectional_script(
    p: CrossSectionalParams, universe_size: int, timeframe: str, mode: str
) -> str:
    """Per-symbol script: rank ``score`` across the universe on rebalance bars.

    With ``M`` tickers, ``rank`` is ``below / (M - 1)`` (no ties), so the top N are the ranks
    at or above ``(M - N) / (M - 1)`` and the bottom N those at or below ``(N - 1) / (M - 1)``.
    Each position is ``Weight(1)`` of its ticker's sleeve in ``isolated`` mode and
    ``Weight(1 / (top_n + bottom_n))`` of the shared account in ``cross`` mode.
    """
    m = universe_size
    minutes = TIMEFRAME_MINUTES[timeframe]
    eps = 1e-9
    top = _num(round((m - p.top_n) / (m - 1) - eps, 10))
    weight = _num(1.0 if mode == "isolated" else 1.0 / (p.top_n + p.bottom_n))
    held = f"the top {p.top_n}" + (f" and short the bottom {p.bottom_n}" if p.bottom_n else "")
    lines = [
        f"# cross_sectional: hold {held} of {m} tickers, rebalanced every "
        f"{p.rebalance_period} bar(s) (generated by tradeforge from strategy_params)",
        f"{_SCORE_PREFIX}{p.ranking_expression}",
        "score_rank = rank(score)",
        "# bar number since 1970-01-01 UTC from the bar's open time (civil-date arithmetic)",
        "shift_a = floor((14 - month) / 12)",
        "shift_y = year + 4800 - shift_a",
        "shift_m = month + 12 * shift_a - 3",
        "epoch_day = day_of_month + floor((153 * shift_m + 2) / 5) + 365 * shift_y + "
        "floor(shift_y / 4) - floor(shift_y / 100) + floor(shift_y / 400) - 2472633",
        f"bar_number = (epoch_day * 1440 + hour * 60 + minute) / {minutes}",
        f"rebalance = bar_number % {p.rebalance_period} == 0",
        f"in_top = score_rank >= {top}",
        f'emit_signal(rebalance and in_top, entry(current_ticker, "LONG", Weight({weight})))',
    ]
    if p.bottom_n:
        bottom = _num(round((p.bottom_n - 1) / (m - 1) + eps, 10))
        lines += [
            f"in_bottom = score_rank <= {bottom}",
            f'emit_signal(rebalance and in_bottom, entry(current_ticker, "SHORT", '
            f"Weight({weight})))",
            "emit_signal(rebalance and not in_top and not in_bottom, exit(current_ticker))",
        ]
    else:
        lines.append("emit_signal(rebalance and not in_top, exit(current_ticker))")
    return "\n".join(lines) + "\n"


#: Strategy types that run in the ladder engine rather than the signal engine.
LADDER_TYPES = ("dca", "grid")

_START_PREFIX = "start = "
_STOP_PREFIX = "stop = "


def _wrapped(label: str, values: list[str], per_line: int = 8) -> list[str]:
    lines = []
    for i in range(0, len(values), per_line):
        head = label if i == 0 else " " * len(label)
        tail = "," if i + per_line < len(values) else ""
        lines.append(f"# {head}{', '.join(values[i : i + per_line])}{tail}")
    return lines


def dca_script(p: DcaParams) -> str:
    """Header listing the deal's orders, then the start condition the DSL evaluates.

    Forked as a ``signal`` strategy, it opens the base order alone with the deal's take
    profit and stop loss (from the entry fill: there are no safety orders to average in).
    """
    side = 1 if p.direction == "long" else -1
    word = "below" if side > 0 else "above"
    lines = [
        f"# dca: {p.direction} deals (generated by tradeforge from strategy_params)",
        "# The ladder runs in tradeforge's ladder engine (docs: backtesting, 'DCA and grid');",
        "# the DSL below decides when a deal may open (start = true: open one at once, and",
        "# again after every close).",
        f"# base order: market, {_num(p.base_order)} quote, at the first open without a "
        "start condition, else at the open after a close where it holds",
    ]
    amounts = p.safety_amounts()
    for i, dev in enumerate(p.safety_deviations()):
        lines.append(
            f"# safety order {i + 1}: limit {_num(round(dev, 10))}% {word} the base fill, "
            f"{_num(round(amounts[i], 10))} quote"
        )
    tp_word = "above" if side > 0 else "below"
    lines.append(
        f"# take profit: limit {_num(p.take_profit_pct)}% {tp_word} the average entry, "
        "re-placed after each safety fill"
    )
    if p.stop_loss_pct is not None:
        lines.append(f"# stop loss: stop {_num(p.stop_loss_pct)}% {word} the average entry")
    stops = f", take_profit={_num(p.take_profit_pct / 100)}"
    if p.stop_loss_pct is not None:
        stops += f", stop_loss={_num(p.stop_loss_pct / 100)}"
    lines += [
        f"{_START_PREFIX}{p.start_condition or 'true'}",
        f'emit_signal(start, entry(current_ticker, "{p.direction.upper()}", '
        f"Amount({_num(p.base_order)}){stops}))",
    ]
    return "\n".join(lines) + "\n"


def grid_script(p: GridParams) -> str:
    """Header listing the grid's lines and rules, then the start and stop conditions.

    Forked as a ``signal`` strategy, it buys ``investment`` at the start and exits on the
    stop condition (the ladder itself cannot be written in the DSL).
    """
    levels = p.levels()
    asset = "quote" if p.investment_asset == "quote" else "base (valued at the start open)"
    lines = [
        f"# grid: long, {p.grid_count} {p.grid_type} lines from {_num(p.lower_price)} to "
        f"{_num(p.upper_price)} (generated by tradeforge from strategy_params)",
        "# The ladder runs in tradeforge's ladder engine (docs: backtesting, 'DCA and grid');",
        "# the DSL below decides when the grid starts and stops.",
        *_wrapped("lines: ", [_num(round(v, 8)) for v in levels]),
        f"# investment: {_num(p.investment)} {asset} x leverage, split equally across the "
        "cells that get an order at the start",
        "# a buy limit rests at each line below the start price; a buy filled at line k "
        "places a sell at line k + 1,",
        "# and that sell's fill re-places the buy at line k (each pair is one trade)",
    ]
    if p.trade_to_fill:
        lines.append("# trade to fill: the lots of the cells above the start price are bought")
        lines.append("# at market at the start, each with its sell one line up")
    if p.stop_loss_price is not None:
        lines.append(f"# stop loss: every lot is sold by a stop at {_num(p.stop_loss_price)}")
    if p.stop_condition is not None:
        how = "sold at market" if p.stop_exit else "kept"
        lines.append(f"# stop: orders cancelled at the next open, lots {how}")
    amount = _num(p.investment) if p.investment_asset == "quote" else None
    size = f"Amount({amount})" if amount is not None else f"Quantity({_num(p.investment)})"
    lines += [
        f"{_START_PREFIX}{p.start_condition or 'true'}",
        f"{_STOP_PREFIX}{p.stop_condition or 'false'}",
        f'emit_signal(start, entry(current_ticker, "LONG", {size}))',
        "emit_signal(stop, exit(current_ticker))",
    ]
    return "\n".join(lines) + "\n"


def _ladder(name: str, params: StrategyParams, universe: tuple[str, ...]) -> GeneratedStrategy:
    if len(universe) != 1:
        raise InvalidInputError(
            f"universe must hold exactly one ticker for {name}, got {len(universe)}.",
            suggestion=f'Send one ticker, e.g. universe ["BINANCE:BTC/USDT"]; run one {name} '
            "backtest per ticker to compare several.",
            details={"field": "universe"},
        )
    if isinstance(params, DcaParams):
        script = dca_script(params)
    else:
        assert isinstance(params, GridParams)
        script = grid_script(params)
    lines = script.splitlines()
    found: list[tuple[int, int, str]] = []
    for number, text in enumerate(lines, start=1):
        if text.startswith(_START_PREFIX):
            found.append((number, len(_START_PREFIX) + 1, "strategy_params.start_condition"))
        elif text.startswith(_STOP_PREFIX):
            found.append((number, len(_STOP_PREFIX) + 1, "strategy_params.stop_condition"))
        elif text.startswith("emit_signal(start,"):  # e.g. a number where a condition goes
            found.append((number, 0, "strategy_params.start_condition"))
        elif text.startswith("emit_signal(stop,"):
            found.append((number, 0, "strategy_params.stop_condition"))
    return GeneratedStrategy(
        name,
        script,
        tuple(universe),
        params.model_dump(mode="json"),
        expressions=tuple(found),
        is_ladder=True,
    )


def generate_script(
    name: str,
    params: StrategyParams,
    universe: tuple[str, ...],
    timeframe: str,
    mode: str = "isolated",
) -> GeneratedStrategy:
    """Convert validated parameters into a Signal DSL script and the universe it trades.

    Raises ``VALIDATION_ERROR`` naming the field when parameters and universe disagree.
    """
    dumped = params.model_dump(mode="json")
    if isinstance(params, PairTradingParams):
        legs = (params.leg_a.upper(), params.leg_b.upper())
        given = tuple(t.upper() for t in universe)
        if given and given != legs:
            raise InvalidInputError(
                f"universe must be [leg_a, leg_b] = {list(legs)} for pair_trading, got "
                f"{list(universe)}.",
                suggestion="Send universe equal to [leg_a, leg_b], or omit universe.",
                details={"field": "universe"},
            )
        return GeneratedStrategy(name, pair_trading_script(params), legs, dumped)
    if isinstance(params, CrossSectionalParams):
        if len(universe) < 2:
            raise InvalidInputError(
                "universe needs at least 2 tickers for cross_sectional.",
                suggestion="List the tickers to rank in universe.",
                details={"field": "universe"},
            )
        if params.top_n + params.bottom_n > len(universe):
            which = "top_n" if not params.bottom_n else "bottom_n"
            raise _field_error(
                which,
                f"too large: top_n + bottom_n = {params.top_n + params.bottom_n} exceeds the "
                f"{len(universe)} tickers of the universe",
                "Hold fewer tickers, or rank a larger universe.",
            )
        script = cross_sectional_script(params, len(universe), timeframe, mode)
        return GeneratedStrategy(
            name,
            script,
            tuple(universe),
            dumped,
            ranking_line=2,
            ranking_column=len(_SCORE_PREFIX) + 1,
        )
    if isinstance(params, DcaParams | GridParams):
        return _ladder(name, params, universe)
    raise StrategyTypeUnsupportedError(
        f"strategy_type '{name}' has no script generator.",
        details={"field": "strategy_type"},
    )


def explain_dsl_error(error: DslError, generated: GeneratedStrategy) -> InvalidInputError:
    """Point a DSL error in a generated script at the parameter that caused it.

    Errors on the line of a user expression (ranking_expression, start_condition,
    stop_condition) keep their code and get ``field`` plus the
    column inside the expression; any other error is a bug in the generator and is
    re-raised unchanged.
    """
    line = error.details.get("line")
    targets = {number: (column, name) for number, column, name in generated.expressions}
    if generated.ranking_line is not None:
        targets[generated.ranking_line] = (
            generated.ranking_column or 1,
            "strategy_params.ranking_expression",
        )
    if isinstance(line, int) and line in targets:
        column, field = targets[line]
        details = dict(error.details)
        if column == 0:  # the condition is used, not written, on this line
            details["field"] = field
            return InvalidInputError(
                f"{field} must be a true/false condition: {error.message}",
                code=error.code,
                suggestion="Write a comparison such as 'close > 42000' or 'rsi(close, 14) < 30'.",
                details=details,
            )
        offset = column - 1
        for key in ("column", "end_column"):
            value = details.get(key)
            if isinstance(value, int):
                details[key] = max(1, value - offset)
        details.update(field=field)
        source = details.get("source_line")
        if isinstance(source, str) and len(source) >= offset:
            details["source_line"] = source[offset:]
        caret = details.get("caret")
        if isinstance(caret, str):
            details["caret"] = caret[offset:]
        details.pop("line", None)
        details.pop("end_line", None)
        return InvalidInputError(
            f"{field}: {error.message}",
            code=error.code,
            suggestion=error.suggestion,
            details=details,
        )
    return error


__all__ = [
    "CATALOGUE",
    "LADDER_TYPES",
    "CrossSectionalParams",
    "DcaParams",
    "GeneratedStrategy",
    "GridParams",
    "PairTradingParams",
    "StrategyParams",
    "StrategyType",
    "StrategyTypeUnsupportedError",
    "check_executable",
    "dca_script",
    "explain_dsl_error",
    "generate_script",
    "grid_script",
    "strategy_type",
]
