"""The worker pool: N spawned worker processes that claim queued backtest jobs from the
database, plus a supervisor thread that runs the reaper and replaces dead workers.

* Workers are started with the ``spawn`` method, so no database connection (or any other
  state) crosses a ``fork()``; each worker creates its own engine.
* A worker loops: claim the next job fairly across API keys (compare-and-set
  ``queued -> running``), run it with a heartbeat thread, repeat; when idle it polls.
* The supervisor runs the reaper at start and every ``reap_interval_seconds``: a running
  job whose heartbeat is older than ``stale_seconds`` goes back to ``queued`` (attempts < 3)
  or to ``failed`` with ``WORKER_LOST``. It also restarts workers that died (kill -9,
  time limit), and in ``lazy`` mode (the API's in-process runner) starts the workers only
  once there is work, so an idle server spawns nothing.

Run it standalone with ``python -m tradeforge.jobs.runner --workers 2`` (settings come from
``TRADEFORGE_*`` as usual); the API starts one in-process when
``settings.run_jobs_in_process`` is true.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event as MpEvent
from types import FrameType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tradeforge.adapters.storage.db import create_db_engine, create_session_factory
from tradeforge.config import Settings, get_settings
from tradeforge.core.clock import SystemClock
from tradeforge.core.jobs import ReapReport
from tradeforge.jobs.worker import (
    JobTimings,
    build_context,
    reap_jobs,
    run_next,
    unit_of_work,
)
from tradeforge.observability import configure_logging

log = logging.getLogger(__name__)

_SPAWN = multiprocessing.get_context("spawn")


def _worker_main(
    settings: Settings,
    timings: JobTimings,
    stop: MpEvent,
    work: MpEvent,
    parent_pid: int,
    name: str,
) -> None:
    """Body of one worker process.

    An idle worker sleeps until ``work`` is set (a submission in this process tree) or
    ``poll_seconds`` pass (jobs submitted elsewhere, e.g. by another API process).
    """
    configure_logging(settings.log_level, settings.log_json)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    ctx = build_context(settings, timings)
    try:
        while not stop.is_set() and os.getppid() == parent_pid:
            try:
                status = run_next(ctx)
            except Exception:
                log.exception("worker %s: claim or run failed; backing off", name)
                status = None
            if status is None and not stop.is_set() and work.wait(timings.poll_seconds):
                work.clear()
    finally:
        ctx.close()


class JobRunner:
    """Supervise ``workers`` worker processes and the reaper."""

    def __init__(
        self,
        settings: Settings,
        *,
        workers: int | None = None,
        timings: JobTimings | None = None,
        lazy: bool = False,
    ) -> None:
        self.settings = settings
        self.workers = int(workers or settings.backtest_workers)
        self.timings = timings or JobTimings.from_settings(settings)
        self.lazy = lazy
        self._stop = _SPAWN.Event()
        self._work = _SPAWN.Event()
        self._halt = threading.Event()
        self._wake = threading.Event()
        self._procs: list[SpawnProcess] = []
        self._spawned = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None
        self._clock = SystemClock()
        self.last_reap: ReapReport | None = None

    # -- public ----------------------------------------------------------------------------

    def start(self) -> JobRunner:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._supervise, name="job-runner", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Tell the runner there is work (a new submission): idle workers claim it at once."""
        self._wake.set()
        self._work.set()

    @property
    def worker_pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs if p.pid is not None and p.is_alive()]

    def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop the workers: they finish the job in hand (up to ``grace_seconds``), then
        are terminated; a job cut short is re-queued by the next reaper run."""
        self._halt.set()
        self._stop.set()
        self._wake.set()
        self._work.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        deadline = time.monotonic() + grace_seconds
        with self._lock:
            procs = list(self._procs)
            self._procs.clear()
        for proc in procs:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        if self._engine is not None:
            self._engine.dispose()
            self._engine = self._factory = None

    def _session_factory(self) -> sessionmaker[Session]:
        # The supervisor's own engine: it lives in this (parent) process and is never
        # handed to a worker (workers are spawned and build their own).
        if self._factory is None:
            self._engine = create_db_engine(self.settings.effective_database_url)
            self._factory = create_session_factory(self._engine)
        return self._factory

    def reap_once(self) -> ReapReport:
        self.last_reap = reap_jobs(self._session_factory(), self._clock, self.timings.stale_seconds)
        return self.last_reap

    # -- supervisor --------------------------------------------------------------------------

    def _spawn_one(self) -> None:
        self._spawned += 1
        proc = _SPAWN.Process(
            target=_worker_main,
            args=(
                self.settings,
                self.timings,
                self._stop,
                self._work,
                os.getpid(),
                f"w{self._spawned}",
            ),
            name=f"tradeforge-worker-{self._spawned}",
            daemon=True,
        )
        proc.start()
        self._procs.append(proc)

    def _ensure_workers(self) -> None:
        with self._lock:
            if self._halt.is_set():
                return
            for proc in [p for p in self._procs if not p.is_alive()]:
                log.warning("worker %s (pid %s) exited with %s", proc.name, proc.pid, proc.exitcode)
                proc.join(timeout=0)
                self._procs.remove(proc)
            while len(self._procs) < self.workers:
                self._spawn_one()

    def _has_work(self) -> bool:
        with unit_of_work(self._session_factory()) as repo:
            return repo.has_queued()

    def _supervise(self) -> None:
        next_reap = 0.0
        active = not self.lazy
        idle_check = 0.0
        while not self._halt.is_set():
            now = time.monotonic()
            try:
                if now >= next_reap:
                    self.reap_once()
                    next_reap = now + self.timings.reap_interval_seconds
                if not active and (self._wake.is_set() or now >= idle_check):
                    active = self._wake.is_set() or self._has_work()
                    idle_check = now + 2.0
                if active:
                    self._ensure_workers()
            except Exception:
                log.exception("job runner supervisor step failed; retrying")
            self._wake.wait(min(1.0, self.timings.reap_interval_seconds))
            if active:
                self._wake.clear()


def start_in_process_runner(settings: Settings) -> JobRunner | None:
    """The API's runner, when ``settings.run_jobs_in_process`` allows (lazy: it spawns its
    workers only once a job is queued)."""
    if not settings.run_jobs_in_process:
        return None
    return JobRunner(settings, lazy=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tradeforge.jobs.runner", description="Run backtest job workers."
    )
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--heartbeat-seconds", type=float, default=None)
    parser.add_argument("--stale-seconds", type=float, default=None)
    parser.add_argument("--reap-seconds", type=float, default=None)
    parser.add_argument("--time-limit-seconds", type=float, default=None)
    parser.add_argument("--poll-seconds", type=float, default=None)
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    timings = JobTimings.from_settings(
        settings,
        heartbeat_seconds=args.heartbeat_seconds,
        stale_seconds=args.stale_seconds,
        reap_interval_seconds=args.reap_seconds,
        time_limit_seconds=args.time_limit_seconds,
        poll_seconds=args.poll_seconds,
    )
    runner = JobRunner(settings, workers=args.workers, timings=timings)
    done = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping workers", signum)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runner.start()
    log.info("job runner started: %d worker(s), pid %d", runner.workers, os.getpid())
    while not done.wait(0.5):
        pass
    runner.stop(grace_seconds=30.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
