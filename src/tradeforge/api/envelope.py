"""The response envelope every endpoint uses, success or error (seed "Response Format").

``{"success": bool, "data": ..., "error": {"code", "message", "suggestion"} | null,
"meta": {"timestamp", "request_id", ...}}``. ``data`` is null on error and ``error`` is
null on success.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

T = TypeVar("T")


class Schema(BaseModel):
    """Base of all response schemas."""

    model_config = ConfigDict(from_attributes=True)


class RequestSchema(BaseModel):
    """Base of request bodies: unknown fields are refused, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class ErrorBody(Schema):
    code: str = Field(description="Stable UPPER_SNAKE error code.", examples=["VALIDATION_ERROR"])
    message: str = Field(description="What went wrong, for people.")
    suggestion: str = Field(description="What to do about it.")
    details: dict[str, Any] | None = Field(
        default=None, description="Structured extras: field errors, limits, source positions."
    )


class Meta(Schema):
    model_config = ConfigDict(extra="allow")
    timestamp: datetime
    request_id: str | None = None


class Envelope(Schema, Generic[T]):
    success: bool = True
    data: T | None = None
    error: ErrorBody | None = None
    meta: Meta


class ErrorEnvelope(Schema):
    success: bool = False
    data: None = None
    error: ErrorBody
    meta: Meta


def request_id_of(request: Request) -> str | None:
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


def make_meta(request_id: str | None, **extra: Any) -> Meta:
    return Meta(timestamp=datetime.now(UTC), request_id=request_id, **extra)


def ok(request: Request, data: T, **meta: Any) -> Envelope[T]:
    """Wrap ``data`` in a success envelope."""
    return Envelope[T](success=True, data=data, meta=make_meta(request_id_of(request), **meta))
