"""``tradeforge backtest STRATEGY_FILE ...``: run a strategy on stored data.

``--type signal`` (the default) runs a Signal DSL script; the parameter types (``dca``,
``grid``, ``pair_trading``, ``cross_sectional``) read ``strategy_params`` from a JSON or TOML
file, validated by the same pydantic models as ``POST /backtest/execute``.
"""

from __future__ import annotations

import json
import sys
import tomllib
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tradeforge.adapters.candles import open_market_data
from tradeforge.config import get_settings
from tradeforge.core.clock import from_ms
from tradeforge.core.errors import InvalidInputError, TradeforgeError
from tradeforge.dsl.errors import DslError
from tradeforge.services.backtests import (
    BacktestOutcome,
    BacktestRequest,
    outcome_json,
    run_backtest_request,
)
from tradeforge.services.strategy_types import (
    CATALOGUE,
    LADDER_TYPES,
    GeneratedStrategy,
    StrategyParams,
    explain_dsl_error,
    generate_script,
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


class StrategyKind(StrEnum):
    """What STRATEGY_FILE holds: a Signal DSL script, or one type's ``strategy_params``."""

    SIGNAL = "signal"
    DCA = "dca"
    GRID = "grid"
    PAIR_TRADING = "pair_trading"
    CROSS_SECTIONAL = "cross_sectional"


class ParamsFileError(InvalidInputError):
    """``strategy_params`` failed their type's model: every problem, each with its field."""

    def __init__(self, kind: str, path: Path, error: ValidationError) -> None:
        self.problems = [
            (
                ".".join(["strategy_params", *(str(p) for p in item.get("loc", ()))]),
                str(item.get("msg", "is invalid")),
            )
            for item in error.errors()[:20]
        ]
        field, message = self.problems[0]
        names = ", ".join(_model_fields(kind))
        super().__init__(
            f"{path.name}: {field}: {message}",
            suggestion=f"Fix the field(s) above in {path}. {kind} takes: {names} (the "
            f"JSON Schema: GET /api/v1/backtest/strategies/{kind}/schema).",
            details={"field": field},
        )


def _model_fields(kind: str) -> list[str]:
    model = CATALOGUE[kind].params_model
    if model is None:
        return []
    return [name + ("" if info.is_required() else "?") for name, info in model.model_fields.items()]


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInputError(
            f"cannot read the strategy file {path}: {e}",
            suggestion=f"Pass the path of a UTF-8 text file with {what}.",
            details={"field": "strategy_file"},
        ) from None


def _read_params(path: Path, kind: str) -> StrategyParams:
    """Load ``strategy_params`` from JSON (or TOML, by a ``.toml`` suffix) and validate them
    with the type's model (the one the API uses)."""
    text = _read_text(path, f"{kind} strategy_params as JSON or TOML")
    fmt = "TOML" if path.suffix.lower() == ".toml" else "JSON"
    data: Any
    try:
        data = tomllib.loads(text) if fmt == "TOML" else json.loads(text)
    except ValueError as e:  # tomllib.TOMLDecodeError is a ValueError too
        raise InvalidInputError(
            f"{path.name} is not valid {fmt}: {e}",
            suggestion=f"Write the {kind} strategy_params as one {fmt} object, e.g. "
            + (
                '{"base_order": 100, "safety_order": 100, "take_profit_pct": 2}'
                if fmt == "JSON"
                else "base_order = 100"
            ),
            details={"field": "strategy_file"},
        ) from None
    if isinstance(data, dict) and set(data) == {"strategy_params"}:
        data = data["strategy_params"]  # an API body's strategy_params block, pasted as is
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"{path.name} must hold one object of {kind} strategy_params, got "
            f"{type(data).__name__}",
            suggestion=f"{kind} takes: {', '.join(_model_fields(kind))}.",
            details={"field": "strategy_params"},
        )
    model = CATALOGUE[kind].params_model
    assert model is not None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ParamsFileError(kind, path, e) from None


def _print_error(err: Console, e: TradeforgeError) -> None:
    err.print(f"[bold red]{e.code}[/]: {e.message}", highlight=False)
    problems = getattr(e, "problems", None)
    if isinstance(problems, list) and len(problems) > 1:
        for field, message in problems:
            err.print(f"  [cyan]{field}[/]: {message}", highlight=False)
    elif field := e.details.get("field"):
        err.print(f"[cyan]field[/]: {field}", highlight=False)
    err.print(f"[yellow]suggestion[/]: {e.suggestion}", highlight=False)


def _ladder_facts(outcome: BacktestOutcome, kind: str) -> list[str]:
    """One line of order counts a trader can check against the chart."""
    filled = [o for o in outcome.result.orders if o.status == "filled"]
    rejected = sum(1 for o in outcome.result.orders if o.status != "filled")
    counts: dict[str, int] = {}
    for o in filled:
        counts[str(o.reason)] = counts.get(str(o.reason), 0) + 1
    if kind == "dca":
        text = (
            f"dca: {counts.get('entry', 0)} base order(s), "
            f"{counts.get('safety_order', 0)} safety order(s) filled, "
            f"{counts.get('take_profit', 0)} take-profit(s), {counts.get('stop', 0)} stop(s)"
        )
    else:
        limits = [o for o in filled if o.order_type == "limit"]
        buys = sum(1 for o in limits if o.side == "buy")
        text = (
            f"grid: {buys} buy and {len(limits) - buys} sell limit fill(s), "
            f"{counts.get('stop', 0)} stop fill(s)"
        )
    return [text + (f", {rejected} rejected" if rejected else "")]


