"""How the backtest page shows a stored result: metric labels and formats, tickers,
trade rows and pagination. Pure functions of the stored record (nothing is recomputed)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tradeforge.core.jobs import BacktestResultRecord

#: (metric key, label, format) per group, in display order. Formats: money, pct, ratio,
#: int, duration, time.
METRIC_GROUPS: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "Returns",
        (
            ("initial_equity", "Initial equity", "money"),
            ("final_equity", "Final equity", "money"),
            ("total_return_pct", "Total return", "pct"),
            ("cagr_pct", "CAGR", "pct"),
            ("buy_and_hold_return_pct", "Buy & hold", "pct"),
        ),
    ),
    (
        "Risk",
        (
            ("max_drawdown_pct", "Max drawdown", "pct"),
            ("max_drawdown_abs", "Max drawdown (abs)", "money"),
            ("max_drawdown_duration_ms", "Max drawdown duration", "duration"),
            ("longest_drawdown_ms", "Longest drawdown", "duration"),
            ("sharpe_ratio", "Sharpe ratio", "ratio"),
            ("sortino_ratio", "Sortino ratio", "ratio"),
            ("calmar_ratio", "Calmar ratio", "ratio"),
            ("exposure_pct", "Exposure", "pct"),
        ),
    ),
    (
        "Trades",
        (
            ("num_trades", "Closed trades", "int"),
            ("open_trades", "Open trades", "int"),
            ("win_rate_pct", "Win rate", "pct"),
            ("profit_factor", "Profit factor", "ratio"),
            ("expectancy", "Expectancy", "money"),
            ("avg_trade_pct", "Average trade", "pct"),
            ("best_trade_pct", "Best trade", "pct"),
            ("worst_trade_pct", "Worst trade", "pct"),
            ("avg_holding_ms", "Average holding", "duration"),
        ),
    ),
    (
        "Costs and period",
        (
            ("fees_paid", "Fees paid", "money"),
            ("funding_paid", "Funding paid", "money"),
            ("start_ms", "First bar", "time"),
            ("end_ms", "Last bar", "time"),
            ("duration_ms", "Duration", "duration"),
        ),
    ),
    (
        "Fills",
        (
            ("ambiguous_bars", "Ambiguous exit bars", "int"),
            ("intrabar_resolved_bars", "Settled intrabar", "int"),
        ),
    ),
)
#: Seed-compatible aliases of metrics shown above (same values): not repeated on the page.
ALIASES = frozenset({"max_drawdown", "win_rate"})

HEADLINE = (
    ("total_return_pct", "Total return", "pct"),
    ("buy_and_hold_return_pct", "Buy & hold", "pct"),
    ("max_drawdown_pct", "Max drawdown", "pct"),
    ("sharpe_ratio", "Sharpe", "ratio"),
    ("num_trades", "Trades", "int"),
    ("win_rate_pct", "Win rate", "pct"),
)

TRADES_PER_PAGE = 50
#: Candlestick charts drawn on one page (more traded tickers are listed, not drawn).
MAX_CHARTS = 8


@dataclass(frozen=True)
class MetricCell:
    key: str
    label: str
    kind: str
    value: Any


def metric_groups(metrics: dict[str, Any]) -> list[tuple[str, list[MetricCell]]]:
    """Every known metric in its group, then any other metric under "Other"."""
    known: set[str] = set()
    groups: list[tuple[str, list[MetricCell]]] = []
    for title, rows in METRIC_GROUPS:
        cells = [MetricCell(k, label, kind, metrics[k]) for k, label, kind in rows if k in metrics]
        known.update(k for k, _, _ in rows)
        if cells:
            groups.append((title, cells))
    other = [
        MetricCell(k, k.replace("_", " ").capitalize(), "ratio", v)
        for k, v in sorted(metrics.items())
        if k not in known and k not in ALIASES
    ]
    if other:
        groups.append(("Other", other))
    return groups


def headline(metrics: dict[str, Any]) -> list[MetricCell]:
    return [MetricCell(k, label, kind, metrics.get(k)) for k, label, kind in HEADLINE]


def tickers(record: BacktestResultRecord) -> list[str]:
    universe = record.request.get("universe") or []
    per_ticker = record.summary.get("per_ticker") or {}
    names = [str(t) for t in per_ticker] or [str(t) for t in universe]
    return names


def traded_tickers(record: BacktestResultRecord) -> list[str]:
    """Tickers with at least one trade, in universe order; the first ticker when none."""
    per_ticker = record.summary.get("per_ticker") or {}
    traded = [str(t) for t, row in per_ticker.items() if (row or {}).get("num_trades")]
    if traded:
        return traded
    names = tickers(record)
    return names[:1]


def parse_page(value: str | None) -> int:
    """A 1-based page number from the query string; anything odd is page 1."""
    if value is None or not value.isdigit() or len(value) > 9:
        return 1
    return max(1, int(value))


@dataclass(frozen=True)
class Pagination:
    page: int
    pages: int
    total: int
    per_page: int

    @property
    def after_seq(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def first_index(self) -> int:
        return self.after_seq + 1 if self.total else 0

    @property
    def last_index(self) -> int:
        return min(self.total, self.page * self.per_page)


def paginate(total: int, requested: int, per_page: int = TRADES_PER_PAGE) -> Pagination:
    """Clamp ``requested`` into ``1..pages`` (a huge page number shows the last page)."""
    pages = max(1, math.ceil(total / per_page))
    return Pagination(min(max(1, requested), pages), pages, total, per_page)


def fingerprint_inputs(record: BacktestResultRecord) -> dict[str, Any]:
    inputs = record.summary.get("fingerprint_inputs") or {}
    return dict(inputs) if isinstance(inputs, dict) else {}
