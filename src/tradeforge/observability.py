"""Structured logging with request ids, and redaction of anything that looks like a secret.

Log lines are JSON objects (or plain text in development when ``log_json`` is off). The
redaction filter runs on every record, whatever logger emitted it (ours, uvicorn's,
ccxt's), and masks our key/token formats, bearer credentials and secret-named fields.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from tradeforge.core.keys import SECRET_PATTERN

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tradeforge_request_id", default=None
)

_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',]+")
_SECRET_FIELD = re.compile(
    r"(?i)((?:password|secret|api_key|apikey|token|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"
)
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


def redact(text: str) -> str:
    """Mask secrets in free text."""
    text = SECRET_PATTERN.sub("[REDACTED]", text)
    text = _BEARER.sub(r"\1[REDACTED]", text)
    return _SECRET_FIELD.sub(r"\1[REDACTED]", text)


class RedactingFilter(logging.Filter):
    """Render the message once, redact it, and drop the arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, redact(value))
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in payload and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's API name
        return redact(super().formatException(ei))


def configure_logging(level: str = "INFO", json_lines: bool | None = True) -> None:
    """Install one redacting handler on the root logger (idempotent).

    ``json_lines=None`` picks JSON when stderr is not a terminal (services, CI, files) and
    readable text when a person is watching.
    """
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_tradeforge", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler._tradeforge = True  # type: ignore[attr-defined]  # marker for idempotency
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Exchange libraries can log request headers at DEBUG; never let them.
    logging.getLogger("ccxt").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
