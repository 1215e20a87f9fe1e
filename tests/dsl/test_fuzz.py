"""Hypothesis fuzz over parser + checker: never crash, every error is complete."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeforge.dsl import validate
from tradeforge.dsl.errors import ALL_CODES

VALID = [
    "oversold = rsi(close, 14) < 30\n"
    'emit_signal(oversold, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5)))',
    'm, s, h = macd(close, 12, 26, 9)\nup = crossover(m, s) and tf("4h", ema(close, 50)) < close\n'
    'emit_signal(up, entry("BINANCE:BTC/USDT", "LONG", Weight(0.5), stop_loss=0.05))\n'
    'emit_signal(crossunder(m, s) or bars_since_entry > 48, exit("BINANCE:BTC/USDT"))',
    'n = param("n", 20, 5, 50)\nhi = highest(high, n)[-2]\n'
    "emit_signal(close > hi and volume > sma(volume, 20), "
    'entry("BINANCE:BTC/USDT", "LONG", Amount(100)))',
    'r = close("BINANCE:ETH/USDT") / close\nz = zscore(r, 50)\n'
    'emit_signal(z < -2, entry("BINANCE:ETH/USDT", "LONG", Weight(0.3)))\n'
    'emit_signal(z > 0, exit("BINANCE:ETH/USDT", 0.5))',
]
UNIVERSE = ["BINANCE:BTC/USDT", "BINANCE:ETH/USDT"]
ALPHABET = st.sampled_from(
    [
        *"abcdefghijklmnopqrstuvwxyz_ABCLMNOSTUVW0123456789 \t\n()[]{}<>=!+-*/%^&|.,:;'\"#@~\\",
        *("rsi", "sma(", "close", "emit_signal(", "entry(", "Weight(", "tf(", '"4h"', "and "),
        *(" or ", "not ", "if ", " else ", "[-1]", "[0]", "**", "==", "lambda", "__class__"),
        *("\u202e", "\x00", "\u0456", "param(", "1e309", "10**10"),
    ]
)


def _assert_complete(report) -> None:
    if report.valid:
        assert report.required_warmup is not None
        assert report.required_warmup >= 0
        return
    for err in report.errors:
        assert err["code"] in ALL_CODES
        assert isinstance(err["message"], str)
        assert err["message"]
        assert isinstance(err["suggestion"], str)
        assert err["suggestion"]
        details = err["details"]
        assert isinstance(details.get("line"), int)
        assert details["line"] >= 1
        assert isinstance(details.get("column"), int)
        assert details["column"] >= 1


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALPHABET, max_size=60).map("".join))
def test_random_text_never_crashes(text: str):
    _assert_complete(validate(text, UNIVERSE))


@st.composite
def mutated(draw) -> str:
    script = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(script)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        piece = draw(ALPHABET)
        if action == "insert":
            script = script[:pos] + piece + script[pos:]
        elif action == "delete":
            script = script[:pos] + script[pos + draw(st.integers(1, 8)) :]
        elif action == "replace":
            script = script[:pos] + piece + script[pos + len(piece) :]
        else:
            script = script[:pos] + script[pos : pos + 20] + script[pos:]
    return script


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_valid_scripts_never_crash(script: str):
    _assert_complete(validate(script, UNIVERSE))


def test_valid_seed_scripts_are_valid():
    for script in VALID:
        report = validate(script, UNIVERSE)
        assert report.valid, report.errors
