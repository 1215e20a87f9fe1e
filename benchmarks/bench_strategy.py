"""End-to-end strategy benchmark: a Signal DSL script through the public Python API.

Run with the project interpreter (peers run in ``.venv-bench`` through a subprocess)::

    .venv/bin/python benchmarks/bench_strategy.py
    .venv/bin/python benchmarks/bench_strategy.py --repeats 20 --no-peers

Workload W1: RSI(14) mean reversion (enter when RSI < 30, exit when RSI > 70), 5 bps fee and
5 bps slippage, BTC/USDT 1h, the last two years of the bundled data set.

Rows:

* DSL compile (cold): ``compile_script`` of the strategy, reported on its own.
* tradeforge via DSL (warm): ``run_backtest_request`` with the compiled plan cached by
  script hash: data load (warm-up included), signals, engine, result wrapping.
* tradeforge direct engine: TA-Lib RSI + ``run_backtest`` on the same candles (the floor the
  DSL path adds to), and the engine call alone.
* vectorbt ``Portfolio.from_signals`` (in ``.venv-bench``), same signals, warm.
* Fresh process: ``python -c`` that imports tradeforge, loads the candles and runs the DSL
  backtest (numba's on-disk cache warm), wall time around ``subprocess.run``; the same for
  vectorbt (import + RSI + from_signals).

The equivalence column checks that the DSL result equals the direct engine run (identical
trade and equity arrays). Timings are medians of warm runs unless labelled otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import talib

from tradeforge.adapters.candles import open_market_data
from tradeforge.backtest import BacktestConfig, Signals, run_backtest
from tradeforge.dsl import compile_script
from tradeforge.services.backtests import BacktestRequest, run_backtest_request

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
START, END = date(2024, 5, 15), date(2026, 5, 15)
TICKER = "BINANCE:BTC/USDT"
FEE = SLIP = 0.0005
CASH = 10_000.0
SCRIPT = """r = rsi(close, 14)
emit_signal(r < 30, entry("BINANCE:BTC/USDT", "LONG", Weight(1)))
emit_signal(r > 70, exit("BINANCE:BTC/USDT"))
"""

FRESH_OURS = f"""
from datetime import date
from tradeforge.adapters.candles import open_market_data
from tradeforge.services.backtests import BacktestRequest, run_backtest_request
req = BacktestRequest({SCRIPT!r}, ({TICKER!r},), date({START.year}, {START.month}, {START.day}),
                      date({END.year}, {END.month}, {END.day}), trading_fee={FEE}, slippage={SLIP})
out = run_backtest_request(req, open_market_data(None))
print(out.result.final_equity, out.result.stats.num_trades)
"""

PEER_COMMON = """
import json, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd, talib
from tradeforge.adapters.candles import open_market_data
start_ms, end_ms = {start_ms}, {end_ms}
full = open_market_data(None).load("binance", "BTC/USDT", "1h", None, end_ms)
rsi = talib.RSI(full.close, 14)
first = int(np.searchsorted(full.timestamp, start_ms))
close = pd.Series(full.close[first:])
open_ = pd.Series(full.open[first:])
entries = pd.Series(rsi[first:] < 30).shift(1, fill_value=False)
exits = pd.Series(rsi[first:] > 70).shift(1, fill_value=False)
"""

PEER_WARM = """
import vectorbt as vbt
def run():
    return vbt.Portfolio.from_signals(close, entries, exits, price=open_, fees={fee},
                                      slippage={slip}, init_cash={cash})
pf = run(); run()
times = []
for _ in range({repeats}):
    t = time.perf_counter(); run().final_value(); times.append(time.perf_counter() - t)
print(json.dumps({{"ms": statistics.median(times) * 1e3, "final": float(pf.final_value()),
                  "trades": int(pf.trades.count())}}))
"""

PEER_FRESH = """
import vectorbt as vbt
pf = vbt.Portfolio.from_signals(close, entries, exits, price=open_, fees={fee}, slippage={slip},
                                init_cash={cash})
