"""Backtest job latency and throughput over a real ``tradeforge serve`` process.

* **Latency**: wall time from sending ``POST /backtest/execute`` to the first
  ``GET /backtest/status/{id}`` that answers ``completed``, for a 2-year 1h RSI(14)
  backtest on BINANCE:BTC/USDT (enter < 30, exit > 70), polling every 5 ms. One warm-up
  job, then the median (and min / max) of 10. Target: median under 150 ms.
* **Throughput**: 50 submissions sent concurrently (16 client threads), then polled until
  every job completed; jobs/s = 50 / (first send to last completion). Every job must
  complete.

The server runs with its own temporary data directory (SQLite, in-process job runner with
``--workers`` worker processes) and quotas raised so the benchmark is not rate limited::

    .venv/bin/python benchmarks/bench_jobs.py [--workers 2] [--runs 10] [--concurrent 50]

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

TRADEFORGE = Path(sys.executable).with_name("tradeforge")
SCRIPT = (
    "r = rsi(close, 14)\n"
    'emit_signal(r < 30, entry("BINANCE:BTC/USDT", "LONG", Weight(1)))\n'
    'emit_signal(r > 70, exit("BINANCE:BTC/USDT"))'
)
BODY: dict[str, Any] = {
    "strategy_type": "signal",
    "description": "RSI(14) mean reversion on BTC 1h over two years (benchmark)",
    "script": SCRIPT,
    "universe": ["BINANCE:BTC/USDT"],
    "start_date": "2022-01-01",
    "end_date": "2023-12-31",
    "timeframe": "1h",
}
POLL_SECONDS = 0.005


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    data_dir: Path, workers: int, job_poll_seconds: float | None
) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEFORGE_")}
    env.update(
        TRADEFORGE_DATA_DIR=str(data_dir),
        TRADEFORGE_BACKTEST_WORKERS=str(workers),
        TRADEFORGE_RATE_LIMIT_PER_HOUR="100000000",
        TRADEFORGE_PROVISIONAL_API_CALLS_PER_DAY="100000000",
        TRADEFORGE_PROVISIONAL_BACKTESTS_PER_HOUR="1000000",
        TRADEFORGE_PROVISIONAL_BACKTESTS_PER_DAY="1000000",
        TRADEFORGE_LOG_LEVEL="WARNING",
    )
    if job_poll_seconds is not None:
        env["TRADEFORGE_JOB_POLL_SECONDS"] = str(job_poll_seconds)
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(TRADEFORGE), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/api/v1"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/meta/health", timeout=2)
            return process, base, log_path
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text()) from None
            time.sleep(0.1)


def submit(client: httpx.Client) -> str:
    response = client.post("/backtest/execute", json=BODY)
    response.raise_for_status()
    return str(response.json()["data"]["backtest_id"])


def poll(client: httpx.Client, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data: dict[str, Any] = client.get(f"/backtest/status/{job_id}").json()["data"]
        if data["status"] in ("completed", "failed", "cancelled"):
            return data
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} still {data['status']} after {timeout} s")
        time.sleep(POLL_SECONDS)


def one_latency(client: httpx.Client) -> float:
    started = time.perf_counter()
    status = poll(client, submit(client))
    elapsed = time.perf_counter() - started
    if status["status"] != "completed":
        raise RuntimeError(f"benchmark job ended {status}")
    return elapsed * 1000


def throughput(base: str, key: str, count: int) -> tuple[float, float, int]:
    headers = {"Authorization": f"Bearer {key}"}

    def worker(_: int) -> str:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            return submit(client)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(worker, range(count)))
    submitted = time.perf_counter() - started
    pending = set(ids)
    completed = 0
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        deadline = time.monotonic() + 300
        while pending:
            for job_id in list(pending):
                data = client.get(f"/backtest/status/{job_id}").json()["data"]
                if data["status"] in ("completed", "failed", "cancelled"):
                    pending.discard(job_id)
                    completed += data["status"] == "completed"
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} jobs still unfinished after 300 s")
            time.sleep(POLL_SECONDS)
    total = time.perf_counter() - started
    return total, submitted, completed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="backtest worker processes")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument(
        "--job-poll-seconds",
        type=float,
        default=None,
        help="how often idle workers look for queued jobs (server default: 0.5)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tf-bench-jobs-") as tmp:
        process, base, _log = start_server(Path(tmp), args.workers, args.job_poll_seconds)
        try:
            key = httpx.post(f"{base}/meta/register", json={"display_name": "bench"}, timeout=10)
            api_key = key.json()["data"]["api_key"]
            headers = {"Authorization": f"Bearer {api_key}"}
            with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                warm = one_latency(client)
                times = [one_latency(client) for _ in range(args.runs)]
            med = statistics.median(times)
            poll_text = (
                "default 0.5 s" if args.job_poll_seconds is None else f"{args.job_poll_seconds} s"
            )
            print(
                f"server: tradeforge serve, SQLite, in-process runner, "
                f"{args.workers} worker process(es), idle worker poll {poll_text}"
            )
            print(
                f"job: 2-year 1h RSI(14) on BINANCE:BTC/USDT ({BODY['start_date']} to "
                f"{BODY['end_date']}), status polled every {POLL_SECONDS * 1000:.0f} ms"
            )
            print(f"latency execute -> completed: warm-up {warm:.1f} ms")
            print(
                f"latency execute -> completed: median {med:.1f} ms of {args.runs} "
                f"(min {min(times):.1f}, max {max(times):.1f}) "
                f"[target < 150 ms: {'met' if med < 150 else 'MISSED'}]"
            )
            total, submitted, completed = throughput(base, api_key, args.concurrent)
            print(
                f"throughput: {args.concurrent} concurrent submissions, {completed} completed "
                f"in {total:.2f} s (all submitted after {submitted:.2f} s) = "
                f"{args.concurrent / total:.1f} jobs/s"
            )
            if completed != args.concurrent:
                raise SystemExit(f"only {completed} of {args.concurrent} jobs completed")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
