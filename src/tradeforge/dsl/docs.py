"""Reference pages generated from the registry at runtime (``/docs/operators``, ``/docs/data``).

Nothing here is hand-maintained: adding an indicator to the registry documents it.
"""

from __future__ import annotations

from tradeforge.dsl import limits
from tradeforge.dsl.calls import BUILTIN_FUNCTIONS
from tradeforge.dsl.ir import (
    CURRENT_TICKER,
    CURRENT_TICKER_DOC,
    FUNDING_DOC,
    FUNDING_FIELD,
    PRICE_FIELDS,
    STATE_FIELDS,
    TIME_FIELDS,
    TIMEFRAMES,
)
from tradeforge.indicators.registry import categories

OPERATORS: tuple[tuple[str, str], ...] = (
    ("+ - * / % **", "Arithmetic on numbers and series (IEEE: x/0 is +-inf, 0/0 NaN)."),
    ("< <= > >= == !=", "Comparisons; a comparison with NaN is false (except !=)."),
    ("and or not", "Combine conditions."),
    ("a if cond else b", "Choose per bar."),
    ("x[-1], x[-2], ...", "x[-1] is the current (latest closed) bar, x[-2] the one before."),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def operators_markdown() -> str:
    """Return the operator and function reference as Markdown."""
    lines = ["# Signal DSL operators and functions", "", "## Operators", ""]
    lines += ["| Operator | Meaning |", "|---|---|"]
    lines += [f"| `{_cell(op)}` | {_cell(doc)} |" for op, doc in OPERATORS]
    lines += ["", "## Statements and actions", ""]
    lines += [
        f"- `{_cell(doc.split(' - ')[0])}`: {doc.split(' - ', 1)[-1]}"
        for doc in BUILTIN_FUNCTIONS.values()
    ]
    for category, specs in categories().items():
        lines += ["", f"## {category}", "", "| Function | Outputs | Lookback | Description |"]
        lines += ["|---|---|---|---|"]
        for spec in specs:
            defaults = tuple(p.default for p in spec.params)
            ranges = "; ".join(f"{p.name} in [{p.minimum:g}, {p.maximum:g}]" for p in spec.params)
            desc = spec.description + (f" Ranges: {ranges}." if ranges else "")
            if spec.path_dependent:
                desc += " Depends on where the data starts."
            outs = ", ".join(o.name for o in spec.outputs)
            sig = spec.signature.split(" -> ")[0]
            lookback = spec.lookback(defaults)
            unstable = spec.unstable(defaults)
            warm = f"{lookback}" + (f" (+{unstable} warm-up)" if unstable else "")
            lines.append(f"| `{_cell(sig)}` | {_cell(outs)} | {warm} | {_cell(desc)} |")
    lines += ["", "## Limits", ""]
    for name, value in sorted(vars(limits).items()):
        if name.isupper():
            lines.append(f"- `{name}` = {value}")
    return "\n".join(lines) + "\n"


def data_markdown() -> str:
    """Return the reference of built-in data names as Markdown."""
    lines = ["# Signal DSL data", "", "## Price series (current symbol, base timeframe)", ""]
    lines += [f"- `{name}`: {doc}" for name, doc in PRICE_FIELDS.items()]
    lines += [
        "",
        'Another symbol: `close("BINANCE:ETH/USDT")` (any price field), aligned to the '
        "current bars by close time (the latest candle closed at or before each bar's close).",
        "",
        "## Bar time (UTC, from the bar's open time)",
        "",
    ]
    lines += [f"- `{name}`: {doc}" for name, doc in TIME_FIELDS.items()]
    lines += ["", "## Current symbol", "", f"- `{CURRENT_TICKER}`: {CURRENT_TICKER_DOC}"]
    lines += ["", "## Perpetual markets", "", f"- `{FUNDING_FIELD}`: {FUNDING_DOC}"]
    lines += ["", "## Account state (strategies only, evaluated per bar by the engine)", ""]
    lines += [f"- `{name}`: {doc}" for name, doc in STATE_FIELDS.items()]
    lines += ["", "## Timeframes for tf(...)", "", ", ".join(f"`{t}`" for t in TIMEFRAMES)]
    return "\n".join(lines) + "\n"
