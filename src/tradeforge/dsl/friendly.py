"""Known-bad syntax and what to write instead.

``BAD_NODES`` and ``BAD_BINARY`` name every rejected Python construct the DSL's parser can
meet. ``FRIENDLY_SYNTAX`` is matched, in order, against a failing parse (the source line or
Python's message), in the spirit of lark's ``match_examples``; each entry is tested.
"""

from __future__ import annotations

import ast as pyast
import re
from dataclasses import dataclass

from tradeforge.dsl.ast import Span
from tradeforge.dsl.errors import DslSyntaxError

# Rejected operators and node types, with what to write instead.
BAD_BINARY: dict[type[pyast.operator], tuple[str, str]] = {
    pyast.BitAnd: ("'&' is not an operator", "Use 'and' to combine conditions."),
    pyast.BitOr: ("'|' is not an operator", "Use 'or' to combine conditions."),
    pyast.BitXor: ("'^' is not an operator", "Use '**' for powers: x ** 2."),
    pyast.FloorDiv: ("'//' is not an operator", "Use '/' and floor(...) if needed."),
    pyast.LShift: ("'<<' is not an operator", "Use arithmetic: x * 2 ** n."),
    pyast.RShift: ("'>>' is not an operator", "Use arithmetic: x / 2 ** n."),
    pyast.MatMult: ("'@' is not an operator", "Use '*' to multiply."),
}
BAD_NODES: dict[type[pyast.AST], tuple[str, str]] = {
    pyast.Attribute: (
        "attribute access with '.' is not part of the DSL",
        "Call functions directly, for example sma(close, 20); tuples unpack with "
        "m, s, h = macd(close, 12, 26, 9).",
    ),
    pyast.Lambda: ("'lambda' is not part of the DSL", "Assign an expression to a name."),
    pyast.Import: ("'import' is not part of the DSL", "All functions are built in; remove it."),
    pyast.ImportFrom: ("'from ... import' is not part of the DSL", "Remove the import."),
    pyast.FunctionDef: ("'def' is not part of the DSL", "Assign expressions to names instead."),
    pyast.AsyncFunctionDef: ("'async def' is not part of the DSL", "Remove it."),
    pyast.ClassDef: ("'class' is not part of the DSL", "Remove it."),
    pyast.If: (
        "'if' statements are not part of the DSL",
        "Use emit_signal(condition, action) or 'a if condition else b'.",
    ),
    pyast.For: ("loops are not part of the DSL", "Indicators already run over every bar."),
    pyast.While: ("loops are not part of the DSL", "Indicators already run over every bar."),
    pyast.With: ("'with' is not part of the DSL", "Remove it."),
    pyast.Try: ("'try' is not part of the DSL", "Remove it."),
    pyast.Raise: ("'raise' is not part of the DSL", "Remove it."),
    pyast.Return: ("'return' is not part of the DSL", "Use emit_signal(condition, action)."),
    pyast.Delete: ("'del' is not part of the DSL", "Remove it."),
    pyast.Global: ("'global' is not part of the DSL", "Remove it."),
    pyast.Nonlocal: ("'nonlocal' is not part of the DSL", "Remove it."),
    pyast.Pass: ("'pass' is not part of the DSL", "Remove it."),
    pyast.Assert: ("'assert' is not part of the DSL", "Remove it."),
    pyast.AugAssign: (
        "augmented assignment is not part of the DSL",
        "Names are assigned once; write a new name: y = x + 1.",
    ),
    pyast.AnnAssign: ("annotations are not part of the DSL", "Write name = expression."),
    pyast.NamedExpr: ("':=' is not part of the DSL", "Assign on its own line: x = ..."),
    pyast.ListComp: ("comprehensions are not part of the DSL", "Remove it."),
    pyast.SetComp: ("comprehensions are not part of the DSL", "Remove it."),
    pyast.DictComp: ("comprehensions are not part of the DSL", "Remove it."),
    pyast.GeneratorExp: ("generators are not part of the DSL", "Remove it."),
    pyast.List: ("lists are not part of the DSL", "Pass values as separate arguments."),
    pyast.Tuple: (
        "tuples are only allowed on the left of '='",
        "Unpack multi-output indicators: m, s, h = macd(close, 12, 26, 9).",
    ),
    pyast.Dict: ("dictionaries are not part of the DSL", "Use keyword arguments."),
    pyast.Set: ("sets are not part of the DSL", "Remove it."),
    pyast.JoinedStr: ("f-strings are not part of the DSL", 'Use a plain string: "...".'),
    pyast.Starred: ("'*' unpacking is not part of the DSL", "Pass arguments one by one."),
    pyast.Await: ("'await' is not part of the DSL", "Remove it."),
    pyast.Yield: ("'yield' is not part of the DSL", "Remove it."),
    pyast.YieldFrom: ("'yield' is not part of the DSL", "Remove it."),
    pyast.Slice: (
        "slices are not part of the DSL",
        "Index one bar at a time: x[-1] is the current bar, x[-2] the one before.",
    ),
}


