"""Backtest engine: turn candles, signals and a configuration into kernel arrays and back.

This is the public entry point for the DSL runtime and the job service:

* :func:`run_backtest` - one symbol.
* :func:`run_portfolio` - several symbols, ``isolated`` (one sub-account each, the initial
  cash split equally) or ``cross`` (one shared account).
* :func:`run_sma_cross_sweep` - many SMA-crossover parameter sets at once (running totals).

Signals are per-bar arrays computed on closed bars (see :class:`Signals`). The engine
validates inputs at this boundary, picks the fastest kernel that supports the requested
features, and wraps the kernel tables in a :class:`BacktestResult`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.backtest import kernels as k
from tradeforge.backtest.results import BacktestResult
from tradeforge.backtest.stats import periods_per_year
from tradeforge.core.candles import Candles
from tradeforge.core.errors import InvalidInputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

FUNDING_INTERVAL_MS = 8 * 3_600_000
MAX_LEVERAGE = 100.0


class SizeType(StrEnum):
    """How ``Signals.size`` is read: fraction of equity, quote notional, or base quantity."""

    WEIGHT = "weight"
    AMOUNT = "amount"
    QUANTITY = "quantity"


class OrderType(StrEnum):
    """Entry order type. Limit and stop entries rest during the bar after the signal."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


class FillConvention(StrEnum):
    """When a signal's market order fills."""

    NEXT_OPEN = "next_open"  # default: the next bar's open (plus slippage)
    SIGNAL_CLOSE = "signal_close"  # the signal bar's close (vectorbt's default), for checks


class MarginMode(StrEnum):
    """How a multi-symbol run shares money."""

    ISOLATED = "isolated"  # one sub-account per symbol, initial cash split equally
    CROSS = "cross"  # one shared account


_SIZE_CODES = {SizeType.WEIGHT: 0, SizeType.AMOUNT: 1, SizeType.QUANTITY: 2}
_ORDER_CODES = {OrderType.MARKET: 0, OrderType.LIMIT: 1, OrderType.STOP: 2}


class BacktestInputError(InvalidInputError):
    """A backtest input (candles, signals, configuration) is unusable."""

    default_code = "BACKTEST_INVALID_INPUT"
    default_suggestion = "Fix the named field; GET /api/v1/docs/backtesting describes every input."


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """Money and execution settings of one run. Rates are fractions (0.001 = 0.1 %).

    Attributes:
        initial_cash: starting equity in quote currency (the total, in every margin mode).
        fee_taker: fee rate on market, stop and trailing fills.
        fee_maker: fee rate on limit and take-profit fills.
        slippage: adverse price move on market and stop fills.
        fill: when market orders fill (:class:`FillConvention`).
        leverage: 1 to 100; margin per position is ``notional / leverage``.
        maintenance_margin: maintenance margin rate for the liquidation price.
        liquidation_fee: fee rate on a liquidation fill's notional.
        min_quantity / quantity_step: exchange minimum order size and lot step (base units).
        portfolio_stop_loss / portfolio_take_profit: close everything and stop trading when
            equity at a close falls / rises by this fraction of the initial cash.
        clamp_fills_to_bar: keep slipped prices inside the bar's low-high range.
        margin_mode: ``isolated`` or ``cross`` for multi-symbol runs.
    """

    initial_cash: float = 10_000.0
    fee_taker: float = 0.001
    fee_maker: float = 0.001
    slippage: float = 0.0
    fill: FillConvention = FillConvention.NEXT_OPEN
    leverage: float = 1.0
    maintenance_margin: float = 0.005
    liquidation_fee: float = 0.005
    min_quantity: float = 0.0
    quantity_step: float = 0.0
    portfolio_stop_loss: float | None = None
    portfolio_take_profit: float | None = None
    clamp_fills_to_bar: bool = True
    margin_mode: MarginMode = MarginMode.ISOLATED

    def validate(self) -> None:
        """Raise :class:`BacktestInputError` naming the first invalid field."""
        checks: list[tuple[bool, str, str]] = [
            (self.initial_cash > 0, "initial_cash", "must be positive"),
            (0 <= self.fee_taker < 0.1, "fee_taker", "must be in [0, 0.1)"),
            (0 <= self.fee_maker < 0.1, "fee_maker", "must be in [0, 0.1)"),
            (0 <= self.slippage < 0.1, "slippage", "must be in [0, 0.1)"),
            (1 <= self.leverage <= MAX_LEVERAGE, "leverage", "must be between 1 and 100"),
            (0 <= self.maintenance_margin < 0.5, "maintenance_margin", "must be in [0, 0.5)"),
            (0 <= self.liquidation_fee < 0.1, "liquidation_fee", "must be in [0, 0.1)"),
            (self.min_quantity >= 0, "min_quantity", "must be >= 0"),
            (self.quantity_step >= 0, "quantity_step", "must be >= 0"),
            (
                self.portfolio_stop_loss is None or 0 < self.portfolio_stop_loss < 1,
                "portfolio_stop_loss",
                "must be a fraction in (0, 1)",
            ),
            (
                self.portfolio_take_profit is None or self.portfolio_take_profit > 0,
                "portfolio_take_profit",
                "must be a positive fraction",
            ),
        ]
        for ok, name, rule in checks:
            if not ok:
                raise BacktestInputError(
                    f"config.{name} {rule} (got {getattr(self, name)!r})",
                    details={"field": f"config.{name}"},
                )


