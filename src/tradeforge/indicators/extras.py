"""Indicators TA-Lib does not provide, written against numpy.

Conventions: inputs and outputs are aligned 1-D arrays; outputs are NaN where undefined.
Every function uses only the current and earlier bars (no look-ahead); the tests check
that truncating future bars never changes an earlier value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.indicators import talib as ta
from tradeforge.indicators.registry import (
    FloatArray,
    IndicatorSpec,
    InputSpec,
    OutputSpec,
    Params,
    ParamSpec,
)

MS_PER_DAY = 86_400_000
BoolArray = npt.NDArray[np.bool_]


def _period(p: float) -> int:
    return int(p)


def _shift(x: npt.NDArray[Any], k: int, fill: Any = np.nan) -> npt.NDArray[Any]:
    """Return ``x`` delayed by ``k`` bars (``out[i] = x[i - k]``), padded with ``fill``."""
    out = np.empty_like(x)
    if k <= 0:
        out[:] = x
        return out
    k = min(k, x.shape[0])
    out[:k] = fill
    out[k:] = x[: x.shape[0] - k]
    return out


def crossover(a: FloatArray, b: FloatArray) -> BoolArray:
    out = np.greater(a, b)  # slices avoid allocating shifted copies on long series
    np.logical_and(out[1:], np.less_equal(a[:-1], b[:-1]), out=out[1:])
    out[:1] = False
    return out


def crossunder(a: FloatArray, b: FloatArray) -> BoolArray:
    out = np.less(a, b)
    np.logical_and(out[1:], np.greater_equal(a[:-1], b[:-1]), out=out[1:])
    out[:1] = False
    return out


def change(x: FloatArray, period: int) -> FloatArray:
    out: FloatArray = x - _shift(x, period)
    return out


def barssince(cond: BoolArray) -> FloatArray:
    n = cond.shape[0]
    idx = np.arange(n)
    last = np.maximum.accumulate(np.where(cond, idx, -1)) if n else idx
    out = (idx - last).astype(np.float64)
    out[last < 0] = np.nan
    return out


def valuewhen(cond: BoolArray, source: FloatArray, occurrence: int) -> FloatArray:
    hits = np.flatnonzero(cond)
    count = np.cumsum(cond.astype(np.int64))  # trues at or before each bar
    pick = count - 1 - occurrence
    out = np.full(cond.shape[0], np.nan)
    ok = pick >= 0
    out[ok] = source[hits[pick[ok]]]
    return out


def zscore(x: FloatArray, period: int) -> FloatArray:
    mean = ta.sma(x, period)
    sd = ta.stddev(x, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (x - mean) / sd
    out[~np.isfinite(out)] = np.nan
    return out


def _rolling_cov(a: FloatArray, b: FloatArray, period: int) -> tuple[FloatArray, ...]:
    ma, mb = ta.sma(a, period), ta.sma(b, period)
    mab, maa, mbb = ta.sma(a * b, period), ta.sma(a * a, period), ta.sma(b * b, period)
    return mab - ma * mb, maa - ma * ma, mbb - mb * mb


def rolling_corr(a: FloatArray, b: FloatArray, period: int) -> FloatArray:
    # demean by the series' own first finite value to keep the sums well conditioned
    a0 = a - np.nanmean(a[: min(a.shape[0], 64)]) if a.shape[0] else a
    b0 = b - np.nanmean(b[: min(b.shape[0], 64)]) if b.shape[0] else b
    cov, va, vb = _rolling_cov(a0, b0, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cov / np.sqrt(va * vb)
    out[~np.isfinite(out)] = np.nan
    return np.clip(out, -1.0, 1.0)


def simple_returns(x: FloatArray, period: int) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = x / _shift(x, period) - 1.0
    return out


def log_returns(x: FloatArray, period: int) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.log(x / _shift(x, period))
    return out


def rolling_beta(a: FloatArray, b: FloatArray, period: int) -> FloatArray:
    ra, rb = simple_returns(a, 1), simple_returns(b, 1)
    cov, _, vb = _rolling_cov(ra, rb, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cov / vb
    out[~np.isfinite(out)] = np.nan
    return out


def _day_starts(timestamp: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], ...]:
    day = timestamp // MS_PER_DAY
    new_day = np.ones(day.shape[0], dtype=bool)
    new_day[1:] = day[1:] != day[:-1]
    return day, np.flatnonzero(new_day)


def vwap_session(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    timestamp: npt.NDArray[np.int64],
) -> FloatArray:
    """VWAP of typical price (h+l+c)/3, reset at every UTC midnight."""
    n = close.shape[0]
    if n == 0:
        return np.empty(0)
    pv = (high + low + close) / 3.0 * volume
    _, starts = _day_starts(timestamp)
    seg = np.repeat(np.arange(starts.shape[0]), np.diff(np.append(starts, n)))
    cpv, cv = np.cumsum(pv), np.cumsum(volume)
    base_pv = np.concatenate(([0.0], cpv))[starts][seg]
    base_v = np.concatenate(([0.0], cv))[starts][seg]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (cpv - base_pv) / (cv - base_v)
    out[~np.isfinite(out)] = np.nan
    return out


def ichimoku(
    high: FloatArray, low: FloatArray, tenkan: int, kijun: int, senkou: int, displacement: int
) -> tuple[FloatArray, ...]:
    """Tenkan, kijun and the two cloud spans as visible at each bar (no chikou: it would
    need future closes). The spans are plotted ``displacement`` bars ahead, so the value
    at bar t was computed at bar t - (displacement - 1)."""

    def mid(period: int) -> FloatArray:
        return (ta.rolling_max(high, period) + ta.rolling_min(low, period)) / 2.0

    conv, base = mid(tenkan), mid(kijun)
    lag = displacement - 1
    return conv, base, _shift((conv + base) / 2.0, lag), _shift(mid(senkou), lag)


def pivot_points(
    high: FloatArray, low: FloatArray, close: FloatArray, timestamp: npt.NDArray[np.int64]
) -> tuple[FloatArray, ...]:
    """Classic floor pivots from the previous completed UTC day's high, low and close."""
    n = close.shape[0]
    if n == 0:
        return tuple(np.empty(0) for _ in range(7))
    _, starts = _day_starts(timestamp)
    ends = np.append(starts[1:], n)
    day_high = np.maximum.reduceat(high, starts)
    day_low = np.minimum.reduceat(low, starts)
    day_close = close[ends - 1]
    seg = np.repeat(np.arange(starts.shape[0]), ends - starts)
    prev = seg - 1
    ok = prev >= 0
    h = np.where(ok, day_high[np.maximum(prev, 0)], np.nan)
    lo = np.where(ok, day_low[np.maximum(prev, 0)], np.nan)
    c = np.where(ok, day_close[np.maximum(prev, 0)], np.nan)
    p = (h + lo + c) / 3.0
    rng = h - lo
    return p, 2 * p - lo, 2 * p - h, p + rng, p - rng, h + 2 * (p - lo), lo - 2 * (h - p)


