"""``Idempotency-Key`` for POSTs that create things (RELIABILITY rule 4).

A client that retries after a timeout sends the same ``Idempotency-Key`` header; the first
successful (2xx) response is stored and replayed for 24 hours, marked with
``Idempotent-Replayed: true``. The same key with a different request gets 422
``IDEMPOTENCY_KEY_REUSED``; a retry while the first request still runs gets 409
``IDEMPOTENCY_IN_PROGRESS``. Errors are not stored, so a failed request can be retried.

Keys are scoped to the caller's credential (a digest of it; nothing secret is stored) and
apply only to the endpoints in :data:`IDEMPOTENT_ROUTES`, none of which return a secret.
Elsewhere the header is ignored.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from tradeforge.adapters.storage.idempotency import IdempotencyStore, Outcome
from tradeforge.api.errors import error_response
from tradeforge.api.middleware import ASGIApp, Message, Receive, Scope, Send
from tradeforge.core.errors import ConflictError, InvalidInputError, TradeforgeError

IDEMPOTENT_ROUTES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        r"^/api/v1/backtest/execute$",
        r"^/api/v1/arena/posts$",
        r"^/api/v1/arena/posts/[^/]+/comments$",
        r"^/api/v1/arena/posts/[^/]+/votes$",
        r"^/api/v1/arena/strategies/register$",
    )
)
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
MAX_STORED_BODY = 256 * 1024
_KEPT_HEADERS = {b"content-type", b"location"}


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


class IdempotencyMiddleware:
    """Replays the stored response of a repeated ``Idempotency-Key`` request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_key = _header(scope, b"idempotency-key") if scope["type"] == "http" else None
        credential = _header(scope, b"authorization")
        path = str(scope.get("path", ""))
        if (
            raw_key is None
            or credential is None
            or scope.get("method") != "POST"
            or not any(route.match(path) for route in IDEMPOTENT_ROUTES)
        ):
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id")
        key = raw_key.decode("latin-1")
        if not _KEY_RE.match(key):
            await self._refuse(
                scope,
                send,
                InvalidInputError(
                    "Idempotency-Key must be 1-255 visible ASCII characters.",
                    suggestion="Send a UUID, e.g. 'Idempotency-Key: 3f1c...'.",
                ),
                request_id,
            )
            return
        body = await _read_body(receive)
        container: Any = scope["app"].state.container
        store: IdempotencyStore = container.idempotency
        owner = hashlib.sha256(b"idempotency:" + credential).hexdigest()
        query = bytes(scope.get("query_string", b""))
        request_hash = hashlib.sha256(path.encode() + b"?" + query + b"\n" + body).hexdigest()
        decision = store.begin(owner, key, "POST", path, request_hash, container.clock.now())
        if decision.outcome is Outcome.MISMATCH:
            await self._refuse(
                scope,
                send,
                InvalidInputError(
                    "This Idempotency-Key was already used with a different request.",
                    code="IDEMPOTENCY_KEY_REUSED",
                    suggestion="Use a new key for a new request; reuse a key only to retry.",
                ),
                request_id,
                status=422,
            )
            return
        if decision.outcome is Outcome.IN_PROGRESS:
            await self._refuse(
                scope,
                send,
                ConflictError(
                    "The first request with this Idempotency-Key is still running.",
                    code="IDEMPOTENCY_IN_PROGRESS",
                    suggestion="Retry in a second; you will get the first request's response.",
                    retry_after=1,
                ),
                request_id,
            )
            return
        if decision.outcome is Outcome.REPLAY:
            headers = [
                (k.encode("latin-1"), v.encode("latin-1")) for k, v in decision.headers or []
            ]
            headers.append((b"idempotent-replayed", b"true"))
            await send(
                {"type": "http.response.start", "status": decision.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": decision.body or b""})
            return
        await self._run_first(scope, body, receive, send, store, owner, key)

    async def _run_first(
        self,
        scope: Scope,
        body: bytes,
        receive: Receive,
        send: Send,
        store: IdempotencyStore,
        owner: str,
        key: str,
    ) -> None:
        status = 0
        kept: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                kept.extend(
                    (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                    for k, v in message.get("headers", [])
                    if bytes(k).lower() in _KEPT_HEADERS
                )
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
            await send(message)

        try:
            await self.app(scope, replay, capture)
        except BaseException:
            store.abandon(owner, key)
            raise
        response = b"".join(chunks)
        if 200 <= status < 300 and len(response) <= MAX_STORED_BODY:
            store.complete(owner, key, status, kept, response)
        else:
            store.abandon(owner, key)

    @staticmethod
    async def _refuse(
        scope: Scope,
        send: Send,
        error: TradeforgeError,
        request_id: str | None,
        status: int | None = None,
    ) -> None:
        response = error_response(error, request_id, status=status)
        await response(scope, _disconnected, send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _disconnected() -> Message:
    return {"type": "http.disconnect"}