def command(
    strategy_file: Annotated[
        Path,
        typer.Argument(
            help="The Signal DSL script, or for the other --type values a JSON (or .toml) "
            "file of that type's strategy_params.",
            exists=False,
            dir_okay=False,
        ),
    ],
    from_: Annotated[
        str, typer.Option("--from", help="First day of the window (UTC, YYYY-MM-DD).")
    ],
    to: Annotated[
        str, typer.Option("--to", help="Last day of the window (UTC, YYYY-MM-DD, included).")
    ],
    universe: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated tickers: BINANCE:BTC/USDT[,BINANCE:ETH/USDT]. dca and grid "
            "take one; pair_trading defaults to leg_a,leg_b."
        ),
    ] = None,
    strategy_type: Annotated[
        StrategyKind,
        typer.Option(
            "--type",
            help="signal runs a DSL script; dca and grid run the ladder engine; pair_trading "
            "and cross_sectional are converted to a DSL script.",
            case_sensitive=False,
        ),
    ] = StrategyKind.SIGNAL,
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
        list[str] | None,
        typer.Option(help="Signal DSL param(...) value name=value (repeatable; --type signal)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result JSON only.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Where to save the result JSON (default: DATA_DIR/results/<fp>.json)."),
    ] = None,
) -> None:
    """Backtest a strategy on the bundled and your own market data.

    \b
    Signal DSL script (the default --type):
      tradeforge backtest rsi.tf --universe BINANCE:BTC/USDT --timeframe 1h \\
          --from 2024-01-01 --to 2024-06-30
    \b
    Parameter strategies: STRATEGY_FILE holds strategy_params as JSON (or TOML), checked
    like the API's POST /backtest/execute (schema: GET /api/v1/backtest/strategies/TYPE/schema):
      echo '{"base_order": 100, "safety_order": 100, "safety_orders_count": 5,
             "price_deviation_pct": 1.5, "take_profit_pct": 2}' > dca.json
      tradeforge backtest dca.json --type dca --universe BINANCE:BTC/USDT \\
          --timeframe 1h --from 2024-01-01 --to 2024-06-30
    \b
    Types: dca and grid (one ticker, ladder engine); pair_trading (universe defaults to
    leg_a,leg_b); cross_sectional (two or more tickers). Their generated Signal DSL script is
    saved next to the result JSON (same name, .tf). Invalid parameters print each field,
    its message and a suggestion, and exit with code 2.
    """
    err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
    console = Console(width=None if sys.stdout.isatty() else 200)
    kind = str(strategy_type.value)
    generated: GeneratedStrategy | None = None
    script_path: Path | None = None
    try:
        tickers = tuple(u.strip() for u in (universe or "").split(",") if u.strip())
        if kind == "signal":
            script = _read_text(strategy_file, "a Signal DSL script")
        else:
            if param:
                raise InvalidInputError(
                    f"--param sets Signal DSL param(...) values; --type {kind} takes its "
                    "parameters from STRATEGY_FILE",
                    suggestion=f"Put the values in {strategy_file.name}.",
                    details={"field": "params"},
                )
            params = _read_params(strategy_file, kind)
            generated = generate_script(kind, params, tickers, timeframe, mode)
            script, tickers = generated.script, generated.universe
        if not tickers:
            raise InvalidInputError(
                "--universe is required",
                suggestion="Pass the tickers, e.g. --universe BINANCE:BTC/USDT.",
                details={"field": "universe"},
            )
        ladder = generated is not None and kind in LADDER_TYPES
        request = BacktestRequest(
            strategy_type=kind if ladder else "signal",
            strategy_params=generated.params if generated is not None and ladder else None,
            script=script,
            universe=tickers,
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
        try:
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
        except DslError as e:
            if generated is None:
                raise
            raise explain_dsl_error(e, generated) from None
        text = outcome_json(outcome)
        path = out or settings.data_dir / "results" / f"{outcome.fingerprint}.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if generated is not None:
                script_path = path.with_suffix(".tf")
                script_path.write_text(generated.script, encoding="utf-8")
        except OSError as e:
            raise InvalidInputError(
                f"cannot write the result to {path}: {e}",
                suggestion="Pass a writable --out path.",
                details={"field": "out"},
            ) from None
    except TradeforgeError as e:
        _print_error(err, e)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(text)
        return
    console.print(_metrics_table(outcome))
    if outcome.result.trades:
        console.print(_trades_table(outcome))
    if kind in LADDER_TYPES:
        for line in _ladder_facts(outcome, kind):
            console.print(line, highlight=False)
    for warning in outcome.warnings:
        console.print(f"[yellow]warning[/]: {warning}", highlight=False)
    console.print(f"fingerprint {outcome.fingerprint}")
    console.print(f"saved to {path}", highlight=False)
    if script_path is not None:
        console.print(f"generated {kind} script saved to {script_path}", highlight=False)
