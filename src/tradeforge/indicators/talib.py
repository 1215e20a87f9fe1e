"""Every TA-Lib function as an :class:`IndicatorSpec`. The only module that imports TA-Lib.

Names are TA-Lib's, lowercased (``RSI`` is ``rsi``). Parameters, defaults and outputs come
from ``talib.abstract``; allowed ranges come from probing TA-Lib itself (integer minimums,
MA types) plus the DSL's :data:`~tradeforge.dsl.limits.MAX_PERIOD`-style caps below, and
every concrete parameter set is re-checked against TA-Lib before a script runs.

Warm-up: TA-Lib's ``lookback`` counts the bars with no output. Recursive indicators (EMA,
Wilder smoothing, Hilbert transforms, ...) also depend on where the data starts; the
``unstable`` functions below size the extra bars so a value equals its full-history value
to :data:`~tradeforge.indicators.registry.CONVERGENCE` relative error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np
import talib as _talib
from talib import abstract as _abstract

from tradeforge.indicators.registry import (
    FloatArray,
    IndicatorSpec,
    InputSpec,
    OutputSpec,
    Params,
    ParamSpec,
    decay_bars,
    ema_bars,
    no_unstable,
    wilder_bars,
)

MAX_PERIOD = 10_000

# Float parameter ranges by name (TA-Lib itself accepts +-3e37 for most of them).
_FLOAT_RANGES: dict[str, tuple[float, float]] = {
    "nbdev": (-100.0, 100.0),
    "nbdevup": (-100.0, 100.0),
    "nbdevdn": (-100.0, 100.0),
    "penetration": (0.0, 100.0),
    "acceleration": (0.0, 10.0),
    "maximum": (0.0, 10.0),
    "startvalue": (-1e12, 1e12),
    "offsetonreverse": (0.0, 1e12),
    "accelerationinitlong": (0.0, 10.0),
    "accelerationlong": (0.0, 10.0),
    "accelerationmaxlong": (0.0, 10.0),
    "accelerationinitshort": (0.0, 10.0),
    "accelerationshort": (0.0, 10.0),
    "accelerationmaxshort": (0.0, 10.0),
    "fastlimit": (0.01, 0.99),
    "slowlimit": (0.01, 0.99),
    "vfactor": (0.0, 1.0),
    "multiplier": (0.0, 100.0),
    "percentile": (0.0, 100.0),
}

MA_TYPES: dict[int, str] = {
    0: "SMA",
    1: "EMA",
    2: "WMA",
    3: "DEMA",
    4: "TEMA",
    5: "TRIMA",
    6: "KAMA",
    7: "MAMA",
    8: "T3",
}

_PATH_DEPENDENT = frozenset({"CUMSUM", "WAD", "SAR", "SAREXT", "SUPERTREND", "AD"})
_PATH_DEPENDENT |= {"NVI", "OBV", "PVI", "PVT", "VWAP", "MAXINDEX", "MININDEX", "MINMAXINDEX"}

_FLAGGED_UNSTABLE = "Function has an unstable period"


def _ma_bars(matype: float, period: float) -> int:
    """Convergence bars of a TA-Lib moving average of type ``matype``."""
    kind = int(matype)
    if kind == 1:
        return ema_bars(period)
    if kind == 3:
        return 2 * ema_bars(period)
    if kind == 4:
        return 3 * ema_bars(period)
    if kind == 6:
        return decay_bars(2.0 / 31.0)
    if kind == 7:
        return decay_bars(0.05) * 2
    if kind == 8:
        return 6 * ema_bars(period)
    if kind in (0, 2, 5):
        return 0
    return 3 * ema_bars(period)  # TA-Lib extension types: assume a triple EMA chain


def _named(params: Params, names: Sequence[str]) -> dict[str, float]:
    return dict(zip(names, params, strict=True))


# name -> function(named params) -> extra bars beyond TA-Lib's lookback
_UNSTABLE: dict[str, Callable[[dict[str, float]], int]] = {
    "EMA": lambda p: ema_bars(p["timeperiod"]),
    "DEMA": lambda p: 2 * ema_bars(p["timeperiod"]),
    "TEMA": lambda p: 3 * ema_bars(p["timeperiod"]),
    "TRIX": lambda p: 3 * ema_bars(p["timeperiod"]),
    "T3": lambda p: 6 * ema_bars(p["timeperiod"]),
    "ZLEMA": lambda p: ema_bars(p["timeperiod"]),
    "RMA": lambda p: wilder_bars(p["timeperiod"]),
    "RSI": lambda p: wilder_bars(p["timeperiod"]),
    "CMO": lambda p: wilder_bars(p["timeperiod"]),
    "ATR": lambda p: wilder_bars(p["timeperiod"]),
    "NATR": lambda p: wilder_bars(p["timeperiod"]),
    "PLUS_DM": lambda p: wilder_bars(p["timeperiod"]),
    "MINUS_DM": lambda p: wilder_bars(p["timeperiod"]),
    "PLUS_DI": lambda p: wilder_bars(p["timeperiod"]),
    "MINUS_DI": lambda p: wilder_bars(p["timeperiod"]),
    "DX": lambda p: wilder_bars(p["timeperiod"]),
    "ADX": lambda p: 2 * wilder_bars(p["timeperiod"]),
    "ADXR": lambda p: 2 * wilder_bars(p["timeperiod"]) + int(p["timeperiod"]),
    "RVI": lambda p: wilder_bars(p["timeperiod"]) + ema_bars(p["timeperiod"]),
    "STOCHRSI": lambda p: wilder_bars(p["timeperiod"]) + _ma_bars(p["fastd_matype"], 3),
    "KAMA": lambda p: decay_bars(2.0 / 31.0),
    "MAMA": lambda p: 2 * decay_bars(p["slowlimit"]),
    "HA": lambda p: decay_bars(0.5),
    "MACD": lambda p: ema_bars(max(p["slowperiod"], p["fastperiod"])) + ema_bars(p["signalperiod"]),
    "MACDFIX": lambda p: ema_bars(26) + ema_bars(p["signalperiod"]),
    "MACDEXT": lambda p: (
        max(_ma_bars(p["fastmatype"], p["fastperiod"]), _ma_bars(p["slowmatype"], p["slowperiod"]))
        + _ma_bars(p["signalmatype"], p["signalperiod"])
    ),
    "APO": lambda p: _ma_bars(p["matype"], max(p["fastperiod"], p["slowperiod"])),
    "PPO": lambda p: _ma_bars(p["matype"], max(p["fastperiod"], p["slowperiod"])),
    "PVO": lambda p: _ma_bars(p["matype"], max(p["fastperiod"], p["slowperiod"])),
    "BBANDS": lambda p: _ma_bars(p["matype"], p["timeperiod"]),
    "MA": lambda p: _ma_bars(p["matype"], p["timeperiod"]),
    "MAVP": lambda p: _ma_bars(p["matype"], p["maxperiod"]),
    "STOCH": lambda p: (
        _ma_bars(p["slowk_matype"], p["slowk_period"])
        + _ma_bars(p["slowd_matype"], p["slowd_period"])
    ),
    "STOCHF": lambda p: _ma_bars(p["fastd_matype"], p["fastd_period"]),
    "KDJ": lambda p: (
        _ma_bars(p["slowk_matype"], p["slowk_period"])
        + _ma_bars(p["slowd_matype"], p["slowd_period"])
    ),
    "ADOSC": lambda p: ema_bars(max(p["fastperiod"], p["slowperiod"])),
    "ERI": lambda p: ema_bars(p["timeperiod"]),
    "EFI": lambda p: ema_bars(p["timeperiod"]),
    "KC": lambda p: max(ema_bars(p["timeperiod"]), wilder_bars(p["atrperiod"])),
    "CVI": lambda p: ema_bars(p["timeperiod"]),
    "MASSI": lambda p: 2 * ema_bars(p["fastperiod"]),
    "SMI": lambda p: (
        2 * ema_bars(max(p["fastperiod"], p["slowperiod"])) + ema_bars(p["signalperiod"])
    ),
    "TSI": lambda p: 2 * ema_bars(max(p["firstperiod"], p["secondperiod"])),
    "HT_DCPERIOD": lambda p: 400,
    "HT_DCPHASE": lambda p: 400,
    "HT_PHASOR": lambda p: 400,
    "HT_SINE": lambda p: 400,
    "HT_TRENDMODE": lambda p: 400,
    "HT_TRENDLINE": lambda p: 400,
}


def _as_f64(arr: Any) -> FloatArray:
    out = np.asarray(arr)
    if out.dtype != np.float64:
        out = out.astype(np.float64)
    return out


def _input_specs(info: dict[str, Any]) -> tuple[InputSpec, ...]:
    out: list[InputSpec] = []
    for key, value in info["input_names"].items():
        if isinstance(value, list):
            out.extend(InputSpec(field, field) for field in value)
        elif key == "periods":
            out.append(InputSpec("periods", None))
        elif key == "price":
            out.append(InputSpec("source", str(value)))
        else:
            out.append(InputSpec(key, str(value)))
    return tuple(out)


def _probe(fn: Callable[..., Any], n_inputs: int, params: Sequence[Any]) -> str | None:
    data = [np.linspace(1.0, 2.0, 8) for _ in range(n_inputs)]
    try:
        fn(*data, *params)
    except Exception as e:  # TA-Lib raises a bare Exception for TA_BAD_PARAM
        return str(e)
    return None


def _param_specs(
    name: str, fn: Callable[..., Any], n_inputs: int, info: dict[str, Any]
) -> tuple[ParamSpec, ...]:
    defaults = list(info["parameters"].values())
    specs: list[ParamSpec] = []
    for idx, (pname, default) in enumerate(info["parameters"].items()):
        if isinstance(default, int) and not isinstance(default, bool):
            trial = list(defaults)
            if "matype" in pname:
                hi = 0
                for value in range(0, 40):
                    trial[idx] = value
                    if _probe(fn, n_inputs, trial) is None:
                        hi = value
                    else:
                        break
                desc = "moving average type: " + ", ".join(
                    f"{k}={v}" for k, v in MA_TYPES.items() if k <= hi
                )
                specs.append(ParamSpec(pname, "int", float(default), 0.0, float(hi), desc))
                continue
            lo = 1.0
            for value in (0, 1, 2):
                trial[idx] = value
                if _probe(fn, n_inputs, trial) is None:
                    lo = float(value)
                    break
            specs.append(ParamSpec(pname, "int", float(default), lo, float(MAX_PERIOD), "bars"))
        else:
            lo_f, hi_f = _FLOAT_RANGES.get(pname, (-1e6, 1e6))
            specs.append(ParamSpec(pname, "float", float(default), lo_f, hi_f))
    del name
    return tuple(specs)


@cache
def _lookback(name: str, params: Params) -> int:
    func = _abstract.Function(name)  # type: ignore[attr-defined]  # built at import by TA-Lib
    info = func.info
    names = list(info["parameters"].keys())
    kinds = [isinstance(v, int) for v in info["parameters"].values()]
    func.set_parameters(
        {n: (int(v) if k else float(v)) for n, v, k in zip(names, params, kinds, strict=True)}
    )
    return int(func.lookback)


def _make(name: str) -> IndicatorSpec:
    fn = getattr(_talib, name)
    info = _abstract.Function(name).info  # type: ignore[attr-defined]  # see _lookback
    inputs = _input_specs(info)
    params = _param_specs(name, fn, len(inputs), info)
    int_flags = tuple(p.kind == "int" for p in params)
    n_out = len(info["output_names"])
    pnames = tuple(p.name for p in params)

    def compute(data: Sequence[FloatArray], values: Params) -> tuple[FloatArray, ...]:
        args = [int(v) if is_int else float(v) for v, is_int in zip(values, int_flags, strict=True)]
        out = fn(*data, *args)
        outs = (out,) if n_out == 1 else tuple(out)
        result = tuple(_as_f64(o) for o in outs)
        if any(np.asarray(o).dtype != np.float64 for o in outs):
            # integer outputs (patterns, indexes) use 0 during the lookback; make it NaN
            skip = min(_lookback(name, tuple(values)), data[0].shape[0] if data else 0)
            for arr in result:
                arr[:skip] = np.nan
        return result

    def lookback(values: Params) -> int:
        return _lookback(name, tuple(values))

    def check(values: Params) -> str | None:
        args = [int(v) if is_int else float(v) for v, is_int in zip(values, int_flags, strict=True)]
        problem = _probe(fn, len(inputs), args)
        if problem is None:
            return None
        return f"TA-Lib rejected the parameters ({problem.split(':')[-1].strip()})"

    rule = _UNSTABLE.get(name)
    unstable: Callable[[Params], int]
    if rule is not None:
        bound_rule = rule

        def unstable(values: Params) -> int:
            return bound_rule(_named(values, pnames))

    elif _FLAGGED_UNSTABLE in info["function_flags"]:
        period_names = [p for p in pnames if "period" in p]

        def unstable(values: Params) -> int:
            named = _named(values, pnames)
            longest = max((named[p] for p in period_names), default=30.0)
            return 3 * ema_bars(longest)

    else:
        unstable = no_unstable

    outputs = tuple(
        OutputSpec(
            out,
            "series",
            ", ".join(info["output_flags"].get(out, [])),
        )
        for out in info["output_names"]
    )
    aliases = {"period": "timeperiod", "length": "timeperiod"} if "timeperiod" in pnames else {}
    return IndicatorSpec(
        name=name.lower(),
        category=str(info["group"]),
        description=str(info["display_name"]) + " (TA-Lib " + name + ")",
        inputs=inputs,
        params=params,
        outputs=outputs,
        compute=compute,
        lookback=lookback,
        unstable=unstable,
        check=check,
        source="ta-lib",
        path_dependent=name in _PATH_DEPENDENT,
        param_aliases=aliases,
    )


def talib_function_names() -> list[str]:
    """Return TA-Lib's own (upper-case) names of every function it provides."""
    return list(_talib.get_functions())  # type: ignore[no-untyped-call]  # untyped C extension


