"""Documents served at ``/api/v1/docs/<slug>`` beyond the API reference.

Importing this module registers them. Generated parts (operators, functions, data names)
come from the DSL and indicator registries at request time, so they never drift.
"""

from __future__ import annotations

from starlette.requests import Request

from tradeforge.api.routers.docs import register_document
from tradeforge.docs import read_document
from tradeforge.dsl import data_markdown, operators_markdown
from tradeforge.services.research import (
    EXTRA_BARS,
    MAX_SERIES_POINTS,
    MAX_UNIVERSE,
    NAMED_UNIVERSES,
)


def research_markdown() -> str:
    """How evaluate, scan and rank read the store (history, universes, NaN handling)."""
    names = ", ".join(f"`{name}`" for name in NAMED_UNIVERSES)
    return f"""# Evaluate, scan and rank

`POST /api/v1/market/evaluate`, `/market/scan` and `/market/rank` run Signal DSL
expressions on stored, closed candles.

* **History**: each symbol loads the expression's `required_warmup` bars plus {EXTRA_BARS}
  more, ending at its newest stored candle (or before `end`). Recursive indicators
  (`rsi`, `ema`, ...) then equal their full-history values to about 1e-10.
* **Latest value**: the value on the newest closed candle; its open time is `timestamp`.
  Symbols can end at different times (a delisted pair stops early): check `timestamp`.
* **Series** (`evaluate` with `series: true`): the values over `[start, end)`, or the newest
  `limit` candles; at most {MAX_SERIES_POINTS} points. Undefined values (warm-up) are null.
* **Named universes**: {names} are the exchange's stored symbols ranked by traded quote
  volume over the last 30 stored days (`sum(close * volume)`, a liquidity proxy; no
  market-cap data is stored). Mix them with explicit symbols; at most {MAX_UNIVERSE}
  symbols per request. Symbols without candles on the requested timeframe are listed in
  `skipped`.
* **Scan** keeps symbols whose condition is true; `details[].values` shows the values of
  the comparison operands behind each decision.
* **Rank** sorts by the numeric value (`order`: `desc` by default); symbols whose value is
  NaN (too little history) are listed in `unranked`, never ranked.
* **Errors**: a bad expression is a 400 with a `DSL_*` code and `error.details.line` /
  `column` / `caret`.
"""


def signal_guide_markdown() -> str:
    """The full Signal DSL guide: language, operators and functions, data names."""
    return (
        "\n\n".join(
            (
                read_document("signal-dsl").rstrip(),
                operators_markdown().rstrip(),
                data_markdown().rstrip(),
                research_markdown().rstrip(),
            )
        )
        + "\n"
    )


def _data(_: Request) -> str:
    return data_markdown().rstrip() + "\n\n" + read_document("data")


register_document(
    "signal-dsl",
    "Signal DSL",
    "The strategy language: syntax, types, actions, warm-up, errors, examples.",
    lambda _: read_document("signal-dsl"),
)
register_document(
    "operators",
    "Signal DSL operators and functions",
    "Every operator, builtin and indicator with signature, ranges and lookback (generated).",
    lambda _: operators_markdown(),
)
register_document(
    "data",
    "Data",
    "Names scripts can read (prices, time, funding, state), then the stored market data.",
    _data,
)
register_document(
    "market-research",
    "Evaluate, scan and rank",
    "How expressions are evaluated on stored data; named universes like top20.",
    lambda _: research_markdown(),
)
register_document(
    "backtesting",
    "Backtesting: execution model and metrics",
    "When orders fill, how fees, slippage, stops, leverage, liquidation and funding work, "
    "and the formula of every metric.",
    lambda _: read_document("backtesting"),
)
