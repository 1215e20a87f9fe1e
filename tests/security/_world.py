"""The world of the security matrices: two agents A and B, a user with live keys of every
scope set, A's resources (built lazily, once per database), the operations of the OpenAPI
document, and a request helper that checks every response for leakage (J3)."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from api_support import assert_ok, bearer, create_user, live_key, login, register
from tradeforge.config import Settings
from tradeforge.core.accounts import Scope
from tradeforge.jobs.worker import WorkerContext, build_context, run_job_in

API = "/api/v1"
METHODS = ("get", "post", "put", "patch", "delete")

# -- operations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def auth(self) -> str | None:
        value = self.spec.get("x-auth")
        return None if value is None else str(value)

    @property
    def scope(self) -> str | None:
        value = self.spec.get("x-required-scope")
        return None if value is None else str(value)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"\{([^}]+)\}", self.path)

    def param_prefix(self, name: str) -> str:
        """The path up to (not including) ``{name}``: what identifies the resource kind."""
        return self.path.split("{" + name + "}", 1)[0]

    def url(self, values: dict[str, str]) -> str:
        url = self.path
        for name, value in values.items():
            url = url.replace("{" + name + "}", value)
        return url


def operations(app: FastAPI) -> list[Operation]:
    doc = app.openapi()
    return [
        Operation(method, path, spec)
        for path, item in doc["paths"].items()
        for method, spec in item.items()
        if method in METHODS
    ]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


def _sample(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A small value satisfying ``schema`` as far as simple constraints go."""
    schema = _resolve(doc, schema)
    if schema.get("examples"):
        return schema["examples"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for combo in ("anyOf", "oneOf", "allOf"):
        if combo in schema:
            options = [s for s in schema[combo] if _resolve(doc, s).get("type") != "null"]
            return _sample(doc, options[0]) if options else None
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {
            name: _sample(doc, schema["properties"][name]) for name in schema.get("required", [])
        }
    if kind == "array":
        return [_sample(doc, schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if kind == "string":
        return "x" * max(1, int(schema.get("minLength", 1)))
    return None


#: Request bodies that get past validation to the handler (the generated sample would not).
BODIES: dict[str, Any] = {
    "POST /api/v1/meta/register": {"display_name": "Matrix Agent"},
    "POST /api/v1/auth/login": {"email": "nobody@example.com", "password": "wrong password"},
    "PATCH /api/v1/arena/posts/{post_id}": {"title": "Edited by someone else"},
    "PATCH /api/v1/arena/comments/{comment_id}": {"content": "Edited by someone else"},
    "POST /api/v1/arena/posts/{post_id}/votes": {"vote_type": 1},
    "POST /api/v1/arena/posts/{post_id}/comments": {"content": "A comment"},
    "POST /api/v1/arena/posts": {
        "category": "market_talk",
        "title": "Matrix post",
        "content": "hello",
    },
    "PATCH /api/v1/arena/profile": {"description": "matrix"},
    "POST /api/v1/backtest/validate": {
        "script": 'emit_signal(rsi(close, 7) < 30, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))',
        "universe": ["BINANCE:BTC/USDT"],
    },
}

#: Values of required query parameters, by name (others are generated from the schema).
QUERY_VALUES: dict[str, Any] = {"symbol": "BINANCE:BTC/USDT"}


def minimal_query(app: FastAPI, op: Operation) -> dict[str, Any]:
    """The operation's required query parameters, with valid values."""
    return {
        param["name"]: QUERY_VALUES.get(param["name"])
        or _sample(app.openapi(), param.get("schema", {}))
        for param in op.spec.get("parameters", [])
        if param["in"] == "query" and param.get("required")
    }


def minimal_body(app: FastAPI, op: Operation) -> Any:
    """A syntactically valid body for ``op`` (``None`` when it takes none)."""
    if op.id in BODIES:
        return BODIES[op.id]
    content = op.spec.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return None
    return _sample(app.openapi(), schema)


# -- ids ------------------------------------------------------------------------------------------


def same_shape(ident: str) -> str:
    """A fresh random id shaped like ``ident``: same prefix (``bt_``), length and alphabet."""
    prefix, _, tail = ident.rpartition("_")
    prefix = prefix + "_" if prefix else ""
    if all(c in string.hexdigits.lower() for c in tail):
        alphabet = "0123456789abcdef"
    elif all(c in string.hexdigits.upper() for c in tail):
        alphabet = "0123456789ABCDEF"
    else:
        alphabet = string.ascii_letters + string.digits
    while True:
        fresh = "".join(secrets.choice(alphabet) for _ in tail)
        if fresh != tail:
            return prefix + fresh


# -- leakage (J3) ---------------------------------------------------------------------------------

LEAKS = (
    re.compile(r"Traceback"),
    re.compile(r'File "/'),
    re.compile(r"sqlalchemy", re.IGNORECASE),
    re.compile(r"psycopg", re.IGNORECASE),
    re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b .*\b(FROM|WHERE|SET|VALUES)\b"),
    # Absolute filesystem paths (URL paths such as /api/v1/... are fine).
    re.compile(r"(?<![\w.:/])/(home|root|tmp|usr|var|etc|opt|srv|work|proc)/"),
    re.compile(r"[A-Za-z]:\\\\"),
)


def assert_no_leak(response: Response) -> None:
    text = response.text
    for pattern in LEAKS:
        match = pattern.search(text)
        assert match is None, f"response leaks {match.group(0)!r}: {text[:500]}"


# -- the world ------------------------------------------------------------------------------------

SIGNAL = (
    'emit_signal(rsi(close, 7) < 30, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))\n'
    'emit_signal(rsi(close, 7) > 70, exit("BINANCE:BTC/USDT"))'
)


def backtest_body(start: str = "2024-01-01", end: str = "2024-02-04") -> dict[str, Any]:
    """35 days of bundled 1h candles: enough for the registration quality gate."""
    return {
        "strategy_type": "signal",
        "description": "RSI(7) 30/70",
        "script": SIGNAL,
        "universe": ["BINANCE:BTC/USDT"],
        "start_date": start,
        "end_date": end,
        "timeframe": "1h",
        "initial_cash": 10000,
    }


BODIES[f"POST {API}/backtest/execute"] = backtest_body()


class Caller:
    """An agent (or user) with its credentials."""

    def __init__(self, name: str, token: str, agent_id: str | None = None) -> None:
        self.name = name
        self.token = token
        self.agent_id = agent_id
        self.headers = bearer(token)


class World:
    def __init__(self, app: FastAPI, client: TestClient, settings: Settings) -> None:
        self.app = app
        self.client = client
        self.settings = settings
        self._worker: WorkerContext | None = None
        self.ops = operations(app)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()

    def call(
        self, op: Operation, url: str, headers: dict[str, str] | None = None, body: Any = None
    ) -> Response:
        kwargs: dict[str, Any] = {
            "headers": headers or {},
            "params": minimal_query(self.app, op),
        }
        if body is not None:
            kwargs["json"] = body
        response: Response = self.client.request(op.method.upper(), url, **kwargs)
        assert_no_leak(response)
        return response

    # -- callers ---------------------------------------------------------------------------------

    def _agent(self, name: str) -> Caller:
        data = register(self.client, name)
        return Caller(name, str(data["api_key"]), str(data["agent_id"]))

    @cached_property
    def a(self) -> Caller:
        return self._agent("Agent A")

    @cached_property
    def b(self) -> Caller:
        return self._agent("Agent B")

    @cached_property
    def user_email(self) -> str:
        create_user(self.app, "owner@example.com")
        return "owner@example.com"

    @cached_property
    def session(self) -> Caller:
        """A logged-in user's session token (``tf_sess_``)."""
        return Caller("user session", login(self.client, self.user_email))

    def live(self, scopes: frozenset[Scope]) -> Caller:
        name = "+".join(sorted(scopes))
        return Caller(f"live {name}", live_key(self.app, self.user_email, scopes))

    @cached_property
    def keys(self) -> dict[str, Caller]:
        """API keys with different scope sets, by name."""
        keys = {"provisional": self.a}  # self-registered: research only
        subsets = (
            {Scope.READ},
            {Scope.TRADE},
            {Scope.READ, Scope.TRADE},
            {Scope.RESEARCH},
            {Scope.RESEARCH, Scope.READ, Scope.TRADE},
        )
        for subset in subsets:
            caller = self.live(frozenset(subset))
            keys[caller.name] = caller
        return keys

    def scopes_of(self, name: str) -> frozenset[str]:
        if name == "provisional":
            return frozenset({str(Scope.RESEARCH)})
        return frozenset(name.removeprefix("live ").split("+"))

    # -- A's resources --------------------------------------------------------------------------

    @property
    def worker(self) -> WorkerContext:
        if self._worker is None:
            self._worker = build_context(self.settings)
        return self._worker

    def submit(self, caller: Caller, body: dict[str, Any] | None = None) -> str:
        data = assert_ok(
            self.client.post(
                f"{API}/backtest/execute", json=body or backtest_body(), headers=caller.headers
            )
        )
        return str(data["backtest_id"])

    @cached_property
    def queued_job(self) -> str:
        """A's job that never runs (so a wrongful cancel would succeed)."""
        return self.submit(self.a)

    @cached_property
    def completed_job(self) -> str:
        job_id = self.submit(self.a)
        assert str(run_job_in(self.worker, job_id)) == "completed"
        return job_id

    @cached_property
    def result(self) -> str:
        status = assert_ok(
            self.client.get(f"{API}/backtest/status/{self.completed_job}", headers=self.a.headers)
        )
        return str(status["result_id"])

    @cached_property
    def post(self) -> str:
        body = {"category": "strategy_ideas", "title": "A's post", "content": "By A."}
        data = assert_ok(self.client.post(f"{API}/arena/posts", json=body, headers=self.a.headers))
        return str(data["id"])

    @cached_property
    def comment(self) -> str:
        data = assert_ok(
            self.client.post(
                f"{API}/arena/posts/{self.post}/comments",
                json={"content": "A's comment"},
                headers=self.a.headers,
            )
        )
        return str(data["id"])

    @cached_property
    def strategy(self) -> str:
        data = assert_ok(
            self.client.post(
                f"{API}/arena/strategies/register",
                json={"backtest_summary_id": self.result},
                headers=self.a.headers,
            )
        )
        return str(data["strategy_id"])
