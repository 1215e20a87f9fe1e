"""The Signal DSL syntax tree: frozen dataclasses, each with a source :class:`Span`.

Lines and columns are 1-based; ``end_column`` is exclusive. :func:`dump` renders a tree
as a compact s-expression, which the golden tests compare against.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    span: Span


@dataclass(frozen=True, slots=True)
class String:
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Boolean:
    value: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-", "+", "not"
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # "+", "-", "*", "/", "%", "**"
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Logical:
    op: str  # "and", "or"
    values: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Compare:
    left: Expr
    ops: tuple[str, ...]  # "<", "<=", ">", ">=", "==", "!="
    comparators: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class IfElse:
    test: Expr
    body: Expr
    orelse: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Keyword:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]
    span: Span
    func_span: Span


@dataclass(frozen=True, slots=True)
class Index:
    """``value[index]``; ``index`` is a negative literal (``-1`` is the current bar)."""

    value: Expr
    index: int
    span: Span


Expr = Number | String | Boolean | Name | Unary | Binary | Logical | Compare | IfElse | Call | Index


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Assign:
    targets: tuple[Target, ...]  # more than one for tuple unpacking
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class ExprStatement:
    value: Expr
    span: Span


Statement = Assign | ExprStatement


@dataclass(frozen=True, slots=True)
class Program:
    statements: tuple[Statement, ...]
    source: str


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def dump(node: Expr | Statement | Program | Keyword) -> str:
    """Return a compact s-expression for ``node`` (spans left out)."""
    match node:
        case Program(statements=statements):
            return "\n".join(dump(s) for s in statements)
        case Assign(targets=targets, value=value):
            names = ",".join(t.name for t in targets)
            return f"(= {names} {dump(value)})"
        case ExprStatement(value=value):
            return dump(value)
        case Number(value=value):
            return _num(value)
        case String(value=value):
            return repr(value)
        case Boolean(value=value):
            return "true" if value else "false"
        case Name(id=ident):
            return ident
        case Unary(op=op, operand=operand):
            return f"({op} {dump(operand)})"
        case Binary(op=op, left=left, right=right):
            return f"({op} {dump(left)} {dump(right)})"
        case Logical(op=op, values=values):
            return f"({op} {' '.join(dump(v) for v in values)})"
        case Compare(left=left, ops=ops, comparators=comparators):
            parts = [dump(left)]
            for op, right in zip(ops, comparators, strict=True):
                parts.extend((op, dump(right)))
            return f"(cmp {' '.join(parts)})"
        case IfElse(test=test, body=body, orelse=orelse):
            return f"(if {dump(test)} {dump(body)} {dump(orelse)})"
        case Keyword(name=name, value=value):
            return f"{name}={dump(value)}"
        case Call(func=func, args=args, keywords=keywords):
            inner = [dump(a) for a in args] + [dump(k) for k in keywords]
            return f"({func}{''.join(' ' + i for i in inner)})"
        case Index(value=value, index=index):
            return f"([] {dump(value)} {index})"
    raise TypeError(f"not a DSL node: {type(node).__name__}")