ArrayOrScalar = npt.ArrayLike


@dataclass(frozen=True)
class Signals:
    """Per-bar orders for one symbol, each computed from closed bars ``0..i`` only.

    Boolean arrays mark bars whose close produced the signal. Scalars broadcast to every bar.
    ``size``/``size_type``/``order_type``/``order_price``/``stop_loss``/``take_profit``/
    ``trailing_stop`` are read at the *entry* signal's bar. Stop distances are fractions of
    the entry fill price (0.02 = 2 %); ``NaN`` or ``None`` disables them.

    Extension point: rules that depend on the position state (entry price, bars since entry,
    equity) are evaluated per bar by the DSL runtime; see tradeforge/docs/backtesting.md.
    """

    entry_long: ArrayOrScalar = False
    exit_long: ArrayOrScalar = False
    entry_short: ArrayOrScalar = False
    exit_short: ArrayOrScalar = False
    size: ArrayOrScalar = 1.0
    size_type: SizeType | Sequence[SizeType] = SizeType.WEIGHT
    order_type: OrderType | Sequence[OrderType] = OrderType.MARKET
    order_price: ArrayOrScalar = np.nan
    stop_loss: ArrayOrScalar | None = None
    take_profit: ArrayOrScalar | None = None
    trailing_stop: ArrayOrScalar | None = None


@dataclass(frozen=True)
class FundingRates:
    """Funding settlements of a perpetual: times (UTC ms) and rates per interval.

    A positive rate means longs pay shorts ``quantity * price * rate``.
    """

    timestamp: IntArray
    rate: FloatArray
    interval_ms: int = FUNDING_INTERVAL_MS


@dataclass(slots=True)
class _Arrays:
    entry_long: BoolArray
    exit_long: BoolArray
    entry_short: BoolArray
    exit_short: BoolArray
    size: FloatArray
    size_type: IntArray
    order_type: IntArray
    order_price: FloatArray
    stop_loss: FloatArray
    take_profit: FloatArray
    trailing_stop: FloatArray
    funding: FloatArray = field(default_factory=lambda: np.zeros(0))


def _bool_array(value: ArrayOrScalar, n: int, name: str) -> BoolArray:
    if isinstance(value, np.ndarray) and value.dtype == np.bool_ and value.shape == (n,):
        return np.ascontiguousarray(value)
    arr = np.asarray(value)
    if arr.ndim == 0:
        return np.ones(n, dtype=np.bool_) if bool(arr) else np.zeros(n, dtype=np.bool_)
    if arr.shape != (n,):
        raise BacktestInputError(
            f"signals.{name} has shape {arr.shape}, expected ({n},) like the candles",
            suggestion="Compute every signal on the same candles you pass to the engine.",
        )
    if arr.dtype.kind == "f":
        return np.ascontiguousarray(np.nan_to_num(arr, nan=0.0) != 0)
    return np.ascontiguousarray(arr != 0)


def _float_array(value: ArrayOrScalar | None, n: int, name: str, default: float) -> FloatArray:
    # One value per bar, or a length-1 array standing for every bar (see _expand).
    if value is None:
        return np.array([default])
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return arr.reshape(1)
    if arr.shape != (n,):
        raise BacktestInputError(
            f"signals.{name} has shape {arr.shape}, expected ({n},) like the candles"
        )
    return np.ascontiguousarray(arr)


