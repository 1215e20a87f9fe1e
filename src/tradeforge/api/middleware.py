"""ASGI middleware: request ids and access logs, body-size and JSON-depth limits.

Both are plain ASGI (no BaseHTTPMiddleware) so they add little latency and see chunked
bodies as they arrive. Their own refusals use the same error envelope as the app.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import numpy as np

from tradeforge.api.errors import error_response
from tradeforge.core.errors import (
    InvalidInputError,
    PayloadTooLargeError,
    TradeforgeError,
    UnsupportedMediaTypeError,
)
from tradeforge.observability import request_id_var

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("tradeforge.access")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def json_depth(body: bytes) -> int:
    """Return the maximum nesting depth of a JSON text (strings are skipped)."""
    brackets = _JSON_STRING.sub(b'""', body).translate(None, delete=_NOT_BRACKETS)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


async def _refuse(scope: Scope, send: Send, error: TradeforgeError) -> None:
    state = scope.get("state", {})
    response = error_response(error, state.get("request_id"))
    await response(scope, _null_receive, send)


async def _null_receive() -> Message:
    return {"type": "http.disconnect"}


class RequestContextMiddleware:
    """Give every request an id (or accept a sane ``X-Request-ID``) and log its outcome."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(_SECURITY_HEADERS)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            access_log.info(
                "%s %s %s",
                scope.get("method"),
                scope.get("path"),
                status,
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": (scope.get("client") or ("-",))[0],
                },
            )
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` (chunked ones too), compressed bodies, deep JSON."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLargeError(
            f"Request body exceeds {self.max_bytes} bytes.",
            details={"max_bytes": self.max_bytes},
        )
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _refuse(scope, send, too_large)
            return
        encoding = (_header(scope, b"content-encoding") or "identity").strip().lower()
        if encoding not in ("", "identity"):
            await _refuse(
                scope,
                send,
                UnsupportedMediaTypeError(
                    f"Content-Encoding '{encoding[:40]}' is not accepted.",
                    suggestion="Send the body uncompressed.",
                ),
            )
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > self.max_bytes:
                await _refuse(scope, send, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = (_header(scope, b"content-type") or "").lower()
        if body and ("json" in content_type or not content_type):
            depth = json_depth(body)
            if depth > self.max_json_depth:
                await _refuse(
                    scope,
                    send,
                    InvalidInputError(
                        f"JSON is nested {depth} levels deep; the limit is {self.max_json_depth}.",
                        suggestion="Flatten the request body.",
                        details={"max_json_depth": self.max_json_depth},
                    ),
                )
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