print(float(pf.final_value()), int(pf.trades.count()))
"""


def median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def wall_s(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Median wall time of ``runs`` fresh processes (after one untimed warm-up run)."""
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if first.returncode != 0:
        raise SystemExit(f"fresh process failed:\n{first.stderr}")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), first.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--fresh-runs", type=int, default=3)
    parser.add_argument("--no-peers", action="store_true", help="skip vectorbt")
    args = parser.parse_args()

    source = open_market_data(None)
    request = BacktestRequest(SCRIPT, (TICKER,), START, END, trading_fee=FEE, slippage=SLIP)
    rows: list[tuple[str, float, str]] = []

    outcome = run_backtest_request(request, source)  # compiles once, warms numba and caches
    first_compile_ms = outcome.timings_ms["compile_ms"]
    compile_ms = median_ms(lambda: compile_script(SCRIPT, (TICKER,), timeframe="1h"), 20, 1)
    phases: dict[str, list[float]] = {}

    def via_dsl() -> None:
        out = run_backtest_request(request, source)
        _ = out.result.stats
        for key, value in out.timings_ms.items():
            phases.setdefault(key, []).append(value)

    dsl_ms = median_ms(via_dsl, args.repeats)
    split = ", ".join(
        f"{k.removesuffix('_ms')} {statistics.median(v):.2f}"
        for k, v in phases.items()
        if k.endswith("_ms")
    )

    # The same backtest driven directly: TA-Lib over the full history, the window sliced.
    start_ms, end_ms = request.start_ms, request.end_ms
    full = source.load("binance", "BTC/USDT", "1h", None, end_ms)
    first = int(np.searchsorted(full.timestamp, start_ms))
    window = full.slice_ms(start_ms, end_ms)
    config = BacktestConfig(initial_cash=CASH, fee_taker=FEE, fee_maker=FEE, slippage=SLIP)

    def direct() -> Any:
        rsi = talib.RSI(full.close, 14)[first:]
        result = run_backtest(window, Signals(entry_long=rsi < 30, exit_long=rsi > 70), config)
        _ = result.stats
        return result

    direct_result = direct()
    rsi = talib.RSI(full.close, 14)[first:]
    signals = Signals(entry_long=rsi < 30, exit_long=rsi > 70)
    engine_ms = median_ms(lambda: run_backtest(window, signals, config).final_equity, args.repeats)
    direct_ms = median_ms(direct, args.repeats)
    same = bool(
        np.array_equal(outcome.result.trade_table, direct_result.trade_table)
        and np.array_equal(outcome.result.equity, direct_result.equity)
    )
    check = (
        f"{'OK identical' if same else 'MISMATCH'} vs direct engine "
        f"({outcome.result.stats.num_trades} closed trades, "
        f"final {outcome.result.final_equity:.2f})"
    )
    rows.append(("tradeforge via DSL (warm, plan cached)", dsl_ms, check))
    rows.append(("  of which", 0.0, split))
    rows.append(
        (
            "DSL compile_script (uncached, apart)",
            compile_ms,
            f"first compile in the process {first_compile_ms:.1f} ms; then cached by script hash",
        )
    )
    rows.append(("tradeforge direct: TA-Lib + run_backtest", direct_ms, "+ stats"))
    rows.append(("tradeforge direct: run_backtest only", engine_ms, "final equity only"))

    env = dict(os.environ)
    fresh_ours, ours_out = wall_s([sys.executable, "-c", FRESH_OURS], args.fresh_runs, env)

    peer_rows: list[tuple[str, float, str]] = []
    fresh_peer: tuple[float, str] | None = None
    if not args.no_peers and PEER_PYTHON.exists():
        common = PEER_COMMON.format(start_ms=start_ms, end_ms=end_ms)
        warm = common + PEER_WARM.format(fee=FEE, slip=SLIP, cash=CASH, repeats=args.repeats)
        proc = subprocess.run(
            [str(PEER_PYTHON), "-c", warm], capture_output=True, text=True, check=False
        )
        if proc.returncode == 0:
            data = json.loads(proc.stdout.strip().splitlines()[-1])
            rel = abs(data["final"] - outcome.result.final_equity) / outcome.result.final_equity
            peer_rows.append(
                (
                    "vectorbt from_signals (next open, warm)",
                    data["ms"],
                    f"{data['trades']} trades incl. open, final {data['final']:.2f} "
                    f"(rel diff {rel:.1e}; vectorbt does not clamp fills to the bar)",
                )
            )
            fresh = common + PEER_FRESH.format(fee=FEE, slip=SLIP, cash=CASH)
            fresh_peer = wall_s([str(PEER_PYTHON), "-c", fresh], max(1, args.fresh_runs - 1))
        else:
            peer_rows.append(("vectorbt", float("nan"), "failed: " + proc.stderr[-300:]))

    print(f"\nW1 RSI(14) 30/70, {TICKER} 1h {START}..{END} ({len(window):,} bars), 5+5 bps")
    base = dsl_ms
    for label, ms, note in rows + peer_rows:
        if label.strip() == "of which":
            print(f"  {'':<44} {'':>10}   {note} ms")
            continue
        print(f"  {label:<44} {ms:8.2f} ms   x{ms / base:6.2f}   {note}")
    print("\nFresh process (import + load + run), numba cache warm, median wall time:")
    print(f"  tradeforge DSL backtest   {fresh_ours:6.3f} s   (target < 1.5 s)   -> {ours_out}")
    if fresh_peer is not None:
        print(
            f"  vectorbt                  {fresh_peer[0]:6.3f} s"
            f"                     -> {fresh_peer[1]}"
        )


if __name__ == "__main__":
    main()
