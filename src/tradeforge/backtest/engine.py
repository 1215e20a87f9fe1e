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
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import partial
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
        if (  # every rule below at once (the usual case), without building the list
            self.initial_cash > 0
            and 0 <= self.fee_taker < 0.1
            and 0 <= self.fee_maker < 0.1
            and 0 <= self.slippage < 0.1
            and 1 <= self.leverage <= MAX_LEVERAGE
            and 0 <= self.maintenance_margin < 0.5
            and 0 <= self.liquidation_fee < 0.1
            and self.min_quantity >= 0
            and self.quantity_step >= 0
            and (self.portfolio_stop_loss is None or 0 < self.portfolio_stop_loss < 1)
            and (self.portfolio_take_profit is None or self.portfolio_take_profit > 0)
        ):
            return
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
    ``exit_fraction`` is read at the *exit* signal's bar: the share of the position an exit
    closes, in (0, 1] (``NaN`` or ``None``: all of it; see tradeforge/docs/backtesting.md).

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
    exit_fraction: ArrayOrScalar | None = None


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
    has_short_entries: bool = True
    # Share of the position each exit closes (one value for every bar, or one per bar) and
    # the number of exit-signal bars with a share below 1 (they take the full kernel).
    exit_fraction: FloatArray = field(default_factory=lambda: _ONE)
    partial_exits: int = 0
    # Known to be market orders without stops or short entries (the signals fast path).
    plain: bool = False


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


def _any_code(values: IntArray) -> bool:
    # ``values.any()`` without a ufunc call for the common single value.
    if values.shape[0] == 1:
        return bool(values[0] != 0)
    return bool(values.any())


def _all_nan(values: FloatArray) -> bool:
    # One value standing for every bar is the common case: test it without a ufunc call.
    if values.shape[0] == 1:
        return math.isnan(values[0])
    return bool(np.isnan(values).all())


# One value standing for every bar, shared by the runs that take the signals fast path below;
# like _NO_FUNDING and the other module constants they are kernel inputs, never written.
_ONE: FloatArray = np.ones(1, dtype=np.float64)
_NAN = np.full(1, np.nan)
_MARKET = np.zeros(1, dtype=np.int64)
_SIZE_TYPE_ARRAYS = {t: np.array([code], dtype=np.int64) for t, code in _SIZE_CODES.items()}


def _plain_arrays(signals: Signals, n: int) -> _Arrays | None:
    # _signal_arrays for the common shape, without its general conversions: long entries and
    # exits as contiguous bool arrays of one value per bar, no short signals, one float size
    # and size type, market orders, no stops. The same arrays (the given signal arrays
    # themselves, as _bool_array returns them), or None for any other shape.
    el, xl, size = signals.entry_long, signals.exit_long, signals.size
    if not (
        type(el) is np.ndarray
        and type(xl) is np.ndarray
        and el.dtype == np.bool_
        and xl.dtype == np.bool_
        and el.shape == xl.shape == (n,)
        and el.flags.c_contiguous
        and xl.flags.c_contiguous
        and signals.entry_short is False
        and signals.exit_short is False
        and type(size) is float
        and math.isfinite(size)
        and size > 0
        and type(signals.size_type) is SizeType
        and signals.order_type is OrderType.MARKET
        and type(signals.order_price) is float
        and signals.stop_loss is None
        and signals.take_profit is None
        and signals.trailing_stop is None
        and signals.exit_fraction is None
    ):
        return None
    no_short = np.zeros(n, dtype=np.bool_)  # both short flags (inputs are only read)
    price = signals.order_price
    return _Arrays(
        entry_long=el,
        exit_long=xl,
        entry_short=no_short,
        exit_short=no_short,
        size=_ONE if size == 1.0 else np.array([size]),
        size_type=_SIZE_TYPE_ARRAYS[signals.size_type],
        order_type=_MARKET,
        order_price=_NAN if price is np.nan else np.array([price]),
        stop_loss=_NAN,
        take_profit=_NAN,
        trailing_stop=_NAN,
        funding=_NO_PRICES,
        has_short_entries=False,
        plain=True,
    )