def talib_specs() -> list[IndicatorSpec]:
    """Return a spec for every TA-Lib function."""
    return [_make(name) for name in talib_function_names()]


# Direct kernels the extras reuse (so extras never import TA-Lib themselves).


def rolling_max(x: FloatArray, period: int) -> FloatArray:
    if period == 1:  # TA-Lib's minimum window is 2; a window of 1 is the input
        return x.astype(np.float64, copy=True)
    return _as_f64(_talib.MAX(x, period))


def rolling_min(x: FloatArray, period: int) -> FloatArray:
    if period == 1:  # TA-Lib's minimum window is 2; a window of 1 is the input
        return x.astype(np.float64, copy=True)
    return _as_f64(_talib.MIN(x, period))


def rolling_sum(x: FloatArray, period: int) -> FloatArray:
    if period == 1:  # TA-Lib's minimum window is 2; a window of 1 is the input
        return x.astype(np.float64, copy=True)
    return _as_f64(_talib.SUM(x, period))


def sma(x: FloatArray, period: int) -> FloatArray:
    if period == 1:  # TA-Lib's minimum window is 2; a window of 1 is the input
        return x.astype(np.float64, copy=True)
    return _as_f64(_talib.SMA(x, period))


def ema(x: FloatArray, period: int) -> FloatArray:
    return _as_f64(_talib.EMA(x, period))


def wma(x: FloatArray, period: int) -> FloatArray:
    return _as_f64(_talib.WMA(x, period))


def stddev(x: FloatArray, period: int) -> FloatArray:
    return _as_f64(_talib.STDDEV(x, period, 1.0))


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    return _as_f64(_talib.ATR(high, low, close, period))
