"""Extras (and TA-Lib's newer overlap functions) against plain-Python references."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tradeforge.core.candles import Candles
from tradeforge.indicators.registry import registry

N = 800  # reference loops are O(n * period); keep them quick


@pytest.fixture(scope="module")
def c(btc: Candles) -> Candles:
    return Candles(
        *(getattr(btc, f)[-N:] for f in ("timestamp", "open", "high", "low", "close", "volume"))
    )


def run(name: str, inputs: list, params: tuple = ()) -> tuple[np.ndarray, ...]:
    spec = registry()[name]
    values = params or tuple(p.default for p in spec.params)
    return spec.compute(inputs, values)


def nan(n: int) -> list[float]:
    return [math.nan] * n


def test_crossover_and_crossunder_match_loop(c):
    a, b = c.close, c.open
    up, down = run("crossover", [a, b])[0], run("crossunder", [a, b])[0]
    for i in range(N):
        exp_up = i > 0 and a[i] > b[i] and a[i - 1] <= b[i - 1]
        exp_down = i > 0 and a[i] < b[i] and a[i - 1] >= b[i - 1]
        assert up[i] == exp_up
        assert down[i] == exp_down
    assert up.dtype == np.bool_
    assert up.any()
    assert down.any()


def test_crossover_hand_computed():
    a = np.array([1.0, 2.0, 3.0, 2.0, 4.0])
    b = np.array([2.0, 2.0, 2.0, 2.5, 2.5])
    assert run("crossover", [a, b])[0].tolist() == [False, False, True, False, True]
    assert run("crossunder", [a, b])[0].tolist() == [False, False, False, True, False]


@pytest.mark.parametrize("period", [1, 5, 20])
def test_highest_lowest_change_match_loop(c, period):
    hi = run("highest", [c.high], (float(period),))[0]
    lo = run("lowest", [c.low], (float(period),))[0]
    ch = run("change", [c.close], (float(period),))[0]
    for i in range(N):
        if i < period - 1:
            assert math.isnan(hi[i])
            assert math.isnan(lo[i])
        else:
            assert hi[i] == max(c.high[i - period + 1 : i + 1])
            assert lo[i] == min(c.low[i - period + 1 : i + 1])
        if i < period:
            assert math.isnan(ch[i])
        else:
            assert ch[i] == c.close[i] - c.close[i - period]


def test_barssince_and_valuewhen_match_loop(c):
    cond = c.close > c.open * 1.01
    bs = run("barssince", [cond])[0]
    vw0 = run("valuewhen", [cond, c.close], (0.0,))[0]
    vw2 = run("valuewhen", [cond, c.close], (2.0,))[0]
    hits: list[int] = []
    for i in range(N):
        if cond[i]:
            hits.append(i)
        exp_bs = i - hits[-1] if hits else math.nan
        assert (math.isnan(bs[i]) and math.isnan(exp_bs)) or bs[i] == exp_bs
        exp0 = c.close[hits[-1]] if hits else math.nan
        exp2 = c.close[hits[-3]] if len(hits) >= 3 else math.nan
        assert (math.isnan(vw0[i]) and math.isnan(exp0)) or vw0[i] == exp0
        assert (math.isnan(vw2[i]) and math.isnan(exp2)) or vw2[i] == exp2


def test_barssince_hand_computed():
    cond = np.array([False, True, False, False, True, False])
    assert np.array_equal(
        run("barssince", [cond])[0], np.array([math.nan, 0, 1, 2, 0, 1]), equal_nan=True
    )


def _mean(xs):
    return sum(xs) / len(xs)


def _pstd(xs):
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))


def test_zscore_corr_beta_match_loop(c):
    p = 20
    z = run("zscore", [c.close], (float(p),))[0]
    corr = run("rolling_corr", [c.close, c.volume], (float(p),))[0]
    beta = run("rolling_beta", [c.close, c.open], (float(p),))[0]
    ra = [math.nan] + [c.close[i] / c.close[i - 1] - 1 for i in range(1, N)]
    rb = [math.nan] + [c.open[i] / c.open[i - 1] - 1 for i in range(1, N)]
    for i in range(p, N):
        w = list(c.close[i - p + 1 : i + 1])
        v = list(c.volume[i - p + 1 : i + 1])
        assert z[i] == pytest.approx((w[-1] - _mean(w)) / _pstd(w), rel=1e-6, abs=1e-9)
        cov = _mean([x * y for x, y in zip(w, v, strict=True)]) - _mean(w) * _mean(v)
        assert corr[i] == pytest.approx(cov / (_pstd(w) * _pstd(v)), rel=1e-5, abs=1e-6)
        wa, wb = ra[i - p + 1 : i + 1], rb[i - p + 1 : i + 1]
        cov_r = _mean([x * y for x, y in zip(wa, wb, strict=True)]) - _mean(wa) * _mean(wb)
        assert beta[i] == pytest.approx(cov_r / _pstd(wb) ** 2, rel=1e-5, abs=1e-6)
    assert math.isnan(z[p - 2])
    assert math.isnan(beta[p - 1])


def test_returns_and_log_returns(c):
    r = run("returns", [c.close], (3.0,))[0]
    lr = run("log_returns", [c.close], (1.0,))[0]
    for i in range(3, N):
        assert r[i] == pytest.approx(c.close[i] / c.close[i - 3] - 1, rel=1e-12)
        assert lr[i] == pytest.approx(math.log(c.close[i] / c.close[i - 1]), rel=1e-9, abs=1e-15)
    assert math.isnan(r[2])
    assert math.isnan(lr[0])


def test_vwap_session_resets_at_utc_midnight(c):
    out = run("vwap_session", [c.high, c.low, c.close, c.volume, c.timestamp])[0]
    pv = vol = 0.0
    day = None
    for i in range(N):
        d = int(c.timestamp[i]) // 86_400_000
        if d != day:
            pv = vol = 0.0
            day = d
        pv += (c.high[i] + c.low[i] + c.close[i]) / 3 * c.volume[i]
        vol += c.volume[i]
        assert out[i] == pytest.approx(pv / vol, rel=1e-9)


def test_vwap_session_hand_computed():
    day = 86_400_000
    ts = np.array([day - 3_600_000, day, day + 3_600_000], dtype=np.int64)
    h = np.array([10.0, 20.0, 30.0])
    vol = np.array([1.0, 1.0, 3.0])
    out = run("vwap_session", [h, h, h, vol, ts])[0]
    assert out.tolist() == [10.0, 20.0, (20.0 + 90.0) / 4.0]


def test_ichimoku_match_loop(c):
    ten, kij, sa, sb = run("ichimoku", [c.high, c.low])

    def mid(i, p):
        return (max(c.high[i - p + 1 : i + 1]) + min(c.low[i - p + 1 : i + 1])) / 2

    for i in range(100, N):
        assert ten[i] == pytest.approx(mid(i, 9))
        assert kij[i] == pytest.approx(mid(i, 26))
        j = i - 25
        assert sa[i] == pytest.approx((mid(j, 9) + mid(j, 26)) / 2)
        assert sb[i] == pytest.approx(mid(j, 52))


def test_pivot_points_use_previous_utc_day(c):
    p, r1, s1, r2, s2, r3, s3 = run("pivot_points", [c.high, c.low, c.close, c.timestamp])
    days: dict[int, list[int]] = {}
    for i in range(N):
        days.setdefault(int(c.timestamp[i]) // 86_400_000, []).append(i)
    keys = sorted(days)
    for prev, cur in itertools.pairwise(keys):
        idx = days[prev]
        h = max(c.high[j] for j in idx)
        lo = min(c.low[j] for j in idx)
        cl = c.close[idx[-1]]
        pp = (h + lo + cl) / 3
        for i in days[cur]:
            assert p[i] == pytest.approx(pp)
            assert r1[i] == pytest.approx(2 * pp - lo)
            assert s1[i] == pytest.approx(2 * pp - h)
            assert r2[i] == pytest.approx(pp + h - lo)
            assert s2[i] == pytest.approx(pp - h + lo)
            assert r3[i] == pytest.approx(h + 2 * (pp - lo))
            assert s3[i] == pytest.approx(lo - 2 * (h - pp))
    assert all(math.isnan(p[i]) for i in days[keys[0]])


def test_rank_hand_computed():
    cur = np.array([1.0, 5.0, math.nan, 2.0])
    others = [cur, np.array([2.0, 1.0, 1.0, 2.0]), np.array([3.0, math.nan, 0.0, 2.0])]
    out = run("rank", [cur, *others])[0]
    assert out[0] == 0.0  # lowest of three
    assert out[1] == 1.0  # highest of two valid
    assert math.isnan(out[2])
    assert out[3] == 0.5  # three-way tie


def test_math_helpers():
    a = np.array([-1.0, 2.0, math.nan])
    b = np.array([0.0, 3.0, 1.0])
    assert np.array_equal(run("abs", [a])[0], np.array([1.0, 2.0, math.nan]), equal_nan=True)
    assert np.array_equal(run("maximum", [a, b])[0], np.array([0.0, 3.0, math.nan]), equal_nan=True)
    assert np.array_equal(
        run("minimum", [a, b])[0], np.array([-1.0, 2.0, math.nan]), equal_nan=True
    )
    assert run("nz", [a, np.zeros(3)])[0].tolist() == [-1.0, 2.0, 0.0]


# TA-Lib's newer overlap functions, which the issue lists as extras, checked independently.


def _wma(xs):
    w = range(1, len(xs) + 1)
    return sum(x * k for x, k in zip(xs, w, strict=True)) / sum(w)


def test_talib_hma_matches_hull_definition(c):
    p = 20
    out = run("hma", [c.close], (float(p),))[0]
    half, root = p // 2, int(math.sqrt(p))
    raw = {}
    for i in range(p - 1, N):
        raw[i] = 2 * _wma(list(c.close[i - half + 1 : i + 1])) - _wma(
            list(c.close[i - p + 1 : i + 1])
        )
    for i in range(p - 1 + root - 1, N):
        exp = _wma([raw[j] for j in range(i - root + 1, i + 1)])
        assert out[i] == pytest.approx(exp, rel=1e-9)


def test_talib_vwma_and_donchian_match_definitions(c):
    p = 14
    vw = run("vwma", [c.close, c.volume], (float(p),))[0]
    up, mid, lo = run("donchian", [c.high, c.low], (float(p),))
    for i in range(p - 1, N):
        sl = slice(i - p + 1, i + 1)
        exp = sum(c.close[sl] * c.volume[sl]) / sum(c.volume[sl])
        assert vw[i] == pytest.approx(exp, rel=1e-9)
        assert up[i] == max(c.high[sl])
        assert lo[i] == min(c.low[sl])
        assert mid[i] == pytest.approx((up[i] + lo[i]) / 2)


def _ema_loop(xs: np.ndarray, period: int) -> np.ndarray:
    # TA-Lib seeds an EMA with the SMA of the first `period` values
    out = np.full(len(xs), math.nan)
    alpha = 2 / (period + 1)
    out[period - 1] = sum(xs[:period]) / period
    for i in range(period, len(xs)):
        out[i] = alpha * xs[i] + (1 - alpha) * out[i - 1]
    return out


def _wilder_atr_loop(h, lo, cl, period: int) -> np.ndarray:
    tr = [math.nan] + [
        max(h[i] - lo[i], abs(h[i] - cl[i - 1]), abs(lo[i] - cl[i - 1])) for i in range(1, len(cl))
    ]
    out = np.full(len(cl), math.nan)
    out[period] = sum(tr[1 : period + 1]) / period
    for i in range(period + 1, len(cl)):
        out[i] = (out[i - 1] * (period - 1) + tr[i]) / period
    return out


def test_talib_keltner_matches_ema_of_typical_price_and_atr(c):
    up, mid, lo = run("kc", [c.high, c.low, c.close], (20.0, 10.0, 2.0))
    tp = (c.high + c.low + c.close) / 3
    ema = _ema_loop(tp, 20)
    atr = _wilder_atr_loop(c.high, c.low, c.close, 10)
    # seeds differ (TA-Lib starts the EMA where ATR starts); compare once both converged
    np.testing.assert_allclose(mid[300:], ema[300:], rtol=1e-9)
    np.testing.assert_allclose(up[300:], ema[300:] + 2 * atr[300:], rtol=1e-9)
    np.testing.assert_allclose(lo[300:], ema[300:] - 2 * atr[300:], rtol=1e-9)


def test_talib_heikin_ashi_matches_recursive_definition(c):
    ho, hh, hl, hc = run("ha", [c.open, c.high, c.low, c.close])
    rc = (c.open + c.high + c.low + c.close) / 4
    ro = [(c.open[0] + c.close[0]) / 2]
    for i in range(1, N):
        ro.append((ro[-1] + rc[i - 1]) / 2)
    for i in range(N):
        assert hc[i] == pytest.approx(rc[i])
        assert ho[i] == pytest.approx(ro[i])
        assert hh[i] == pytest.approx(max(c.high[i], ro[i], rc[i]))
        assert hl[i] == pytest.approx(min(c.low[i], ro[i], rc[i]))


def test_talib_supertrend_matches_band_loop(c):
    st, trend = run("supertrend", [c.high, c.low, c.close], (10.0, 3.0))
    atr = _wilder_atr_loop(c.high, c.low, c.close, 10)
    hl2 = (c.high + c.low) / 2
    fu = fl = math.nan
    d = 0
    for i in range(N):
        if math.isnan(atr[i]):
            assert math.isnan(st[i])
            continue
        bu, bl = hl2[i] + 3 * atr[i], hl2[i] - 3 * atr[i]
        if math.isnan(fu):
            fu, fl, d = bu, bl, 1
        else:
            fu = bu if (bu < fu or c.close[i - 1] > fu) else fu
            fl = bl if (bl > fl or c.close[i - 1] < fl) else fl
            d = (-1 if c.close[i] < fl else 1) if d == 1 else (1 if c.close[i] > fu else -1)
        assert trend[i] == d
        assert st[i] == pytest.approx(fl if d == 1 else fu, rel=1e-9)