@dataclass(frozen=True, slots=True)
class _Friendly:
    pattern: re.Pattern[str]
    on_message: bool  # match the Python error message instead of the source line
    message: str
    suggestion: str


# Known-bad snippets, checked in order against a failing parse (lark's match_examples idea).
FRIENDLY_SYNTAX: tuple[_Friendly, ...] = (
    _Friendly(re.compile(r"&&"), False, "'&&' is not an operator", "Use 'and': a > 1 and b < 2."),
    _Friendly(re.compile(r"\|\|"), False, "'||' is not an operator", "Use 'or': a or b."),
    _Friendly(
        re.compile(r"^\s*//"), False, "'//' does not start a comment", "Start comments with '#'."
    ),
    _Friendly(
        re.compile(r"/\*|\*/"), False, "'/* */' comments are not supported", "Use '#' comments."
    ),
    _Friendly(re.compile(r"!(?!=)"), False, "'!' is not an operator", "Use 'not': not (a > b)."),
    _Friendly(
        re.compile(r":="),
        False,
        "':=' is not part of the DSL",
        "Assign on its own line: x = expression.",
    ),
    _Friendly(
        re.compile(r"unterminated string|EOL while scanning|EOF while scanning"),
        True,
        "a string is not closed",
        'Close the string with the quote it started with: "BINANCE:BTC/USDT".',
    ),
    _Friendly(
        re.compile(r"was never closed|unexpected EOF"),
        True,
        "a bracket is never closed",
        "Add the missing ')' (or ']') so every opening bracket has a partner.",
    ),
    _Friendly(
        re.compile(r"unmatched|does not match"),
        True,
        "a closing bracket has no opening partner",
        "Remove the extra bracket or add the opening one.",
    ),
    _Friendly(
        re.compile(r"Maybe you meant '=='|cannot contain assignment|cannot assign to"),
        True,
        "'=' assigns a name; it cannot be used inside an expression",
        "Compare with '==': close == open. Keyword arguments are name=value inside a call.",
    ),
    _Friendly(
        re.compile(r"unexpected indent|unindent|expected an indented block"),
        True,
        "unexpected indentation",
        "Start every statement at column 1; the DSL has no blocks.",
    ),
    _Friendly(
        re.compile(r"^\s*(if|elif|else|for|while|def|class|with|try|except|return)\b"),
        False,
        "block statements are not part of the DSL",
        "Use emit_signal(condition, action) or 'a if condition else b'.",
    ),
    _Friendly(
        re.compile(r"\bimport\b"),
        False,
        "'import' is not part of the DSL",
        "All functions are built in; remove the import.",
    ),
    _Friendly(
        re.compile(r"Exceeds the limit|too many digits|digits"),
        True,
        "number literal has too many digits",
        "Write numbers with at most 15 significant digits, e.g. 1e15.",
    ),
    _Friendly(
        re.compile(r"invalid decimal literal|invalid digit|leading zeros"),
        True,
        "malformed number or a name starting with a digit",
        "Write numbers like 14, 0.5 or 1e-3; names start with a letter.",
    ),
    _Friendly(
        re.compile(r"\b(true|false)\s*[=<>!]?=|\bnull\b|\bnone\b"),
        False,
        "unexpected token",
        "Booleans are true/false; there is no null.",
    ),
)


def friendly_syntax_error(source: str, err: SyntaxError) -> DslSyntaxError:
    lines = source.splitlines()
    lineno = err.lineno or 1
    text = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    offset = err.offset or 1
    msg = err.msg or "invalid syntax"
    for entry in FRIENDLY_SYNTAX:
        if entry.on_message:
            hit = entry.pattern.search(msg)
            col = offset
        else:
            hit = entry.pattern.search(text)
            col = hit.start() + 1 if hit else offset
        if hit:
            width = (hit.end() - hit.start()) if not entry.on_message else 1
            return DslSyntaxError(
                entry.message,
                span=Span(lineno, col, lineno, col + max(1, width)),
                source=source,
                suggestion=entry.suggestion,
                details={"parser_message": msg},
            )
    clean = re.sub(r"\s*\(<unknown>, line \d+\)", "", msg)
    return DslSyntaxError(
        clean[:1].lower() + clean[1:] if clean else "invalid syntax",
        span=Span(lineno, offset, lineno, offset + 1),
        source=source,
        suggestion="Check the operators and brackets near the caret; see /docs/signal-dsl.",
        details={"parser_message": msg},
    )
