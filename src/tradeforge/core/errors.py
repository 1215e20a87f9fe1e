"""One error hierarchy for the whole platform.

Every error carries a stable ``code`` (UPPER_SNAKE, part of the public contract), a
``message`` for people, a ``suggestion`` saying what to do about it, a ``retryable`` flag
and optional structured ``details`` (a field path, a DSL source span, ...). The HTTP layer
maps classes to statuses in one table (``tradeforge.api.errors``); the core never knows HTTP.

Features add subclasses next to their code (``tradeforge.dsl.errors``) and may override
``code`` per instance, since several public codes share one behaviour (for example
``BACKTEST_NOT_FOUND`` and ``ORDER_NOT_FOUND`` are both a :class:`NotFoundError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class TradeforgeError(Exception):
    """Base of every error the platform raises on purpose."""

    default_code: ClassVar[str] = "INTERNAL_ERROR"
    default_suggestion: ClassVar[str] = "Retry later; if it persists, report the request id."
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        suggestion: str | None = None,
        details: Mapping[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.suggestion = suggestion or self.default_suggestion
        self.details: dict[str, Any] = dict(details or {})
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InvalidInputError(TradeforgeError):
    """The caller sent something we cannot accept (bad parameter, bad symbol, bad script)."""

    default_code = "VALIDATION_ERROR"
    default_suggestion = (
        "Check the request against the API reference at /api/v1/docs/api-reference."
    )


class ConfigurationError(InvalidInputError):
    """The platform's own configuration is invalid."""

    default_code = "CONFIGURATION_ERROR"
    default_suggestion = "Fix the TRADEFORGE_* setting named in the message and restart."


class PayloadTooLargeError(InvalidInputError):
    default_code = "PAYLOAD_TOO_LARGE"
    default_suggestion = "Send a smaller request body (the limit is in the message)."


class UnsupportedMediaTypeError(InvalidInputError):
    default_code = "UNSUPPORTED_MEDIA_TYPE"
    default_suggestion = "Send the body as JSON with 'Content-Type: application/json'."


class NotFoundError(TradeforgeError):
    """The thing does not exist, or it belongs to someone else (we never say which)."""

    default_code = "NOT_FOUND"
    default_suggestion = "Check the id; list your resources to find valid ones."


class MethodNotAllowedError(TradeforgeError):
    default_code = "METHOD_NOT_ALLOWED"
    default_suggestion = "Use one of the methods in the Allow header."


class ConflictError(TradeforgeError):
    """The request is valid but clashes with the current state."""

    default_code = "CONFLICT"
    default_suggestion = "Reload the resource and retry with its current state."


class AuthError(TradeforgeError):
    """The caller is not who they need to be (401)."""

    default_code = "INVALID_API_KEY"
    default_suggestion = (
        "Send 'Authorization: Bearer <API_KEY>'; get a key with POST /api/v1/meta/register."
    )


class PermissionDeniedError(TradeforgeError):
    """The caller is known but may not do this (403)."""

    default_code = "INSUFFICIENT_PERMISSIONS"
    default_suggestion = "Use a key with the required scope, or have its owner grant it."


class LimitExceededError(TradeforgeError):
    """A rate limit or quota is used up (429). ``retry_after`` says when to come back."""

    default_code = "RATE_LIMITED"
    default_suggestion = "Wait for the number of seconds in the Retry-After header, then retry."
    retryable = True


class DataUnavailableError(TradeforgeError):
    """The requested market data does not exist in the store."""

    default_code = "DATA_UNAVAILABLE"
    default_suggestion = "Request a range inside the available data (see the message)."


class ServiceUnavailableError(TradeforgeError):
    """A dependency (database, queue, exchange) is down or busy."""

    default_code = "SERVICE_UNAVAILABLE"
    default_suggestion = "Retry after the number of seconds in the Retry-After header."
    retryable = True


class TradingError(TradeforgeError):
    default_code = "ORDER_REJECTED"
    default_suggestion = "Check balances, size limits and the order parameters."


class ExchangeError(TradeforgeError):
    default_code = "EXCHANGE_ERROR"
    default_suggestion = "Check the exchange status and your request; retry later."


class ExchangeUnavailableError(ExchangeError):
    default_code = "EXCHANGE_UNAVAILABLE"
    retryable = True


class ExchangeRateLimitedError(ExchangeError):
    default_code = "EXCHANGE_RATE_LIMITED"
    default_suggestion = "Slow down; the exchange asked us to back off."
    retryable = True


class ExchangeAuthError(ExchangeError):
    default_code = "EXCHANGE_AUTH_FAILED"
    default_suggestion = "Check the exchange API key, secret and their permissions."
