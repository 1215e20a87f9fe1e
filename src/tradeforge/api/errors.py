"""The one table from error to HTTP status, and the exception handlers that use it.

Statuses are decided by error class, with a few public codes refined by name. Unknown
exceptions become ``INTERNAL_ERROR`` with a generic message; details go to the log only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from tradeforge.api.envelope import ErrorBody, ErrorEnvelope, make_meta, request_id_of
from tradeforge.core import errors as e

log = logging.getLogger(__name__)

# Most specific class first.
STATUS_BY_CLASS: tuple[tuple[type[e.TradeforgeError], int], ...] = (
    (e.PayloadTooLargeError, 413),
    (e.UnsupportedMediaTypeError, 415),
    (e.InvalidInputError, 400),
    (e.NotFoundError, 404),
    (e.MethodNotAllowedError, 405),
    (e.ConflictError, 409),
    (e.AuthError, 401),
    (e.PermissionDeniedError, 403),
    (e.LimitExceededError, 429),
    (e.DataUnavailableError, 404),
    (e.ServiceUnavailableError, 503),
    (e.TradingError, 422),
    (e.ExchangeRateLimitedError, 429),
    (e.ExchangeUnavailableError, 503),
    (e.ExchangeError, 502),
)

STATUS_BY_CODE: dict[str, int] = {
    "BACKTEST_CANCELLED": 409,
    "QUALITY_GATE": 422,
    "CONFIGURATION_ERROR": 500,
    "INTERNAL_ERROR": 500,
}

#: Every public error code with its status, for the docs and the error-contract tests.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "VALIDATION_ERROR": (400, "Invalid or missing parameters."),
    "INVALID_PERMISSIONS": (400, "A requested scope does not exist."),
    "INVALID_CLAIM_CODE": (400, "The claim code is wrong, used or expired (codes last 30 min)."),
    "BACKTEST_UNSUPPORTED": (400, "The script uses a feature the backtest engine lacks."),
    "STRATEGY_TYPE_UNSUPPORTED": (
        400,
        "The strategy type is catalogued but the engine cannot run it (dca, grid).",
    ),
    "DSL_SYNTAX_ERROR": (400, "The Signal DSL text does not parse; see error.details.line."),
    "DSL_UNKNOWN_NAME": (400, "Unknown function, variable or keyword in the Signal DSL text."),
    "DSL_TYPE_ERROR": (400, "A Signal DSL value has the wrong type (number vs true/false)."),
    "DSL_ARITY_ERROR": (400, "A Signal DSL function got the wrong number of arguments."),
    "DSL_LIMIT_EXCEEDED": (400, "The Signal DSL text or its evaluation exceeds a hard limit."),
    "DSL_VALUE_ERROR": (400, "A Signal DSL argument is outside its allowed values."),
    "TA_OUT_OF_RANGE": (400, "An indicator parameter or the data range is out of range."),
    "AUTHENTICATION_REQUIRED": (401, "No credentials were sent, or the login session expired."),
    "INVALID_API_KEY": (401, "The API key is malformed, unknown or revoked."),
    "EXPIRED_API_KEY": (401, "A provisional key was not claimed within 24 hours."),
    "INVALID_CREDENTIALS": (401, "Email or password is wrong."),
    "INSUFFICIENT_PERMISSIONS": (403, "The API key lacks the scope this endpoint needs."),
    "ACCOUNT_REQUIRED": (403, "The operation needs a claimed agent."),
    "AGENT_REQUIRED": (403, "Only agents (API keys) may do this."),
    "NOT_FOUND": (404, "No such resource (or it belongs to someone else)."),
    "BACKTEST_NOT_FOUND": (404, "Backtest job or result not found."),
    "STRATEGY_NOT_FOUND": (404, "Live strategy not found."),
    "SUBSCRIPTION_NOT_FOUND": (404, "Subscription not found."),
    "ORDER_NOT_FOUND": (404, "Order not found."),
    "KEY_NOT_FOUND": (404, "API key not found."),
    "USER_NOT_FOUND": (404, "User not found."),
    "DATA_UNAVAILABLE": (404, "The requested market data is not available."),
    "NO_BACKTEST": (404, "No backtest result with that id for this API key (to register)."),
    "NOT_REGISTERED": (404, "No registered strategy of yours with that id."),
    "METHOD_NOT_ALLOWED": (405, "The path exists but not with this method."),
    "CONFLICT": (409, "The request clashes with the resource's current state."),
    "IDEMPOTENCY_IN_PROGRESS": (409, "The first request with this Idempotency-Key still runs."),
    "BACKTEST_CANCELLED": (409, "The backtest was cancelled before it finished."),
    "ALREADY_CLAIMED": (409, "The agent is already claimed."),
    "AGENT_LIMIT_REACHED": (409, "The user already owns the maximum number of agents."),
    "KEY_OWNED_BY_OTHER_USER": (409, "The agent's key belongs to another user."),
    "USER_EXISTS": (409, "A user with that email exists."),
    "ALREADY_REGISTERED": (409, "The backtest result (or the same backtest) is registered."),
    "NOT_REPRODUCIBLE": (409, "The server's re-run of the backtest differs from the result."),
    "QUALITY_GATE": (422, "Too few trades or too short a period for the leaderboard."),
    "IDEMPOTENCY_KEY_REUSED": (422, "The Idempotency-Key was used with a different request."),
    "PAYLOAD_TOO_LARGE": (413, "The request body exceeds the size limit."),
    "UNSUPPORTED_MEDIA_TYPE": (415, "The body is not JSON, or is compressed."),
    "RATE_LIMITED": (429, "Too many requests; see Retry-After."),
    "REGISTRATION_LIMIT": (429, "Too many self-registrations from one address."),
    "FREE_QUOTA_EXCEEDED": (429, "Provisional quota used up; claim the agent for full limits."),
    "QUOTA_EXCEEDED": (429, "Quota used up; see Retry-After."),
    "INTERNAL_ERROR": (500, "Unexpected server error; the request id is in the log."),
    "SERVICE_UNAVAILABLE": (503, "A dependency is down or busy; retry."),
    "DB_UNAVAILABLE": (503, "The database cannot be reached; retry."),
    "RATE_LIMITER_UNAVAILABLE": (503, "The rate-limit store cannot be reached; retry."),
}


def status_for(exc: e.TradeforgeError) -> int:
    if exc.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[exc.code]
    for cls, status in STATUS_BY_CLASS:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(
    exc: e.TradeforgeError,
    request_id: str | None,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Render ``exc`` as an error envelope with the mapped status and useful headers."""
    body = ErrorEnvelope(
        error=ErrorBody(
            code=exc.code,
            message=exc.message,
            suggestion=exc.suggestion,
            details=exc.details or None,
        ),
        meta=make_meta(request_id),
    )
    all_headers = dict(headers or {})
    if exc.retry_after is not None:
        all_headers["Retry-After"] = str(max(1, int(exc.retry_after)))
    if request_id:
        all_headers["X-Request-ID"] = request_id
    return JSONResponse(
        jsonable_encoder(body), status_code=status or status_for(exc), headers=all_headers
    )


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    message = str(error.get("msg", "invalid value"))
    return f"{location}: {message}" if location else message


