"""``tradeforge worker``: run backtest job workers in the foreground (no HTTP server).

Use it with ``TRADEFORGE_RUN_JOBS_IN_PROCESS=false`` on the API processes to run jobs on
separate machines or processes. Stops gracefully on SIGTERM/Ctrl-C (jobs in hand get up
to 30 s; a job cut short is re-queued by the reaper).
"""

from __future__ import annotations

from typing import Annotated

import typer

from tradeforge.jobs.runner import main as runner_main


def command(
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Worker processes (default: settings).")
    ] = None,
    heartbeat_seconds: Annotated[
        float | None, typer.Option(help="Heartbeat interval of a running job.")
    ] = None,
    stale_seconds: Annotated[
        float | None, typer.Option(help="A heartbeat older than this is a lost worker.")
    ] = None,
    reap_seconds: Annotated[float | None, typer.Option(help="Reaper interval.")] = None,
    time_limit_seconds: Annotated[
        float | None, typer.Option(help="Longest a single backtest may run.")
    ] = None,
) -> None:
    """Run backtest job workers (claim queued jobs from the database) until stopped."""
    argv: list[str] = []
    for name, value in (
        ("--workers", workers),
        ("--heartbeat-seconds", heartbeat_seconds),
        ("--stale-seconds", stale_seconds),
        ("--reap-seconds", reap_seconds),
        ("--time-limit-seconds", time_limit_seconds),
    ):
        if value is not None:
            argv.append(f"{name}={value}")
    raise typer.Exit(runner_main(argv))
