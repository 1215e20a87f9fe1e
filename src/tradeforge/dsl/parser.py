"""Parse Signal DSL text into :mod:`tradeforge.dsl.ast` nodes.

The DSL borrows Python's expression grammar, so the text goes through :func:`ast.parse`
(parsing only: nothing is compiled or run) and the resulting Python tree is converted node
by node through an allow-list. Every node type without a handler is rejected with a
message saying what to write instead. Before Python's parser sees the text we enforce the
size limit and reject characters outside printable ASCII (except in comments), so
homoglyphs, invisible and bidi control characters never reach a name.
"""

from __future__ import annotations

import ast as pyast
import re
import warnings
from collections.abc import Callable
from typing import NoReturn

from tradeforge.dsl import limits
from tradeforge.dsl.ast import (
    Assign,
    Binary,
    Boolean,
    Call,
    Compare,
    Expr,
    ExprStatement,
    IfElse,
    Index,
    Keyword,
    Logical,
    Name,
    Number,
    Program,
    Span,
    Statement,
    String,
    Target,
    Unary,
)
from tradeforge.dsl.errors import DslError, DslLimitError, DslSyntaxError
from tradeforge.dsl.friendly import BAD_BINARY, BAD_NODES, friendly_syntax_error

_BINARY_OPS: dict[type[pyast.operator], str] = {
    pyast.Add: "+",
    pyast.Sub: "-",
    pyast.Mult: "*",
    pyast.Div: "/",
    pyast.Mod: "%",
    pyast.Pow: "**",
}
_COMPARE_OPS: dict[type[pyast.cmpop], str] = {
    pyast.Lt: "<",
    pyast.LtE: "<=",
    pyast.Gt: ">",
    pyast.GtE: ">=",
    pyast.Eq: "==",
    pyast.NotEq: "!=",
}
_UNARY_OPS: dict[type[pyast.unaryop], str] = {
    pyast.USub: "-",
    pyast.UAdd: "+",
    pyast.Not: "not",
}

_NUMBER_TEXT = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_BIDI_OR_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _span(node: pyast.expr | pyast.stmt | pyast.keyword | pyast.arg) -> Span:
    end_line = node.end_lineno if node.end_lineno is not None else node.lineno
    end_col = node.end_col_offset if node.end_col_offset is not None else node.col_offset
    return Span(node.lineno, node.col_offset + 1, end_line, end_col + 1)


def _whole(source: str) -> Span:
    return Span(1, 1, 1, 1 + min(1, len(source)))


def _scan_characters(source: str, max_bytes: int) -> None:
    """Enforce size, encoding and bracket-depth limits before Python's parser runs."""
    try:
        size = len(source.encode("utf-8"))
    except UnicodeEncodeError as e:
        pos = e.start
        line = source.count("\n", 0, pos) + 1
        col = pos - (source.rfind("\n", 0, pos) + 1) + 1
        raise DslSyntaxError(
            "the script contains an unpaired surrogate character",
            span=Span(line, col, line, col + 1),
            source=source,
            suggestion="Send the script as valid UTF-8 text.",
        ) from e
    if size > max_bytes:
        raise DslLimitError(
            f"the script is {size} bytes; the limit is {max_bytes} bytes",
            span=_whole(source),
            source=source,
            suggestion=f"Shorten the script to at most {max_bytes} bytes.",
            details={"limit": "MAX_SCRIPT_BYTES", "max": max_bytes},
        )
    line, col = 1, 0
    quote = ""
    in_comment = False
    depth = 0
    for ch in source:
        col += 1
        if ch == "\n":
            line, col, in_comment = line + 1, 0, False
            if quote:
                quote = ""  # Python reports the unterminated string itself
            continue
        span = Span(line, col, line, col + 1)
        if _BIDI_OR_INVISIBLE.match(ch):
            raise DslSyntaxError(
                f"invisible or text-direction character U+{ord(ch):04X}",
                span=span,
                source=source,
                suggestion="Delete it; scripts are plain ASCII text.",
            )
        if in_comment:
            continue
        if not (" " <= ch <= "~" or ch == "\t"):
            what = f"U+{ord(ch):04X}" if ord(ch) > 127 or ord(ch) < 32 else repr(ch)
            raise DslSyntaxError(
                f"character {what} is not allowed here",
                span=span,
                source=source,
                suggestion="Use ASCII letters, digits and operators; non-ASCII text may only "
                "appear in '#' comments.",
            )
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch == "#":
            in_comment = True
        elif ch in "([{":
            depth += 1
            if depth > limits.MAX_DEPTH:
                raise DslLimitError(
                    f"brackets are nested more than {limits.MAX_DEPTH} deep",
                    span=span,
                    source=source,
                    suggestion="Assign inner expressions to names to flatten the nesting.",
                    details={"limit": "MAX_DEPTH", "max": limits.MAX_DEPTH},
                )
        elif ch in ")]}":
            depth = max(0, depth - 1)