def _signal_arrays(signals: Signals, n: int) -> _Arrays:
    plain = _plain_arrays(signals, n)
    if plain is not None:
        return plain
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
    # The default (a scalar False) needs no scan of the expanded array.
    no_shorts = isinstance(signals.entry_short, bool) and not signals.entry_short
    arrays.has_short_entries = not no_shorts and bool(arrays.entry_short.any())
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
    if signals.exit_fraction is not None:
        _partial_exits(arrays, signals.exit_fraction, n)
    if _any_code(arrays.order_type):
        pending = _expand(arrays.order_type, n) != 0
        if np.any(pending & ~(_expand(arrays.order_price, n) > 0)):
            raise BacktestInputError(
                "limit and stop entries need a positive signals.order_price on their signal bars"
            )
    return arrays


def _partial_exits(arrays: _Arrays, value: ArrayOrScalar, n: int) -> None:
    # Validate signals.exit_fraction (NaN: the whole position) and count the exit bars that
    # close only part of it. Without any, the default stays: the run is today's exactly.
    frac = _float_array(value, n, "exit_fraction", 1.0)
    with np.errstate(invalid="ignore"):
        bad = bool(np.any(~np.isnan(frac) & ~((frac > 0.0) & (frac <= 1.0))))
    if bad:
        raise BacktestInputError(
            "signals.exit_fraction must be in (0, 1] or NaN (the whole position)",
            suggestion="Use 0.5 to close half of the position, 1.0 (or NaN) to close all of it.",
        )
    frac = np.where(np.isnan(frac), 1.0, frac)
    exits = arrays.exit_long | arrays.exit_short
    partial = exits & (_expand(frac, n) < 1.0 - 1e-12)
    count = int(np.count_nonzero(partial))
    if count:
        arrays.exit_fraction = np.ascontiguousarray(frac)
        arrays.partial_exits = count