def cross_sectional_rank(current: FloatArray, universe: Sequence[FloatArray]) -> FloatArray:
    """Rank of ``current`` among ``universe`` per bar, in [0, 1] (1 = highest).

    ``universe`` includes the current series. Ties share the average rank; NaN values
    are left out; bars with fewer than two valid values give NaN.
    """
    stack = np.vstack(universe) if universe else np.empty((0, current.shape[0]))
    valid = ~np.isnan(stack)
    with np.errstate(invalid="ignore"):
        below = np.sum((stack < current) & valid, axis=0)
        equal = np.sum((stack == current) & valid, axis=0)
    count = valid.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (below + (equal - 1) / 2.0) / (count - 1)
    out[(count < 2) | np.isnan(current)] = np.nan
    result: FloatArray = out.astype(np.float64)
    return result


# --- registry entries --------------------------------------------------------------------


def _pspec(name: str, default: float, lo: float, hi: float, desc: str = "bars") -> ParamSpec:
    return ParamSpec(name, "int", default, lo, hi, desc)


_PMAX = float(ta.MAX_PERIOD)
_SERIES = OutputSpec("real")


def _spec(
    name: str,
    category: str,
    description: str,
    inputs: tuple[InputSpec, ...],
    params: tuple[ParamSpec, ...],
    outputs: tuple[OutputSpec, ...],
    compute: Any,
    lookback: Any,
    **kw: Any,
) -> IndicatorSpec:
    return IndicatorSpec(
        name=name,
        category=category,
        description=description,
        inputs=inputs,
        params=params,
        outputs=outputs,
        compute=compute,
        lookback=lookback,
        source="tradeforge",
        param_aliases={"length": "period"} if any(p.name == "period" for p in params) else {},
        **kw,
    )


