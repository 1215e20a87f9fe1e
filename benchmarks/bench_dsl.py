"""Benchmark: a 5-indicator Signal DSL strategy vs the same computation written by hand.

Run: .venv/bin/python benchmarks/bench_dsl.py [--repeat N]

Data: the bundled binance/BTC_USDT-1m.parquet holds about 90 days of 1m candles, so it
is tiled (with shifted timestamps) to one year of bars (525,600). Reports the median
wall time of ``run_signals`` against direct TA-Lib/numpy calls producing the same arrays,
their ratio (target <= 1.2x), and parse/check/compile time separately.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pyarrow.parquet as pq
import talib

from tradeforge.core.candles import Candles
from tradeforge.data import bundled_dir
from tradeforge.dsl import compile_script, run_signals

DATA = bundled_dir() / "binance" / "BTC_USDT-1m.parquet"
YEAR_BARS = 525_600
TICKER = "BINANCE:BTC/USDT"

SCRIPT = """
fast = ema(close, 12)
slow = ema(close, 26)
r = rsi(close, 14)
upper, mid, lower = bbands(close, 20, 2, 2)
a = atr(14)
up = crossover(fast, slow) and r < 70 and close > lower
emit_signal(up, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5), stop_loss=2 * a / close))
emit_signal(crossunder(fast, slow) or r > 80 or close > upper, exit("BINANCE:BTC/USDT"))
"""


def load_year() -> tuple[Candles, int]:
    table = pq.read_table(DATA)
    cols = {c: table.column(c).to_numpy() for c in table.column_names}
    n = len(cols["timestamp"])
    reps = -(-YEAR_BARS // n)
    step = int(cols["timestamp"][-1] - cols["timestamp"][0]) + 60_000
    ts = np.concatenate([cols["timestamp"] + k * step for k in range(reps)])[:YEAR_BARS]
    other = [np.tile(cols[c], reps)[:YEAR_BARS] for c in ("open", "high", "low", "close", "volume")]
    return Candles.from_arrays(ts, *other), n


def by_hand(c: Candles) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fast = talib.EMA(c.close, 12)
    slow = talib.EMA(c.close, 26)
    r = talib.RSI(c.close, 14)
    upper, _, lower = talib.BBANDS(c.close, 20, 2.0, 2.0, 0)
    a = talib.ATR(c.high, c.low, c.close, 14)
    pf, ps = np.empty_like(fast), np.empty_like(slow)
    pf[0] = ps[0] = np.nan
    pf[1:], ps[1:] = fast[:-1], slow[:-1]
    cross_up = (fast > slow) & (pf <= ps)
    cross_down = (fast < slow) & (pf >= ps)
    entries = cross_up & (r < 70) & (c.close > lower)
    exits = cross_down | (r > 80) | (c.close > upper)
    stop = 2 * a / c.close
    return entries, exits, stop


def interleaved_times(first, second, repeat: int) -> tuple[list[float], list[float]]:
    """Time two callables alternately (after one warm-up call each).

    Alternating keeps both exposed to the same machine noise and allocator state (large
    numpy temporaries page-fault differently depending on glibc's mmap threshold, which
    makes single runs bimodal); report the minimum and the median of each.
    """
    first()
    second()
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        first()
        t1 = time.perf_counter()
        second()
        t2 = time.perf_counter()
        a.append(t1 - t0)
        b.append(t2 - t1)
    return a, b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    candles, source_bars = load_year()
    print(f"data: {source_bars} real 1m bars tiled to {len(candles)} bars (one year)")

    t0 = time.perf_counter()
    for _ in range(20):
        plan = compile_script(SCRIPT, [TICKER], timeframe="1m")
    compile_ms = (time.perf_counter() - t0) / 20 * 1000
    print(f"parse + check + compile: {compile_ms:.2f} ms ({len(plan.steps)} plan steps)")

    run = run_signals(plan, {TICKER: candles})
    entries, exits, stop = by_hand(candles)
    assert np.array_equal(run.signals[0].condition, entries)
    assert np.array_equal(run.signals[1].condition, exits)
    assert np.allclose(run.signals[0].stop_loss, stop, equal_nan=True)
    print(f"outputs identical: entries={int(entries.sum())} exits={int(exits.sum())}")

    dsl, hand = interleaved_times(
        lambda: run_signals(plan, {TICKER: candles}), lambda: by_hand(candles), args.repeat
    )
    for label, fn in (("min", min), ("median", statistics.median)):
        d, h = fn(dsl), fn(hand)
        print(
            f"{label:>6} of {args.repeat}: DSL run_signals {d * 1000:.1f} ms, hand-written "
            f"TA-Lib/numpy {h * 1000:.1f} ms, ratio {d / h:.3f}x (target <= 1.2x)"
        )


if __name__ == "__main__":
    main()
