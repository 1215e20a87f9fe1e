"""Every TA-Lib wrapper equals a direct TA-Lib call, on real candles."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from tradeforge.core.candles import Candles
from tradeforge.indicators.registry import get_indicator, indicators_catalog, registry
from tradeforge.indicators.talib import talib_function_names

NAMES = talib_function_names()


def field(candles: Candles, name: str) -> np.ndarray:
    if name == "periods":  # MAVP's variable-period input
        return np.full(len(candles), 10.0)
    return getattr(candles, name)


def _inputs(spec, candles: Candles) -> list[np.ndarray]:
    return [field(candles, i.default or i.name) for i in spec.inputs]


def _direct(name: str, inputs: list[np.ndarray], params: tuple[float, ...], spec) -> tuple:
    args = [
        int(v) if p.kind == "int" else float(v) for v, p in zip(params, spec.params, strict=True)
    ]
    out = getattr(talib, name)(*inputs, *args)
    outs = out if isinstance(out, tuple | list) else (out,)
    result = []
    for o in outs:
        arr = np.asarray(o).astype(np.float64)
        if np.asarray(o).dtype != np.float64:  # integer outputs: lookback bars become NaN
            arr[: spec.lookback(params)] = np.nan
        result.append(arr)
    return tuple(result)


def test_registry_covers_every_talib_function():
    assert len(NAMES) >= 150
    for name in NAMES:
        spec = get_indicator(name.lower())
        assert spec is not None, name
        assert spec.source == "ta-lib"


@pytest.mark.parametrize("name", NAMES)
def test_talib_wrapper_default_params_equals_direct_call(name: str, btc: Candles):
    spec = registry()[name.lower()]
    inputs = _inputs(spec, btc)
    params = tuple(p.default for p in spec.params)
    ours = spec.compute(inputs, params)
    theirs = _direct(name, inputs, params, spec)
    assert len(ours) == len(theirs) == len(spec.outputs)
    for a, b in zip(ours, theirs, strict=True):
        assert a.dtype == np.float64
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "name", [n for n in NAMES if "timeperiod" in talib.abstract.Function(n).info["parameters"]]
)
def test_talib_wrapper_custom_period_equals_direct_call(name: str, btc: Candles):
    spec = registry()[name.lower()]
    inputs = _inputs(spec, btc)
    params = tuple(
        (p.default * 2 + 1 if p.name == "timeperiod" else p.default) for p in spec.params
    )
    assert spec.check is not None
    assert spec.check(params) is None
    ours = spec.compute(inputs, params)
    theirs = _direct(name, inputs, params, spec)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
    # the documented lookback is exactly the number of leading undefined bars
    first_defined = int(np.argmax(~np.isnan(ours[0]))) if np.any(~np.isnan(ours[0])) else None
    if first_defined is not None and name not in ("MAVP",):
        assert spec.lookback(params) <= first_defined


def test_talib_check_rejects_bad_period():
    spec = registry()["sma"]
    assert spec.check is not None
    assert spec.check((0.0,)) is not None
    assert spec.check((20.0,)) is None


def test_catalog_lists_every_indicator_with_signature_and_ranges():
    catalog = indicators_catalog()
    names = {entry["name"] for entry in catalog}
    assert {"rsi", "macd", "crossover", "rank", "vwap_session", "ichimoku"} <= names
    macd = next(e for e in catalog if e["name"] == "macd")
    assert macd["outputs"] == [
        {"name": "macd", "type": "series"},
        {"name": "macdsignal", "type": "series"},
        {"name": "macdhist", "type": "series"},
    ]
    assert macd["params"][0] == {
        "name": "fastperiod",
        "type": "int",
        "default": 12,
        "min": 2,
        "max": 10000,
        "description": "bars",
    }
    assert macd["signature"].startswith("macd(source=close, fastperiod=12")
    for entry in catalog:
        assert entry["category"]
        assert entry["description"]
        assert entry["signature"]
