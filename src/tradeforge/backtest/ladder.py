"""Ladder engine: DCA deals and grids on one symbol (several resting orders, one pyramided
position), with the same :class:`~tradeforge.backtest.results.BacktestResult` as the signal
engine, so results, stats, fingerprints and every endpoint built on them work unchanged.

* :func:`run_dca` - a base order, safety orders at growing deviations, a take-profit from
  the average entry; each deal is one trade.
* :func:`run_grid` - a long grid between two prices; each lot bought at a level and sold one
  level up is one trade.
* :func:`grid_levels` and :func:`dca_safety_orders` - the exact prices and sizes, for the
  generated script's header and for tests.
* :func:`ladder_intrabar` - a lower timeframe laid out per bar, which settles the bars
  where a deal's stop and take-profit (a grid's stop and sells) were both in range.

The rules and formulas are in tradeforge/docs/backtesting.md, "DCA and grid".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.backtest.engine import (
    BacktestConfig,
    BacktestInputError,
    FundingRates,
    _check_candles,
    _timeframe,
    align_funding,
    intrabar_layout,
)
from tradeforge.backtest.ladder_kernels import (
    dca_safety_levels,
    simulate_dca_nb,
    simulate_grid_nb,
)
from tradeforge.backtest.results import BacktestResult
from tradeforge.core.candles import Candles

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class LadderIntrabar:
    """A lower timeframe laid out for the ladder kernels (the signal engine's rule).

    The sub-bars of bar ``i`` are ``start[i]..end[i]-1`` of the flat ``open``/``high``/
    ``low`` arrays (none when equal); ``ok[s]`` is false when sub-bar ``s`` does not start one
    sub-timeframe after the previous one (or, for a bar's first, at the bar's open).
    """

    start: IntArray
    end: IntArray
    ok: BoolArray
    open: FloatArray
    high: FloatArray
    low: FloatArray


_NO_INTRABAR = LadderIntrabar(
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=np.bool_),
    np.zeros(0, dtype=np.float64),
    np.zeros(0, dtype=np.float64),
    np.zeros(0, dtype=np.float64),
)


def ladder_intrabar(
    bar_ts: npt.NDArray[np.int64], timeframe_ms: int, sub: Candles, symbol: str = ""
) -> LadderIntrabar:
    """The ladder kernels' intrabar input: the signal engine's
    :func:`~tradeforge.backtest.engine.intrabar_layout` plus the sub-bars' prices.

    Raises:
        BacktestInputError: NaN sub-bars, or a timeframe that does not divide the bars'.
    """
    start, end, ok = intrabar_layout(bar_ts, timeframe_ms, sub, symbol)
    return LadderIntrabar(
        np.ascontiguousarray(start),
        np.ascontiguousarray(end),
        ok,
        np.ascontiguousarray(sub.open, dtype=np.float64),
        np.ascontiguousarray(sub.high, dtype=np.float64),
        np.ascontiguousarray(sub.low, dtype=np.float64),
    )


@dataclass(frozen=True, slots=True)
class DcaSettings:
    """One DCA bot. Amounts are quote notionals; percentages are fractions (0.01 = 1 %).

    Attributes:
        direction: ``+1`` long (buy the dips) or ``-1`` short (sell the rallies).
        base_order: quote notional of the market order that opens a deal.
        safety_order: quote notional of the first safety order.
        safety_orders_count: safety orders per deal (0 = none).
        price_deviation: adverse move from the base fill that places the first one.
        step_scale: multiplier of each next deviation step.
        volume_scale: multiplier of each next safety order's notional.
        take_profit: distance of the take-profit from the average entry.
        stop_loss: distance of the stop-loss from the average entry (``None``: no stop).
    """

    direction: int
    base_order: float
    safety_order: float
    safety_orders_count: int
    price_deviation: float
    step_scale: float
    volume_scale: float
    take_profit: float
    stop_loss: float | None = None


@dataclass(frozen=True, slots=True)
class GridSettings:
    """One long grid.

    Attributes:
        lower_price / upper_price: the first and last grid lines.
        grid_count: number of grid lines (levels), lower and upper included (>= 2).
        geometric: equal ratios between lines (else equal differences).
        investment: capital committed; the grid trades ``investment * leverage`` notional.
        investment_is_base: ``investment`` is in base units (valued at the start bar's open).
        trade_to_fill: at the start, buy at market the lots of the cells above the price so
            that they start with sell orders.
        stop_exit: when the stop condition fires, sell every lot at market (else keep them).
        stop_loss_price: sell every lot with a stop order when the price trades there.
    """

    lower_price: float
    upper_price: float
    grid_count: int
    geometric: bool = False
    investment: float = 1000.0
    investment_is_base: bool = False
    trade_to_fill: bool = False
    stop_exit: bool = False
    stop_loss_price: float | None = None


def grid_levels(lower: float, upper: float, count: int, geometric: bool) -> FloatArray:
    """Return the ``count`` grid lines from ``lower`` to ``upper`` (both included).

    Arithmetic: ``lower + k * (upper - lower) / (count - 1)``; geometric:
    ``lower * (upper / lower) ** (k / (count - 1))``, ``k = 0 .. count - 1``.
    """
    k = np.arange(count, dtype=np.float64)
    if geometric:
        levels = lower * (upper / lower) ** (k / (count - 1))
    else:
        levels = lower + k * ((upper - lower) / (count - 1))
    levels[0], levels[-1] = lower, upper  # exact ends, whatever the rounding
    return np.ascontiguousarray(levels)


def dca_safety_orders(settings: DcaSettings) -> tuple[FloatArray, FloatArray]:
    """Return ``(cumulative deviation, quote notional)`` of each safety order.

    Safety order ``i`` (1-based) rests at ``d_i = dev * (1 + s + ... + s^(i-1))`` from the
    base fill price with notional ``safety_order * v^(i-1)``.
    """
    dev, amount = dca_safety_levels(
        settings.price_deviation,
        settings.step_scale,
        settings.volume_scale,
        settings.safety_order,
        settings.safety_orders_count,
    )
    return dev, amount


def _prepare(
    candles: Candles,
    symbol: str,
    config: BacktestConfig | None,
    timeframe_ms: int | None,
    funding: FundingRates | None,
    intrabar: Candles | None,
) -> tuple[BacktestConfig, int, FloatArray, float | None, LadderIntrabar | None]:
    """The checks and inputs both ladder runs share: the validated config, the bar length,
    funding rates per bar with their coverage, and the intrabar layout."""
    config = config or BacktestConfig()
    config.validate()
    gap = _check_candles(candles, symbol)  # the signal engine's check (empty, NaN prices)
    tf = _timeframe(timeframe_ms, gap, candles.timestamp)
    rates, coverage = _funding(candles, tf, funding)
    sub = None if intrabar is None else ladder_intrabar(candles.timestamp, tf, intrabar, symbol)
    return config, tf, rates, coverage, sub


def _flags(values: npt.ArrayLike | None, n: int, name: str) -> tuple[BoolArray, bool]:
    # Per-bar condition (False where NaN) and whether the bot starts at the first open.
    if values is None:
        return np.ones(n, dtype=np.bool_), True
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise BacktestInputError(f"{name} has shape {arr.shape}, expected ({n},) like the candles")
    if arr.dtype.kind == "f":
        arr = np.nan_to_num(arr, nan=0.0)
    return np.ascontiguousarray(arr != 0), False


def _funding(
    candles: Candles, tf: int, funding: FundingRates | None
) -> tuple[FloatArray, float | None]:
    if funding is None:
        return np.zeros(len(candles)), None
    return align_funding(candles.timestamp, tf, funding)


def _result(
    candles: Candles,
    symbol: str,
    config: BacktestConfig,
    tf: int,
    out: tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray],
    coverage: float | None,
    script: str | None,
    parameters: Mapping[str, Any] | None,
    intrabar: Candles | None = None,
) -> BacktestResult:
    equity, _cash, position, fills, trades = out
    return BacktestResult(
        symbols=(symbol,),
        timestamp=candles.timestamp,
        equity=equity,
        held=position.reshape(-1, 1),
        fill_table=fills,
        trade_table=trades,
        initial_equity=config.initial_cash,
        timeframe_ms=tf,
        leverage=config.leverage,
        candles={symbol: candles},
        parameters={"config": config, "strategy": dict(parameters or {})},
        script=script,
        funding_coverage={symbol: coverage},
        intrabar={} if intrabar is None else {symbol: intrabar},
    )


def simulate_dca(
    candles: Candles,
    settings: DcaSettings,
    config: BacktestConfig,
    start: npt.ArrayLike | None = None,
    funding_rate: FloatArray | None = None,
    intrabar: LadderIntrabar | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Run the DCA kernel; return ``(equity, cash, position, fills, trades)`` arrays."""
    n = len(candles)
    sub = intrabar or _NO_INTRABAR
    start_flags, at_first = _flags(start, n, "start")
    dev, amount = dca_safety_orders(settings)
    return simulate_dca_nb(
        candles.open, candles.high, candles.low, candles.close, start_flags, at_first,
        funding_rate if funding_rate is not None else np.zeros(n),
        int(settings.direction), float(settings.base_order), dev, amount,
        float(settings.take_profit),
        math.nan if settings.stop_loss is None else float(settings.stop_loss),
        config.leverage, config.initial_cash, config.fee_maker, config.fee_taker,
        config.slippage, config.maintenance_margin, config.liquidation_fee,
        config.min_quantity, config.quantity_step, config.portfolio_stop_loss or 0.0,
        config.portfolio_take_profit or 0.0, config.clamp_fills_to_bar,
        sub.start, sub.end, sub.ok, sub.open, sub.high, sub.low,
    )  # fmt: skip


def simulate_grid(
    candles: Candles,
    settings: GridSettings,
    config: BacktestConfig,
    start: npt.ArrayLike | None = None,
    stop: npt.ArrayLike | None = None,
    funding_rate: FloatArray | None = None,
    intrabar: LadderIntrabar | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Run the grid kernel; return ``(equity, cash, position, fills, trades)`` arrays."""
    n = len(candles)
    sub = intrabar or _NO_INTRABAR
    start_flags, at_first = _flags(start, n, "start")
    stop_flags = np.zeros(n, dtype=np.bool_) if stop is None else _flags(stop, n, "stop")[0]
    levels = grid_levels(
        settings.lower_price, settings.upper_price, settings.grid_count, settings.geometric
    )
    sl = settings.stop_loss_price
    return simulate_grid_nb(
        candles.open, candles.high, candles.low, candles.close, start_flags, stop_flags,
        at_first, funding_rate if funding_rate is not None else np.zeros(n), levels,
        float(settings.investment), settings.investment_is_base, settings.trade_to_fill,
        settings.stop_exit, math.nan if sl is None else float(sl), config.leverage,
        config.initial_cash, config.fee_maker, config.fee_taker, config.slippage,
        config.maintenance_margin, config.liquidation_fee, config.min_quantity,
        config.quantity_step, config.portfolio_stop_loss or 0.0,
        config.portfolio_take_profit or 0.0, config.clamp_fills_to_bar,
        sub.start, sub.end, sub.ok, sub.open, sub.high, sub.low,
    )  # fmt: skip


def _check_dca(s: DcaSettings) -> None:
    checks = [
        (s.direction in (1, -1), "direction", "must be +1 (long) or -1 (short)"),
        (s.base_order > 0, "base_order", "must be positive"),
        (s.safety_order > 0, "safety_order", "must be positive"),
        (s.safety_orders_count >= 0, "safety_orders_count", "must be >= 0"),
        (s.price_deviation > 0, "price_deviation", "must be positive"),
        (s.step_scale > 0, "step_scale", "must be positive"),
        (s.volume_scale > 0, "volume_scale", "must be positive"),
        (s.take_profit > 0, "take_profit", "must be positive"),
        (s.stop_loss is None or s.stop_loss > 0, "stop_loss", "must be positive or None"),
    ]
    for ok, name, rule in checks:
        if not ok:
            raise BacktestInputError(f"dca.{name} {rule}", details={"field": f"dca.{name}"})


def _check_grid(s: GridSettings) -> None:
    checks = [
        (0 < s.lower_price < s.upper_price, "lower_price", "must be positive, below upper"),
        (s.grid_count >= 2, "grid_count", "must be at least 2"),
        (s.investment > 0, "investment", "must be positive"),
        (
            s.stop_loss_price is None or 0 < s.stop_loss_price < s.lower_price,
            "stop_loss_price",
            "must be positive and below lower_price",
        ),
    ]
    for ok, name, rule in checks:
        if not ok:
            raise BacktestInputError(f"grid.{name} {rule}", details={"field": f"grid.{name}"})


def run_dca(
    candles: Candles,
    settings: DcaSettings,
    config: BacktestConfig | None = None,
    *,
    start: npt.ArrayLike | None = None,
    symbol: str = "",
    timeframe_ms: int | None = None,
    funding: FundingRates | None = None,
    script: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    intrabar: Candles | None = None,
) -> BacktestResult:
    """Backtest DCA deals on one symbol.

    Args:
        candles: closed candles, ascending.
        settings: the bot (:class:`DcaSettings`).
        config: fees, slippage, leverage, initial cash, portfolio stops.
        start: per-bar start condition decided at each close (a new deal opens at the next
            open when no deal is open); ``None`` opens one at the first open and after every
            close.
        symbol / timeframe_ms / funding / script / parameters: as :func:`run_backtest`.
        intrabar: candles of a lower timeframe dividing the bars' (1m inside 1h), read only
            on bars where the take-profit and the adverse path (a safety order, the stop or
            the liquidation) were both in range, to settle which came first; the trades are
            tagged with their ``ambiguity``. ``None``: the adverse order is assumed.

    Raises:
        BacktestInputError: empty or NaN candles, invalid settings or config, or intrabar
            candles whose timeframe does not divide the bars'.
    """
    config, tf, rates, coverage, sub = _prepare(
        candles, symbol, config, timeframe_ms, funding, intrabar
    )
    _check_dca(settings)
    out = simulate_dca(candles, settings, config, start, rates, sub)
    return _result(candles, symbol, config, tf, out, coverage, script, parameters, intrabar)


def run_grid(
    candles: Candles,
    settings: GridSettings,
    config: BacktestConfig | None = None,
    *,
    start: npt.ArrayLike | None = None,
    stop: npt.ArrayLike | None = None,
    symbol: str = "",
    timeframe_ms: int | None = None,
    funding: FundingRates | None = None,
    script: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    intrabar: Candles | None = None,
) -> BacktestResult:
    """Backtest a long grid on one symbol.

    Args:
        candles: closed candles, ascending.
        settings: the grid (:class:`GridSettings`).
        config: fees, slippage, leverage, initial cash, portfolio stops.
        start: per-bar start condition (the grid is placed at the open after the first close
            where it holds); ``None`` places it at the first open.
        stop: per-bar stop condition (orders cancelled at the next open, lots sold there
            with ``stop_exit``); ``None`` never stops.
        symbol / timeframe_ms / funding / script / parameters: as :func:`run_backtest`.
        intrabar: a lower timeframe, read only on bars where the stop-loss (or the
            liquidation) and a resting sell were both in range (see :func:`run_dca`).

    Raises:
        BacktestInputError: empty or NaN candles, invalid settings or config, or intrabar
            candles whose timeframe does not divide the bars'.
    """
    config, tf, rates, coverage, sub = _prepare(
        candles, symbol, config, timeframe_ms, funding, intrabar
    )
    _check_grid(settings)
    out = simulate_grid(candles, settings, config, start, stop, rates, sub)
    return _result(candles, symbol, config, tf, out, coverage, script, parameters, intrabar)


__all__ = [
    "DcaSettings",
    "GridSettings",
    "LadderIntrabar",
    "dca_safety_orders",
    "grid_levels",
    "ladder_intrabar",
    "run_dca",
    "run_grid",
    "simulate_dca",
    "simulate_grid",
]
