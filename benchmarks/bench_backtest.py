"""Backtest engine benchmarks against vectorbt, backtesting.py and a hand-written numba loop.

Run the whole script with the benchmark environment's interpreter, where tradeforge is
installed in editable mode next to the peers::

    python3 -m venv .venv-bench
    .venv-bench/bin/pip install -e . "vectorbt==1.2.0" "backtesting==0.6.6" "pandas==3.1.1"
    .venv-bench/bin/python benchmarks/bench_backtest.py            # all workloads
    .venv-bench/bin/python benchmarks/bench_backtest.py --record-fixture

Workloads (signals come from TA-Lib directly; ``bench_strategy.py`` runs W1 written in the
Signal DSL through the public backtest use case):

* W1  RSI(14) mean reversion (enter < 30, exit > 70), 5 bps fee + 5 bps slippage, on 2 years
      of BTC/USDT 1h and on all BTC/USDT 1m candles in the data set (about 3 months).
* W2  SMA crossover sweep, fast 5..50 step 5, slow 20..200 step 10, fast < slow (174 runs)
      on 2 years of 1h.
* W3  W1 on 20 series (15 spot + 5 perpetual 1h) with equal sleeves (isolated accounts).

Every timing is the median of repeated warm runs (compilation excluded). Beside each one the
equivalence check compares trades and final equity with the tradeforge result. For the exact
cross-check against vectorbt, tradeforge runs in the ``signal_close`` convention without fill
clamping (vectorbt's convention); the headline tradeforge timing uses the default next-open
convention.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import talib

from tradeforge.backtest import (
    BacktestConfig,
    FillConvention,
    Signals,
    run_backtest,
    run_portfolio,
    run_sma_cross_sweep,
    sma_cross_signals,
)
from tradeforge.core.candles import Candles

ROOT = Path(__file__).resolve().parents[1]
# The workspace data set beside the clone (20 series for W3 need more than the bundled set).
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURE = ROOT / "tests" / "backtest" / "data" / "vectorbt_w1.json"
SAMPLE = ROOT / "tests" / "backtest" / "data" / "coinbase_btc_usd_1h.npz"
DAY = 86_400_000
FEE = 0.0005
SLIP = 0.0005
CASH = 10_000.0

warnings.filterwarnings("ignore")


def load(path: Path) -> Candles:
    table = pq.read_table(path)
    cols = [table.column(c).to_numpy() for c in ("timestamp", "open", "high", "low", "close")]
    return Candles.from_arrays(*cols, table.column("volume").to_numpy())


def last_days(candles: Candles, days: int) -> Candles:
    return candles.slice_ms(int(candles.timestamp[-1]) - days * DAY + 1, None)


def median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def rsi_signals(close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rsi = talib.RSI(close, 14)
    return rsi < 30, rsi > 70


# --- the floor: a hand-written numba loop (long-only, next open, fee + slippage) -----------

try:
    from numba import njit
except ImportError:  # pragma: no cover
    raise SystemExit("numba is required") from None


@njit(cache=True)
def floor_loop(open_, close, entries, exits, fee, slip, cash):
    n = close.shape[0]
    equity = np.empty(n)
    qty = 0.0
    trades = 0
    for i in range(n):
        if i > 0:
            if qty > 0.0 and exits[i - 1]:
                cash += qty * open_[i] * (1.0 - slip) * (1.0 - fee)
                qty = 0.0
                trades += 1
            elif qty == 0.0 and entries[i - 1]:
                px = open_[i] * (1.0 + slip)
                qty = cash / (px * (1.0 + fee))
                cash = 0.0
        equity[i] = cash + qty * close[i]
    return equity, trades


@njit(cache=True)
def floor_sweep(open_, close, sma, fast_row, slow_row, fee, slip, cash0):
    out = np.empty(fast_row.shape[0])
    n = close.shape[0]
    for p in range(fast_row.shape[0]):
        f = sma[fast_row[p]]
        s = sma[slow_row[p]]
        cash = cash0
        qty = 0.0
        for i in range(2, n):
            up = f[i - 1] > s[i - 1] and f[i - 2] <= s[i - 2]
            down = f[i - 1] < s[i - 1] and f[i - 2] >= s[i - 2]
            if qty > 0.0 and down:
                cash += qty * open_[i] * (1.0 - slip) * (1.0 - fee)
                qty = 0.0
            elif qty == 0.0 and up:
                px = open_[i] * (1.0 + slip)
                qty = cash / (px * (1.0 + fee))
                cash = 0.0
        out[p] = cash + qty * close[n - 1]
    return out


# --- peers ----------------------------------------------------------------------------------


def vbt_available() -> bool:
    try:
        import vectorbt  # noqa: F401
    except ImportError:
        return False
    return True


def vbt_run(close: Any, entries: Any, exits: Any, **kw: Any) -> Any:
    import vectorbt as vbt

    return vbt.Portfolio.from_signals(
        close, entries, exits, fees=FEE, slippage=SLIP, init_cash=kw.pop("init_cash", CASH), **kw
    )


def vbt_trades(pf: Any) -> np.ndarray:
    return pf.trades.values


def compare_with_vbt(result: Any, pf: Any, col: int | None = None) -> str:
    """Return 'OK (...)' when trades and final equity match within 1e-9 relative."""
    vt = vbt_trades(pf)
    if col is not None:
        vt = vt[vt["col"] == col]
    ours = result.trades
    if len(vt) != len(ours):
        return f"MISMATCH trades {len(ours)} vs {len(vt)}"
    worst = 0.0
    for t, v in zip(ours, vt, strict=True):
        if (t.entry_bar, t.exit_bar) != (int(v["entry_idx"]), int(v["exit_idx"])):
            theirs = (int(v["entry_idx"]), int(v["exit_idx"]))
            return f"MISMATCH trade bars {(t.entry_bar, t.exit_bar)} vs {theirs}"
        for a, b in (
            (t.entry_price, v["entry_price"]),
            (t.exit_price, v["exit_price"]),
            (t.quantity, v["size"]),
            (t.pnl, v["pnl"]),
        ):
            worst = max(worst, abs(a - b) / max(abs(b), 1e-12))
    final_v = float(pf.final_value() if col is None else pf.final_value().iloc[col])
    final_rel = abs(result.final_equity - final_v) / final_v
    worst = max(worst, final_rel)
    status = "OK" if worst <= 1e-9 else "MISMATCH"
    return f"{status} ({len(ours)} trades, max rel diff {worst:.1e})"


def backtesting_py_run(candles: Candles, entries: np.ndarray, exits: np.ndarray) -> Any:
    import pandas as pd
    from backtesting import Backtest, Strategy

    df = pd.DataFrame(
        {
            "Open": candles.open,
            "High": candles.high,
            "Low": candles.low,
            "Close": candles.close,
            "Volume": candles.volume,
        },
        index=pd.to_datetime(candles.timestamp, unit="ms", utc=True),
    )

    class RsiStrategy(Strategy):
        def init(self) -> None:
            self.entry = self.I(lambda: entries.astype(float), name="entry")
            self.exit = self.I(lambda: exits.astype(float), name="exit")

        def next(self) -> None:
            if self.position and self.exit[-1]:
                self.position.close()
            elif not self.position and self.entry[-1]:
                self.buy(size=0.9999)

    # backtesting.py buys whole units; a large cash balance keeps the rounding negligible.
    # Its spread moves the entry price only, so twice our per-fill slippage costs the same
    # per round trip.
    bt = Backtest(df, RsiStrategy, cash=1e9, commission=FEE, spread=2 * SLIP)
    return bt.run()


# --- workloads -------------------------------------------------------------------------------


def report(name: str, rows: list[tuple[str, float, str]], floor_ms: float, target: str) -> None:
    print(f"\n{name}   target: {target}")
    base = rows[0][1]
    for label, ms, check in rows:
        print(f"  {label:<34} {ms:9.3f} ms   x{ms / base:7.2f} vs tradeforge   {check}")
    print(f"  tradeforge / numba floor: {base / floor_ms:.2f}x")


def w1(candles: Candles, label: str, target: str, repeats: int) -> None:
    entries, exits = rsi_signals(candles.close)
    signals = Signals(entry_long=entries, exit_long=exits)
    config = BacktestConfig(initial_cash=CASH, fee_taker=FEE, slippage=SLIP)
    result = run_backtest(candles, signals, config)

    def tradeforge() -> float:
        return run_backtest(candles, signals, config).final_equity

    def tradeforge_stats() -> float:
        return run_backtest(candles, signals, config).stats.sharpe_ratio or 0.0

    rows = [
        ("tradeforge (next open)", median_ms(tradeforge, repeats), f"{len(result.trades)} trades"),
        ("tradeforge + stats", median_ms(tradeforge_stats, repeats), ""),
    ]
    floor_equity, _floor_trades = floor_loop(
        candles.open, candles.close, entries, exits, FEE, SLIP, CASH
    )
    clamp_off = BacktestConfig(
        initial_cash=CASH, fee_taker=FEE, slippage=SLIP, clamp_fills_to_bar=False
    )
    unclamped = run_backtest(candles, signals, clamp_off)
    floor_check = abs(floor_equity[-1] - unclamped.final_equity) / unclamped.final_equity
    floor_ms = median_ms(
        lambda: floor_loop(candles.open, candles.close, entries, exits, FEE, SLIP, CASH), repeats
    )
    rows.append(
        ("numba floor (hand-written)", floor_ms, f"final equity rel diff {floor_check:.1e}")
    )
    if vbt_available():
        import pandas as pd

        close = pd.Series(candles.close)
        e, x = pd.Series(entries), pd.Series(exits)
        pf = vbt_run(close, e, x)
        at_close = BacktestConfig(
            initial_cash=CASH,
            fee_taker=FEE,
            slippage=SLIP,
            fill=FillConvention.SIGNAL_CLOSE,
            clamp_fills_to_bar=False,
        )
        ours_close = run_backtest(candles, signals, at_close)
        rows.append(
            (
                "vectorbt from_signals (close)",
                median_ms(lambda: vbt_run(close, e, x).final_value(), repeats),
                "signal_close: " + compare_with_vbt(ours_close, pf),
            )
        )
        # vectorbt at the next open: shift the signals one bar and fill at the open price.
        op = pd.Series(candles.open)
        e1, x1 = e.shift(1, fill_value=False), x.shift(1, fill_value=False)
        pf_open = vbt_run(close, e1, x1, price=op)
        next_open_check = compare_with_vbt(unclamped, pf_open)
        rows.append(
            (
                "vectorbt (shifted, price=open)",
                median_ms(lambda: vbt_run(close, e1, x1, price=op).final_value(), repeats),
                "next_open: " + next_open_check,
            )
        )
    try:
        stats = backtesting_py_run(candles, entries, exits)
        bt_ret = float(stats["Return [%]"])
        # Like for like: backtesting.py does not clamp slipped prices to the bar's range.
        ours_ret = unclamped.stats.total_return_pct
        bt_ms = median_ms(
            lambda: backtesting_py_run(candles, entries, exits), max(3, repeats // 20), 1
        )
        rows.append(
            (
                "backtesting.py",
                bt_ms,
                f"{int(stats['# Trades'])} closed trades, return {bt_ret:.2f}% vs ours "
                f"{ours_ret:.2f}% unclamped (whole units)",
            )
        )
    except ImportError:
        pass
    report(f"W1 RSI(14) 30/70 {label} ({len(candles):,} bars)", rows, floor_ms, target)


def w2(candles: Candles, repeats: int) -> None:
    fast_w, slow_w = range(5, 51, 5), range(20, 201, 10)
    config = BacktestConfig(initial_cash=CASH, fee_taker=FEE, slippage=SLIP)
    sweep = run_sma_cross_sweep(candles, fast_w, slow_w, config)
    n_runs = len(sweep)
    ms = median_ms(lambda: run_sma_cross_sweep(candles, fast_w, slow_w, config), repeats)
    rows = [("tradeforge sweep", ms, f"{n_runs} runs, {n_runs / ms * 1e3:,.0f} backtests/s")]
    # Spot-check the sweep against full single runs.
    worst = 0.0
    for i in range(0, n_runs, 29):
        single = run_backtest(
            candles,
            sma_cross_signals(candles.close, int(sweep.fast[i]), int(sweep.slow[i])),
            config,
        )
        worst = max(worst, abs(single.final_equity - sweep.final_equity[i]) / single.final_equity)
    rows[0] = (rows[0][0], rows[0][1], rows[0][2] + f"; vs single runs rel diff {worst:.1e}")
    from tradeforge.backtest import kernels

    windows = np.array(sorted(set(fast_w) | set(slow_w)), dtype=np.int64)
    row = {int(w): i for i, w in enumerate(windows)}
    fr = np.array([row[int(f)] for f in sweep.fast], dtype=np.int64)
    sr = np.array([row[int(s)] for s in sweep.slow], dtype=np.int64)

    def floor() -> Any:
        table = kernels.sma_table_nb(candles.close, windows)
        return floor_sweep(candles.open, candles.close, table, fr, sr, FEE, SLIP, CASH)

    floor_ms = median_ms(floor, repeats)
    rows.append(
        ("numba floor (hand-written)", floor_ms, f"{n_runs / floor_ms * 1e3:,.0f} backtests/s")
    )
    if vbt_available():
        import pandas as pd
        import vectorbt as vbt

        close = pd.Series(candles.close)
        pairs = list(zip(sweep.fast.tolist(), sweep.slow.tolist(), strict=True))

        def vbt_sweep() -> Any:
            fast = vbt.MA.run(close, window=[p[0] for p in pairs])
            slow = vbt.MA.run(close, window=[p[1] for p in pairs])
            entries = fast.ma_crossed_above(slow)
            exits = fast.ma_crossed_below(slow)
            return vbt_run(close, entries, exits).total_return()

        vbt_ms = median_ms(vbt_sweep, max(3, repeats // 4))
        # Equivalence: feed our exact signals to vectorbt (signal-close) for every pair.
        ent = np.column_stack([sma_cross_signals(candles.close, f, s).entry_long for f, s in pairs])
        ext = np.column_stack([sma_cross_signals(candles.close, f, s).exit_long for f, s in pairs])
        pf = vbt_run(close, pd.DataFrame(ent), pd.DataFrame(ext))
        at_close = BacktestConfig(
            initial_cash=CASH, fee_taker=FEE, slippage=SLIP, fill=FillConvention.SIGNAL_CLOSE,
            clamp_fills_to_bar=False,
        )  # fmt: skip
        ours = run_sma_cross_sweep(candles, fast_w, slow_w, at_close).final_equity
        theirs = pf.final_value().to_numpy()
        rel = float(np.max(np.abs(ours - theirs) / theirs))
        check = (
            f"{'OK' if rel <= 1e-9 else 'MISMATCH'} final equity, {n_runs} pairs, max rel {rel:.1e}"
        )
        rows.append(
            (
                "vectorbt MA.run + from_signals",
                vbt_ms,
                f"{n_runs / vbt_ms * 1e3:,.0f} backtests/s; {check}",
            )
        )
    try:
        from backtesting import Backtest, Strategy  # noqa: F401

        subset = list(zip(sweep.fast.tolist(), sweep.slow.tolist(), strict=True))[:6]

        def bt_subset() -> None:
            for f, s in subset:
                sig = sma_cross_signals(candles.close, f, s)
                backtesting_py_run(candles, sig.entry_long, sig.exit_long)

        per_run = median_ms(bt_subset, 3, 1) / len(subset)
        rows.append(
            (
                "backtesting.py (6 runs, scaled)",
                per_run * n_runs,
                f"{1e3 / per_run:,.0f} backtests/s",
            )
        )
    except ImportError:
        pass
    report(
        f"W2 SMA crossover sweep, {n_runs} runs on {len(candles):,} bars",
        rows,
        floor_ms,
        ">= 4,000 backtests/s",
    )


def twenty_series(days: int) -> dict[str, Candles]:
    spot = sorted(DATA.glob("binance/*_USDT-1h.parquet"))
    perp = [
        DATA / f"binancefuturesusd/{b}_USDT_USDT-1h.parquet"
        for b in ("BTC", "ETH", "SOL", "XRP", "DOGE")
    ]
    series = {}
    for path in spot + perp:
        series[path.parent.name + ":" + path.stem] = load(path)
    end = min(int(c.timestamp[-1]) for c in series.values())
    start = end - days * DAY + 1
    series = {k: c.slice_ms(start, end + 1) for k, c in series.items()}
    # Common grid (every series has a candle) so vectorbt can share one index.
    common = series[next(iter(series))].timestamp
    for c in series.values():
        common = np.intersect1d(common, c.timestamp)
    out = {}
    for key, c in series.items():
        keep = np.isin(c.timestamp, common)
        out[key] = Candles(
            *(getattr(c, f)[keep] for f in ("timestamp", "open", "high", "low", "close", "volume"))
        )
    return dict(list(out.items())[:20])


def w3(repeats: int) -> None:
    series = twenty_series(730)
    symbols = sorted(series)
    sigs = {}
    for s in symbols:
        e, x = rsi_signals(series[s].close)
        sigs[s] = Signals(entry_long=e, exit_long=x)
    config = BacktestConfig(initial_cash=CASH * len(symbols), fee_taker=FEE, slippage=SLIP)
    result = run_portfolio(series, sigs, config)
    ms = median_ms(lambda: run_portfolio(series, sigs, config), repeats)
    n = len(series[symbols[0]])
    rows = [("tradeforge isolated (20 sleeves)", ms, f"{len(result.trades)} trades")]
    cross = BacktestConfig(
        initial_cash=CASH * len(symbols),
        fee_taker=FEE,
        slippage=SLIP,
        margin_mode="cross",
    )
    cross_sigs = {
        s: Signals(entry_long=sigs[s].entry_long, exit_long=sigs[s].exit_long, size=1 / 20)
        for s in symbols
    }
    rows.append(
        (
            "tradeforge cross (shared cash)",
            median_ms(lambda: run_portfolio(series, cross_sigs, cross), repeats),
            "",
        )
    )
    opens = np.column_stack([series[s].open for s in symbols])
    closes = np.column_stack([series[s].close for s in symbols])
    ents = np.column_stack([np.asarray(sigs[s].entry_long) for s in symbols])
    exts = np.column_stack([np.asarray(sigs[s].exit_long) for s in symbols])

    def floor() -> None:
        for j in range(len(symbols)):
            floor_loop(opens[:, j], closes[:, j], ents[:, j], exts[:, j], FEE, SLIP, CASH)

    floor_ms = median_ms(floor, repeats)
    rows.append(("numba floor (20 loops)", floor_ms, ""))
    if vbt_available():
        import pandas as pd

        close = pd.DataFrame(closes, columns=symbols)
        e, x = pd.DataFrame(ents, columns=symbols), pd.DataFrame(exts, columns=symbols)
        pf = vbt_run(close, e, x)
        at_close = BacktestConfig(
            initial_cash=CASH, fee_taker=FEE, slippage=SLIP, fill=FillConvention.SIGNAL_CLOSE,
            clamp_fills_to_bar=False,
        )  # fmt: skip
        worst = "OK"
        for j, s in enumerate(symbols):
            check = compare_with_vbt(run_backtest(series[s], sigs[s], at_close), pf, col=j)
            if not check.startswith("OK"):
                worst = f"{s}: {check}"
                break
        rows.append(
            (
                "vectorbt from_signals (20 cols)",
                median_ms(lambda: vbt_run(close, e, x).final_value(), repeats),
                f"per-symbol signal_close trades+equity: {worst}",
            )
        )
    report(f"W3 RSI on 20 series x {n:,} bars, equal sleeves", rows, floor_ms, "<= 12 ms")


def import_time() -> None:
    code = (
        "import time; t=time.perf_counter(); import tradeforge.backtest; "
        "print(time.perf_counter()-t)"
    )
    runs = sorted(
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(5)
    )
    first_call = (
        "import time, numpy as np; from tradeforge.core.candles import Candles; "
        "from tradeforge.backtest import run_backtest, Signals; "
        "c = Candles.from_arrays(np.arange(3) * 60000, *[np.ones(3)] * 5); "
        "t=time.perf_counter(); run_backtest(c, Signals(entry_long=True)); "
        "print(time.perf_counter()-t)"
    )
    first = float(
        subprocess.run(
            [sys.executable, "-c", first_call], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout
    )
    print(
        f"\nengine import: median {statistics.median(runs) * 1e3:.0f} ms (target <= 500 ms); "
        f"first run with cached kernels: {first * 1e3:.0f} ms"
    )


def record_fixture() -> None:
    """Write vectorbt's results on the bundled test sample for the unit tests to compare."""
    import pandas as pd
    import vectorbt as vbt

    data = np.load(SAMPLE)
    close, open_ = pd.Series(data["close"]), pd.Series(data["open"])
    rsi_e, rsi_x = rsi_signals(data["close"])
    sma = sma_cross_signals(data["close"], 10, 30)
    sma_e, sma_x = np.asarray(sma.entry_long), np.asarray(sma.exit_long)
    cases = {
        # signal_close: vectorbt fills at the signal bar's close (its default).
        "rsi_signal_close": vbt_run(close, pd.Series(rsi_e), pd.Series(rsi_x)),
        "sma_10_30_signal_close": vbt_run(close, pd.Series(sma_e), pd.Series(sma_x)),
        # next_open: signals shifted one bar, filled at that bar's open.
        "rsi_next_open": vbt_run(
            close,
            pd.Series(rsi_e).shift(1, fill_value=False),
            pd.Series(rsi_x).shift(1, fill_value=False),
            price=open_,
        ),
    }
    floats = ("entry_price", "exit_price", "size", "entry_fees", "exit_fees", "pnl")
    payload: dict[str, Any] = {
        "source": f"vectorbt {vbt.__version__} Portfolio.from_signals, fees={FEE}, "
        f"slippage={SLIP}, init_cash={CASH}; RSI(14) < 30 / > 70 and SMA(10)/SMA(30) crosses",
        "cases": {},
    }
    for name, pf in cases.items():
        payload["cases"][name] = {
            "final_value": float(pf.final_value()),
            "trades": [
                {
                    **{f: float(v[f]) for f in floats},
                    "entry_idx": int(v["entry_idx"]),
                    "exit_idx": int(v["exit_idx"]),
                    "is_open": int(v["status"]) == 0,
                }
                for v in vbt_trades(pf)
            ],
        }
    FIXTURE.write_text(json.dumps(payload, indent=1) + "\n")
    counts = {k: len(v["trades"]) for k, v in payload["cases"].items()}
    print(f"wrote {FIXTURE.relative_to(ROOT)} {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record-fixture", action="store_true")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--only", choices=["w1", "w2", "w3", "import"], action="append")
    args = parser.parse_args()
    if args.record_fixture:
        record_fixture()
        return
    r = 20 if args.quick else 100
    only = set(args.only or ["w1", "w2", "w3", "import"])
    btc_1h = load(DATA / "binance/BTC_USDT-1h.parquet")
    if "w1" in only:
        w1(last_days(btc_1h, 730), "BTC/USDT 1h, 2 years", "<= 1.2 ms", r)
        w1(load(DATA / "binance/BTC_USDT-1m.parquet"), "BTC/USDT 1m, all (~91 days)",
           "<= 12 ms per 525,600 bars (scale by bars)", max(10, r // 5))  # fmt: skip
    if "w2" in only:
        w2(last_days(btc_1h, 730), max(5, r // 5))
    if "w3" in only:
        w3(max(10, r // 2))
    if "import" in only:
        import_time()


if __name__ == "__main__":
    main()