def _code_array(value: Any, n: int, name: str, codes: Mapping[Any, int]) -> IntArray:
    if isinstance(value, str):
        # StrEnum members hash and compare like their values: a valid member or value is
        # found directly; anything else takes the converting path below (and its error).
        code = codes.get(value)
        if code is not None:
            return np.array([code], dtype=np.int64)
    enum_type = type(next(iter(codes)))
    try:
        if isinstance(value, str):
            return np.array([codes[enum_type(value)]], dtype=np.int64)
        arr = np.asarray([codes[enum_type(v)] for v in value], dtype=np.int64)
    except (KeyError, ValueError) as e:
        raise BacktestInputError(
            f"signals.{name} {value!r} is not one of {sorted(str(c) for c in codes)}"
        ) from e
    if arr.shape != (n,):
        raise BacktestInputError(f"signals.{name} must be one value or one per candle")
    return arr


def _expand(values: npt.NDArray[Any], n: int) -> npt.NDArray[Any]:
    return values if values.shape[0] == n else np.full(n, values[0], dtype=values.dtype)


def _all_nan(values: FloatArray) -> bool:
    # One value standing for every bar is the common case: test it without a ufunc call.
    if values.shape[0] == 1:
        return math.isnan(values[0])
    return bool(np.isnan(values).all())


def _signal_arrays(signals: Signals, n: int) -> _Arrays:
    size = _float_array(signals.size, n, "size", 1.0)
    if size.shape[0] == 1:
        size_ok = math.isfinite(size[0]) and size[0] > 0
    else:
        size_ok = bool(np.all(np.isfinite(size)) and np.all(size > 0))
    if not size_ok:
        raise BacktestInputError(
            "signals.size must be finite and positive on every bar",
            suggestion="Use a weight such as 1.0 (all equity) or 0.5; mask bars without entry.",
        )
    arrays = _Arrays(
        entry_long=_bool_array(signals.entry_long, n, "entry_long"),
        exit_long=_bool_array(signals.exit_long, n, "exit_long"),
        entry_short=_bool_array(signals.entry_short, n, "entry_short"),
        exit_short=_bool_array(signals.exit_short, n, "exit_short"),
        size=size,
        size_type=_code_array(signals.size_type, n, "size_type", _SIZE_CODES),
        order_type=_code_array(signals.order_type, n, "order_type", _ORDER_CODES),
        order_price=_float_array(signals.order_price, n, "order_price", np.nan),
        stop_loss=_float_array(signals.stop_loss, n, "stop_loss", np.nan),
        take_profit=_float_array(signals.take_profit, n, "take_profit", np.nan),
        trailing_stop=_float_array(signals.trailing_stop, n, "trailing_stop", np.nan),
    )
    for name in ("stop_loss", "take_profit", "trailing_stop"):
        if getattr(signals, name) is None:  # the NaN default: nothing to check
            continue
        values = getattr(arrays, name)
        if values.shape[0] == 1:
            bad = bool(values[0] <= 0)  # False for NaN, like the masked test below
        else:
            bad = bool(np.any(values[~np.isnan(values)] <= 0))
        if bad:
            raise BacktestInputError(f"signals.{name} must be a positive fraction or NaN")
    if arrays.order_type.any():
        pending = _expand(arrays.order_type, n) != 0
        if np.any(pending & ~(_expand(arrays.order_price, n) > 0)):
            raise BacktestInputError(
                "limit and stop entries need a positive signals.order_price on their signal bars"
            )
    return arrays


def _uses_full_kernel(a: _Arrays, config: BacktestConfig, has_funding: bool) -> bool:
    return bool(
        config.leverage != 1.0
        or has_funding
        or config.portfolio_stop_loss is not None
        or config.portfolio_take_profit is not None
        or a.order_type.any()
        or not _all_nan(a.stop_loss)
        or not _all_nan(a.take_profit)
        or not _all_nan(a.trailing_stop)
        or a.entry_short.any()  # 1x shorts can still be liquidated
    )


def infer_timeframe_ms(timestamp: IntArray) -> int:
    """Return the bar length: the smallest gap between consecutive candles."""
    if timestamp.shape[0] < 2:
        return 60_000
    if timestamp.dtype == np.int64 and timestamp.ndim == 1 and timestamp.flags.c_contiguous:
        return int(k.min_gap_nb(timestamp))  # one pass, no temporary difference array
    return int(np.min(np.diff(timestamp)))


