"""Candle-store load times, with peers measured in the same run.

Run: ``.venv/bin/python benchmarks/bench_candles.py``

* "1 year of 1m": the bundled BTC/USDT 1m file covers only 2025-05-20 .. 2025-08-18
  (130,708 candles), so a year (525,600 candles) is built by concatenating that real series
  four times, each copy shifted in time to follow the previous one (no resampling, no
  synthetic prices), and written with the store's own writer into a temporary directory.
* "8 years of 1h": the bundled BTC/USDT 1h file (2018-01 .. 2026-05, 73,265 candles).

Cold = the process-wide array cache is cleared first (file is decoded from Parquet; the OS
page cache is warm). Warm = served from the cache. Peers: ``pandas.read_parquet`` when pandas
is importable; ``pyarrow.csv.read_csv`` and ``numpy.loadtxt`` on a CSV copy of the same
candles (what a user who keeps CSV files would run).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.csv as pa_csv

from tradeforge.adapters.candles.layered import MarketDataStore, open_market_data
from tradeforge.adapters.candles.parquet_store import DEFAULT_CACHE, ParquetStore
from tradeforge.core.candles import Candles

MINUTES_PER_YEAR = 365 * 24 * 60


def timed(fn: Callable[[], object], repeat: int, *, clear: bool) -> float:
    """Median wall time in milliseconds."""
    samples = []
    for _ in range(repeat):
        if clear:
            DEFAULT_CACHE.clear()
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def year_of_minutes(bundled: MarketDataStore) -> Candles:
    real = bundled.load("binance", "BTC/USDT", "1m")
    span = int(real.timestamp[-1] - real.timestamp[0]) + 60_000
    parts = [(real, k * span) for k in range(-(-MINUTES_PER_YEAR // len(real)))]
    cols = {}
    for name in ("timestamp", "open", "high", "low", "close", "volume"):
        pieces = [getattr(c, name) + (shift if name == "timestamp" else 0) for c, shift in parts]
        cols[name] = np.concatenate(pieces)[:MINUTES_PER_YEAR]
    return Candles.from_arrays(**cols)


def write_csv(path: Path, candles: Candles) -> None:
    data = np.column_stack(
        [
            candles.timestamp.astype(np.float64),
            candles.open,
            candles.high,
            candles.low,
            candles.close,
            candles.volume,
        ]
    )
    header = "timestamp,open,high,low,close,volume"
    np.savetxt(path, data, delimiter=",", header=header, comments="", fmt=["%d"] + ["%.10g"] * 5)


def report(label: str, ours_cold: float, ours_warm: float, peers: dict[str, float]) -> None:
    print(f"\n{label}")
    print(f"  tradeforge store, cold (decode Parquet): {ours_cold:8.2f} ms")
    print(f"  tradeforge store, warm (array cache):    {ours_warm:8.3f} ms")
    for name, value in peers.items():
        print(
            f"  peer {name:<36}{value:8.2f} ms   -> store cold is {value / ours_cold:5.1f}x faster"
        )


def main() -> None:
    bundled = open_market_data(None)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = ParquetStore(root / "candles")
        year = year_of_minutes(bundled)
        store.write_candles("binance", "BTC/USDT", "1m", year)
        layered = MarketDataStore(store, None)
        path = store.candles_path("binance", "BTC/USDT", "1m")
        print(f"1y of 1m: {len(year):,} candles, Parquet {path.stat().st_size / 1e6:.1f} MB")

        def load_year() -> None:
            assert len(layered.load("binance", "BTC/USDT", "1m")) == MINUTES_PER_YEAR

        cold = timed(load_year, 15, clear=True)
        warm = timed(load_year, 50, clear=False)
        csv_path = root / "year.csv"
        write_csv(csv_path, year)
        peers = {
            "pyarrow.csv.read_csv (CSV)": timed(lambda: pa_csv.read_csv(csv_path), 5, clear=False)
        }
        try:
            import pandas as pd  # optional peer

            peers["pandas.read_parquet"] = timed(lambda: pd.read_parquet(path), 10, clear=False)
        except ImportError:
            print("  (pandas not installed: pandas.read_parquet peer skipped)")
        peers["numpy.loadtxt (CSV)"] = timed(
            lambda: np.loadtxt(csv_path, delimiter=",", skiprows=1), 1, clear=False
        )
        report("1 year of 1m candles (525,600 rows)", cold, warm, peers)

        def month_slice() -> None:
            layered.load(
                "binance",
                "BTC/USDT",
                "1m",
                int(year.timestamp[100_000]),
                int(year.timestamp[143_200]),
            )

        print(
            "  range read of one month from a warm series: "
            f"{timed(month_slice, 50, clear=False):.3f} ms"
        )

        hourly = bundled.load("binance", "BTC/USDT", "1h")

        def load_hours() -> None:
            assert len(bundled.load("binance", "BTC/USDT", "1h")) == len(hourly)

        cold_h = timed(load_hours, 30, clear=True)
        warm_h = timed(load_hours, 100, clear=False)
        csv_h = root / "hours.csv"
        write_csv(csv_h, hourly)
        peers_h = {
            "pyarrow.csv.read_csv (CSV)": timed(lambda: pa_csv.read_csv(csv_h), 10, clear=False)
        }
        try:
            import pandas as pd  # optional peer

            assert bundled.bundled is not None
            bpath = bundled.bundled.candles_path("binance", "BTC/USDT", "1h")
            peers_h["pandas.read_parquet"] = timed(lambda: pd.read_parquet(bpath), 10, clear=False)
        except ImportError:
            pass
        peers_h["numpy.loadtxt (CSV)"] = timed(
            lambda: np.loadtxt(csv_h, delimiter=",", skiprows=1), 3, clear=False
        )
        report(
            f"8.4 years of 1h candles ({len(hourly):,} rows, bundled BTC/USDT)",
            cold_h,
            warm_h,
            peers_h,
        )

        def load_daily_derived() -> None:
            bundled.load("binance", "BTC/USDT", "1w")

        print(
            "\n1w candles resampled from 8.4 years of 1h (warm): "
            f"{timed(load_daily_derived, 20, clear=False):.2f} ms"
        )


if __name__ == "__main__":
    main()
