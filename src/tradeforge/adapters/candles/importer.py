"""Import candle or funding files a user already has into the user store.

Reads Parquet, CSV and freqtrade Feather files. The exchange, symbol and timeframe come
from the flags when given, else from a freqtrade/tradeforge style path
(``.../binance/BTC_USDT-1h.feather``, ``BTC_USDT_USDT-1h-futures.feather``,
``BTC_USDT_USDT-funding_rate.parquet``); a timeframe that neither names is inferred from
the spacing of the rows. Timestamps may be epoch seconds, milliseconds, microseconds,
nanoseconds, ISO-8601 text or Arrow timestamps; they are stored as UTC milliseconds.
Candles that are still open at import time (per the injected clock) are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.feather as feather
import pyarrow.parquet as pq

from tradeforge.core.candles import Candles
from tradeforge.core.clock import Clock, SystemClock, to_ms
from tradeforge.core.errors import InvalidInputError
from tradeforge.market.gaps import find_gaps
from tradeforge.market.source import FundingRates, SeriesKind
from tradeforge.market.symbols import parse_instrument
from tradeforge.market.timeframes import TIMEFRAME_MS, validate_timeframe

from .parquet_store import ParquetStore, WriteResult

_TIME_COLUMNS = ("timestamp", "date", "time", "datetime", "open_time", "opentime", "ts")
_NAME_RE = re.compile(
    r"^(?P<pair>[A-Za-z0-9]+(?:_[A-Za-z0-9]+){0,2})-(?P<tf>[0-9]+[mhdwM]|funding_rate)"
    r"(?:-(?P<kind>futures|spot|mark|funding_rate))?$"
)
_FUTURES_EXCHANGES = {"binance": "binancefuturesusd", "gate": "gatefutures"}


@dataclass(frozen=True, slots=True)
class ImportResult:
    exchange_id: str
    symbol: str
    kind: SeriesKind
    timeframe: str | None
    rows_read: int
    dropped_open: int
    gaps: int
    write: WriteResult


def _fail(path: Path, message: str, suggestion: str) -> InvalidInputError:
    return InvalidInputError(
        f"Cannot import {path.name}: {message}",
        suggestion=suggestion,
        details={"path": str(path)},
    )


def _read_table(path: Path) -> pa.Table:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pq.read_table(path)
        if suffix in (".feather", ".arrow", ".ipc"):
            return feather.read_table(path)
        if suffix in (".csv", ".txt"):
            return pa_csv.read_csv(path)
    except (OSError, pa.ArrowException) as e:
        raise _fail(path, str(e), "Check that the file is complete and in the named format.") from e
    raise _fail(path, f"unsupported file type '{suffix}'.", "Use .parquet, .csv or .feather.")


def _timestamps_ms(path: Path, column: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    if pa.types.is_timestamp(column.type):
        as_ms = column.cast(pa.timestamp("ms", column.type.tz), safe=False)
        return np.asarray(as_ms.cast(pa.int64()).to_numpy(), dtype=np.int64)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        try:
            parsed = pc.cast(pc.strptime(column, "%Y-%m-%dT%H:%M:%S%z", "ms"), pa.int64())
        except pa.ArrowInvalid:
            try:
                parsed = pc.cast(pc.strptime(column, "%Y-%m-%d %H:%M:%S", "ms"), pa.int64())
            except pa.ArrowInvalid as e:
                raise _fail(
                    path, "unreadable time text.", "Use ISO-8601 UTC times or epoch numbers."
                ) from e
        return np.asarray(parsed.to_numpy(), dtype=np.int64)
    values = np.asarray(column.to_numpy(), dtype=np.float64)
    if values.size == 0:
        return values.astype(np.int64)
    scale = float(np.nanmax(np.abs(values)))
    if scale < 1e11:
        values = values * 1_000  # seconds
    elif scale > 1e17:
        values = values / 1_000_000  # nanoseconds
    elif scale > 1e14:
        values = values / 1_000  # microseconds
    return np.round(values).astype(np.int64)


def _find_column(table: pa.Table, names: tuple[str, ...]) -> str | None:
    lower = {name.lower(): name for name in table.column_names}
    for name in names:
        found: str | None = lower.get(name)
        if found is not None:
            return found
    return None


def _guess_from_path(path: Path) -> tuple[str | None, str | None, str | None, str | None]:
    # (exchange_id, symbol text, timeframe or "funding_rate", kind) from the path.
    match = _NAME_RE.match(path.stem)
    if match is None:
        return None, None, None, None
    parent = path.parent.name.lower()
    grand = path.parent.parent.name.lower()
    kind = match.group("kind")
    exchange = parent
    if parent == "futures":
        exchange = _FUTURES_EXCHANGES.get(grand, grand)
    pair = match.group("pair")
    parts = pair.split("_")
    symbol = None
    if len(parts) == 2:
        symbol = f"{parts[0]}/{parts[1]}"
    elif len(parts) == 3:
        symbol = f"{parts[0]}/{parts[1]}:{parts[2]}"
    elif len(parts) == 1 and parts[0].isdigit():
        symbol = parts[0]
    tf = match.group("tf")
    if kind == "funding_rate":
        tf = "funding_rate"
    return exchange, symbol, tf, kind


def _infer_timeframe(ts: npt.NDArray[np.int64], path: Path) -> str:
    if ts.size < 2:
        raise _fail(path, "too few rows to infer the timeframe.", "Pass --timeframe.")
    step = int(np.median(np.diff(np.sort(ts))))
    for name, ms in TIMEFRAME_MS.items():
        if ms == step:
            return name
    raise _fail(path, f"rows are {step} ms apart, not a known timeframe.", "Pass --timeframe.")


def import_file(
    store: ParquetStore,
    path: Path,
    *,
    exchange_id: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
    clock: Clock | None = None,
) -> ImportResult:
    """Import one candle or funding file into ``store``.

    Args:
        store: the user store to write into.
        path: a ``.parquet``, ``.csv`` or ``.feather`` file.
        exchange_id, symbol, timeframe: override what the path says; ``timeframe`` may be
            ``funding_rate`` for a funding history.
        clock: decides which candles are still open (default: the system clock).

    Raises:
        InvalidInputError: unreadable file, missing columns, or unknown exchange/symbol.
    """
    if not path.is_file():
        raise _fail(path, "no such file.", "Check the path.")
    guess_exchange, guess_symbol, guess_tf, guess_kind = _guess_from_path(path)
    if guess_kind == "mark" and timeframe is None:
        raise _fail(
            path,
            "mark-price candles are not trade candles.",
            "Skip *-mark files; pass --timeframe to import one deliberately.",
        )
    exchange = exchange_id or guess_exchange
    symbol_text = symbol or guess_symbol
    if exchange is None or symbol_text is None:
        raise _fail(
            path,
            "the file name does not say the exchange and symbol.",
            "Pass --exchange and --symbol, or name it <exchange>/<BASE>_<QUOTE>-<tf>.parquet.",
        )
    instrument = parse_instrument(symbol_text, exchange)
    table = _read_table(path)
    time_name = _find_column(table, _TIME_COLUMNS)
    if time_name is None:
        raise _fail(path, "no time column.", f"Name one of: {', '.join(_TIME_COLUMNS)}.")
    ts = _timestamps_ms(path, table.column(time_name))
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    # Keep the last row of each duplicated open time (later rows are fresher).
    last_of_run = np.r_[ts[1:] != ts[:-1], True] if ts.size else np.zeros(0, dtype=bool)
    tf = timeframe or guess_tf
    if tf == "funding_rate" or (tf is None and _find_column(table, ("funding_rate",))):
        rate_name = _find_column(table, ("funding_rate", "fundingrate", "rate", "open"))
        if rate_name is None:
            raise _fail(path, "no funding_rate column.", "Name the rate column funding_rate.")
        rate = np.asarray(table.column(rate_name).to_numpy(), dtype=np.float64)[order]
        rates = FundingRates.from_arrays(ts[last_of_run], rate[last_of_run])
        result = store.write_funding(instrument.exchange_id, instrument.symbol, rates)
        return ImportResult(
            instrument.exchange_id, instrument.symbol, SeriesKind.FUNDING_RATE, None,
            table.num_rows, 0, 0, result,
        )  # fmt: skip
    tf = validate_timeframe(tf) if tf is not None else _infer_timeframe(ts, path)
    cols = []
    for name in ("open", "high", "low", "close", "volume"):
        found = _find_column(table, (name, name[0]))
        if found is None:
            raise _fail(path, f"no '{name}' column.", "Provide open, high, low, close, volume.")
        values = np.asarray(table.column(found).to_numpy(), dtype=np.float64)[order]
        cols.append(values[last_of_run])
    ts = ts[last_of_run]
    if bool(np.isnan(np.stack(cols)).any()):
        raise _fail(path, "some prices or volumes are empty (NaN).", "Remove or fix those rows.")
    now_ms = to_ms((clock or SystemClock()).now())
    closed = ts + TIMEFRAME_MS[tf] <= now_ms
    dropped = int((~closed).sum())
    candles = Candles.from_arrays(ts[closed], *(c[closed] for c in cols))
    result = store.write_candles(instrument.exchange_id, instrument.symbol, tf, candles)
    return ImportResult(
        instrument.exchange_id, instrument.symbol, SeriesKind.OHLCV, tf,
        table.num_rows, dropped, len(find_gaps(candles, tf)), result,
    )  # fmt: skip