def align_funding(
    bar_ts: IntArray, timeframe_ms: int, funding: FundingRates
) -> tuple[FloatArray, float]:
    """Return the funding rate charged at each bar's open and the share of time covered.

    A settlement at time ``t`` is charged at the first bar whose open is at or after ``t``
    (exact for 1m-8h candles, whose opens include every settlement time), on the position
    carried into that bar. Coverage is ``settlements in the period * interval / period``,
    capped at 1.
    """
    n = bar_ts.shape[0]
    rates = np.zeros(n)
    f_ts = np.asarray(funding.timestamp, dtype=np.int64)
    f_rate = np.asarray(funding.rate, dtype=np.float64)
    start = int(bar_ts[0])
    end = int(bar_ts[-1]) + timeframe_ms
    inside = (f_ts >= start) & (f_ts <= int(bar_ts[-1]))
    idx = np.searchsorted(bar_ts, f_ts[inside], side="left")
    np.add.at(rates, idx, f_rate[inside])
    in_period = np.count_nonzero((f_ts >= start) & (f_ts < end))
    coverage = min(1.0, in_period * funding.interval_ms / (end - start))
    return rates, coverage


# With every |price| < 1e300 and fewer than 5e7 bars, open.sum() + close.sum() stays below
# 1e308 in any summation order, so it cannot overflow to inf: the scan's "ok" is exact.
_PRICE_LIMIT_BITS = int(np.array([1e300]).view(np.int64)[0])
_SCAN_MAX_BARS = 50_000_000


def _check_candles(candles: Candles, symbol: str) -> int | None:
    """Raise on empty or non-finite candles; return the smallest bar gap when it was found.

    The gap (see :func:`infer_timeframe_ms`) comes from the same one-pass scan that checks
    the prices, for candles of at least 2 bars in the usual contiguous int64/float64 layout.
    """
    n = len(candles)
    if n == 0:
        raise BacktestInputError(
            f"no candles for {symbol or 'the symbol'}",
            suggestion="Request a date range inside the available market data.",
        )
    ts, open_, close = candles.timestamp, candles.open, candles.close
    if (
        n < _SCAN_MAX_BARS
        and ts.dtype == np.int64
        and open_.dtype == np.float64
        and close.dtype == np.float64
        and ts.ndim == open_.ndim == close.ndim == 1
        and ts.flags.c_contiguous
        and open_.flags.c_contiguous
        and close.flags.c_contiguous
    ):
        gap, over = k.scan_candles_nb(
            ts, open_.view(np.int64), close.view(np.int64), _PRICE_LIMIT_BITS
        )
        if over == 0:  # all finite and small: the sums below are finite, nothing to raise
            return gap if n >= 2 else None
    # A sum is NaN/inf when any element is: one pass, no temporary boolean arrays.
    if not math.isfinite(float(open_.sum()) + float(close.sum())):
        raise BacktestInputError(f"candles for {symbol or 'the symbol'} contain NaN prices")
    return None


def _timeframe(timeframe_ms: int | None, gap: int | None, timestamp: IntArray) -> int:
    # ``timeframe_ms or infer_timeframe_ms(timestamp)``, reusing a gap the scan already found.
    if timeframe_ms:
        return timeframe_ms
    return gap if gap is not None else infer_timeframe_ms(timestamp)


