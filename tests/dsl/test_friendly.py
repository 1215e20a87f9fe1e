"""Every entry of the friendly-error tables is reachable and says what to write instead."""

from __future__ import annotations

import pytest

from tradeforge.dsl import parse
from tradeforge.dsl.errors import DslError
from tradeforge.dsl.friendly import BAD_BINARY, BAD_NODES, FRIENDLY_SYNTAX

FRIENDLY_EXAMPLES: dict[str, str] = {
    "'&&' is not an operator": "x = a && b",
    "'||' is not an operator": "x = a || b",
    "'//' does not start a comment": "// note",
    "'/* */' comments are not supported": "/* note */",
    "'!' is not an operator": "x = !a",
    "':=' is not part of the DSL": "x := 1",
    "a string is not closed": 'x = "abc',
    "a bracket is never closed": "x = sma(close, 3",
    "a closing bracket has no opening partner": "x = sma(close, 3))",
    "'=' assigns a name; it cannot be used inside an expression": "x = (a = 1)",
    "unexpected indentation": "x = 1\n    y = 2",
    "block statements are not part of the DSL": "else: x = 1",
    "'import' is not part of the DSL": "import os, sys as",
    "number literal has too many digits": "x = " + "9" * 5000,
    "malformed number or a name starting with a digit": "x = 1abc",
    "unexpected token": "x = null null",
}


def test_every_friendly_entry_has_an_example():
    assert {f.message for f in FRIENDLY_SYNTAX} == set(FRIENDLY_EXAMPLES)


@pytest.mark.parametrize(("message", "source"), FRIENDLY_EXAMPLES.items())
def test_friendly_syntax_entry_matches(message: str, source: str):
    with pytest.raises(DslError) as info:
        parse(source)
    assert info.value.code == "DSL_SYNTAX_ERROR"
    assert info.value.message == message
    assert info.value.suggestion


BAD_NODE_EXAMPLES = [
    "x = a.b",
    "lambda: 0",
    "import os",
    "from os import path",
    "def f(): pass",
    "async def f(): pass",
    "class A: pass",
    "if a: pass",
    "for i in a: pass",
    "while a: pass",
    "with a: pass",
    "try:\n  pass\nexcept E:\n  pass",
    "raise E",
    "return 1",
    "del a",
    "global a",
    "x = f(a, b=lambda: (yield))",
    "pass",
    "assert a",
    "x += 1",
    "x: int = 1",
    "(x := 1)",
    "x = [i for i in a]",
    "x = {i for i in a}",
    "x = {i: i for i in a}",
    "x = sum(i for i in a)",
    "x = [1]",
    "x = (1, 2)",
    "x = {1: 2}",
    "x = {1}",
    "x = f'{a}'",
    "f(*a)",
    "x = a[1:2]",
]


@pytest.mark.parametrize("source", BAD_NODE_EXAMPLES)
def test_rejected_python_constructs_name_the_problem(source: str):
    with pytest.raises(DslError) as info:
        parse(source)
    assert info.value.code == "DSL_SYNTAX_ERROR"
    assert info.value.message
    assert info.value.suggestion
    assert info.value.line is not None


def test_bad_binary_table_is_complete():
    for op in ("&", "|", "^", "//", "<<", ">>", "@"):
        with pytest.raises(DslError) as info:
            parse(f"x = a {op} b")
        assert info.value.message.startswith(f"'{op}'")
    assert len(BAD_BINARY) == 7
    assert len(BAD_NODES) >= 30
