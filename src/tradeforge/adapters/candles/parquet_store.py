"""One directory of Parquet series: ``<root>/<exchange_id>/<stem>-<timeframe>.parquet``.

The layout is freqtrade's and the shared data set's: ``binance/BTC_USDT-1h.parquet``,
``binancefuturesusd/BTC_USDT_USDT-1h.parquet`` (perpetual, settle last),
``binancefuturesusd/BTC_USDT_USDT-funding_rate.parquet``. OHLCV files hold ``timestamp``
(int64 open time, UTC ms) and float64 ``open, high, low, close, volume``; funding files hold
``timestamp`` and ``funding_rate``. Rows are sorted and unique.

Reads memory-map the file, read only the needed columns and keep the arrays in a shared,
size-bounded LRU cache keyed by path, size and modification time, so a rewritten file is
never served stale. Writes go to a temporary file that replaces the old one atomically:
readers see the old or the new file, never half of one. One writer per series at a time.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from tradeforge.core.candles import COLUMNS, Candles
from tradeforge.core.errors import DataUnavailableError, InvalidInputError
from tradeforge.market.source import FundingRates, Origin, SeriesInfo, SeriesKind
from tradeforge.market.timeframes import TIMEFRAME_MS, anchor_ms, timeframe_ms

logger = logging.getLogger(__name__)

FUNDING_SUFFIX = "funding_rate"
FUNDING_COLUMNS: tuple[str, ...] = ("timestamp", "funding_rate")
METADATA_KEY = b"tradeforge"

Arrays = dict[str, npt.NDArray[Any]]


def symbol_stem(symbol: str) -> str:
    """Return the file-name stem for ``symbol`` (``BTC/USDT:USDT`` -> ``BTC_USDT_USDT``)."""
    return symbol.replace("/", "_").replace(":", "_")


def stem_symbol(stem: str) -> str | None:
    """Invert :func:`symbol_stem`; ``None`` when the stem is not a symbol."""
    parts = stem.split("_")
    if len(parts) == 1 and parts[0].isdigit():
        return parts[0]  # prediction-market token id
    if len(parts) == 2 and all(parts):
        return f"{parts[0]}/{parts[1]}"
    if len(parts) == 3 and all(parts):
        return f"{parts[0]}/{parts[1]}:{parts[2]}"
    return None


def parse_file_name(name: str) -> tuple[str, SeriesKind, str | None] | None:
    """Return ``(symbol, kind, timeframe)`` for a store file name, or ``None``."""
    if not name.endswith(".parquet"):
        return None
    stem, dash, suffix = name[: -len(".parquet")].rpartition("-")
    symbol = stem_symbol(stem) if dash else None
    if symbol is None:
        return None
    if suffix == FUNDING_SUFFIX:
        return symbol, SeriesKind.FUNDING_RATE, None
    if suffix in TIMEFRAME_MS:
        return symbol, SeriesKind.OHLCV, suffix
    return None


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Rows ``added`` (new open times), ``replaced`` (existing rows with new values), ``total``."""

    added: int
    replaced: int
    total: int
    first_ms: int | None
    last_ms: int | None


class ArrayCache:
    """Thread-safe LRU of column arrays, bounded by total bytes."""

    def __init__(self, max_bytes: int = 512 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, int, int], Arrays] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, int]) -> Arrays | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[str, int, int], value: Arrays) -> None:
        size = sum(int(a.nbytes) for a in value.values())
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= sum(int(a.nbytes) for a in old.values())
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes and self._items:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= sum(int(a.nbytes) for a in evicted.values())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


DEFAULT_CACHE = ArrayCache()


