"""Pinned results: the engine's arrays must stay byte-identical through performance work.

Each case hashes the equity curve, the trade and fill tables and the position matrix
(their float64 bytes) and the metrics (as JSON), and records the fingerprint digest. The
expected values were produced by the engine before the intrabar and performance changes
(commit a70acb7), on the bundled Binance 1h/1m candles with TA-Lib RSI(14) 30/70 signals
(the benchmarks' W1 and W3 shapes).
A change here means results changed: find out why before updating a value.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import numpy as np
import pyarrow.parquet as pq
import pytest
import talib

from shared_paths import BUNDLED
from tradeforge.backtest import (
    BacktestConfig,
    BacktestResult,
    MarginMode,
    Signals,
    run_backtest,
    run_portfolio,
)
from tradeforge.core.candles import Candles

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
BASES = ("BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "BNB", "LTC", "LINK", "DOT", "AVAX")
TWO_YEARS = 17_520


def _load(name: str, last: int | None = None) -> Candles:
    table = pq.read_table(BUNDLED / "binance" / f"{name}.parquet")
    cols = [table.column(c).to_numpy() for c in COLUMNS]
    if last is not None:
        cols = [c[-last:] for c in cols]
    return Candles.from_arrays(*cols)


def _rsi(candles: Candles, **kw: float) -> Signals:
    rsi = talib.RSI(candles.close, 14)
    return Signals(entry_long=rsi < 30, exit_long=rsi > 70, **kw)  # type: ignore[arg-type]


def _config(cash: float, **kw: object) -> BacktestConfig:
    return BacktestConfig(initial_cash=cash, fee_taker=0.0005, slippage=0.0005, **kw)  # type: ignore[arg-type]


def _stats_digest(result: BacktestResult) -> str:
    # The metrics as JSON, without the fields added since the pins were taken.
    added = ("ambiguous_bars", "intrabar_resolved_bars")
    data = {k: v for k, v in result.stats.to_dict().items() if k not in added}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def _digest(result: BacktestResult) -> str:
    h = hashlib.sha256()
    for arr in (result.equity, result.trade_table, result.fill_table, result.position):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def _series(ragged: bool) -> dict[str, Candles]:
    out = {}
    for i, base in enumerate(BASES):
        c = _load(f"{base}_USDT-1h", TWO_YEARS)
        if ragged:  # different first bars: the union-grid path
            c = Candles(*(getattr(c, f)[i * 150 :] for f in COLUMNS))
        out[f"{base}/USDT"] = c
    return out


def _w1_1h() -> BacktestResult:
    c = _load("BTC_USDT-1h", TWO_YEARS)
    return run_backtest(c, _rsi(c), _config(10_000.0), symbol="BTC/USDT")


def _w1_1m() -> BacktestResult:
    c = _load("BTC_USDT-1m")
    return run_backtest(c, _rsi(c), _config(10_000.0), symbol="BTC/USDT")


def _w3_isolated() -> BacktestResult:
    s = _series(False)
    return run_portfolio(s, {k: _rsi(c) for k, c in s.items()}, _config(110_000.0))


def _w3_cross() -> BacktestResult:
    s = _series(False)
    sig = {k: _rsi(c, size=1 / 11) for k, c in s.items()}
    return run_portfolio(s, sig, _config(110_000.0, margin_mode=MarginMode.CROSS))


def _w3_isolated_stops() -> BacktestResult:
    s = _series(False)
    sig = {k: _rsi(c, stop_loss=0.02, take_profit=0.03, trailing_stop=0.04) for k, c in s.items()}
    return run_portfolio(s, sig, _config(110_000.0, leverage=3.0))


def _w3_isolated_ragged() -> BacktestResult:
    s = _series(True)
    return run_portfolio(s, {k: _rsi(c) for k, c in s.items()}, _config(110_000.0))


def _w3_cross_ragged() -> BacktestResult:
    s = _series(True)
    sig = {k: _rsi(c, size=1 / 11, stop_loss=0.02, take_profit=0.03) for k, c in s.items()}
    return run_portfolio(s, sig, _config(110_000.0, margin_mode=MarginMode.CROSS))


CASES: dict[str, tuple[Callable[[], BacktestResult], str, str, str]] = {
    "w1_1h": (_w1_1h, "1d0cbfe04f3190fd", "17c2f063494e8c7a", "91ede61ff6d7"),
    "w1_1m": (_w1_1m, "0cc67c3f14c8611d", "4c6dffdb77f4014d", "487ae204d105"),
    "w3_isolated": (_w3_isolated, "5c1e54a8bfffa41f", "7e156c7348cac4dd", "426d94bb45d7"),
    "w3_cross": (_w3_cross, "8cadaea30ea227fe", "0221e99aa389f22b", "4249a36b148e"),
    "w3_isolated_stops": (
        _w3_isolated_stops,
        "a34040f6c508f1ed",
        "1836b256090afcd9",
        "713e5cb7fed0",
    ),
    "w3_isolated_ragged": (
        _w3_isolated_ragged,
        "201b683701221fbf",
        "55283574bf11c3eb",
        "87827e5f5315",
    ),
    "w3_cross_ragged": (_w3_cross_ragged, "71d304161bd0044f", "1bb0172e3fa15f83", "10504ad2965d"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_pinned_run_is_byte_identical(case: str) -> None:
    run, arrays, fingerprint, stats = CASES[case]
    result = run()
    assert _digest(result) == arrays
    assert result.fingerprint.digest[:16] == fingerprint
    assert _stats_digest(result) == stats


def _twice(case: str) -> tuple[BacktestResult, BacktestResult]:
    # The case run twice on the same candle objects: the second run uses what the first one
    # remembered about them (the price scan, equal times) and must give the same bytes.
    if case == "w1_1h":
        c = _load("BTC_USDT-1h", TWO_YEARS)
        return tuple(  # type: ignore[return-value]
            run_backtest(c, _rsi(c), _config(10_000.0), symbol="BTC/USDT") for _ in range(2)
        )
    s = _series(case.endswith("ragged"))
    if case.startswith("w3_cross"):
        sig = {k: _rsi(c, size=1 / 11) for k, c in s.items()}
        config = _config(110_000.0, margin_mode=MarginMode.CROSS)
    else:
        sig = {k: _rsi(c) for k, c in s.items()}
        config = _config(110_000.0)
    return run_portfolio(s, sig, config), run_portfolio(s, sig, config)


@pytest.mark.parametrize("case", ["w1_1h", "w3_isolated", "w3_cross", "w3_isolated_ragged"])
def test_pinned_run_repeats_on_the_same_candles(case: str) -> None:
    _, arrays, fingerprint, stats = CASES[case]
    for result in _twice(case):
        assert _digest(result) == arrays
        assert result.fingerprint.digest[:16] == fingerprint
        assert _stats_digest(result) == stats
