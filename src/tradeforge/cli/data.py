"""``tradeforge data ...``: list, import, download and check market data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from tradeforge.adapters.candles import import_file, open_market_data
from tradeforge.adapters.candles.parquet_store import ParquetStore
from tradeforge.adapters.exchanges import CcxtDownloader, create_exchange
from tradeforge.config import get_settings
from tradeforge.core.clock import SystemClock, from_ms, to_ms
from tradeforge.core.errors import InvalidInputError, TradeforgeError
from tradeforge.market.gaps import find_gaps
from tradeforge.market.source import SeriesKind
from tradeforge.market.symbols import resolve_exchange

app = typer.Typer(
    help="Market data: list, import, download and check candles.", no_args_is_help=True
)
console = Console()

_IMPORTABLE = (".parquet", ".csv", ".feather", ".arrow")


def _date_ms(text: str, name: str) -> int:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise InvalidInputError(
            f"--{name} '{text}' is not a date.",
            suggestion="Write dates as YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC).",
        ) from e
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return to_ms(when)


def _iso(ms: int) -> str:
    return from_ms(ms).strftime("%Y-%m-%d %H:%M")


def _fail(error: TradeforgeError) -> typer.Exit:
    console.print(f"[red]{error.code}[/red]: {error.message}")
    console.print(f"[dim]{error.suggestion}[/dim]")
    return typer.Exit(code=1)


@app.command("list")
def list_data(
    exchange: Annotated[str | None, typer.Option(help="Only this exchange id.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Only this symbol (BTC/USDT).")] = None,
) -> None:
    """Show every stored series: bundled data and your own downloads and imports."""
    store = open_market_data(get_settings())
    table = Table(title="Market data")
    for column in ("exchange", "symbol", "series", "first (UTC)", "last (UTC)", "rows", "origin"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for info in store.list_series():
        if exchange is not None and info.exchange_id != exchange.lower():
            continue
        if symbol is not None and info.symbol != symbol.upper():
            continue
        series = info.timeframe if info.kind == SeriesKind.OHLCV else "funding rate"
        table.add_row(
            info.exchange_id, info.symbol, series or "", _iso(info.first_ms), _iso(info.last_ms),
            f"{info.rows:,}", info.origin.value,
        )  # fmt: skip
    console.print(table)


@app.command("import")
def import_data(
    path: Annotated[Path, typer.Argument(help="A .parquet/.csv/.feather file or a directory.")],
    exchange: Annotated[str | None, typer.Option(help="Exchange id, if the path lacks it.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Symbol, if the file name lacks it.")] = None,
    timeframe: Annotated[
        str | None, typer.Option(help="Timeframe or 'funding_rate'; inferred when omitted.")
    ] = None,
) -> None:
    """Import candle or funding files you already have into your data directory."""
    store = ParquetStore(get_settings().candles_dir)
    files = (
        sorted(p for p in path.rglob("*") if p.suffix.lower() in _IMPORTABLE)
        if path.is_dir()
        else [path]
    )
    failed = 0
    for file in files:
        try:
            result = import_file(
                store, file, exchange_id=exchange, symbol=symbol, timeframe=timeframe
            )
        except TradeforgeError as e:
            failed += 1
            console.print(f"[red]{file}[/red]: {e.message} [dim]({e.suggestion})[/dim]")
            continue
        what = result.timeframe or "funding rate"
        console.print(
            f"{file.name}: {result.exchange_id} {result.symbol} {what}: "
            f"{result.rows_read:,} rows read, {result.write.added:,} added, "
            f"{result.write.total:,} stored, {result.gaps} gaps, "
            f"{result.dropped_open} open candle(s) dropped"
        )
    if failed:
        raise typer.Exit(code=1)


@app.command("download")
def download(
    exchange: Annotated[str, typer.Option(help="Exchange id (binance, binancefuturesusd...).")],
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols: BTC/USDT,ETH/USDT.")],
    since: Annotated[str, typer.Option(help="Start date (UTC), e.g. 2024-01-01.")],
    timeframe: Annotated[str, typer.Option(help="Candle timeframe.")] = "1h",
    until: Annotated[str | None, typer.Option(help="End date (UTC, exclusive).")] = None,
    funding: Annotated[bool, typer.Option(help="Also download funding rates (perps).")] = False,
    api_url: Annotated[
        str | None, typer.Option(help="Send requests to this base URL (a mirror or proxy).")
    ] = None,
) -> None:
    """Download closed candles through ccxt, resuming after what is already stored."""
    try:
        since_ms = _date_ms(since, "since")
        until_ms = None if until is None else _date_ms(until, "until")
        store = ParquetStore(get_settings().candles_dir)
        info = resolve_exchange(exchange)
        client = create_exchange(info, api_base_url=api_url)
        downloader = CcxtDownloader(info.id, store, clock=SystemClock(), exchange=client)
        names = [s.strip() for s in symbols.split(",") if s.strip()]
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as progress:
            for name in names:
                task = progress.add_task(f"{name} {timeframe}", total=None)

                def report(done: int, total: int, task_id: TaskID = task) -> None:
                    progress.update(task_id, completed=done, total=total or None)

                result = downloader.download_ohlcv(
                    name, timeframe, since_ms=since_ms, until_ms=until_ms, progress=report
                )
                progress.console.print(
                    f"{result.symbol} {timeframe}: {result.added:,} new candles "
                    f"in {result.requests} requests"
                )
                if funding:
                    result = downloader.download_funding(name, since_ms=since_ms, until_ms=until_ms)
                    progress.console.print(f"{result.symbol} funding: {result.added:,} new rates")
    except TradeforgeError as e:
        raise _fail(e) from e


@app.command("gaps")
def gaps(
    exchange: Annotated[str, typer.Option(help="Exchange id.")],
    symbol: Annotated[str, typer.Option(help="Symbol (BTC/USDT).")],
    timeframe: Annotated[str, typer.Option(help="Timeframe.")] = "1h",
) -> None:
    """Report missing candles in a stored series (gaps are never filled)."""
    try:
        candles = open_market_data(get_settings()).load(exchange.lower(), symbol, timeframe)
        found = find_gaps(candles, timeframe)
    except TradeforgeError as e:
        raise _fail(e) from e
    table = Table(title=f"{exchange} {symbol} {timeframe}: {len(found)} gaps")
    table.add_column("first missing (UTC)")
    table.add_column("data resumes (UTC)")
    table.add_column("missing", justify="right")
    for gap in found:
        table.add_row(_iso(gap.start_ms), _iso(gap.end_ms), str(gap.missing))
    console.print(table)