def _file_key(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (str(path), st.st_mtime_ns, st.st_size)


def read_columns(path: Path, columns: tuple[str, ...], cache: ArrayCache | None) -> Arrays | None:
    """Read ``columns`` of a Parquet file as read-only numpy arrays (``None``: no file)."""
    key = _file_key(path)
    if key is None:
        return None
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit
    try:
        table = pq.read_table(path, columns=list(columns), memory_map=True, use_threads=True)
    except (OSError, pa.ArrowException) as e:
        raise DataUnavailableError(
            f"Cannot read market data file {path.name}: {e}",
            suggestion="Re-import or re-download the series; the file may be corrupt.",
        ) from e
    arrays: Arrays = {}
    for name in columns:
        column = table.column(name)
        chunk = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        array = chunk.to_numpy(zero_copy_only=False)
        array.flags.writeable = False
        arrays[name] = array
    if cache is not None:
        cache.put(key, arrays)
    return arrays


def _timestamp_range(path: Path) -> tuple[int, int, int] | None:
    # (first, last, rows) from the footer statistics, without reading the data pages.
    key = _file_key(path)
    if key is None:
        return None
    return _footer_range(*key)


@lru_cache(maxsize=4096)
def _footer_range(path_text: str, mtime_ns: int, size: int) -> tuple[int, int, int] | None:
    # Keyed by modification time and size, so a rewritten file is read again.
    path = Path(path_text)
    try:
        meta = pq.read_metadata(path)
    except FileNotFoundError:
        return None
    if meta.num_rows == 0:
        return None
    index = meta.schema.names.index("timestamp")
    lows, highs = [], []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(index).statistics
        if stats is None or not stats.has_min_max:
            ts = read_columns(path, ("timestamp",), None)
            assert ts is not None
            return int(ts["timestamp"][0]), int(ts["timestamp"][-1]), meta.num_rows
        lows.append(int(stats.min))
        highs.append(int(stats.max))
    return min(lows), max(highs), meta.num_rows


def _write_atomic(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(
            table,
            tmp_name,
            compression="zstd",
            use_dictionary=False,
            column_encoding={"timestamp": "DELTA_BINARY_PACKED"},
            row_group_size=max(table.num_rows, 1),
            write_statistics=True,
        )
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _merge_rows(
    old_ts: npt.NDArray[np.int64],
    old_cols: list[npt.NDArray[np.float64]],
    new_ts: npt.NDArray[np.int64],
    new_cols: list[npt.NDArray[np.float64]],
) -> tuple[npt.NDArray[np.int64], list[npt.NDArray[np.float64]], int, int]:
    # New rows win over old rows with the same timestamp.
    overlap = np.isin(old_ts, new_ts)
    replaced = 0
    if overlap.any():
        pos = np.searchsorted(new_ts, old_ts[overlap])
        same = np.ones(int(overlap.sum()), dtype=bool)
        for o, n in zip(old_cols, new_cols, strict=True):
            same &= (o[overlap] == n[pos]) | (np.isnan(o[overlap]) & np.isnan(n[pos]))
        replaced = int((~same).sum())
    keep = ~overlap
    ts = np.concatenate([old_ts[keep], new_ts])
    order = np.argsort(ts, kind="stable")
    cols = [np.concatenate([o[keep], n])[order] for o, n in zip(old_cols, new_cols, strict=True)]
    added = len(new_ts) - int(overlap.sum())
    return ts[order], cols, added, replaced


class ParquetStore:
    """Read and write Parquet series under one root directory.

    Args:
        root: the store directory (created on first write).
        origin: reported in :meth:`list_series` (``user`` or ``bundled``).
        writable: ``False`` for the bundled set; writes then raise.
        cache: the array cache (defaults to the process-wide one).
    """

    def __init__(
        self,
        root: Path,
        *,
        origin: Origin = Origin.USER,
        writable: bool = True,
        cache: ArrayCache | None = DEFAULT_CACHE,
    ) -> None:
        self.root = root
        self.origin = origin
        self.writable = writable
        self.cache = cache

    # -- paths ---------------------------------------------------------------------------

    def candles_path(self, exchange_id: str, symbol: str, timeframe: str) -> Path:
        return self.root / exchange_id / f"{symbol_stem(symbol)}-{timeframe}.parquet"

    def funding_path(self, exchange_id: str, symbol: str) -> Path:
        return self.root / exchange_id / f"{symbol_stem(symbol)}-{FUNDING_SUFFIX}.parquet"

    # -- reads ---------------------------------------------------------------------------

    def read_candles(self, exchange_id: str, symbol: str, timeframe: str) -> Candles:
        """Return every stored candle of the series (empty when none)."""
        cols = read_columns(self.candles_path(exchange_id, symbol, timeframe), COLUMNS, self.cache)
        if cols is None:
            return Candles.empty()
        return Candles(*(cols[name] for name in COLUMNS))

    def read_funding(self, exchange_id: str, symbol: str) -> FundingRates:
        cols = read_columns(self.funding_path(exchange_id, symbol), FUNDING_COLUMNS, self.cache)
        if cols is None:
            return FundingRates.empty()
        return FundingRates(cols["timestamp"], cols["funding_rate"])

    def candles_range(
        self, exchange_id: str, symbol: str, timeframe: str
    ) -> tuple[int, int] | None:
        found = _timestamp_range(self.candles_path(exchange_id, symbol, timeframe))
        return None if found is None else (found[0], found[1])

    def funding_range(self, exchange_id: str, symbol: str) -> tuple[int, int] | None:
        found = _timestamp_range(self.funding_path(exchange_id, symbol))
        return None if found is None else (found[0], found[1])

    def iter_files(self) -> Iterator[tuple[str, str, SeriesKind, str | None, Path]]:
        """Yield ``(exchange_id, symbol, kind, timeframe, path)`` for every series file."""
        if not self.root.is_dir():
            return
        for exchange_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for path in sorted(exchange_dir.glob("*.parquet")):
                parsed = parse_file_name(path.name)
                if parsed is not None:
                    yield exchange_dir.name, parsed[0], parsed[1], parsed[2], path

    def list_series(self) -> list[SeriesInfo]:
        """Return every series in the store, with row counts and ranges from file footers."""
        out = []
        for exchange_id, symbol, kind, timeframe, path in self.iter_files():
            found = _timestamp_range(path)
            if found is None:
                continue
            first, last, rows = found
            out.append(
                SeriesInfo(exchange_id, symbol, kind, timeframe, first, last, rows, self.origin)
            )
        return out

    # -- writes --------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if not self.writable:
            raise InvalidInputError(
                f"The store at {self.root} is read-only.",
                suggestion="Write user data into settings.candles_dir instead.",
            )

    def write_candles(
        self, exchange_id: str, symbol: str, timeframe: str, candles: Candles
    ) -> WriteResult:
        """Merge ``candles`` into the stored series; new rows replace equal open times.

        Raises:
            InvalidInputError: the store is read-only or open times are off the timeframe grid.
        """
        self._check_writable()
        step, anchor = timeframe_ms(timeframe), anchor_ms(timeframe)
        if len(candles) and bool(np.any((candles.timestamp - anchor) % step != 0)):
            raise InvalidInputError(
                f"Candles for {symbol} {timeframe} have open times off the {timeframe} grid.",
                suggestion="Check the timeframe; open times must be multiples of its length.",
            )
        path = self.candles_path(exchange_id, symbol, timeframe)
        old = self.read_candles(exchange_id, symbol, timeframe)
        new_cols = [candles.open, candles.high, candles.low, candles.close, candles.volume]
        old_cols = [old.open, old.high, old.low, old.close, old.volume]
        ts, cols, added, replaced = _merge_rows(
            old.timestamp, old_cols, candles.timestamp, new_cols
        )
        if added == 0 and replaced == 0 and path.exists():
            return WriteResult(0, 0, len(ts), _first(ts), _last(ts))
        arrays = [pa.array(ts, pa.int64()), *(pa.array(c, pa.float64()) for c in cols)]
        table = pa.Table.from_arrays(arrays, names=list(COLUMNS))
        meta = {"exchange_id": exchange_id, "symbol": symbol, "timeframe": timeframe}
        table = table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
        _write_atomic(path, table)
        logger.info("stored %s %s %s: +%d rows", exchange_id, symbol, timeframe, added)
        return WriteResult(added, replaced, len(ts), _first(ts), _last(ts))

    def write_funding(self, exchange_id: str, symbol: str, rates: FundingRates) -> WriteResult:
        """Merge funding settlements into the stored history (same rules as candles)."""
        self._check_writable()
        path = self.funding_path(exchange_id, symbol)
        old = self.read_funding(exchange_id, symbol)
        ts, cols, added, replaced = _merge_rows(
            old.timestamp, [old.rate], rates.timestamp, [rates.rate]
        )
        if added == 0 and replaced == 0 and path.exists():
            return WriteResult(0, 0, len(ts), _first(ts), _last(ts))
        table = pa.Table.from_arrays(
            [pa.array(ts, pa.int64()), pa.array(cols[0], pa.float64())],
            names=list(FUNDING_COLUMNS),
        )
        meta = {"exchange_id": exchange_id, "symbol": symbol, "kind": FUNDING_SUFFIX}
        table = table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
        _write_atomic(path, table)
        return WriteResult(added, replaced, len(ts), _first(ts), _last(ts))


def _first(ts: npt.NDArray[np.int64]) -> int | None:
    return int(ts[0]) if len(ts) else None


def _last(ts: npt.NDArray[np.int64]) -> int | None:
    return int(ts[-1]) if len(ts) else None
