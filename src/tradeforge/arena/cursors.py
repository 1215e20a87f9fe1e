"""Opaque pagination cursors.

A cursor is base64url-encoded JSON naming the query it belongs to and the keyset position
of the last item returned (sort key and id), never an offset: items added after the first
page cannot shift later pages. Cursors are not secret; they are validated field by field
when read back, and a cursor from a different query is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tradeforge.core.errors import InvalidInputError

MAX_CURSOR_LENGTH = 512


def encode_cursor(payload: Mapping[str, Any]) -> str:
    raw = json.dumps(dict(payload), separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _invalid(reason: str) -> InvalidInputError:
    return InvalidInputError(
        f"The cursor is not valid: {reason}.",
        suggestion=(
            "Pass back next_cursor exactly as returned, with the same query parameters; "
            "omit cursor to start from the first page."
        ),
        details={"field": "cursor"},
    )


def decode_cursor(text: str, kind: str) -> dict[str, Any]:
    """Decode a cursor of ``kind`` (``posts``, ``comments``, ...) or raise VALIDATION_ERROR."""
    if len(text) > MAX_CURSOR_LENGTH:
        raise _invalid("too long")
    try:
        padded = text + "=" * (-len(text) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise _invalid("it does not decode") from None
    if not isinstance(payload, dict) or payload.get("t") != kind:
        raise _invalid("it belongs to another listing")
    return payload


def cursor_str(payload: Mapping[str, Any], name: str, max_length: int = 64) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        raise _invalid(f"'{name}' is missing or malformed")
    return value


def cursor_int(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**62:
        raise _invalid(f"'{name}' is missing or malformed")
    return value


def cursor_time(payload: Mapping[str, Any], name: str) -> datetime:
    text = cursor_str(payload, name)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(f"'{name}' is not a time") from None
    if value.tzinfo is None:
        raise _invalid(f"'{name}' has no UTC offset")
    return value


def expect_same(payload: Mapping[str, Any], name: str, current: str | None) -> None:
    """Refuse a cursor taken with a different value of query parameter ``name``."""
    if payload.get(name) != current:
        raise _invalid(f"it was issued for a different '{name}'")