class _Converter:
    """Convert a Python syntax tree into DSL nodes through an allow-list of handlers."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source.split("\n")
        self.nodes = 0
        self.depth = 0
        self.handlers: dict[type[pyast.AST], Callable[[pyast.expr], Expr]] = {
            pyast.Constant: self._constant,  # type: ignore[dict-item]  # keyed by runtime type
            pyast.Name: self._name,  # type: ignore[dict-item]
            pyast.UnaryOp: self._unary,  # type: ignore[dict-item]
            pyast.BinOp: self._binary,  # type: ignore[dict-item]
            pyast.BoolOp: self._logical,  # type: ignore[dict-item]
            pyast.Compare: self._compare,  # type: ignore[dict-item]
            pyast.IfExp: self._ifelse,  # type: ignore[dict-item]
            pyast.Call: self._call,  # type: ignore[dict-item]
            pyast.Subscript: self._index,  # type: ignore[dict-item]
        }

    def fail(self, message: str, span: Span, suggestion: str) -> NoReturn:
        raise DslSyntaxError(message, span=span, source=self.source, suggestion=suggestion)

    def _count(self, span: Span) -> None:
        self.nodes += 1
        if self.nodes > limits.MAX_NODES:
            raise DslLimitError(
                f"the script has more than {limits.MAX_NODES} syntax nodes",
                span=span,
                source=self.source,
                suggestion="Split the strategy or simplify repeated expressions.",
                details={"limit": "MAX_NODES", "max": limits.MAX_NODES},
            )

    def _reject(self, node: pyast.AST) -> NoReturn:
        span = (
            _span(node)  # type: ignore[arg-type]  # every rejected node has a location
            if hasattr(node, "lineno")
            else Span(1, 1, 1, 2)
        )
        for cls, (message, suggestion) in BAD_NODES.items():
            if isinstance(node, cls):
                self.fail(message, span, suggestion)
        self.fail(
            f"'{type(node).__name__}' syntax is not part of the DSL",
            span,
            "See the grammar in /docs/signal-dsl.",
        )

    def _text(self, span: Span) -> str:
        if span.line != span.end_line:
            return ""
        return self.lines[span.line - 1][span.column - 1 : span.end_column - 1]

    # statements -------------------------------------------------------------------------

    def program(self, module: pyast.Module) -> Program:
        if len(module.body) > limits.MAX_STATEMENTS:
            raise DslLimitError(
                f"the script has {len(module.body)} statements; the limit is "
                f"{limits.MAX_STATEMENTS}",
                span=_span(module.body[limits.MAX_STATEMENTS]),
                source=self.source,
                suggestion="Shorten the script.",
                details={"limit": "MAX_STATEMENTS", "max": limits.MAX_STATEMENTS},
            )
        statements: list[Statement] = [self.statement(s) for s in module.body]
        return Program(tuple(statements), self.source)

    def statement(self, node: pyast.stmt) -> Statement:
        span = _span(node)
        self._count(span)
        if isinstance(node, pyast.Assign):
            if len(node.targets) != 1:
                self.fail(
                    "chained assignment 'a = b = ...' is not part of the DSL",
                    span,
                    "Compare with '==' (a == b) or assign each name on its own line.",
                )
            return Assign(self._targets(node.targets[0]), self.expr(node.value), span)
        if isinstance(node, pyast.Expr):
            return ExprStatement(self.expr(node.value), span)
        self._reject(node)

    def _targets(self, node: pyast.expr) -> tuple[Target, ...]:
        if isinstance(node, pyast.Name):
            return (Target(self._identifier(node.id, _span(node)), _span(node)),)
        if isinstance(node, pyast.Tuple):
            out: list[Target] = []
            for elt in node.elts:
                if not isinstance(elt, pyast.Name):
                    self.fail(
                        "only plain names can be unpacked into",
                        _span(elt),
                        "Write m, s, h = macd(close, 12, 26, 9).",
                    )
                out.append(Target(self._identifier(elt.id, _span(elt)), _span(elt)))
            return tuple(out)
        if isinstance(node, pyast.Subscript | pyast.Attribute):
            self.fail(
                "only names can be assigned to",
                _span(node),
                "Write name = expression; series are read-only.",
            )
        self.fail(
            "the left side of '=' must be a name",
            _span(node),
            "Compare with '==' instead, or write name = expression.",
        )

    def _identifier(self, ident: str, span: Span) -> str:
        if ident.startswith("_"):
            self.fail(
                f"names starting with '_' are reserved: '{ident}'",
                span,
                "Start names with a letter.",
            )
        if len(ident) > limits.MAX_NAME_LENGTH:
            raise DslLimitError(
                f"a name is {len(ident)} characters; the limit is {limits.MAX_NAME_LENGTH}",
                span=span,
                source=self.source,
                suggestion="Use a shorter name.",
                details={"limit": "MAX_NAME_LENGTH", "max": limits.MAX_NAME_LENGTH},
            )
        return ident

    # expressions ------------------------------------------------------------------------

    def expr(self, node: pyast.expr) -> Expr:
        handler = self.handlers.get(type(node))
        if handler is None:
            self._reject(node)
        span = _span(node)
        self._count(span)
        self.depth += 1
        if self.depth > limits.MAX_DEPTH:
            raise DslLimitError(
                f"the expression is nested more than {limits.MAX_DEPTH} levels deep",
                span=span,
                source=self.source,
                suggestion="Assign inner parts to names to flatten the expression.",
                details={"limit": "MAX_DEPTH", "max": limits.MAX_DEPTH},
            )
        try:
            return handler(node)
        finally:
            self.depth -= 1

    def _constant(self, node: pyast.Constant) -> Expr:
        span = _span(node)
        value = node.value
        if isinstance(value, bool):
            return Boolean(value, span)
        if isinstance(value, int | float):
            text = self._text(span)
            if text and not _NUMBER_TEXT.fullmatch(text):
                self.fail(
                    f"number literal '{text}' is not supported",
                    span,
                    "Write decimal numbers without '_', '0x', '0b' or '0o': 16, 0.5, 1e-3.",
                )
            number = float(value)
            if not (abs(number) <= limits.MAX_ABS_CONSTANT) or number != number:
                self.fail(
                    "number literal is out of range",
                    span,
                    f"Use numbers with absolute value at most {limits.MAX_ABS_CONSTANT:g}.",
                )
            return Number(number, span)
        if isinstance(value, str):
            text = self._text(span)
            if text and text[0] not in "\"'":
                self.fail(
                    "string prefixes (b, r, u, f) are not supported",
                    span,
                    'Write a plain string: "BINANCE:BTC/USDT".',
                )
            if text.startswith(('"""', "'''")) or span.line != span.end_line:
                self.fail(
                    "triple-quoted strings are not supported",
                    span,
                    'Write a plain one-line string: "BINANCE:BTC/USDT".',
                )
            if len(value) > limits.MAX_STRING_LENGTH:
                raise DslLimitError(
                    f"a string is {len(value)} characters; the limit is {limits.MAX_STRING_LENGTH}",
                    span=span,
                    source=self.source,
                    suggestion="Use a shorter string.",
                    details={"limit": "MAX_STRING_LENGTH", "max": limits.MAX_STRING_LENGTH},
                )
            return String(value, span)
        if value is None:
            self.fail("'None' is not part of the DSL", span, "Use a number or true/false.")
        if value is Ellipsis:
            self.fail("'...' is not part of the DSL", span, "Write the arguments out.")
        self.fail(
            f"{type(value).__name__} literals are not supported",
            span,
            "Use decimal numbers, strings or true/false.",
        )

    def _name(self, node: pyast.Name) -> Expr:
        span = _span(node)
        if node.id in ("true", "false"):
            return Boolean(node.id == "true", span)
        return Name(self._identifier(node.id, span), span)

    def _unary(self, node: pyast.UnaryOp) -> Expr:
        op = _UNARY_OPS.get(type(node.op))
        if op is None:
            self.fail("'~' is not an operator", _span(node), "Use 'not' to negate a condition.")
        operand = self.expr(node.operand)
        if op == "-" and isinstance(operand, Number):
            return Number(-operand.value, _span(node))
        return Unary(op, operand, _span(node))

    def _binary(self, node: pyast.BinOp) -> Expr:
        op = _BINARY_OPS.get(type(node.op))
        if op is None:
            message, suggestion = BAD_BINARY.get(
                type(node.op), ("operator is not part of the DSL", "Use + - * / % **.")
            )
            self.fail(message, _span(node), suggestion)
        return Binary(op, self.expr(node.left), self.expr(node.right), _span(node))

    def _logical(self, node: pyast.BoolOp) -> Expr:
        op = "and" if isinstance(node.op, pyast.And) else "or"
        return Logical(op, tuple(self.expr(v) for v in node.values), _span(node))

    def _compare(self, node: pyast.Compare) -> Expr:
        ops: list[str] = []
        for op in node.ops:
            name = _COMPARE_OPS.get(type(op))
            if name is None:
                self.fail(
                    "'is' and 'in' are not part of the DSL",
                    _span(node),
                    "Compare values with == != < <= > >=.",
                )
            ops.append(name)
        return Compare(
            self.expr(node.left),
            tuple(ops),
            tuple(self.expr(c) for c in node.comparators),
            _span(node),
        )

    def _ifelse(self, node: pyast.IfExp) -> Expr:
        return IfElse(
            self.expr(node.test), self.expr(node.body), self.expr(node.orelse), _span(node)
        )

    def _call(self, node: pyast.Call) -> Expr:
        span = _span(node)
        func = node.func
        if not isinstance(func, pyast.Name):
            if isinstance(func, pyast.Attribute):
                self._reject(func)
            self.fail(
                "only named functions can be called",
                _span(func),
                "Call a built-in by name, for example rsi(close, 14).",
            )
        name = self._identifier(func.id, _span(func))
        args: list[Expr] = []
        for arg in node.args:
            if isinstance(arg, pyast.Starred):
                self._reject(arg)
            args.append(self.expr(arg))
        keywords: list[Keyword] = []
        seen: set[str] = set()
        for kw in node.keywords:
            kw_span = _span(kw)
            if kw.arg is None:
                self.fail("'**' unpacking is not part of the DSL", kw_span, "Pass name=value.")
            if kw.arg in seen:
                self.fail(
                    f"keyword argument '{kw.arg}' is repeated",
                    kw_span,
                    "Pass each argument once.",
                )
            seen.add(kw.arg)
            keywords.append(
                Keyword(self._identifier(kw.arg, kw_span), self.expr(kw.value), kw_span)
            )
        return Call(name, tuple(args), tuple(keywords), span, _span(func))

    def _index(self, node: pyast.Subscript) -> Expr:
        span = _span(node)
        index_node = node.slice
        if isinstance(index_node, pyast.Slice):
            self._reject(index_node)
        index: int | None = None
        if isinstance(index_node, pyast.Constant) and type(index_node.value) is int:
            index = index_node.value
        elif (
            isinstance(index_node, pyast.UnaryOp)
            and isinstance(index_node.op, pyast.USub)
            and isinstance(index_node.operand, pyast.Constant)
            and type(index_node.operand.value) is int
        ):
            index = -index_node.operand.value
        if index is None:
            self.fail(
                "an index must be a negative whole number",
                _span(index_node),
                "Write x[-1] for the current bar, x[-2] for the bar before.",
            )
        if index >= 0:
            self.fail(
                f"x[{index}] would read a future bar",
                _span(index_node),
                "Indexes count back from the current bar: x[-1] is the current (latest "
                "closed) bar, x[-2] the bar before. There is no forward indexing.",
            )
        if index < -limits.MAX_INDEX:
            raise DslLimitError(
                f"x[{index}] reaches back more than {limits.MAX_INDEX} bars",
                span=_span(index_node),
                source=self.source,
                suggestion=f"Use an index between -1 and -{limits.MAX_INDEX}.",
                details={"limit": "MAX_INDEX", "max": limits.MAX_INDEX},
            )
        return Index(self.expr(node.value), index, span)


