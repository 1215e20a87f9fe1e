"""The real server the browser tests use, started early.

A fresh server's first backtest pays for starting its worker processes (about 15 s on
two busy cores), so the server starts, and that backtest is submitted, in a background
thread as soon as the browser tests are collected; the other tests run meanwhile.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_support import PASSWORD
from e2e_support import running_server
from tradeforge.adapters.storage.counters import DatabaseCounterStore
from tradeforge.adapters.storage.db import create_db_engine, create_session_factory
from tradeforge.adapters.storage.repositories.accounts import SqlAccountRepository
from tradeforge.core.clock import SystemClock
from tradeforge.services.accounts import AccountService

SCRIPT = (
    "oversold = rsi(close, 14) < 30\n"
    "overbought = rsi(close, 14) > 70\n"
    'emit_signal(oversold, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))\n'
    'emit_signal(overbought, exit("BINANCE:BTC/USDT"))\n'
)


@dataclass
class Site:
    root: str
    api: str
    data_dir: Path
    users: int = 0
    #: The user, agent and job of the backtest submitted when the server started (the
    #: first backtest of a fresh server pays for starting the workers, so it runs while
    #: the other tests do).
    owner: str = ""
    owner_agent: dict[str, Any] = field(default_factory=dict)
    job_id: str = ""

    def call(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        response = httpx.request(method, f"{self.api}{path}", headers=headers, timeout=30, **kwargs)
        body = response.json()
        assert body["success"], body
        return body["data"]

    def user(self) -> str:
        """A new user, written to the server's database the way the operator's CLI does
        (``tradeforge users create``; a subprocess would cost seconds)."""
        self.users += 1
        email = f"browser{self.users}@example.com"
        engine = create_db_engine(f"sqlite:///{self.data_dir / 'tradeforge.sqlite3'}")
        try:
            with create_session_factory(engine)() as session:
                accounts = AccountService(
                    SqlAccountRepository(session), SystemClock(), DatabaseCounterStore(engine)
                )
                accounts.create_user(email, PASSWORD)
                session.commit()
        finally:
            engine.dispose()
        return email

    def agent(self, name: str) -> dict[str, Any]:
        data = self.call("POST", "/meta/register", json={"display_name": name})
        return {"key": data["api_key"], "agent_id": data["agent_id"], "name": name}

    def claim_code(self, agent: dict[str, Any]) -> str:
        return str(self.call("POST", "/meta/request-claim", key=agent["key"])["claim_code"])


def submit_backtest(site: Site, key: str) -> str:
    body = {
        "strategy_type": "signal",
        "description": "BTC/USDT RSI(14) 30/70, 1h, 2024 H1",
        "script": SCRIPT,
        "universe": ["BINANCE:BTC/USDT"],
        "start_date": "2024-01-01",
        "end_date": "2024-06-30",
        "timeframe": "1h",
        "initial_cash": 10000,
    }
    return str(site.call("POST", "/backtest/execute", key=key, json=body)["backtest_id"])


def wait_for_result(site: Site, key: str, job_id: str) -> str:
    deadline = time.monotonic() + 120
    while True:
        status = site.call("GET", f"/backtest/status/{job_id}", key=key)
        if status["status"] == "completed":
            return str(status["result_id"])
        assert status["status"] in ("queued", "running"), status
        assert time.monotonic() < deadline, status
        time.sleep(0.25)


class EarlySite:
    """Start ``tradeforge serve``, a user with a claimed agent and its backtest, in a thread."""

    def __init__(self) -> None:
        self._base = Path(tempfile.mkdtemp(prefix="tf-dashboard-e2e-"))
        self._stack = ExitStack()
        self._thread = threading.Thread(target=self._start, name="dashboard-e2e", daemon=True)
        self._site: Site | None = None
        self._error: BaseException | None = None

    def start(self) -> EarlySite:
        self._thread.start()
        return self

    def _start(self) -> None:
        try:
            data_dir = self._base / "data"
            api = self._stack.enter_context(running_server(data_dir, self._base / "server.log"))
            site = Site(api.removesuffix("/api/v1"), api, data_dir)
            site.owner = site.user()
            site.owner_agent = site.agent("RSI Agent")
            login = {"email": site.owner, "password": PASSWORD}
            session = site.call("POST", "/auth/login", json=login)
            code = site.claim_code(site.owner_agent)
            site.call("POST", "/meta/claim", key=session["token"], json={"claim_code": code})
            site.job_id = submit_backtest(site, site.owner_agent["key"])
            self._site = site
        except BaseException as error:  # reported to the test that needs the site
            self._error = error

    def get(self, timeout: float = 120) -> Site:
        self._thread.join(timeout)
        if self._error is not None:
            log = self._base / "server.log"
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            pytest.fail(f"the dashboard test server did not start: {self._error!r}\n{tail}")
        assert self._site is not None, "the dashboard test server is still starting"
        return self._site

    def close(self) -> None:
        self._thread.join(60)
        self._stack.close()
        shutil.rmtree(self._base, ignore_errors=True)


EARLY_SITE = pytest.StashKey[EarlySite]()


def early_site(request: pytest.FixtureRequest) -> Site:
    early = request.config.stash.get(EARLY_SITE, None)
    if early is None:  # collected some other way: start it now
        early = request.config.stash[EARLY_SITE] = EarlySite().start()
        request.config.add_cleanup(early.close)
    return early.get()
