"""Performance metrics: a pure function from an equity curve and closed trades to numbers.

Every formula is written out in tradeforge/docs/backtesting.md ("Metrics"). Conventions:

* Returns are simple per-bar returns of the equity curve, the first one measured from the
  initial cash. Annualisation uses a 365-day calendar: ``periods_per_year = 365 days /
  timeframe`` (8,760 for 1h candles), whatever the gaps in the data.
* Percentages are in percent (``12.5`` means 12.5 %); money is in the quote currency.
* A metric that is undefined for the input (a Sharpe ratio of a flat curve, a profit factor
  without losing trades) is ``None``, never ``NaN`` or infinity, so results serialise to JSON.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.backtest.kernels import drawdown_nb

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MS_PER_DAY = 86_400_000
DAYS_PER_YEAR = 365.0


@dataclass(frozen=True, slots=True)
class Stats:
    """Headline metrics of one backtest. See tradeforge/docs/backtesting.md for each formula."""

    start_ms: int
    end_ms: int
    duration_ms: int
    initial_equity: float
    final_equity: float
    total_return_pct: float
    cagr_pct: float
    max_drawdown_pct: float
    max_drawdown_abs: float
    max_drawdown_duration_ms: int
    longest_drawdown_ms: int
    sharpe_ratio: float | None
    sortino_ratio: float | None
    calmar_ratio: float | None
    num_trades: int
    open_trades: int
    win_rate_pct: float | None
    profit_factor: float | None
    expectancy: float | None
    avg_trade_pct: float | None
    best_trade_pct: float | None
    worst_trade_pct: float | None
    avg_holding_ms: float | None
    exposure_pct: float
    fees_paid: float
    funding_paid: float
    buy_and_hold_return_pct: float | None
    ambiguous_bars: int = 0
    intrabar_resolved_bars: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the metrics as a JSON-ready dict."""
        return asdict(self)


