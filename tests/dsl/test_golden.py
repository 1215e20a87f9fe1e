"""Golden tests: source -> AST (compact s-expressions) and source -> (code, line, column)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from tradeforge.dsl import compile_script, parse
from tradeforge.dsl.ast import dump
from tradeforge.dsl.errors import ALL_CODES, DslError

# loaded by path so the tests do not depend on how pytest sets up sys.path
ERROR_CASES: list[tuple[str, str, int, int]] = runpy.run_path(
    str(Path(__file__).with_name("golden_errors.py"))
)["ERROR_CASES"]
UNIVERSE = ["BINANCE:BTC/USDT", "BINANCE:ETH/USDT"]
EMIT = 'emit_signal(close > 0, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))'

SEEDS = [
    "oversold = rsi(close, 14) < 30\n"
    'emit_signal(oversold, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))',
    "rsi(close, 14)[-1]",
    "roc(close, 7)",
    "volume > sma(volume, 20)",
    "close > 0",
]

AST_CASES: list[tuple[str, str]] = [
    ("oversold = rsi(close, 14) < 30", "(= oversold (cmp (rsi close 14) < 30))"),
    (
        'emit_signal(oversold, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))',
        "(emit_signal oversold (entry 'BINANCE:BTC/USDT' 'LONG' (Weight 0.5)))",
    ),
    ("rsi(close, 14)[-1]", "([] (rsi close 14) -1)"),
    ("roc(close, 7)", "(roc close 7)"),
    ("volume > sma(volume, 20)", "(cmp volume > (sma volume 20))"),
    ("close > 0", "(cmp close > 0)"),
    ("m, s, h = macd(close, 12, 26, 9)", "(= m,s,h (macd close 12 26 9))"),
    ("x = 1 + 2 * 3", "(= x (+ 1 (* 2 3)))"),
    ("x = (1 + 2) * 3", "(= x (* (+ 1 2) 3))"),
    ("x = 2 ** 3 ** 2", "(= x (** 2 (** 3 2)))"),
    ("x = -close", "(= x (- close))"),
    ("x = -5", "(= x -5)"),
    ("x = --5", "(= x 5)"),
    ("x = +close", "(= x (+ close))"),
    ("x = not a", "(= x (not a))"),
    ("x = a and b or c", "(= x (or (and a b) c))"),
    ("x = a and (b or c)", "(= x (and a (or b c)))"),
    ("x = a and b and c", "(= x (and a b c))"),
    ("x = 0 < a < 1", "(= x (cmp 0 < a < 1))"),
    ("x = a != b", "(= x (cmp a != b))"),
    ("x = a == b", "(= x (cmp a == b))"),
    ("x = 1 if a > b else 2", "(= x (if (cmp a > b) 1 2))"),
    ("x = close[-2]", "(= x ([] close -2))"),
    ("x = close[-2][-3]", "(= x ([] ([] close -2) -3))"),
    ("x = true", "(= x true)"),
    ("x = True", "(= x true)"),
    ("x = false", "(= x false)"),
    ('x = "a"', "(= x 'a')"),
    ("x = 'a'", "(= x 'a')"),
    ("x = 1.5e-3", "(= x 0.0015)"),
    ("x = .5", "(= x 0.5)"),
    ("x = 5.", "(= x 5)"),
    ("x = 7 % 3", "(= x (% 7 3))"),
    ("x = a / b - c", "(= x (- (/ a b) c))"),
    ("x = bbands(close, timeperiod=20, nbdevup=2)", "(= x (bbands close timeperiod=20 nbdevup=2))"),
    ('x = tf("4h", rsi(close, 14))', "(= x (tf '4h' (rsi close 14)))"),
    ('x = close("BINANCE:ETH/USDT")', "(= x (close 'BINANCE:ETH/USDT'))"),
    ('n = param("n", 14, 2, 50)', "(= n (param 'n' 14 2 50))"),
    (
        'emit_signal(a, exit("BINANCE:BTC/USDT", 0.5))',
        "(emit_signal a (exit 'BINANCE:BTC/USDT' 0.5))",
    ),
    (
        'emit_signal(a, entry("X:Y/Z", "SHORT", Amount(100), stop_loss=0.05, take_profit=0.1))',
        "(emit_signal a (entry 'X:Y/Z' 'SHORT' (Amount 100) stop_loss=0.05 take_profit=0.1))",
    ),
    ("x = 1 # comment", "(= x 1)"),
    ("# only\nx = 1\n\n# more\ny = 2", "(= x 1)\n(= y 2)"),
    ("x = 1\r\ny = 2", "(= x 1)\n(= y 2)"),
    ("x = 1\ry = 2", "(= x 1)\n(= y 2)"),
    ("x = (\n  close\n)", "(= x close)"),
    ("x = sma(\n  close,\n  20,\n)", "(= x (sma close 20))"),
    (
        "x = crossover(ema(close, 12), ema(close, 26))",
        "(= x (crossover (ema close 12) (ema close 26)))",
    ),
    ("x = a if b else c if d else e", "(= x (if b a (if d c e)))"),
    ("close > open and volume > 0", "(and (cmp close > open) (cmp volume > 0))"),
    ("x = hour == 9 and day_of_week < 5", "(= x (and (cmp hour == 9) (cmp day_of_week < 5)))"),
]


@pytest.mark.parametrize(("source", "expected"), AST_CASES)
def test_parse_golden_ast(source: str, expected: str):
    assert dump(parse(source)) == expected


def test_parse_spans_are_one_based_and_cover_the_node():
    program = parse("x = 1\nyy = rsi(close, 14)")
    stmt = program.statements[1]
    assert (stmt.span.line, stmt.span.column, stmt.span.end_line, stmt.span.end_column) == (
        2,
        1,
        2,
        20,
    )
    call = stmt.value
    assert (call.span.column, call.span.end_column) == (6, 20)
    assert call.args[0].span.column == 10


@pytest.mark.parametrize("seed", SEEDS)
def test_seed_examples_are_valid_verbatim(seed: str):
    program = parse(seed)
    assert program.statements


def test_seed_strategy_compiles():
    plan = compile_script(SEEDS[0], ["BINANCE:BTC/USDT"])
    assert len(plan.signals) == 1
    assert plan.signals[0].side == "LONG"


def _script(line: str) -> str:
    if line.startswith("emit_signal") or "\n" in line or not line.strip() or line.startswith("#"):
        return line
    return line + "\n" + EMIT


def test_golden_error_table_has_more_than_100_cases():
    assert len(ERROR_CASES) >= 100
    assert {c[1] for c in ERROR_CASES} == set(ALL_CODES)


@pytest.mark.parametrize(
    ("source", "code", "line", "column"), ERROR_CASES, ids=[c[0][:40] for c in ERROR_CASES]
)
def test_compile_golden_error(source: str, code: str, line: int, column: int):
    with pytest.raises(DslError) as info:
        compile_script(_script(source), UNIVERSE)
    err = info.value
    assert (err.code, err.line, err.column) == (code, line, column), err.message
    assert err.message
    assert err.suggestion
    assert err.details["line"] == line
    assert err.details["column"] == column
    assert "^" in err.details["caret"]
    assert "^" in str(err)
