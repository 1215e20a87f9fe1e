"""Properties every indicator must have: no look-ahead, and warm-up long enough that a
recursive indicator started late equals its full-history value."""

from __future__ import annotations

import numpy as np
import pytest

from tradeforge.core.candles import Candles
from tradeforge.indicators.registry import IndicatorSpec, registry

SPECS = sorted(registry().values(), key=lambda s: s.name)


def inputs_for(spec: IndicatorSpec, candles: Candles) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for inp in spec.inputs:
        if inp.kind == "bool":
            out.append(candles.close > candles.open)
        elif inp.default in ("open", "high", "low", "close", "volume", "timestamp"):
            out.append(getattr(candles, inp.default))
        elif inp.name == "periods":
            out.append(np.full(len(candles), 10.0))
        elif inp.name == "b":
            out.append(candles.open)
        elif inp.name == "replacement":
            out.append(np.zeros(len(candles)))
        else:
            out.append(candles.close)
    return out


def compute(spec: IndicatorSpec, candles: Candles, params=None) -> tuple[np.ndarray, ...]:
    values = params or tuple(p.default for p in spec.params)
    data = inputs_for(spec, candles)
    if spec.cross_sectional:
        data = [data[0], data[0], candles.open, candles.high]
    return tuple(np.asarray(o, dtype=np.float64) for o in spec.compute(data, values))


def _cut(candles: Candles, lo: int, hi: int) -> Candles:
    return Candles(
        *(
            getattr(candles, f)[lo:hi]
            for f in ("timestamp", "open", "high", "low", "close", "volume")
        )
    )


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_indicator_truncating_future_bars_never_changes_earlier_values(spec, btc):
    full = compute(spec, btc)
    for m in (1500, 3001, 4500):
        part = compute(spec, _cut(btc, 0, m))
        for f, p in zip(full, part, strict=True):
            np.testing.assert_array_equal(f[:m], p, err_msg=f"{spec.name} looks ahead at {m}")


CONVERGING = [s for s in SPECS if not s.path_dependent and not s.cross_sectional]


@pytest.mark.parametrize("spec", CONVERGING, ids=lambda s: s.name)
def test_indicator_after_required_warmup_matches_full_history(spec, btc):
    params = tuple(p.default for p in spec.params)
    warm = spec.warmup(params) + (24 if spec.warmup_ms else 0) * max(
        1, spec.warmup_ms // 86_400_000
    )
    start = 5000
    assert warm < start, f"{spec.name} warm-up {warm} too long for the fixture"
    full = compute(spec, btc)
    late = compute(spec, _cut(btc, start - warm, len(btc)))
    for f, p in zip(full, late, strict=True):
        a, b = f[start:], p[warm:]
        scale = np.nanmax(np.abs(a)) if np.any(np.isfinite(a)) else 1.0
        np.testing.assert_allclose(
            b,
            a,
            rtol=1e-6,
            atol=1e-6 * max(scale, 1e-12),
            equal_nan=True,
            err_msg=f"{spec.name} not converged after warm-up {warm}",
        )


MA_TYPE_CASES = [("ma", {"timeperiod": 30, "matype": m}) for m in range(9)] + [
    ("bbands", {"timeperiod": 20, "matype": 1}),
    ("apo", {"matype": 3}),
    ("ppo", {"matype": 8}),
    ("stoch", {"slowk_matype": 1, "slowd_matype": 4}),
    ("stochf", {"fastd_matype": 6}),
    ("stochrsi", {"timeperiod": 21, "fastd_matype": 1}),
    ("macdext", {"fastmatype": 1, "slowmatype": 7, "signalmatype": 2}),
    ("rsi", {"timeperiod": 50}),
    ("adx", {"timeperiod": 30}),
    ("t3", {"timeperiod": 10, "vfactor": 0.5}),
    ("mama", {"fastlimit": 0.3, "slowlimit": 0.1}),
    ("kc", {"timeperiod": 30, "atrperiod": 20}),
]


@pytest.mark.parametrize(("name", "overrides"), MA_TYPE_CASES, ids=lambda v: str(v))
def test_custom_params_after_required_warmup_match_full_history(name, overrides, btc):
    spec = registry()[name]
    params = tuple(float(overrides.get(p.name, p.default)) for p in spec.params)
    warm = spec.warmup(params)
    start = 5500
    assert warm < start
    full = compute(spec, btc, params)
    late = compute(spec, _cut(btc, start - warm, len(btc)), params)
    for f, p in zip(full, late, strict=True):
        a, b = f[start:], p[warm:]
        scale = np.nanmax(np.abs(a)) if np.any(np.isfinite(a)) else 1.0
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6 * max(scale, 1e-12), equal_nan=True)
