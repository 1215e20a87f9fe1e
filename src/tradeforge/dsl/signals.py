"""Per-ticker signal arrays for the backtest engine, merged from a script's actions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SignalSeries:
    """One action of one ``emit_signal``, as arrays over the reported bars.

    ``condition`` is ``None`` when it depends on account state; then call
    ``SignalRun.condition_at(signal.index, bar, state)`` per bar. Sizes and stops are
    arrays (constants broadcast) or ``None`` when not given; ``None`` inside a
    state-dependent field likewise means "ask ``value_at``".
    """

    index: int
    action: str
    ticker: str
    side: str | None
    size_kind: str | None
    condition: BoolArray | None
    size: FloatArray | None
    stop_loss: FloatArray | None
    take_profit: FloatArray | None
    trailing_stop: FloatArray | None
    fraction: FloatArray | None
    is_state_dependent: bool
    line: int
    column: int


@dataclass(frozen=True)
class TickerSignals:
    """All pure (state-free) actions of one ticker merged into aligned arrays.

    When several entries fire on the same bar, the first in script order sets the size and
    stops. Size arrays are NaN except where an entry of that size kind fires; stop arrays
    are NaN where not given. ``exit_fraction`` is the largest fraction of the exits that
    fire (NaN when none). ``state_dependent`` lists the signal indexes left out because
    they need ``SignalRun.condition_at`` per bar.
    """

    ticker: str
    long_entry: BoolArray
    short_entry: BoolArray
    exit: BoolArray
    weight: FloatArray
    amount: FloatArray
    quantity: FloatArray
    stop_loss: FloatArray
    take_profit: FloatArray
    trailing_stop: FloatArray
    exit_fraction: FloatArray
    state_dependent: tuple[int, ...]


def _fill(target: FloatArray, where: BoolArray, value: FloatArray | None) -> None:
    if value is not None:
        free = where & np.isnan(target)
        target[free] = value[free]


def merge_by_ticker(signals: Sequence[SignalSeries], bars: int) -> dict[str, TickerSignals]:
    """Merge per-action arrays into one :class:`TickerSignals` per ticker."""
    out: dict[str, TickerSignals] = {}
    for ticker in dict.fromkeys(s.ticker for s in signals):
        nan = np.full(bars, np.nan)
        long_entry = np.zeros(bars, dtype=bool)
        short_entry = np.zeros(bars, dtype=bool)
        exits = np.zeros(bars, dtype=bool)
        sizes = {"weight": nan.copy(), "amount": nan.copy(), "quantity": nan.copy()}
        stops = {"stop_loss": nan.copy(), "take_profit": nan.copy(), "trailing": nan.copy()}
        fraction = nan.copy()
        dynamic: list[int] = []
        entered = np.zeros(bars, dtype=bool)
        for sig in signals:
            if sig.ticker != ticker:
                continue
            if sig.is_state_dependent or sig.condition is None:
                dynamic.append(sig.index)
                continue
            cond = sig.condition
            if sig.action == "exit":
                exits |= cond
                frac = sig.fraction if sig.fraction is not None else np.ones(bars)
                fraction = np.where(cond, np.fmax(fraction, frac), fraction)
                continue
            (long_entry if sig.side == "LONG" else short_entry)[:] |= cond
            first = cond & ~entered
            entered |= cond
            if sig.size_kind in sizes and sig.size is not None:
                sizes[sig.size_kind][first] = sig.size[first]
            _fill(stops["stop_loss"], first, sig.stop_loss)
            _fill(stops["take_profit"], first, sig.take_profit)
            _fill(stops["trailing"], first, sig.trailing_stop)
        out[ticker] = TickerSignals(
            ticker,
            long_entry,
            short_entry,
            exits,
            sizes["weight"],
            sizes["amount"],
            sizes["quantity"],
            stops["stop_loss"],
            stops["take_profit"],
            stops["trailing"],
            fraction,
            tuple(dynamic),
        )
    return out