async def _on_tradeforge_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.TradeforgeError)
    headers = getattr(request.state, "rate_limit_headers", None)
    return error_response(exc, request_id_of(request), headers=headers)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "field": ".".join(str(p) for p in error.get("loc", ()) if p != "body"),
            "message": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()[:20]
    ]
    first = _describe(exc.errors()[0]) if exc.errors() else "invalid request"
    if any(p["type"] == "json_invalid" for p in problems):
        message = "The request body is not valid JSON."
        suggestion = "Send a JSON object; escape newlines in strings as \\n."
    else:
        message = f"Invalid request: {first}."
        suggestion = "Fix the fields listed in error.details.fields and resend."
    error = e.InvalidInputError(message, suggestion=suggestion, details={"fields": problems})
    return error_response(error, request_id_of(request))


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    error: e.TradeforgeError
    if exc.status_code == 404:
        error = e.NotFoundError(
            f"No endpoint at {request.url.path}.",
            suggestion="See /api/v1/meta/capabilities or /openapi.json for the endpoints.",
        )
    elif exc.status_code == 405:
        allowed = headers.get("allow", headers.get("Allow", ""))
        error = e.MethodNotAllowedError(
            f"{request.method} is not allowed on {request.url.path}.",
            suggestion=f"Use one of: {allowed}." if allowed else "Check the method.",
        )
    elif exc.status_code == 400:
        error = e.InvalidInputError(
            "The request body could not be parsed.",
            suggestion="Send a UTF-8 JSON object with 'Content-Type: application/json'.",
        )
    else:
        error = e.TradeforgeError(
            str(exc.detail)[:200], code="HTTP_ERROR", suggestion="Check the request."
        )
    return error_response(error, request_id_of(request), status=exc.status_code, headers=headers)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    error: e.TradeforgeError
    if isinstance(exc, OperationalError | PoolTimeoutError | DBAPIError) and _is_unavailable(exc):
        log.error("database unavailable: %s", type(exc).__name__)
        error = e.ServiceUnavailableError(
            "The database is unavailable.", code="DB_UNAVAILABLE", retry_after=5
        )
    else:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        error = e.TradeforgeError(
            "Unexpected server error.",
            suggestion="Retry later; if it persists, report the request id in meta.request_id.",
        )
    return error_response(error, request_id_of(request))


def _is_unavailable(exc: Exception) -> bool:
    if isinstance(exc, PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    text = str(exc).lower()
    return any(
        marker in text
        for marker in ("database is locked", "could not connect", "connection refused", "timeout")
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(e.TradeforgeError, _on_tradeforge_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
