"""Run a :class:`~tradeforge.dsl.compiler.Plan` over numpy arrays.

Time model: bar ``i`` of the base timeframe is the candle that opened at ``timestamp[i]``
and closed ``timeframe_ms`` later. Every value at ``i`` uses only candles closed by then:
other symbols and higher timeframes are joined "as of" their close time, so a 4h value
appears on the first base bar whose close is at or after the 4h candle's close. The
backtest engine acts on a signal at ``i`` no earlier than the open of bar ``i + 1``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.core.candles import Candles
from tradeforge.core.errors import DataUnavailableError
from tradeforge.dsl import limits
from tradeforge.dsl.compiler import Plan, Step
from tradeforge.dsl.errors import DslLimitError, DslValueError
from tradeforge.dsl.ir import TIMEFRAME_OFFSET_MS, TIMEFRAMES, Ctx, Kind, split_ticker
from tradeforge.indicators.registry import get_indicator
from tradeforge.ports import CandleSource

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Value = Any  # numpy array, tuple of arrays (multi-output) or Python scalar


@dataclass
class MarketData:
    """Candles a plan runs on.

    ``candles`` maps tickers (``"BINANCE:BTC/USDT"``) to base-timeframe candles. Tickers
    missing from it are loaded from ``source`` over the current symbol's time range.
    ``funding`` maps tickers to ``(timestamps_ms, rates)`` of published funding rates.
    """

    candles: Mapping[str, Candles] = field(default_factory=dict)
    source: CandleSource | None = None
    funding: Mapping[str, tuple[IntArray, FloatArray]] = field(default_factory=dict)


def resample(candles: Candles, timeframe: str, base_ms: int) -> Candles:
    """Aggregate ``candles`` into ``timeframe`` buckets (UTC-aligned; weeks start Monday).

    A leading bucket whose first base candle is missing is dropped (its OHLC would be
    wrong). The last bucket may still be open; callers only read it once closed.
    """
    tf_ms = TIMEFRAMES[timeframe]
    n = len(candles)
    if n == 0:
        return candles
    offset = TIMEFRAME_OFFSET_MS.get(timeframe, 0)
    bucket = (candles.timestamp - offset) // tf_ms
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    first = 0
    if (candles.timestamp[0] - offset) % tf_ms != 0 and base_ms < tf_ms:
        first = 1
    starts = starts[first:]
    if starts.shape[0] == 0:
        return Candles.empty()
    ends = np.r_[starts[1:], n]
    return Candles(
        bucket[starts] * tf_ms + offset,
        candles.open[starts],
        np.maximum.reduceat(candles.high[starts[0] :], starts - starts[0]),
        np.minimum.reduceat(candles.low[starts[0] :], starts - starts[0]),
        candles.close[ends - 1],
        np.add.reduceat(candles.volume[starts[0] :], starts - starts[0]),
    )


def _time_field(ts: IntArray, name: str) -> FloatArray:
    if name == "minute":
        return ((ts // 60_000) % 60).astype(np.float64)
    if name == "hour":
        return ((ts // 3_600_000) % 24).astype(np.float64)
    if name == "day_of_week":
        return ((ts // 86_400_000 + 3) % 7).astype(np.float64)  # 1970-01-01 was a Thursday
    dt = ts.astype("datetime64[ms]")
    months = dt.astype("datetime64[M]")
    if name == "month":
        return (months.astype(np.int64) % 12 + 1).astype(np.float64)
    if name == "year":
        return (dt.astype("datetime64[Y]").astype(np.int64) + 1970).astype(np.float64)
    days = dt.astype("datetime64[D]")
    day: FloatArray = ((days - months.astype("datetime64[D]")).astype(np.int64) + 1).astype(
        np.float64
    )
    return day


def check_timeframe(candles: Candles, timeframe: str, ticker: str) -> None:
    """Reject candles whose typical spacing is not ``timeframe`` (a wiring mistake)."""
    head = candles.timestamp[:1001]
    if head.shape[0] < 3:
        return
    step = int(np.median(np.diff(head)))
    expected = TIMEFRAMES[timeframe]
    if step != expected:
        raise DslValueError(
            f"candles for {ticker} are spaced {step // 1000} s apart, but the script runs on "
            f"{timeframe} ({expected // 1000} s)",
            suggestion=f"Load {timeframe} candles or compile the script for their timeframe.",
            details={"timeframe": timeframe, "spacing_ms": step},
        )


def _shift(x: npt.NDArray[Any], k: int) -> npt.NDArray[Any]:
    out = np.empty_like(x)
    k = min(k, x.shape[0])
    out[:k] = False if x.dtype == np.bool_ else np.nan
    out[k:] = x[: x.shape[0] - k]
    return out


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.true_divide,
    "%": np.mod,
    "**": np.power,
}
_CMPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


class _Frames:
    """Candles per evaluation context, loaded and resampled once per run."""

    def __init__(self, plan: Plan, data: MarketData, current: str, primary: Candles) -> None:
        self.plan = plan
        self.data = data
        self.current = current
        check_timeframe(primary, plan.timeframe, current)
        self.base: dict[str, Candles] = {current: primary}
        self.frames: dict[Ctx, Candles] = {}
        self.close_times: dict[Ctx, IntArray] = {}
        self.align_index: dict[tuple[Ctx, Ctx], IntArray] = {}
        self.span = (
            (int(primary.timestamp[0]), int(primary.timestamp[-1]) + 1) if len(primary) else (0, 0)
        )

    def ticker(self, ctx: Ctx) -> str:
        return ctx.ticker or self.current

    def base_candles(self, ticker: str) -> Candles:
        found = self.base.get(ticker)
        if found is not None:
            return found
        given = self.data.candles.get(ticker)
        if given is None:
            if self.data.source is None:
                raise DataUnavailableError(
                    f"no candles for {ticker} and no candle source to load them from",
                    suggestion=f"Pass candles for {ticker} or a CandleSource.",
                )
            exchange, symbol = split_ticker(ticker)
            given = self.data.source.load(
                exchange, symbol, self.plan.timeframe, self.span[0], self.span[1]
            )
        check_timeframe(given, self.plan.timeframe, ticker)
        self.base[ticker] = given
        return given

    def candles(self, ctx: Ctx) -> Candles:
        found = self.frames.get(ctx)
        if found is not None:
            return found
        base = self.base_candles(self.ticker(ctx))
        if ctx.timeframe is None or ctx.timeframe == self.plan.timeframe:
            out = base
        else:
            out = resample(base, ctx.timeframe, self.plan.timeframe_ms)
        self.frames[ctx] = out
        return out

    def close_time(self, ctx: Ctx) -> IntArray:
        found = self.close_times.get(ctx)
        if found is None:
            tf_ms = TIMEFRAMES[ctx.timeframe or self.plan.timeframe]
            found = self.candles(ctx).timestamp + tf_ms
            self.close_times[ctx] = found
        return found

    def length(self, ctx: Ctx) -> int:
        return len(self.candles(ctx))

    def align(self, values: npt.NDArray[Any], inner: Ctx, outer: Ctx) -> npt.NDArray[Any]:
        key = (inner, outer)
        idx = self.align_index.get(key)
        if idx is None:
            idx = np.searchsorted(self.close_time(inner), self.close_time(outer), "right") - 1
            self.align_index[key] = idx
        if values.dtype == np.bool_:
            out_b = np.zeros(idx.shape[0], dtype=bool)
            ok = idx >= 0
            out_b[ok] = values[idx[ok]]
            return out_b
        out = np.full(idx.shape[0], np.nan)
        ok = idx >= 0
        out[ok] = values[idx[ok]]
        return out

    def funding(self, ctx: Ctx) -> FloatArray:
        ticker = self.ticker(ctx)
        series = self.data.funding.get(ticker)
        if series is None:
            raise DataUnavailableError(
                f"no funding rates for {ticker}",
                suggestion="Load funding-rate history for this perpetual market first.",
            )
        ts, rates = series
        idx = np.searchsorted(ts, self.close_time(ctx), "right") - 1
        out = np.full(idx.shape[0], np.nan)
        ok = idx >= 0
        out[ok] = rates[idx[ok]]
        return out


class Evaluator:
    """Compute every non-dynamic step of a plan for one current symbol."""

    def __init__(
        self,
        plan: Plan,
        data: MarketData,
        current: str,
        primary: Candles,
        *,
        deadline: float | None = None,
        frames: _Frames | None = None,
        shared: dict[tuple[int, str], tuple[Any, IntArray]] | None = None,
    ) -> None:
        self.plan = plan
        # per-ticker results of cross-sectional inputs, reusable across symbols of one plan
        self.shared = shared if shared is not None else {}
        self.current = current
        self.frames = frames if frames is not None else _Frames(plan, data, current, primary)
        self.data = data
        self.values: list[Value] = [None] * len(plan.steps)
        self.deadline = deadline
        self._ops: dict[str, Callable[[Step], Value]] = {
            "const": lambda s: s.params[0],
            "data": self._data,
            "time": lambda s: _time_field(self.frames.candles(s.ctx).timestamp, s.params[0]),
            "funding": lambda s: self.frames.funding(s.ctx),
            "neg": lambda s: np.negative(self.values[s.args[0]]),
            "not": lambda s: np.logical_not(self.values[s.args[0]]),
            "binop": lambda s: _BINOPS[s.params[0]](self.values[s.args[0]], self.values[s.args[1]]),
            "cmp": lambda s: _CMPS[s.params[0]](self.values[s.args[0]], self.values[s.args[1]]),
            "and": lambda s: self._logic(np.logical_and, s),
            "or": lambda s: self._logic(np.logical_or, s),
            "where": self._where,
            "shift": lambda s: _shift(self._array(s.args[0], s.ctx), int(s.params[0])),
            "ind": self._indicator,
            "pick": lambda s: self.values[s.args[0]][s.params[0]],
            "align": lambda s: self.frames.align(
                self._array(s.args[0], s.params[0]), s.params[0], s.ctx
            ),
            "xrank": self._xrank,
        }

    def run(self, slots: tuple[int, ...] | None = None) -> list[Value]:
        steps = self.plan.steps if slots is None else [self.plan.steps[s] for s in slots]
        with np.errstate(all="ignore"):
            for step in steps:
                if step.dynamic:
                    continue
                if self.deadline is not None and time.monotonic() > self.deadline:
                    raise DslLimitError(
                        f"evaluation took longer than {limits.MAX_EVAL_SECONDS:g} s",
                        suggestion="Use fewer indicators, a shorter range or a higher timeframe.",
                        details={"limit": "MAX_EVAL_SECONDS", "max": limits.MAX_EVAL_SECONDS},
                    )
                self.values[step.slot] = self._ops[step.op](step)
        return self.values

    def _array(self, slot: int, ctx: Ctx) -> npt.NDArray[Any]:
        value = self.values[slot]
        if isinstance(value, np.ndarray):
            return value
        n = self.frames.length(ctx)
        if isinstance(value, bool | np.bool_):
            return np.full(n, bool(value))
        return np.full(n, float(value))

    def _data(self, step: Step) -> Value:
        c = self.frames.candles(step.ctx)
        name = step.params[0]
        if name == "hl2":
            return (c.high + c.low) / 2.0
        if name == "hlc3":
            return (c.high + c.low + c.close) / 3.0
        if name == "ohlc4":
            return (c.open + c.high + c.low + c.close) / 4.0
        columns = {
            "open": c.open,
            "high": c.high,
            "low": c.low,
            "close": c.close,
            "volume": c.volume,
            "timestamp": c.timestamp,
        }
        return columns[name]

    def _logic(self, fn: Any, step: Step) -> Value:
        out = self.values[step.args[0]]
        for slot in step.args[1:]:
            out = fn(out, self.values[slot])
        return out

    def _where(self, step: Step) -> Value:
        test, body, orelse = (self.values[a] for a in step.args)
        if step.kind in (Kind.NUMBER, Kind.BOOL):
            return body if test else orelse
        return np.where(test, body, orelse)

    def _indicator(self, step: Step) -> Value:
        spec = get_indicator(step.params[0])
        assert spec is not None
        inputs = []
        for slot, inp in zip(step.args, spec.inputs, strict=True):
            arr = self._array(slot, step.ctx)
            if inp.kind == "series" and arr.dtype != np.float64 and not inp.is_implicit:
                arr = arr.astype(np.float64)
            inputs.append(arr)
        result = spec.compute(inputs, step.params[1])
        return result[0] if len(result) == 1 else result

    def _xrank(self, step: Step) -> Value:
        spec = get_indicator("rank")
        assert spec is not None
        current = self._array(step.args[0], step.ctx)
        series = [current]
        own_ctx = Ctx(None, step.ctx.timeframe)
        for ticker in step.params[0]:
            if ticker == self.current:
                continue
            cached = self.shared.get((step.slot, ticker))
            if cached is None:
                frames = _Frames(self.plan, self.data, ticker, self.frames.base_candles(ticker))
                frames.base.update(self.frames.base)
                sub = Evaluator(
                    self.plan,
                    self.data,
                    ticker,
                    frames.base[ticker],
                    deadline=self.deadline,
                    frames=frames,
                )
                sub.run(step.sub_steps)
                cached = (sub._array(step.args[0], step.ctx), frames.close_time(own_ctx))
                self.shared[(step.slot, ticker)] = cached
            values, close_times = cached
            idx = np.searchsorted(close_times, self.frames.close_time(own_ctx), "right") - 1
            aligned = np.full(idx.shape[0], np.nan)
            ok = idx >= 0
            aligned[ok] = values[idx[ok]]
            series.append(aligned)
        return spec.compute([current, *series], ())[0]


def check_budget(plan: Plan, bars: int) -> None:
    cells = len(plan.steps) * bars
    if cells > limits.MAX_CELLS:
        raise DslLimitError(
            f"the plan has {len(plan.steps)} steps over {bars} bars, more than "
            f"{limits.MAX_CELLS} cells",
            suggestion="Shorten the range, raise the timeframe or simplify the script.",
            details={"limit": "MAX_CELLS", "max": limits.MAX_CELLS},
        )


class BarEvaluator:
    """Evaluate a plan's state-dependent (dynamic) steps one bar at a time.

    The backtest engine calls :meth:`evaluate` with the simulated account state of the
    bar: a mapping with ``position_side``, ``position_size``, ``entry_price``,
    ``bars_since_entry`` and ``equity``.
    """

    def __init__(self, plan: Plan, values: list[Value], offset: int = 0) -> None:
        self.plan = plan
        self.values = values
        self.offset = offset  # index of the first reported bar in the computed arrays
        self.dynamic = plan.dynamic_steps

    def _at(self, slot: int, bar: int, local: dict[int, Any]) -> Any:
        if slot in local:
            return local[slot]
        value = self.values[slot]
        if isinstance(value, np.ndarray):
            return value[bar + self.offset].item()
        return value

    def evaluate(self, slot: int, bar: int, state: Mapping[str, float]) -> Any:
        """Return the value of ``slot`` at reported bar ``bar`` under ``state``."""
        if not self.plan.steps[slot].dynamic:
            return self._at(slot, bar, {})
        local: dict[int, Any] = {}
        for step in self.dynamic:
            if step.slot > slot:
                break
            args = [self._at(a, bar, local) for a in step.args]
            local[step.slot] = _scalar_op(step, args, state)
        return local[slot]


def _scalar_op(step: Step, args: list[Any], state: Mapping[str, float]) -> Any:
    op = step.op
    if op == "state":
        return float(state.get(step.params[0], float("nan")))
    with np.errstate(all="ignore"):
        if op == "neg":
            return -args[0]
        if op == "not":
            return not args[0]
        if op == "binop":
            return float(_BINOPS[step.params[0]](np.float64(args[0]), np.float64(args[1])))
        if op == "cmp":
            return bool(_CMPS[step.params[0]](args[0], args[1]))
        if op == "and":
            return all(bool(a) for a in args)
        if op == "or":
            return any(bool(a) for a in args)
        if op == "where":
            return args[1] if args[0] else args[2]
    raise ValueError(f"operation {op!r} cannot depend on account state")  # checker prevents
