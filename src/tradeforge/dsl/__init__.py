"""The Signal DSL: a small, safe language for trading rules.

Stages (one module each): :mod:`parser` (text to :mod:`ast`), :mod:`checker` (names,
types, ranges to :mod:`ir`), :mod:`compiler` (IR to a :class:`Plan` with shared
sub-expressions) and :mod:`runtime` (the plan over numpy arrays). Use the functions
re-exported here; see ``tradeforge/docs/signal-dsl.md`` for the language.
"""

from tradeforge.dsl.api import (
    ExpressionResult,
    SignalRun,
    ValidationReport,
    compile_expression,
    compile_script,
    evaluate_expression,
    evaluate_many,
    run_expression_plan,
    run_signals,
    run_universe,
    validate,
)
from tradeforge.dsl.compiler import Plan, required_warmup
from tradeforge.dsl.docs import data_markdown, operators_markdown
from tradeforge.dsl.errors import DslError
from tradeforge.dsl.parser import parse
from tradeforge.dsl.runtime import BarEvaluator, MarketData
from tradeforge.dsl.signals import SignalSeries, TickerSignals

__all__ = [
    "BarEvaluator",
    "DslError",
    "ExpressionResult",
    "MarketData",
    "Plan",
    "SignalRun",
    "SignalSeries",
    "TickerSignals",
    "ValidationReport",
    "compile_expression",
    "compile_script",
    "data_markdown",
    "evaluate_expression",
    "evaluate_many",
    "operators_markdown",
    "parse",
    "required_warmup",
    "run_expression_plan",
    "run_signals",
    "run_universe",
    "validate",
]