def _run_arrays(
    candles: Candles,
    a: _Arrays,
    config: BacktestConfig,
    initial_cash: float,
    funding_rates: FloatArray | None,
    need_position: bool = True,
) -> tuple[FloatArray, FloatArray | None, FloatArray, FloatArray]:
    # Returns (equity, position[n, 1], fills, trades) for one symbol on its own account.
    # Without need_position the fast kernel skips the position curve (None is returned):
    # BacktestResult.position rebuilds it from the trades when asked.
    at_close = config.fill is FillConvention.SIGNAL_CLOSE
    if not _uses_full_kernel(a, config, funding_rates is not None):
        equity, position, fills, trades = k.simulate_simple_nb(
            candles.open, candles.high, candles.low, candles.close,
            a.entry_long, a.exit_long, a.entry_short, a.exit_short, a.size, a.size_type,
            initial_cash, config.fee_taker, config.slippage, config.min_quantity,
            config.quantity_step, at_close, config.clamp_fills_to_bar, _capacity(a),
            need_position,
        )  # fmt: skip
        return equity, position.reshape(-1, 1) if need_position else None, fills, trades
    n = len(candles)

    def col(x: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return _expand(x, n).reshape(n, 1)

    funding = funding_rates if funding_rates is not None else np.zeros(n)
    equity, _, position, _, fills, trades = k.simulate_portfolio_nb(
        col(candles.open), col(candles.high), col(candles.low), col(candles.close),
        col(a.entry_long), col(a.exit_long), col(a.entry_short), col(a.exit_short),
        col(a.size), col(a.size_type), col(a.order_type), col(a.order_price),
        col(a.stop_loss), col(a.take_profit), col(a.trailing_stop), col(funding),
        np.array([config.leverage]), np.array([config.min_quantity]),
        np.array([config.quantity_step]), initial_cash, config.fee_maker, config.fee_taker,
        config.slippage, config.maintenance_margin, config.liquidation_fee,
        config.portfolio_stop_loss or 0.0, config.portfolio_take_profit or 0.0, at_close,
        config.clamp_fills_to_bar, _capacity(a),
    )  # fmt: skip
    return equity, position, fills, trades


def _capacity(a: _Arrays) -> int:
    # Entry-signal bars bound the order log (see kernels.simulate_simple_nb).
    return int(np.count_nonzero(a.entry_long)) + int(np.count_nonzero(a.entry_short))


def _parameters(config: BacktestConfig, parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    # The config stays a dataclass here; the fingerprint serialises it on demand.
    return {"config": config, "strategy": dict(parameters or {})}


def run_backtest(
    candles: Candles,
    signals: Signals,
    config: BacktestConfig | None = None,
    *,
    symbol: str = "",
    timeframe_ms: int | None = None,
    funding: FundingRates | None = None,
    script: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> BacktestResult:
    """Backtest one symbol.

    Args:
        candles: closed candles, ascending (``tradeforge.core.candles.Candles``).
        signals: per-bar orders computed from closed bars only.
        config: money and execution settings; defaults to ``BacktestConfig()``.
        symbol: the ccxt symbol, used in trades and the fingerprint.
        timeframe_ms: bar length; inferred from the candles when omitted.
        funding: funding settlements for a perpetual (enables funding payments).
        script: the strategy source, hashed into the fingerprint.
        parameters: the strategy parameters, recorded in the fingerprint.

    Returns:
        The :class:`BacktestResult`.

    Raises:
        BacktestInputError: empty or NaN candles, misshapen signals, invalid config.
    """
    config = config or BacktestConfig()
    config.validate()
    gap = _check_candles(candles, symbol)
    n = len(candles)
    arrays = _signal_arrays(signals, n)
    tf = _timeframe(timeframe_ms, gap, candles.timestamp)
    rates = None
    coverage: dict[str, float | None] = {symbol: None}
    if funding is not None:
        rates, coverage[symbol] = align_funding(candles.timestamp, tf, funding)
    equity, position, fills, trades = _run_arrays(
        candles, arrays, config, config.initial_cash, rates, need_position=False
    )
    return BacktestResult(
        symbols=(symbol,),
        timestamp=candles.timestamp,
        equity=equity,
        held=position,
        fill_table=fills,
        trade_table=trades,
        initial_equity=config.initial_cash,
        timeframe_ms=tf,
        leverage=config.leverage,
        candles={symbol: candles},
        parameters=_parameters(config, parameters),
        script=script,
        funding_coverage=coverage,
    )


def _same_times(a: IntArray, b: IntArray) -> bool:
    return a is b or (a.shape == b.shape and bool(np.array_equal(a, b)))


def _union_grid(candles: Mapping[str, Candles]) -> tuple[IntArray, bool]:
    # The grid, and whether every series' times are the grid itself (no alignment needed).
    series = [c.timestamp for c in candles.values()]
    first = series[0]
    if all(_same_times(ts, first) for ts in series[1:]):
        return first, True
    # Timsort merges the already-sorted runs quickly; then drop duplicates.
    merged = np.sort(np.concatenate(series), kind="stable")
    keep = np.empty(merged.shape[0], dtype=np.bool_)
    keep[0] = True
    np.not_equal(merged[1:], merged[:-1], out=keep[1:])
    return merged[keep], False


def _grid_positions(grid: IntArray, timestamp: IntArray) -> IntArray | None:
    # Index of each candle on the grid, or None when the candles are the grid itself.
    if _same_times(timestamp, grid):
        return None
    return np.searchsorted(grid, timestamp)


def _scatter(grid_idx: IntArray | None, values: npt.NDArray[Any], n: int, fill: Any) -> Any:
    if grid_idx is None:
        return values
    out = np.full(n, fill, dtype=values.dtype)
    out[grid_idx] = values
    return out


def run_portfolio(
    candles: Mapping[str, Candles],
    signals: Mapping[str, Signals],
    config: BacktestConfig | None = None,
    *,
    timeframe_ms: int | None = None,
    funding: Mapping[str, FundingRates] | None = None,
    script: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> BacktestResult:
    """Backtest several symbols on one time grid (the union of their candle times).

    In ``isolated`` mode each symbol trades its own sub-account holding
    ``initial_cash / len(candles)``; in ``cross`` mode all symbols share one account, and a
    ``weight`` size is a fraction of the whole account's equity. Symbols are processed in
    sorted order; at each fill point exits run before entries.

    Raises:
        BacktestInputError: as :func:`run_backtest`, or when the symbol sets differ.
    """
    config = config or BacktestConfig()
    config.validate()
    if not candles or set(candles) != set(signals):
        raise BacktestInputError(
            "candles and signals must name the same, non-empty set of symbols",
            suggestion=f"Candles: {sorted(candles)}; signals: {sorted(signals)}.",
        )
    symbols = tuple(sorted(candles))
    gaps = {s: _check_candles(candles[s], s) for s in symbols}
    funding = funding or {}
    grid, shared = _union_grid(candles)
    tf = timeframe_ms or min(_timeframe(None, gaps[s], candles[s].timestamp) for s in symbols)
    arrays = {s: _signal_arrays(signals[s], len(candles[s])) for s in symbols}
    coverage: dict[str, float | None] = {}
    rates: dict[str, FloatArray | None] = {}
    for s in symbols:
        rates[s], coverage[s] = None, None
        if s in funding:
            rates[s], coverage[s] = align_funding(candles[s].timestamp, tf, funding[s])
    params = _parameters(config, parameters)
    if config.margin_mode is MarginMode.ISOLATED:
        return _run_isolated(
            candles, arrays, rates, config, symbols, grid, shared, tf, params, script, coverage
        )
    return _run_cross(
        candles, arrays, rates, config, symbols, grid, shared, tf, params, script, coverage
    )


def _run_isolated(
    candles: Mapping[str, Candles],
    arrays: Mapping[str, _Arrays],
    rates: Mapping[str, FloatArray | None],
    config: BacktestConfig,
    symbols: tuple[str, ...],
    grid: IntArray,
    shared: bool,
    tf: int,
    params: dict[str, Any],
    script: str | None,
    coverage: dict[str, float | None],
) -> BacktestResult:
    n = grid.shape[0]
    sleeve = config.initial_cash / len(symbols)
    total = np.zeros(n)
    # Off a shared grid, positions are filled one symbol (row) at a time and handed out
    # transposed as the (n, k) view: writing rows is contiguous, writing columns of an
    # (n, k) array strides through every row. On a shared grid, symbols that ran the fast
    # kernel skip the position curve: their column is rebuilt from the trades (lazily when
    # all of them did, see BacktestResult.position).
    position_rows = None if shared else np.zeros((len(symbols), n))
    fill_parts = []
    trade_parts = []
    kernel_positions: dict[int, FloatArray] = {}
    ticker_equity: dict[str, FloatArray] = {}
    time_parts: list[IntArray] = []
    for j, s in enumerate(symbols):
        c = candles[s]
        equity, pos, fills, trades = _run_arrays(
            c, arrays[s], config, sleeve, rates[s], need_position=not shared
        )
        fills[:, k.FILL_ASSET] = j
        trades[:, k.TRADE_ASSET] = j
        fill_parts.append(fills)
        trade_parts.append(trades)
        ticker_equity[s] = equity
        time_parts.append(c.timestamp[fills[:, k.FILL_BAR].astype(np.int64)])
        # shared: _union_grid found every series equal to the grid; no need to test again.
        if position_rows is None:
            total += equity
            if pos is not None:  # the full kernel always returns its position curve
                kernel_positions[j] = pos[:, 0]
            continue
        assert pos is not None  # need_position was set
        if _grid_positions(grid, c.timestamp) is None:
            total += equity
            position_rows[j] = pos[:, 0]
            continue
        last = np.searchsorted(c.timestamp, grid, side="right") - 1
        seen = last >= 0
        total += np.where(seen, equity[np.maximum(last, 0)], sleeve)
        position_rows[j] = np.where(seen, pos[np.maximum(last, 0), 0], 0.0)
    trade_all = np.concatenate(trade_parts)
    held: FloatArray | None = None
    if position_rows is not None:
        held = position_rows.T
    elif kernel_positions:
        held = k.position_from_trades_nb(trade_all, n, len(symbols))
        for j, column in kernel_positions.items():
            held[:, j] = column
    # Orders log in time order (stable: within one time, symbols keep their sorted order).
    fills_all = np.concatenate(fill_parts)
    fills_all = fills_all[np.argsort(np.concatenate(time_parts), kind="stable")]
    bar_ts = [candles[s].timestamp for s in symbols]
    return BacktestResult(
        symbols=symbols,
        timestamp=grid,
        equity=total,
        held=held,
        fill_table=fills_all,
        trade_table=trade_all,
        initial_equity=config.initial_cash,
        timeframe_ms=tf,
        leverage=config.leverage,
        candles={s: candles[s] for s in symbols},
        parameters=params,
        script=script,
        funding_coverage=coverage,
        ticker_equity=ticker_equity,
        bar_timestamps=bar_ts,
    )


def _run_cross(
    candles: Mapping[str, Candles],
    arrays: Mapping[str, _Arrays],
    rates: Mapping[str, FloatArray | None],
    config: BacktestConfig,
    symbols: tuple[str, ...],
    grid: IntArray,
    shared: bool,
    tf: int,
    params: dict[str, Any],
    script: str | None,
    coverage: dict[str, float | None],
) -> BacktestResult:
    n = grid.shape[0]
    m = len(symbols)

    positions = {
        s: None if shared else _grid_positions(grid, candles[s].timestamp) for s in symbols
    }

    def stack(getter: Any, fill: Any, dtype: Any) -> npt.NDArray[Any]:
        out = np.empty((n, m), dtype=dtype)
        for j, s in enumerate(symbols):
            idx = positions[s]
            values = _expand(np.asarray(getter(s), dtype=dtype), len(candles[s]))
            out[:, j] = _scatter(idx, values, n, fill)
        return out

    f64, i64, b = np.float64, np.int64, np.bool_
    equity, _, position, _, fills, trades = k.simulate_portfolio_nb(
        stack(lambda s: candles[s].open, np.nan, f64),
        stack(lambda s: candles[s].high, np.nan, f64),
        stack(lambda s: candles[s].low, np.nan, f64),
        stack(lambda s: candles[s].close, np.nan, f64),
        stack(lambda s: arrays[s].entry_long, False, b),
        stack(lambda s: arrays[s].exit_long, False, b),
        stack(lambda s: arrays[s].entry_short, False, b),
        stack(lambda s: arrays[s].exit_short, False, b),
        stack(lambda s: arrays[s].size, 1.0, f64),
        stack(lambda s: arrays[s].size_type, 0, i64),
        stack(lambda s: arrays[s].order_type, 0, i64),
        stack(lambda s: arrays[s].order_price, np.nan, f64),
        stack(lambda s: arrays[s].stop_loss, np.nan, f64),
        stack(lambda s: arrays[s].take_profit, np.nan, f64),
        stack(lambda s: arrays[s].trailing_stop, np.nan, f64),
        stack(lambda s: rates[s] if rates[s] is not None else np.zeros(len(candles[s])), 0.0, f64),
        np.full(m, config.leverage),
        np.full(m, config.min_quantity),
        np.full(m, config.quantity_step),
        config.initial_cash,
        config.fee_maker,
        config.fee_taker,
        config.slippage,
        config.maintenance_margin,
        config.liquidation_fee,
        config.portfolio_stop_loss or 0.0,
        config.portfolio_take_profit or 0.0,
        config.fill is FillConvention.SIGNAL_CLOSE,
        config.clamp_fills_to_bar,
        sum(_capacity(arrays[s]) for s in symbols),
    )
    return BacktestResult(
        symbols=symbols,
        timestamp=grid,
        equity=equity,
        held=position,
        fill_table=fills,
        trade_table=trades,
        initial_equity=config.initial_cash,
        timeframe_ms=tf,
        leverage=config.leverage,
        candles={s: candles[s] for s in symbols},
        parameters=params,
        script=script,
        funding_coverage=coverage,
    )


def sma_cross_signals(close: FloatArray, fast: int, slow: int) -> Signals:
    """Return long-only SMA-crossover signals, bit-identical to the sweep kernel's rule."""
    f = k.rolling_mean_nb(close, fast)
    s = k.rolling_mean_nb(close, slow)
    f_prev = np.concatenate(([np.nan], f[:-1]))
    s_prev = np.concatenate(([np.nan], s[:-1]))
    return Signals(
        entry_long=(f > s) & (f_prev <= s_prev),
        exit_long=(f < s) & (f_prev >= s_prev),
    )


@dataclass(frozen=True)
class SweepResult:
    """One row per parameter set; rebuild any row's full result with :func:`run_backtest`."""

    fast: IntArray
    slow: IntArray
    final_equity: FloatArray
    total_return_pct: FloatArray
    num_trades: IntArray
    win_rate_pct: FloatArray
    fees_paid: FloatArray
    max_drawdown_pct: FloatArray
    sharpe_ratio: FloatArray

    def __len__(self) -> int:
        return int(self.fast.shape[0])

    def best(self, metric: str = "total_return_pct") -> tuple[int, int]:
        """Return the ``(fast, slow)`` pair with the highest ``metric`` (NaN ranks last)."""
        values = np.asarray(getattr(self, metric), dtype=np.float64)
        i = int(np.argmax(np.where(np.isnan(values), -np.inf, values)))
        return int(self.fast[i]), int(self.slow[i])


def run_sma_cross_sweep(
    candles: Candles,
    fast_windows: Sequence[int],
    slow_windows: Sequence[int],
    config: BacktestConfig | None = None,
    *,
    timeframe_ms: int | None = None,
) -> SweepResult:
    """Run every ``fast < slow`` SMA-crossover pair (long-only, all-in, market orders).

    Each distinct window's SMA is computed once; each pair keeps only running totals.
    Uses ``fee_taker``, ``slippage``, ``fill`` and ``clamp_fills_to_bar`` from ``config``.
    """
    config = config or BacktestConfig()
    config.validate()
    gap = _check_candles(candles, "")
    pairs = [(f, s) for f in fast_windows for s in slow_windows if 0 < f < s]
    if not pairs:
        raise BacktestInputError("the sweep has no pair with 0 < fast < slow")
    windows = np.array(sorted({w for p in pairs for w in p}), dtype=np.int64)
    row = {int(w): i for i, w in enumerate(windows)}
    fast = np.array([p[0] for p in pairs], dtype=np.int64)
    slow = np.array([p[1] for p in pairs], dtype=np.int64)
    table = k.sma_table_nb(candles.close, windows)
    out = k.sma_cross_sweep_nb(
        candles.open, candles.high, candles.low, candles.close, table,
        np.array([row[int(f)] for f in fast], dtype=np.int64),
        np.array([row[int(s)] for s in slow], dtype=np.int64),
        config.initial_cash, config.fee_taker, config.slippage,
        config.fill is FillConvention.SIGNAL_CLOSE, config.clamp_fills_to_bar,
    )  # fmt: skip
    tf = _timeframe(timeframe_ms, gap, candles.timestamp)
    count = out[:, k.SWEEP_RET_COUNT]
    mean = out[:, k.SWEEP_RET_SUM] / count
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (out[:, k.SWEEP_RET_SQ_SUM] - count * mean**2) / (count - 1)
        sharpe = np.where(var > 0, mean / np.sqrt(var), np.nan) * np.sqrt(periods_per_year(tf))
        trades = out[:, k.SWEEP_NUM_TRADES]
        win_rate = np.where(trades > 0, out[:, k.SWEEP_WINS] / trades * 100.0, np.nan)
    return SweepResult(
        fast=fast,
        slow=slow,
        final_equity=out[:, k.SWEEP_FINAL_EQUITY],
        total_return_pct=(out[:, k.SWEEP_FINAL_EQUITY] / config.initial_cash - 1.0) * 100.0,
        num_trades=trades.astype(np.int64),
        win_rate_pct=win_rate,
        fees_paid=out[:, k.SWEEP_FEES],
        max_drawdown_pct=out[:, k.SWEEP_MAX_DRAWDOWN_PCT],
        sharpe_ratio=sharpe,
    )
