"""The per-call shortcuts of ``run_backtest`` / ``run_portfolio`` change no answer.

* A :class:`Candles` remembers the engine's price scan (and times found equal to another
  series'), so later runs over the same object skip the scans: same results, and a new
  object with bad prices is still refused.
* Long-only boolean signals with scalar settings take ``_plain_arrays``: the same kernel
  inputs as the general conversion; every other shape takes the general one.
* ``BacktestConfig.validate`` tests all rules at once first: the same error otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest
import talib

from tradeforge.backtest import (
    BacktestConfig,
    BacktestInputError,
    OrderType,
    Signals,
    SizeType,
    kernels,
    run_backtest,
    run_portfolio,
)
from tradeforge.backtest import engine as engine_module
from tradeforge.backtest.engine import _plain_arrays, _signal_arrays
from tradeforge.backtest.results import BacktestResult
from tradeforge.core.candles import Candles

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


def _copy(candles: Candles, start: int = 0) -> Candles:
    # A new object with new arrays (nothing remembered), optionally from a later bar.
    return Candles(*(getattr(candles, f)[start:].copy() for f in COLUMNS))


def _rsi(candles: Candles) -> Signals:
    rsi = talib.RSI(candles.close, 14)
    return Signals(entry_long=rsi < 30, exit_long=rsi > 70)


def _tables(result: BacktestResult) -> tuple[bytes, ...]:
    return (
        result.equity.tobytes(),
        result.trade_table.tobytes(),
        result.fill_table.tobytes(),
        np.ascontiguousarray(result.position).tobytes(),
        result.timestamp.tobytes(),
    )


def _no_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("scanned again")

    for name in ("scan_candles_nb", "scan_candles_same_nb", "same_values_nb"):
        monkeypatch.setattr(kernels, name, refuse)


def test_second_run_skips_the_scan_with_the_same_result(
    btc_1h: Candles, monkeypatch: pytest.MonkeyPatch
) -> None:
    candles = _copy(btc_1h)
    fresh = _copy(btc_1h)
    assert candles._price_scan is None
    first = run_backtest(candles, _rsi(candles), symbol="BTC/USDT")
    assert candles._price_scan == (3_600_000, None)
    assert repr(candles) == repr(fresh)  # not part of the value
    with monkeypatch.context() as m:
        _no_scans(m)
        second = run_backtest(candles, _rsi(candles), symbol="BTC/USDT")
    assert _tables(second) == _tables(first)
    assert second.timeframe_ms == first.timeframe_ms
    assert second.stats.to_dict() == first.stats.to_dict()
    again = run_backtest(fresh, _rsi(fresh), symbol="BTC/USDT")
    assert second.fingerprint == first.fingerprint == again.fingerprint
    bad = _copy(btc_1h)
    bad.close[5] = np.nan  # a new object: scanned, refused, nothing remembered
    with pytest.raises(BacktestInputError, match="NaN prices"):
        run_backtest(bad, Signals())
    assert bad._price_scan is None


def test_portfolio_remembers_equal_times(btc_1h: Candles, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c = _copy(btc_1h), _copy(btc_1h), _copy(btc_1h)  # equal times, distinct arrays
    series = {"A": a, "B": b, "C": c}
    signals = {s: _rsi(x) for s, x in series.items()}
    config = BacktestConfig(initial_cash=30_000.0)
    first = run_portfolio(series, signals, config)
    assert b._price_scan == (3_600_000, a.timestamp)
    with monkeypatch.context() as m:
        _no_scans(m)
        second = run_portfolio(series, signals, config)
    assert _tables(second) == _tables(first)
    reference = {s: _copy(x) for s, x in series.items()}
    expected = run_portfolio(reference, {s: _rsi(x) for s, x in reference.items()}, config)
    assert _tables(first) == _tables(expected)
    # Remembered series next to one whose times differ: the union grid, as for new objects.
    shifted = _copy(btc_1h, 100)
    mixed = {"A": a, "B": b, "D": shifted}
    got = run_portfolio(mixed, {s: _rsi(x) for s, x in mixed.items()}, config)
    fresh = {s: _copy(x) for s, x in mixed.items()}
    want = run_portfolio(fresh, {s: _rsi(x) for s, x in fresh.items()}, config)
    assert _tables(got) == _tables(want)
    # Another first series: the remembered equality does not apply, the times are compared.
    other = {"B": b, "C": c, "D": shifted}
    got = run_portfolio(other, {s: _rsi(x) for s, x in other.items()}, config)
    fresh = {s: _copy(x) for s, x in other.items()}
    want = run_portfolio(fresh, {s: _rsi(x) for s, x in fresh.items()}, config)
    assert _tables(got) == _tables(want)


def _general(signals: Signals, n: int, monkeypatch: pytest.MonkeyPatch) -> object:
    with monkeypatch.context() as m:
        m.setattr(engine_module, "_plain_arrays", lambda *_: None)
        return _signal_arrays(signals, n)


def _same_arrays(x: object, y: object) -> None:
    for name in (
        "entry_long", "exit_long", "entry_short", "exit_short", "size", "size_type",
        "order_type", "order_price", "stop_loss", "take_profit", "trailing_stop",
    ):  # fmt: skip
        u, v = getattr(x, name), getattr(y, name)
        assert (u.dtype, u.shape, u.tobytes()) == (v.dtype, v.shape, v.tobytes()), name
        assert u.flags.c_contiguous, name
    assert getattr(x, "has_short_entries") is getattr(y, "has_short_entries") is False  # noqa: B009


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"size": 0.5},
        {"size": 250.0, "size_type": SizeType.AMOUNT},
        {"size_type": SizeType.QUANTITY, "size": 0.01},
        {"order_price": 123.5},
        {"order_type": OrderType.MARKET, "order_price": float("inf")},
    ],
)
def test_plain_signals_give_the_general_arrays(
    btc_1h: Candles, extra: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    n = len(btc_1h)
    signals = _rsi(btc_1h)
    signals = Signals(entry_long=signals.entry_long, exit_long=signals.exit_long, **extra)  # type: ignore[arg-type]
    plain = _plain_arrays(signals, n)
    assert plain is not None
    assert plain.plain
    assert plain.entry_long is signals.entry_long  # no copy, as _bool_array returns it
    _same_arrays(plain, _general(signals, n, monkeypatch))
    config = BacktestConfig(fee_taker=0.0005, slippage=0.0005)
    fast = run_backtest(btc_1h, signals, config)
    with monkeypatch.context() as m:
        m.setattr(engine_module, "_plain_arrays", lambda *_: None)
        slow = run_backtest(btc_1h, signals, config)
    assert _tables(fast) == _tables(slow)
    leveraged = BacktestConfig(leverage=2.0)  # the full kernel reads the shared constants
    with monkeypatch.context() as m:
        m.setattr(engine_module, "_plain_arrays", lambda *_: None)
        slow = run_backtest(btc_1h, signals, leveraged)
    assert _tables(run_backtest(btc_1h, signals, leveraged)) == _tables(slow)


def test_other_signal_shapes_take_the_general_path(btc_1h: Candles) -> None:
    n = len(btc_1h)
    base = _rsi(btc_1h)
    el, xl = np.asarray(base.entry_long), np.asarray(base.exit_long)
    twice = np.repeat(el, 2)
    others = [
        Signals(entry_long=el, exit_long=xl, entry_short=xl),
        Signals(entry_long=el, exit_long=xl, exit_short=True),
        Signals(entry_long=el.astype(np.int64), exit_long=xl),
        Signals(entry_long=list(el), exit_long=xl),
        Signals(entry_long=twice[::2], exit_long=xl),  # not contiguous
        Signals(entry_long=el, exit_long=xl, size=np.float64(0.5)),
        Signals(entry_long=el, exit_long=xl, size=np.full(n, 0.5)),
        Signals(entry_long=el, exit_long=xl, size_type="weight"),
        Signals(entry_long=el, exit_long=xl, order_type=OrderType.LIMIT, order_price=1.0),
        Signals(entry_long=el, exit_long=xl, stop_loss=0.02),
        Signals(entry_long=el, exit_long=xl, take_profit=float("nan")),
        Signals(entry_long=el, exit_long=xl, trailing_stop=0.05),
    ]
    for signals in others:
        assert _plain_arrays(signals, n) is None
    for size in (float("nan"), float("inf"), 0.0, -1.0):
        signals = Signals(entry_long=el, exit_long=xl, size=size)
        assert _plain_arrays(signals, n) is None
        with pytest.raises(BacktestInputError, match=r"signals\.size must"):
            run_backtest(btc_1h, signals)
    with pytest.raises(BacktestInputError, match=r"signals\.entry_long has shape \(3,\)"):
        run_backtest(btc_1h, Signals(entry_long=np.ones(3, dtype=np.bool_)))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("initial_cash", float("nan")),
        ("initial_cash", 0.0),
        ("fee_taker", 0.1),
        ("fee_maker", -0.001),
        ("slippage", float("nan")),
        ("leverage", 101.0),
        ("maintenance_margin", 0.5),
        ("liquidation_fee", 0.2),
        ("min_quantity", -1.0),
        ("quantity_step", -1.0),
        ("portfolio_stop_loss", 1.0),
        ("portfolio_take_profit", 0.0),
    ],
)
def test_config_validation_names_the_field(field: str, value: float) -> None:
    config = BacktestConfig(**{field: value})  # type: ignore[arg-type]
    with pytest.raises(BacktestInputError, match=rf"config\.{field} ") as info:
        config.validate()
    assert info.value.details == {"field": f"config.{field}"}
