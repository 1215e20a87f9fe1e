"""Helpers of the dashboard tests: users logged in through the login form, agents,
claims and backtests run synchronously with the worker code."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_support import PASSWORD, assert_ok, bearer, create_user, register
from tradeforge.config import Settings
from tradeforge.jobs.worker import WorkerContext, build_context, run_job_in

API = "/api/v1"
ORIGIN = "http://testserver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"

SCRIPT = (
    "# RSI(7) swing </code><script>alert('script')</script>\n"
    'emit_signal(rsi(close, 7) < 30, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))\n'
    'emit_signal(rsi(close, 7) > 70, exit("BINANCE:BTC/USDT"))\n'
)


def backtest_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "strategy_type": "signal",
        "description": "RSI(7) 30/70 on BTC",
        "script": SCRIPT,
        "universe": ["BINANCE:BTC/USDT"],
        "start_date": "2024-01-01",
        "end_date": "2024-02-04",
        "timeframe": "1h",
        "initial_cash": 10000,
    }
    body.update(changes)
    return body


_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, html[:2000]
    return match.group(1)


@dataclass
class Person:
    """A human user with a browser-like client (own cookie jar) logged in to the dashboard."""

    email: str
    client: TestClient
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)

    def csrf(self, path: str = "/dashboard/claim") -> str:
        return csrf_of(self.client.get(path).text)

    def post_form(self, path: str, data: dict[str, Any], **headers: str) -> Any:
        merged = {"Origin": ORIGIN, **headers}
        return self.client.post(path, data=data, headers=merged, follow_redirects=False)


class Dash:
    def __init__(self, app: FastAPI, client: TestClient, settings: Settings) -> None:
        self.app = app
        self.client = client
        self.settings = settings
        self._worker: WorkerContext | None = None
        self._people = 0

    @property
    def worker(self) -> WorkerContext:
        if self._worker is None:
            self._worker = build_context(self.settings)
        return self._worker

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()

    def browser_client(self) -> TestClient:
        return TestClient(self.app, raise_server_exceptions=False)

    def person(self, prefix: str = "user") -> Person:
        """A new user, logged in through the login form."""
        self._people += 1
        email = f"{prefix}{self._people}@example.com"
        create_user(self.app, email)
        client = self.browser_client()
        login_form(client, email)
        return Person(email, client)

    def agent(self, name: str = "Agent") -> dict[str, Any]:
        data = register(self.client, name)
        return {"key": str(data["api_key"]), "agent_id": str(data["agent_id"]), "name": name}

    def claim_code(self, agent: dict[str, Any]) -> str:
        data = assert_ok(
            self.client.post(f"{API}/meta/request-claim", headers=bearer(agent["key"]))
        )
        return str(data["claim_code"])

    def claim(self, person: Person, agent: dict[str, Any], *scopes: str) -> Any:
        """Claim through both steps of the form; a failed first step is returned as is."""
        code = self.claim_code(agent)
        preview = preview_claim(person, code)
        if preview.status_code != 200:
            return preview
        return confirm_claim(person, preview.text, *scopes)

    def run_backtest(self, agent: dict[str, Any], **changes: Any) -> str:
        data = assert_ok(
            self.client.post(
                f"{API}/backtest/execute",
                json=backtest_body(**changes),
                headers=bearer(agent["key"]),
            )
        )
        job_id = str(data["backtest_id"])
        assert str(run_job_in(self.worker, job_id)) == "completed"
        status = assert_ok(
            self.client.get(f"{API}/backtest/status/{job_id}", headers=bearer(agent["key"]))
        )
        return str(status["result_id"])


_HIDDEN = re.compile(r'<input type="hidden" name="(claim_code|claim_ref)" value="([^"]*)">')


def preview_claim(person: Person, code: str) -> Any:
    """Step 1 of the claim form: look the code up (200 and the confirmation page)."""
    return person.post_form("/dashboard/claim", {"claim_code": code, "csrf_token": person.csrf()})


def confirm_fields(page_html: str) -> dict[str, str]:
    """The hidden fields of the confirmation page (``claim_code``, ``claim_ref``)."""
    fields = dict(_HIDDEN.findall(page_html))
    assert set(fields) == {"claim_code", "claim_ref"}, page_html[:2000]
    return fields


def confirm_claim(person: Person, page_html: str, *scopes: str, **changes: str) -> Any:
    """Step 2: submit the confirmation form of ``page_html``, with ``changes`` applied."""
    form: dict[str, Any] = {
        **confirm_fields(page_html),
        "scopes": list(scopes),
        "csrf_token": csrf_of(page_html),
    }
    form.update(changes)
    return person.post_form("/dashboard/claim/confirm", form)


def login_form(client: TestClient, email: str, password: str = PASSWORD, next: str = "") -> Any:
    page = client.get("/dashboard/login")
    assert page.status_code == 200, page.text
    token = csrf_of(page.text)
    return client.post(
        "/dashboard/login",
        data={"email": email, "password": password, "next": next, "csrf_token": token},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )


@dataclass
class Owned:
    """A user who claimed an agent that ran one backtest."""

    person: Person
    agent: dict[str, Any]
    result_id: str