def _none_if_bad(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def periods_per_year(timeframe_ms: int) -> float:
    """Return how many bars of ``timeframe_ms`` fit in a 365-day year."""
    return DAYS_PER_YEAR * MS_PER_DAY / timeframe_ms


def drawdown_stats(
    equity: FloatArray, timestamp: IntArray, initial: float
) -> tuple[float, float, int, int]:
    """Return ``(max_dd_pct, max_dd_abs, max_dd_duration_ms, longest_dd_ms)``.

    The running peak starts at ``initial``. A drawdown episode runs from a peak to the first
    later bar whose equity is back at or above that peak (or to the last bar).
    """
    if equity.dtype == np.float64 and timestamp.dtype == np.int64 and equity.ndim == 1:
        # One compiled pass without temporary arrays (each a fresh page-faulted block on
        # long series); non-finite equity takes the array path below.
        ok, pct, abs_, dur, longest = drawdown_nb(
            np.ascontiguousarray(equity), np.ascontiguousarray(timestamp), float(initial)
        )
        if ok:
            return pct, abs_, dur, longest
    peaks = np.maximum.accumulate(np.maximum(equity, initial))
    dd_abs = peaks - equity
    with np.errstate(divide="ignore", invalid="ignore"):
        dd_pct = np.where(peaks > 0, dd_abs / peaks, 0.0) * 100.0
    if dd_abs.size == 0 or float(dd_abs.max()) <= 0.0:
        return 0.0, 0.0, 0, 0
    worst = int(np.argmax(dd_pct))
    # Episode boundaries: bars at a (new or equal) peak.
    at_peak = dd_abs <= 0.0
    peak_idx = np.flatnonzero(at_peak)
    start_ts = timestamp[0]
    before = peak_idx[peak_idx < worst]
    ep_start = int(timestamp[before[-1]]) if before.size else int(start_ts)
    after = peak_idx[peak_idx > worst]
    ep_end = int(timestamp[after[0]]) if after.size else int(timestamp[-1])
    # Longest episode: distance between consecutive peak bars (or start/end).
    bounds = np.concatenate(([timestamp[0]], timestamp[peak_idx], [timestamp[-1]]))
    longest = int(np.max(np.diff(bounds))) if bounds.size > 1 else 0
    return float(dd_pct[worst]), float(dd_abs.max()), ep_end - ep_start, longest


def compute_stats(
    *,
    timestamp: IntArray,
    equity: FloatArray,
    initial_equity: float,
    timeframe_ms: int,
    trade_pnl: FloatArray,
    trade_return_pct: FloatArray,
    trade_entry_ms: IntArray,
    trade_exit_ms: IntArray,
    trade_is_open: BoolArray,
    in_market: BoolArray,
    fees_paid: float,
    funding_paid: float,
    buy_and_hold_return_pct: float | None,
    ambiguous_bars: int = 0,
    intrabar_resolved_bars: int = 0,
) -> Stats:
    """Compute the headline metrics of one backtest.

    Args:
        timestamp: bar open times (UTC ms), ascending.
        equity: equity at each bar's close, same length as ``timestamp``.
        initial_equity: cash before the first bar.
        timeframe_ms: bar length, used to annualise.
        trade_pnl: net PnL of every trade (fees and funding included), quote currency.
        trade_return_pct: each trade's return on the margin it committed, in percent.
        trade_entry_ms: entry times. trade_exit_ms: exit times (last bar for open trades).
        trade_is_open: trades still open at the end (left out of the trade metrics).
        in_market: whether any position was open at each bar's close.
        fees_paid: total fees of all fills. funding_paid: net funding paid (negative = received).
        buy_and_hold_return_pct: the benchmark's return over the same bars.
        ambiguous_bars: exit bars where the stop and the take-profit were both in range.
        intrabar_resolved_bars: those of them a lower timeframe settled.

    Returns:
        The :class:`Stats`.
    """
    n = int(equity.shape[0])
    start = int(timestamp[0])
    end = int(timestamp[-1])
    duration = end - start + timeframe_ms
    final = float(equity[-1])
    total_return = (final / initial_equity - 1.0) * 100.0
    years = duration / (DAYS_PER_YEAR * MS_PER_DAY)
    growth = final / initial_equity
    try:
        cagr = (growth ** (1.0 / years) - 1.0) * 100.0 if growth > 0 else -100.0
    except OverflowError:  # a large gain over a few bars: annualised, it exceeds a float
        cagr = math.inf

    # r_t = E_t / E_{t-1} - 1 with E_{-1} = initial, in one array (fewer temporaries).
    returns = np.empty(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        returns[:1] = equity[:1] / np.float64(initial_equity)
        np.divide(equity[1:], equity[:-1], out=returns[1:])
        returns -= 1.0
    finite = np.isfinite(returns)
    if not finite.all():
        returns = returns[finite]
    ann = math.sqrt(periods_per_year(timeframe_ms))
    sharpe: float | None = None
    sortino: float | None = None
    if returns.size > 1:
        mean = float(returns.mean())
        std = float(returns.std(ddof=1))
        sharpe = _none_if_bad(mean / std * ann) if std > 0 else None
        losses_sq = np.minimum(returns, 0.0)
        losses_sq *= losses_sq  # the same values as ** 2
        downside = math.sqrt(float(np.mean(losses_sq)))
        sortino = _none_if_bad(mean / downside * ann) if downside > 0 else None

    dd_pct, dd_abs, dd_dur, longest = drawdown_stats(equity, timestamp, initial_equity)
    calmar = _none_if_bad(cagr / dd_pct) if dd_pct > 0 else None

    closed = ~trade_is_open
    pnl = trade_pnl[closed]
    rets = trade_return_pct[closed]
    num = int(pnl.size)
    win_rate = profit_factor = expectancy = avg_pct = best = worst = hold = None
    if num:
        win_rate = float(np.count_nonzero(pnl > 0)) / num * 100.0
        gains = float(pnl[pnl > 0].sum())
        losses = -float(pnl[pnl < 0].sum())
        profit_factor = gains / losses if losses > 0 else None
        expectancy = float(pnl.mean())
        avg_pct = float(rets.mean())
        best = float(rets.max())
        worst = float(rets.min())
        hold = float(np.mean(trade_exit_ms[closed] - trade_entry_ms[closed]))

    return Stats(
        start_ms=start,
        end_ms=end,
        duration_ms=duration,
        initial_equity=float(initial_equity),
        final_equity=final,
        total_return_pct=total_return,
        cagr_pct=cagr,
        max_drawdown_pct=dd_pct,
        max_drawdown_abs=dd_abs,
        max_drawdown_duration_ms=dd_dur,
        longest_drawdown_ms=longest,
        sharpe_ratio=sharpe,
        sortino_ratio=sortino,
        calmar_ratio=calmar,
        num_trades=num,
        open_trades=int(np.count_nonzero(trade_is_open)),
        win_rate_pct=win_rate,
        profit_factor=profit_factor,
        expectancy=expectancy,
        avg_trade_pct=avg_pct,
        best_trade_pct=best,
        worst_trade_pct=worst,
        avg_holding_ms=hold,
        exposure_pct=float(np.count_nonzero(in_market)) / n * 100.0,
        fees_paid=float(fees_paid),
        funding_paid=float(funding_paid),
        buy_and_hold_return_pct=buy_and_hold_return_pct,
        ambiguous_bars=ambiguous_bars,
        intrabar_resolved_bars=intrabar_resolved_bars,
    )
