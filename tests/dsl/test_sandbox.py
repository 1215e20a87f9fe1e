"""Untrusted scripts: escape attempts and resource bombs are rejected statically."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tradeforge.dsl import compile_expression, validate
from tradeforge.dsl.errors import ALL_CODES, DslError

ESCAPES = [
    "__import__('os')",
    "__import__('os').system('id')",
    "().__class__.__bases__",
    "().__class__.__bases__[0].__subclasses__()",
    "'{0.__class__}'.format(x)",
    "'{0.__class__.__bases__}'.format(1)",
    "lambda: 0",
    "(lambda: 1)()",
    "open('/etc/passwd')",
    "open('/etc/passwd').read()",
    "10**10**10",
    "2**2**2**2**2**2",
    "sma(close, 10**9)",
    "getattr(1, '__class__')",
    "print.__reduce__()",
    "foo.bar().gi_frame.f_globals",
    "[x for x in range(10**9)]",
    "f\"{open('/etc/passwd').read()}\"",
    "eval('1')",
    "exec('1')",
    "open",
    "globals()",
    "__builtins__",
    "self",
    "os",
    "sys",
    "import os",
    "close.__class__",
    "x = 1\nx.__dict__",
    "type(close)",
    "vars()",
    "breakpoint()",
    "compile('1', 'a', 'eval')",
    "close[10**9]",
    "close[-10**9]",
    "sma(close, 2.5)",
    "ema()",
    "ema(close, 14, 14, 14)",
    "rsi(close, nan)",
    "sma(" * 1000 + "close" + ",14)" * 1000,
    "(" * 10_000 + "1" + ")" * 10_000,
    "-" * 10_000 + "1",
    "not " * 10_000 + "x",
    "1+" * 30_000 + "1",
    "\n" * 100_000,
    "a" * 100_000,
    "9" * 5000,
    "x" * (70 * 1024),
]


@pytest.mark.parametrize("script", ESCAPES, ids=lambda s: repr(s[:30]))
def test_escape_attempt_is_rejected_with_code_and_position(script: str):
    start = time.perf_counter()
    report = validate(script, ["BINANCE:BTC/USDT"])
    assert time.perf_counter() - start < 5.0  # a hang guard, not a speed target
    assert not report.valid
    err = report.errors[0]
    assert err["code"] in ALL_CODES
    assert err["message"]
    assert err["suggestion"]
    assert "line" in err["details"]
    assert "column" in err["details"]


@pytest.mark.parametrize("expr", ["open('/etc/passwd')", "__import__('os')", "close.real"])
def test_escape_attempt_as_expression_is_rejected(expr: str):
    with pytest.raises(DslError):
        compile_expression(expr)


def test_dsl_package_never_calls_eval_exec_compile_or_getattr():
    root = Path(__file__).resolve().parents[2] / "src" / "tradeforge" / "dsl"
    pattern = re.compile(r"\b(eval|exec|compile|getattr|setattr|__import__|importlib)\s*\(")
    for path in root.glob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            hits = [m for m in pattern.finditer(code) if not code[: m.start()].endswith(("_", "."))]
            assert not hits, f"{path.name}:{number}: {line.strip()}"