def normalize_newlines(source: str) -> str:
    """Return ``source`` with CRLF and lone CR turned into LF (positions use the result)."""
    return source.replace("\r\n", "\n").replace("\r", "\n")


def parse(source: str, *, max_bytes: int = limits.MAX_SCRIPT_BYTES) -> Program:
    """Parse a script into a :class:`Program`.

    Args:
        source: The script text. CRLF and CR line endings are accepted.
        max_bytes: Size limit in UTF-8 bytes.

    Returns:
        The syntax tree; names and types are not checked yet (see ``checker``).

    Raises:
        DslError: ``DSL_SYNTAX_ERROR`` or ``DSL_LIMIT_EXCEEDED`` with a span.
    """
    if not isinstance(source, str):
        raise DslSyntaxError(
            "the script must be text",
            span=Span(1, 1, 1, 1),
            suggestion="Send the script as a JSON string.",
        )
    text = normalize_newlines(source)
    if text.startswith("\ufeff"):
        raise DslSyntaxError(
            "the script starts with a byte-order mark (U+FEFF)",
            span=Span(1, 1, 1, 2),
            source=text,
            suggestion="Save the script as UTF-8 without BOM.",
        )
    _scan_characters(text, max_bytes)
    try:
        with warnings.catch_warnings():
            # Python's parser warns about things like "1and"; our checks decide instead
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            module = pyast.parse(text, mode="exec")
    except SyntaxError as e:
        raise friendly_syntax_error(text, e) from None
    except (RecursionError, MemoryError):
        raise DslLimitError(
            "the script is too deeply nested to parse",
            span=_whole(text),
            source=text,
            suggestion="Assign inner expressions to names to flatten the nesting.",
            details={"limit": "MAX_DEPTH", "max": limits.MAX_DEPTH},
        ) from None
    except ValueError as e:
        raise DslSyntaxError(
            f"the script cannot be parsed: {e}",
            span=_whole(text),
            source=text,
            suggestion="Remove control characters and send plain text.",
        ) from None
    try:
        return _Converter(text).program(module)
    except DslError:
        raise
    except RecursionError:
        raise DslLimitError(
            "the script is too deeply nested",
            span=_whole(text),
            source=text,
            suggestion="Assign inner expressions to names to flatten the nesting.",
            details={"limit": "MAX_DEPTH", "max": limits.MAX_DEPTH},
        ) from None


def parse_expression(source: str) -> Expr:
    """Parse a single expression (for /market/evaluate, scan and rank)."""
    program = parse(source, max_bytes=limits.MAX_EXPRESSION_BYTES)
    if len(program.statements) != 1 or not isinstance(program.statements[0], ExprStatement):
        span = program.statements[0].span if program.statements else Span(1, 1, 1, 1)
        raise DslSyntaxError(
            "expected exactly one expression",
            span=span,
            source=program.source,
            suggestion="Send one expression such as rsi(close, 14)[-1] < 30, with no '='.",
        )
    return program.statements[0].value
