"""``tradeforge backtest STRATEGY_FILE ...``: run a Signal DSL strategy on stored data."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tradeforge.adapters.candles import open_market_data
from tradeforge.config import get_settings
from tradeforge.core.clock import from_ms
from tradeforge.core.errors import InvalidInputError, TradeforgeError
from tradeforge.services.backtests import (
    BacktestOutcome,
    BacktestRequest,
    outcome_json,
    run_backtest_request,
)

_STAGES = {
    "loading_script": "compiling the script",
    "loading_data": "loading candles",
    "executing": "running the backtest",
    "done": "done",
}


def _date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise InvalidInputError(
            f"--{name} '{text}' is not a date.",
            suggestion="Write dates as YYYY-MM-DD (UTC).",
            details={"field": name},
        ) from None


def _params(values: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in values:
        name, eq, raw = item.partition("=")
        try:
            if not eq or not name.strip():
                raise ValueError
            out[name.strip()] = float(raw)
        except ValueError:
            raise InvalidInputError(
                f"--param '{item}' is not name=value.",
                suggestion="Pass numeric strategy parameters as --param window=50.",
                details={"field": "params"},
            ) from None
    return out


def _fmt(value: object, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}{suffix}"
    return f"{value}{suffix}"


def _metrics_table(outcome: BacktestOutcome) -> Table:
    m = outcome.metrics()
    table = Table(title="Backtest metrics", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = (
        ("initial equity", _fmt(m["initial_equity"])),
        ("final equity", _fmt(m["final_equity"])),
        ("total return", _fmt(m["total_return_pct"], " %")),
        ("CAGR", _fmt(m["cagr_pct"], " %")),
        ("max drawdown", _fmt(m["max_drawdown_pct"], " %")),
        ("Sharpe ratio", _fmt(m["sharpe_ratio"])),
        ("Sortino ratio", _fmt(m["sortino_ratio"])),
        ("Calmar ratio", _fmt(m["calmar_ratio"])),
        ("trades (closed / open)", f"{m['num_trades']} / {m['open_trades']}"),
        ("win rate", _fmt(m["win_rate_pct"], " %")),
        ("profit factor", _fmt(m["profit_factor"])),
        ("exposure", _fmt(m["exposure_pct"], " %")),
        ("fees paid", _fmt(m["fees_paid"])),
        ("funding paid", _fmt(m["funding_paid"])),
        ("buy & hold", _fmt(m["buy_and_hold_return_pct"], " %")),
    )
    for name, value in rows:
        table.add_row(name, value)
    return table


def _trades_table(outcome: BacktestOutcome, limit: int = 10) -> Table:
    trades = outcome.result.trades
    table = Table(title=f"Trades ({len(trades)}; last {min(limit, len(trades))} shown)")
    for column in ("symbol", "side", "entry (UTC)", "exit (UTC)", "entry", "exit", "pnl", "reason"):
        table.add_column(column, justify="right" if column in ("entry", "exit", "pnl") else "left")
    for t in trades[-limit:]:
        table.add_row(
            t.symbol,
            t.side,
            _when(t.entry_time),
            _when(t.exit_time),
            f"{t.entry_price:,.4f}",
            f"{t.exit_price:,.4f}",
            f"{t.pnl:,.2f}",
            "open" if t.is_open else str(t.reason),
        )
    return table


def _when(ms: int) -> str:
    return from_ms(ms).strftime("%Y-%m-%d %H:%M")


def command(
    strategy_file: Annotated[
        Path, typer.Argument(help="The Signal DSL script.", exists=False, dir_okay=False)
    ],
    universe: Annotated[
        str, typer.Option(help="Comma-separated tickers: BINANCE:BTC/USDT[,BINANCE:ETH/USDT].")
    ],
    from_: Annotated[
        str, typer.Option("--from", help="First day of the window (UTC, YYYY-MM-DD).")
    ],
    to: Annotated[str, typer.Option("--to", help="End of the window (UTC day, excluded).")],
    timeframe: Annotated[str, typer.Option(help="1m, 5m, 15m, 1h, 4h or 1d.")] = "1h",
    cash: Annotated[float, typer.Option(help="Initial cash (quote currency).")] = 10_000.0,
    fee: Annotated[float, typer.Option(help="Fee rate per fill (0.0005 = 5 bps).")] = 0.0005,
    slippage: Annotated[float, typer.Option(help="Slippage per fill (fraction).")] = 0.0005,
    leverage: Annotated[float, typer.Option(help="1 to 100.")] = 1.0,
    mode: Annotated[str, typer.Option(help="isolated or cross.")] = "isolated",
    exchange: Annotated[str, typer.Option(help="Exchange for bare BASE/QUOTE tickers.")] = (
        "binance"
    ),
    stop_loss: Annotated[
        float | None, typer.Option(help="Portfolio stop, percent of initial cash.")
    ] = None,
    take_profit: Annotated[
        float | None, typer.Option(help="Portfolio take-profit, percent of initial cash.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="Strategy parameter name=value (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result JSON only.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Where to save the result JSON (default: DATA_DIR/results/<fp>.json)."),
    ] = None,
) -> None:
    """Backtest a Signal DSL strategy on the bundled and your own market data."""
    err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
    console = Console(width=None if sys.stdout.isatty() else 200)
    try:
        try:
            script = strategy_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidInputError(
                f"cannot read the strategy file {strategy_file}: {e}",
                suggestion="Pass the path of a UTF-8 text file with a Signal DSL script.",
                details={"field": "strategy_file"},
            ) from None
        request = BacktestRequest(
            script=script,
            universe=tuple(u.strip() for u in universe.split(",") if u.strip()),
            start_date=_date(from_, "from"),
            end_date=_date(to, "to"),
            exchange=exchange,
            timeframe=timeframe,
            initial_cash=cash,
            leverage=leverage,
            trading_fee=fee,
            slippage=slippage,
            stop_loss=stop_loss,
            take_profit=take_profit,
            mode=mode,
            params=_params(param or []) or None,
        )
        request.validate()
        settings = get_settings()
        source = open_market_data(settings)
        if as_json:
            outcome = run_backtest_request(request, source)
        else:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task("starting", total=100)

                def progress(pct: float, stage: str) -> None:
                    bar.update(task, completed=pct, description=_STAGES.get(stage, stage))

                outcome = run_backtest_request(request, source, progress=progress)
        text = outcome_json(outcome)
        path = out or settings.data_dir / "results" / f"{outcome.fingerprint}.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as e:
            raise InvalidInputError(
                f"cannot write the result to {path}: {e}",
                suggestion="Pass a writable --out path.",
                details={"field": "out"},
            ) from None
    except TradeforgeError as e:
        err.print(f"[bold red]{e.code}[/]: {e.message}", highlight=False)
        err.print(f"[yellow]suggestion[/]: {e.suggestion}", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(text)
        return
    console.print(_metrics_table(outcome))
    if outcome.result.trades:
        console.print(_trades_table(outcome))
    for warning in outcome.warnings:
        console.print(f"[yellow]warning[/]: {warning}", highlight=False)
    console.print(f"fingerprint {outcome.fingerprint}")
    console.print(f"saved to {path}", highlight=False)