def _one(x: npt.NDArray[Any]) -> tuple[FloatArray, ...]:
    return (x,)


def extra_specs() -> list[IndicatorSpec]:
    """Return the specs of every non-TA-Lib indicator."""
    a_b = (InputSpec("a", None), InputSpec("b", None))
    period = _pspec("period", 14, 1, _PMAX)
    ts = InputSpec("timestamp", "timestamp")

    def ident(p: Params) -> int:
        return 0

    return [
        _spec(
            "crossover",
            "Signals",
            "True on the bar where a moves from <= b to > b.",
            a_b,
            (),
            (OutputSpec("cross", "bool"),),
            lambda d, p: _one(crossover(d[0], d[1])),
            lambda p: 1,
        ),
        _spec(
            "crossunder",
            "Signals",
            "True on the bar where a moves from >= b to < b.",
            a_b,
            (),
            (OutputSpec("cross", "bool"),),
            lambda d, p: _one(crossunder(d[0], d[1])),
            lambda p: 1,
        ),
        _spec(
            "highest",
            "Signals",
            "Highest value of source over the last period bars (current bar included).",
            (InputSpec("source", "high"),),
            (period,),
            (_SERIES,),
            lambda d, p: _one(ta.rolling_max(d[0], _period(p[0]))),
            lambda p: int(p[0]) - 1,
        ),
        _spec(
            "lowest",
            "Signals",
            "Lowest value of source over the last period bars (current bar included).",
            (InputSpec("source", "low"),),
            (period,),
            (_SERIES,),
            lambda d, p: _one(ta.rolling_min(d[0], _period(p[0]))),
            lambda p: int(p[0]) - 1,
        ),
        _spec(
            "change",
            "Signals",
            "source minus its value period bars ago.",
            (InputSpec("source", "close"),),
            (_pspec("period", 1, 1, _PMAX),),
            (_SERIES,),
            lambda d, p: _one(change(d[0], _period(p[0]))),
            lambda p: int(p[0]),
        ),
        _spec(
            "barssince",
            "Signals",
            "Bars since condition was last true (0 on a true bar; NaN before the first true bar).",
            (InputSpec("condition", None, "bool"),),
            (),
            (_SERIES,),
            lambda d, p: _one(barssince(d[0])),
            ident,
            path_dependent=True,
        ),
        _spec(
            "valuewhen",
            "Signals",
            "Value of source on the bar where condition was true, "
            "occurrence 0 being the most recent such bar.",
            (InputSpec("condition", None, "bool"), InputSpec("source", None)),
            (_pspec("occurrence", 0, 0, 1000, "0 = most recent"),),
            (_SERIES,),
            lambda d, p: _one(valuewhen(d[0], d[1], _period(p[0]))),
            ident,
            path_dependent=True,
        ),
        _spec(
            "zscore",
            "Statistic Functions",
            "(source - SMA) / population standard deviation over period bars.",
            (InputSpec("source", "close"),),
            (_pspec("period", 20, 2, _PMAX),),
            (_SERIES,),
            lambda d, p: _one(zscore(d[0], _period(p[0]))),
            lambda p: int(p[0]) - 1,
        ),
        _spec(
            "rolling_corr",
            "Statistic Functions",
            "Pearson correlation of a and b over "
            "period bars (of the values; pass returns(...) to correlate returns).",
            a_b,
            (_pspec("period", 20, 2, _PMAX),),
            (_SERIES,),
            lambda d, p: _one(rolling_corr(d[0], d[1], _period(p[0]))),
            lambda p: int(p[0]) - 1,
        ),
        _spec(
            "rolling_beta",
            "Statistic Functions",
            "Beta of a's one-bar simple returns on b's over period bars: cov(ra, rb) / var(rb).",
            a_b,
            (_pspec("period", 20, 2, _PMAX),),
            (_SERIES,),
            lambda d, p: _one(rolling_beta(d[0], d[1], _period(p[0]))),
            lambda p: int(p[0]),
        ),
        _spec(
            "returns",
            "Statistic Functions",
            "Simple return source / source[period ago] - 1.",
            (InputSpec("source", "close"),),
            (_pspec("period", 1, 1, _PMAX),),
            (_SERIES,),
            lambda d, p: _one(simple_returns(d[0], _period(p[0]))),
            lambda p: int(p[0]),
        ),
        _spec(
            "log_returns",
            "Statistic Functions",
            "Log return ln(source / source[period ago]).",
            (InputSpec("source", "close"),),
            (_pspec("period", 1, 1, _PMAX),),
            (_SERIES,),
            lambda d, p: _one(log_returns(d[0], _period(p[0]))),
            lambda p: int(p[0]),
        ),
        _spec(
            "vwap_session",
            "Volume Indicators",
            "VWAP of typical price (h+l+c)/3 that "
            "resets at every UTC midnight (00:00 UTC session start).",
            (
                InputSpec("high", "high"),
                InputSpec("low", "low"),
                InputSpec("close", "close"),
                InputSpec("volume", "volume"),
                ts,
            ),
            (),
            (_SERIES,),
            lambda d, p: _one(vwap_session(d[0], d[1], d[2], d[3], d[4])),
            ident,
            warmup_ms=MS_PER_DAY,
        ),
        _spec(
            "ichimoku",
            "Overlap Studies",
            "Ichimoku cloud: tenkan, kijun and the senkou "
            "spans as visible at each bar (displaced; no chikou, which needs future bars).",
            (InputSpec("high", "high"), InputSpec("low", "low")),
            (
                _pspec("tenkan", 9, 1, _PMAX),
                _pspec("kijun", 26, 1, _PMAX),
                _pspec("senkou", 52, 1, _PMAX),
                _pspec("displacement", 26, 1, _PMAX),
            ),
            (
                OutputSpec("tenkan"),
                OutputSpec("kijun"),
                OutputSpec("senkou_a"),
                OutputSpec("senkou_b"),
            ),
            lambda d, p: ichimoku(d[0], d[1], *(int(v) for v in p)),
            lambda p: int(max(p[0], p[1], p[2])) - 1 + int(p[3]) - 1,
        ),
        _spec(
            "pivot_points",
            "Overlap Studies",
            "Classic floor pivot points from the previous "
            "completed UTC day: P=(H+L+C)/3, R1=2P-L, S1=2P-H, R2=P+(H-L), S2=P-(H-L), "
            "R3=H+2(P-L), S3=L-2(H-P).",
            (InputSpec("high", "high"), InputSpec("low", "low"), InputSpec("close", "close"), ts),
            (),
            tuple(OutputSpec(n) for n in ("pivot", "r1", "s1", "r2", "s2", "r3", "s3")),
            lambda d, p: pivot_points(d[0], d[1], d[2], d[3]),
            ident,
            warmup_ms=2 * MS_PER_DAY,
        ),
        _spec(
            "rank",
            "Cross-sectional",
            "Rank of source for the current symbol among every "
            "symbol of the universe on the same bar, in [0, 1] (1 = highest; ties share "
            "the average rank; NaN with fewer than two valid symbols).",
            (InputSpec("source", None),),
            (),
            (_SERIES,),
            lambda d, p: _one(cross_sectional_rank(d[0], list(d[1:]))),
            ident,
            cross_sectional=True,
        ),
        _spec(
            "abs",
            "Math",
            "Absolute value.",
            (InputSpec("x", None),),
            (),
            (_SERIES,),
            lambda d, p: _one(np.abs(d[0])),
            ident,
        ),
        _spec(
            "maximum",
            "Math",
            "Element-wise larger of a and b (NaN if either is NaN).",
            a_b,
            (),
            (_SERIES,),
            lambda d, p: _one(np.maximum(d[0], d[1])),
            ident,
        ),
        _spec(
            "minimum",
            "Math",
            "Element-wise smaller of a and b (NaN if either is NaN).",
            a_b,
            (),
            (_SERIES,),
            lambda d, p: _one(np.minimum(d[0], d[1])),
            ident,
        ),
        _spec(
            "nz",
            "Math",
            "x with NaN replaced by replacement.",
            (InputSpec("x", None), InputSpec("replacement", None)),
            (),
            (_SERIES,),
            lambda d, p: _one(np.where(np.isnan(d[0]), d[1], d[0])),
            ident,
        ),
    ]