def _uses_full_kernel(a: _Arrays, config: BacktestConfig, has_funding: bool) -> bool:
    if (
        config.leverage != 1.0
        or a.partial_exits > 0
        or has_funding
        or config.portfolio_stop_loss is not None
        or config.portfolio_take_profit is not None
    ):
        return True
    return not a.plain and bool(
        _any_code(a.order_type)
        or not _all_nan(a.stop_loss)
        or not _all_nan(a.take_profit)
        or not _all_nan(a.trailing_stop)
        or a.has_short_entries  # 1x shorts can still be liquidated
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


# What a Candles remembers of its check (see Candles._price_scan): (gap, equal times).
_PriceScan = tuple[int | None, IntArray | None]


def _check_candles(candles: Candles, symbol: str) -> int | None:
    """Raise on empty or non-finite candles; return the smallest bar gap when it was found.

    The gap (see :func:`infer_timeframe_ms`) comes from the same one-pass scan that checks
    the prices, for candles of at least 2 bars in the usual contiguous int64/float64 layout.
    The answer is remembered on the :class:`Candles` (whose columns are immutable): a later
    run over the same object returns it without scanning again.
    """
    # getattr: a Candles unpickled from before the field existed has the slot unset.
    seen: _PriceScan | None = getattr(candles, "_price_scan", None)
    if seen is not None:
        return seen[0]
    gap = _scan_candles(candles, symbol)
    object.__setattr__(candles, "_price_scan", (gap, None))  # frozen: set after success
    return gap


def _scan_candles(candles: Candles, symbol: str) -> int | None:
    # _check_candles without the remembered answer.
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


def _check_all(
    candles: Mapping[str, Candles], symbols: tuple[str, ...]
) -> tuple[dict[str, int | None], bool]:
    """:func:`_check_candles` for every symbol, in ``symbols`` order, and whether every
    series has the same times (then they are the grid). The time comparison rides on the
    price scan's pass over the times where the layout allows."""
    first = candles[symbols[0]].timestamp
    gaps: dict[str, int | None] = {}
    shared = True
    for s in symbols:
        c = candles[s]
        ts, open_, close = c.timestamp, c.open, c.close
        seen: _PriceScan | None = getattr(c, "_price_scan", None)  # as in _check_candles
        if seen is not None:  # checked by an earlier run: only the times may need comparing
            gaps[s] = seen[0]
            if shared and ts is not first and seen[1] is not first:
                shared = _same_times(ts, first)
                if shared:  # remember the equal times (both arrays are immutable)
                    object.__setattr__(c, "_price_scan", (seen[0], first))
            continue
        if (
            s != symbols[0]
            and shared
            and ts is not first
            and ts.shape == first.shape
            and 1 < ts.shape[0] < _SCAN_MAX_BARS
            and ts.dtype == first.dtype == np.int64
            and open_.dtype == close.dtype == np.float64
            and ts.ndim == open_.ndim == close.ndim == 1
            and ts.flags.c_contiguous
            and first.flags.c_contiguous
            and open_.flags.c_contiguous
            and close.flags.c_contiguous
        ):
            gap, over, same = k.scan_candles_same_nb(
                ts, first, open_.view(np.int64), close.view(np.int64), _PRICE_LIMIT_BITS
            )
            if over == 0:
                gaps[s] = gap
                # As _check_candles does, with the times when they equal the first series'.
                object.__setattr__(c, "_price_scan", (gap, first if same else None))
                shared = same
                continue
        gaps[s] = _check_candles(c, s)
        shared = shared and _same_times(ts, first)
    return gaps, shared


def _timeframe(timeframe_ms: int | None, gap: int | None, timestamp: IntArray) -> int:
    # ``timeframe_ms or infer_timeframe_ms(timestamp)``, reusing a gap the scan already found.
    if timeframe_ms:
        return timeframe_ms
    return gap if gap is not None else infer_timeframe_ms(timestamp)


@dataclass(frozen=True, slots=True)
class _Intrabar:
    # A lower timeframe laid out for the kernel: the sub-bars inside bar i are
    # start[i, 0]..end[i, 0]-1 of the flat arrays; ok[s] is False after a hole.
    start: IntArray
    end: IntArray
    ok: BoolArray
    open: FloatArray
    high: FloatArray
    low: FloatArray


_NO_OFFSETS = np.zeros((0, 0), dtype=np.int64)
_NO_FLAGS = np.zeros(0, dtype=np.bool_)
_NO_PRICES = np.zeros(0, dtype=np.float64)
_NO_FUNDING = np.zeros(1, dtype=np.float64)  # one zero rate standing for every bar


def intrabar_layout(
    bar_ts: IntArray, timeframe_ms: int, sub: Candles, symbol: str = ""
) -> tuple[IntArray, IntArray, npt.NDArray[np.bool_]]:
    """Lay out the lower-timeframe candles ``sub`` for the bars opening at ``bar_ts``.

    Returns ``(start, end, ok)``: bar ``i``'s sub-bars are ``sub[start[i]:end[i]]``, those
    lying wholly inside ``[bar_ts[i], bar_ts[i] + timeframe_ms)``; ``ok[j]`` is false when
    sub-bar ``j`` follows a hole (it does not start exactly one sub-timeframe after the
    previous sub-bar or, for a bar's first one, at the bar's open). The signal and ladder
    engines both use this layout.

    Raises:
        BacktestInputError: NaN prices in ``sub``, or a timeframe that does not divide the
            bars'.
    """
    if len(sub) > 0:
        _check_candles(sub, symbol)
    sub_ts = np.ascontiguousarray(sub.timestamp, dtype=np.int64)
    bars = np.asarray(bar_ts, dtype=np.int64)
    step = infer_timeframe_ms(sub_ts)
    if not 0 < step < timeframe_ms or timeframe_ms % step != 0:
        raise BacktestInputError(
            f"intrabar candles for {symbol or 'the symbol'} have a {step} ms timeframe; it must "
            f"be shorter than the bars' {timeframe_ms} ms and divide it",
            suggestion="Pass a lower timeframe such as 1m candles for 1h bars.",
            details={"field": "intrabar"},
        )
    start = np.searchsorted(sub_ts, bars, "left").astype(np.int64)
    end = np.searchsorted(sub_ts, bars + (timeframe_ms - step), "right").astype(np.int64)
    end = np.maximum(end, start)
    ok = np.ones(sub_ts.shape[0], dtype=np.bool_)
    if sub_ts.shape[0] > 1:
        np.equal(np.diff(sub_ts), step, out=ok[1:])
    has = end > start
    ok[start[has]] = sub_ts[start[has]] == bars[has]
    return start, end, ok


def _intrabar(bar_ts: IntArray, timeframe_ms: int, sub: Candles, symbol: str) -> _Intrabar:
    """The signal kernels' intrabar input (:func:`intrabar_layout`, one column per symbol)."""
    start, end, ok = intrabar_layout(bar_ts, timeframe_ms, sub, symbol)
    return _Intrabar(
        start.reshape(-1, 1),
        end.reshape(-1, 1),
        ok,
        np.ascontiguousarray(sub.open, dtype=np.float64),
        np.ascontiguousarray(sub.high, dtype=np.float64),
        np.ascontiguousarray(sub.low, dtype=np.float64),
    )


def _run_arrays(
    candles: Candles,
    a: _Arrays,
    config: BacktestConfig,
    initial_cash: float,
    funding_rates: FloatArray | None,
    need_position: bool = True,
    intrabar: _Intrabar | None = None,
    equity_out: FloatArray | None = None,
    full: bool | None = None,
    logs: tuple[FloatArray, FloatArray] | None = None,
) -> tuple[FloatArray, FloatArray | None, FloatArray, FloatArray]:
    # Returns (equity, position[n, 1], fills, trades) for one symbol on its own account.
    # Without need_position the fast kernel skips the position curve (None is returned):
    # BacktestResult.position rebuilds it from the trades when asked; it also writes the
    # equity into ``equity_out`` when given (the returned equity is then that buffer).
    # ``full``: the caller's _uses_full_kernel answer, when it already has it; ``logs``: the
    # fast kernel's first log tables (_log_buffers()), when the caller already fetched them.
    at_close = config.fill is FillConvention.SIGNAL_CLOSE
    if full is None:
        full = _uses_full_kernel(a, config, funding_rates is not None)
    if not full:
        if not need_position:  # no short entries here (they take the full kernel)
            fill_log, trade_log = _log_buffers() if logs is None else logs
            equity, fills, trades = k.simulate_long_nb(
                candles.open, candles.high, candles.low, candles.close, a.entry_long,
                a.exit_long, a.size, a.size_type, initial_cash, config.fee_taker,
                config.slippage, config.min_quantity, config.quantity_step, at_close,
                config.clamp_fills_to_bar, int(np.count_nonzero(a.entry_long)),
                _NO_PRICES if equity_out is None else equity_out, fill_log, trade_log,
            )  # fmt: skip
            return equity, None, fills, trades
        equity, position, fills, trades = k.simulate_simple_nb(
            candles.open, candles.high, candles.low, candles.close,
            a.entry_long, a.exit_long, a.entry_short, a.exit_short, a.size, a.size_type,
            initial_cash, config.fee_taker, config.slippage, config.min_quantity,
            config.quantity_step, at_close, config.clamp_fills_to_bar, _capacity(a),
            need_position,
        )  # fmt: skip
        return equity, position.reshape(-1, 1) if need_position else None, fills, trades

    def col(x: npt.NDArray[Any]) -> npt.NDArray[Any]:
        # The kernel's asset-major (1, n) row, a view; (1, 1) for one value for every bar.
        return x.reshape(1, -1)

    funding = funding_rates if funding_rates is not None else _NO_FUNDING
    sub = intrabar
    equity, _, position, _, fills, trades = k.simulate_portfolio_nb(
        col(candles.open), col(candles.high), col(candles.low), col(candles.close),
        col(a.entry_long), col(a.exit_long), col(a.entry_short), col(a.exit_short),
        col(a.exit_fraction), col(a.size), col(a.size_type), col(a.order_type), col(a.order_price),
        col(a.stop_loss), col(a.take_profit), col(a.trailing_stop), col(funding),
        np.array([config.leverage]), np.array([config.min_quantity]),
        np.array([config.quantity_step]), initial_cash, config.fee_maker, config.fee_taker,
        config.slippage, config.maintenance_margin, config.liquidation_fee,
        config.portfolio_stop_loss or 0.0, config.portfolio_take_profit or 0.0, at_close,
        config.clamp_fills_to_bar, _capacity(a),
        _NO_OFFSETS if sub is None else sub.start, _NO_OFFSETS if sub is None else sub.end,
        _NO_FLAGS if sub is None else sub.ok, _NO_PRICES if sub is None else sub.open,
        _NO_PRICES if sub is None else sub.high, _NO_PRICES if sub is None else sub.low,
    )  # fmt: skip
    return equity, position, fills, trades


def _log_buffers() -> tuple[FloatArray, FloatArray]:
    # The fast kernel's first fill and trade log tables: per-thread buffers like _scratch's
    # (the kernel copies the rows out), kept beside its pool as they have a fixed shape.
    logs: tuple[FloatArray, FloatArray] | None = getattr(_SCRATCH, "logs", None)
    if logs is None:
        logs = _SCRATCH.logs = (
            np.empty((k.LOG_ROWS_FIRST, k.FILL_NCOLS), dtype=np.float64),
            np.empty((k.LOG_ROWS_FIRST // 2, k.TRADE_NCOLS), dtype=np.float64),
        )
    return logs


def _capacity(a: _Arrays) -> int:
    # Entry-signal bars bound the order log (see kernels.simulate_simple_nb); each partial
    # exit adds one fill and one trade record.
    entries = int(np.count_nonzero(a.entry_long)) + int(np.count_nonzero(a.entry_short))
    return entries + a.partial_exits


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
    intrabar: Candles | None = None,
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
        intrabar: candles of a lower timeframe dividing the bars' (1m inside 1h), used only
            to settle bars where a stop and the take-profit were both in range: their
            sub-bars are walked in time order and the first level hit wins. Hashed into the
            fingerprint. Without it the worst case is assumed.

    Returns:
        The :class:`BacktestResult`.

    Raises:
        BacktestInputError: empty or NaN candles, misshapen signals, invalid config, or
            intrabar candles whose timeframe does not divide the bars'.
    """
    config = config or BacktestConfig()
    config.validate()
    gap = _check_candles(candles, symbol)
    n = candles.timestamp.shape[0]
    arrays = _signal_arrays(signals, n)
    tf = _timeframe(timeframe_ms, gap, candles.timestamp)
    rates = None
    coverage: dict[str, float | None] = {symbol: None}
    if funding is not None:
        rates, coverage[symbol] = align_funding(candles.timestamp, tf, funding)
    sub = None if intrabar is None else _intrabar(candles.timestamp, tf, intrabar, symbol)
    equity, position, fills, trades = _run_arrays(
        candles, arrays, config, config.initial_cash, rates, need_position=False, intrabar=sub
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
        intrabar={} if intrabar is None else {symbol: intrabar},
    )


def _same_times(a: IntArray, b: IntArray) -> bool:
    if a is b:
        return True
    if a.shape != b.shape:
        return False
    if a.dtype == b.dtype == np.int64 and a.flags.c_contiguous and b.flags.c_contiguous:
        return bool(k.same_values_nb(a, b))  # one pass, stops at the first difference
    return bool(np.array_equal(a, b))


def _union_grid(
    candles: Mapping[str, Candles], same_times: bool | None = None
) -> tuple[IntArray, bool]:
    # The grid, and whether every series' times are the grid itself (no alignment needed);
    # ``same_times``: the caller already knows whether they are all equal.
    series = [c.timestamp for c in candles.values()]
    first = series[0]
    if same_times is None:
        same_times = all(_same_times(ts, first) for ts in series[1:])
    if same_times:
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


def run_portfolio(
    candles: Mapping[str, Candles],
    signals: Mapping[str, Signals],
    config: BacktestConfig | None = None,
    *,
    timeframe_ms: int | None = None,
    funding: Mapping[str, FundingRates] | None = None,
    script: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    intrabar: Mapping[str, Candles] | None = None,
) -> BacktestResult:
    """Backtest several symbols on one time grid (the union of their candle times).

    In ``isolated`` mode each symbol trades its own sub-account holding
    ``initial_cash / len(candles)``; in ``cross`` mode all symbols share one account, and a
    ``weight`` size is a fraction of the whole account's equity. Symbols are processed in
    sorted order; at each fill point exits run before entries. ``intrabar`` maps some (or
    all) symbols to lower-timeframe candles, as in :func:`run_backtest`.

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
    gaps, same_times = _check_all(candles, symbols)
    funding = funding or {}
    grid, shared = _union_grid(candles, same_times)
    tf = timeframe_ms or min(_timeframe(None, gaps[s], candles[s].timestamp) for s in symbols)
    arrays = {s: _signal_arrays(signals[s], len(candles[s])) for s in symbols}
    coverage: dict[str, float | None] = {}
    rates: dict[str, FloatArray | None] = {}
    for s in symbols:
        rates[s], coverage[s] = None, None
        if s in funding:
            rates[s], coverage[s] = align_funding(candles[s].timestamp, tf, funding[s])
    params = _parameters(config, parameters)
    intrabar = dict(intrabar or {})
    if not set(intrabar) <= set(symbols):
        raise BacktestInputError(
            f"intrabar names symbols without candles: {sorted(set(intrabar) - set(symbols))}",
            details={"field": "intrabar"},
        )
    subs = {s: _intrabar(candles[s].timestamp, tf, intrabar[s], s) for s in sorted(intrabar)}
    if config.margin_mode is MarginMode.ISOLATED:
        result = _run_isolated(
            candles, arrays, rates, config, symbols, grid, shared, tf, params, script, coverage,
            subs,
        )  # fmt: skip
    else:
        result = _run_cross(
            candles, arrays, rates, config, symbols, grid, shared, tf, params, script, coverage,
            subs,
        )  # fmt: skip
    if intrabar:
        result = replace(result, intrabar={s: intrabar[s] for s in sorted(intrabar)})
    return result


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
    subs: Mapping[str, _Intrabar],
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
    ticker_equity = _SleeveCurves()
    time_parts: list[IntArray] = []
    # On a shared grid the fast kernel writes each sleeve's equity into one reused buffer:
    # twenty fresh curves cost more in new memory pages than the simulations themselves.
    # Their curves are recomputed, identically, when per_ticker asks for them.
    scratch = _scratch("sleeve_equity", (n,), np.float64) if shared else None
    logs = _log_buffers()
    for j, s in enumerate(symbols):
        c = candles[s]
        a = arrays[s]
        r = rates[s]
        full = _uses_full_kernel(a, config, r is not None)
        reuse = scratch is not None and not full  # the fast kernel writes into the buffer
        equity, pos, fills, trades = _run_arrays(
            c, a, config, sleeve, r, need_position=not shared,
            intrabar=subs.get(s) if subs else None, equity_out=scratch if reuse else None,
            full=full, logs=logs,
        )  # fmt: skip
        fills[:, k.FILL_ASSET] = j
        trades[:, k.TRADE_ASSET] = j
        fill_parts.append(fills)
        trade_parts.append(trades)
        if reuse:
            ticker_equity.defer(s, partial(_sleeve_equity, c, a, config, sleeve, r))
        else:
            ticker_equity.put(s, equity)
        if not shared:  # on a shared grid the fills' times are read once, below
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
    # Every series' times equal the grid when it is shared: the same values, one lookup.
    times = (
        grid[fills_all[:, k.FILL_BAR].astype(np.int64)] if shared else np.concatenate(time_parts)
    )
    fills_all = fills_all[np.argsort(times, kind="stable")]
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


# Cross-mode kernel inputs, and the fast kernel's first log tables, live in per-thread
# buffers that later runs of the same shape reuse: a fresh multi-megabyte array costs a page
# fault per 4 KiB on first touch, more than the copy itself, and freeing a few hundred KiB
# per run makes the allocator hand the pages back to the system (fresh ones next run). The
# kernels only read the inputs, the log tables are copied out, and no result keeps a buffer.
# Larger buffers are allocated per run: a thread keeps at most
# _SCRATCH_SLOTS * _SCRATCH_MAX_BYTES.
_SCRATCH = threading.local()
_SCRATCH_MAX_BYTES = 4 * 2**20
_SCRATCH_SLOTS = 16


def _scratch(slot: str, shape: tuple[int, ...], dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes > _SCRATCH_MAX_BYTES:
        return np.empty(shape, dtype=dtype)
    pool: dict[str, npt.NDArray[Any]] = _SCRATCH.__dict__.setdefault("pool", {})
    buffer = pool.get(slot)
    if buffer is None or buffer.shape != shape or buffer.dtype != np.dtype(dtype):
        if buffer is None and len(pool) >= _SCRATCH_SLOTS:
            pool.clear()
        buffer = pool[slot] = np.empty(shape, dtype=dtype)
    return buffer


class _SleeveCurves(Mapping[str, FloatArray]):
    # Per-symbol sub-account equity curves; a deferred one is computed on first access.

    def __init__(self) -> None:
        self._curves: dict[str, FloatArray | None] = {}
        self._pending: dict[str, Callable[[], FloatArray]] = {}

    def put(self, symbol: str, curve: FloatArray) -> None:
        self._curves[symbol] = curve

    def defer(self, symbol: str, compute: Callable[[], FloatArray]) -> None:
        self._curves[symbol] = None
        self._pending[symbol] = compute

    def __getitem__(self, symbol: str) -> FloatArray:
        curve = self._curves[symbol]
        if curve is None:  # two threads may both compute it: the same values either way
            curve = self._pending[symbol]()
            self._curves[symbol] = curve
        return curve

    def __iter__(self) -> Iterator[str]:
        return iter(self._curves)

    def __len__(self) -> int:
        return len(self._curves)


def _sleeve_equity(
    candles: Candles,
    arrays: _Arrays,
    config: BacktestConfig,
    cash: float,
    rates: FloatArray | None,
) -> FloatArray:
    # The equity curve of one isolated sleeve, by running it again (deterministic).
    return _run_arrays(candles, arrays, config, cash, rates, need_position=False)[0]


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
    subs: Mapping[str, _Intrabar],
) -> BacktestResult:
    n = grid.shape[0]
    m = len(symbols)

    positions = {
        s: None if shared else _grid_positions(grid, candles[s].timestamp) for s in symbols
    }

    def bars(slot: str, values: list[npt.NDArray[Any]], fill: Any) -> npt.NDArray[Any]:
        # The kernel's asset-major (m, n) input: one row per symbol on the grid (each row a
        # plain copy); a grid time without the symbol's candle holds ``fill``.
        dtype: npt.DTypeLike = values[0].dtype
        if isinstance(fill, bool):
            dtype = np.bool_
        elif isinstance(fill, float):
            dtype = np.float64
        out = _scratch(slot, (m, n), dtype)
        if shared:
            return np.stack(values, axis=0, out=out)
        out.fill(fill)
        for j, s in enumerate(symbols):
            idx = positions[s]
            out[j, slice(None) if idx is None else idx] = values[j]
        return out

    def per_bar(name: str, fill: Any) -> npt.NDArray[Any]:
        # Like ``bars`` for a field that may hold one value for every bar: (m, 1) when every
        # symbol's does (the kernel broadcasts it), else expanded to the grid.
        values = [getattr(arrays[s], name) for s in symbols]
        if all(v.shape[0] == 1 for v in values):
            return np.concatenate(values).reshape(m, 1)
        full = [_expand(v, len(candles[s])) for s, v in zip(symbols, values, strict=True)]
        return bars(name, full, fill)

    if all(rates[s] is None for s in symbols):
        funding = np.zeros((m, 1))
    else:
        funding = bars(
            "funding",
            [r if (r := rates[s]) is not None else np.zeros(len(candles[s])) for s in symbols],
            0.0,
        )
    sig = {
        name: bars(name, [getattr(arrays[s], name) for s in symbols], False)
        for name in ("entry_long", "exit_long", "entry_short", "exit_short")
    }
    equity, _, position, _, fills, trades = k.simulate_portfolio_nb(
        bars("open", [candles[s].open for s in symbols], np.nan),
        bars("high", [candles[s].high for s in symbols], np.nan),
        bars("low", [candles[s].low for s in symbols], np.nan),
        bars("close", [candles[s].close for s in symbols], np.nan),
        sig["entry_long"],
        sig["exit_long"],
        sig["entry_short"],
        sig["exit_short"],
        per_bar("exit_fraction", 1.0),
        per_bar("size", 1.0),
        per_bar("size_type", 0),
        per_bar("order_type", 0),
        per_bar("order_price", np.nan),
        per_bar("stop_loss", np.nan),
        per_bar("take_profit", np.nan),
        per_bar("trailing_stop", np.nan),
        funding,
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
        *_stack_intrabar(subs, symbols, positions, n),
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


def _stack_intrabar(
    subs: Mapping[str, _Intrabar],
    symbols: tuple[str, ...],
    positions: Mapping[str, IntArray | None],
    n: int,
) -> tuple[IntArray, IntArray, BoolArray, FloatArray, FloatArray, FloatArray]:
    # The kernel's (n, k) sub-bar offsets on the grid, into one flat array of all symbols'
    # sub-bars; a symbol without a lower timeframe has start -1 (worst case, as without any).
    if not subs:
        return _NO_OFFSETS, _NO_OFFSETS, _NO_FLAGS, _NO_PRICES, _NO_PRICES, _NO_PRICES
    start = np.full((n, len(symbols)), -1, dtype=np.int64)
    end = np.full((n, len(symbols)), -1, dtype=np.int64)
    parts = [subs[s] for s in symbols if s in subs]
    base = 0
    for j, s in enumerate(symbols):
        sub = subs.get(s)
        if sub is None:
            continue
        idx = positions[s]
        rows = slice(None) if idx is None else idx
        start[rows, j] = sub.start[:, 0] + base
        end[rows, j] = sub.end[:, 0] + base
        base += sub.ok.shape[0]
    return (
        start,
        end,
        np.concatenate([p.ok for p in parts]),
        np.concatenate([p.open for p in parts]),
        np.concatenate([p.high for p in parts]),
        np.concatenate([p.low for p in parts]),
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
