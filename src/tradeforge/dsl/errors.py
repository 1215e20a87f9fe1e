"""Errors raised by the Signal DSL.

Every error carries a stable ``code``, a ``message``, a ``suggestion`` and, when it points
at source text, a :class:`~tradeforge.dsl.ast.Span` plus the offending source line. The
position is also copied into ``details`` (``line``, ``column``, ``end_line``,
``end_column``, ``source_line``, ``caret``) so the HTTP layer can put it into ``meta``
without knowing this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tradeforge.core.errors import InvalidInputError
from tradeforge.dsl.ast import Span

SYNTAX_ERROR = "DSL_SYNTAX_ERROR"
UNKNOWN_NAME = "DSL_UNKNOWN_NAME"
TYPE_ERROR = "DSL_TYPE_ERROR"
ARITY_ERROR = "DSL_ARITY_ERROR"
LIMIT_EXCEEDED = "DSL_LIMIT_EXCEEDED"
VALUE_ERROR = "DSL_VALUE_ERROR"
OUT_OF_RANGE = "TA_OUT_OF_RANGE"

ALL_CODES: tuple[str, ...] = (
    SYNTAX_ERROR,
    UNKNOWN_NAME,
    TYPE_ERROR,
    ARITY_ERROR,
    LIMIT_EXCEEDED,
    VALUE_ERROR,
    OUT_OF_RANGE,
)


def source_excerpt(source: str, span: Span) -> tuple[str, str]:
    """Return the source line ``span`` starts on and a caret line under its columns."""
    lines = source.splitlines()
    if not 1 <= span.line <= len(lines):
        return "", "^"  # empty script or a position past the end
    text = lines[span.line - 1]
    if len(text) > 200:  # keep payloads small for minified one-line scripts
        lo = max(0, span.column - 100)
        text = text[lo : lo + 200]
        col = span.column - lo
    else:
        col = span.column
    width = 1
    if span.end_line == span.line and span.end_column > span.column:
        width = span.end_column - span.column
    width = max(1, min(width, len(text) - col + 2))
    caret = " " * max(0, col - 1) + "^" * width
    return text, caret


class DslError(InvalidInputError):
    """A script was rejected. ``span`` is ``None`` only for whole-script problems."""

    default_code: ClassVar[str] = SYNTAX_ERROR
    default_suggestion: ClassVar[str] = "Read the Signal DSL reference at /docs/signal-dsl."

    def __init__(
        self,
        message: str,
        *,
        span: Span | None = None,
        source: str | None = None,
        code: str | None = None,
        suggestion: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        merged: dict[str, Any] = dict(details or {})
        self.span = span
        self.source_line = ""
        self.caret = ""
        if span is not None:
            merged.update(
                line=span.line,
                column=span.column,
                end_line=span.end_line,
                end_column=span.end_column,
            )
            if source is not None:
                self.source_line, self.caret = source_excerpt(source, span)
                merged["source_line"] = self.source_line
                merged["caret"] = self.caret
        super().__init__(message, code=code, suggestion=suggestion, details=merged)

    @property
    def line(self) -> int | None:
        return None if self.span is None else self.span.line

    @property
    def column(self) -> int | None:
        return None if self.span is None else self.span.column

    def with_source(self, source: str) -> DslError:
        """Return the error with the source line and caret filled in (idempotent)."""
        if self.span is not None and not self.source_line:
            self.source_line, self.caret = source_excerpt(source, self.span)
            self.details["source_line"] = self.source_line
            self.details["caret"] = self.caret
        return self

    def __str__(self) -> str:
        head = f"{self.code}: {self.message}"
        if self.span is None:
            return head
        out = f"{head}\n  --> line {self.span.line}, column {self.span.column}"
        if self.caret:
            out += f"\n  | {self.source_line}\n  | {self.caret}"
        return f"{out}\n  = help: {self.suggestion}"

    def to_dict(self) -> dict[str, Any]:
        """Return the error as JSON-ready data (code, message, suggestion, details)."""
        return {
            "code": self.code,
            "message": self.message,
            "suggestion": self.suggestion,
            "details": dict(self.details),
        }


class DslSyntaxError(DslError):
    default_code = SYNTAX_ERROR
    default_suggestion = "Check the statement against the grammar in /docs/signal-dsl."


class DslUnknownNameError(DslError):
    default_code = UNKNOWN_NAME
    default_suggestion = "List valid names at /docs/operators and /docs/data."


class DslTypeError(DslError):
    default_code = TYPE_ERROR
    default_suggestion = "Check the argument types in /docs/operators."


class DslArityError(DslError):
    default_code = ARITY_ERROR
    default_suggestion = "Check the function signature in /docs/operators."


class DslLimitError(DslError):
    default_code = LIMIT_EXCEEDED
    default_suggestion = "Make the script smaller or simpler; the limit is in the message."


class DslValueError(DslError):
    default_code = VALUE_ERROR
    default_suggestion = "Use a value inside the range given in the message."


class TaOutOfRangeError(DslError):
    """A parameter or the requested data range is outside what an indicator supports."""

    default_code = OUT_OF_RANGE
    default_suggestion = "Use a value inside the range given in the message."
