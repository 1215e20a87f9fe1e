"""Gap detection: report missing candles, never fill them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradeforge.core.candles import Candles
from tradeforge.core.clock import from_ms
from tradeforge.market.timeframes import timeframe_ms


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing candles: open times ``start_ms`` up to (not including) ``end_ms``."""

    start_ms: int
    end_ms: int
    missing: int

    def describe(self) -> str:
        first = from_ms(self.start_ms).strftime("%Y-%m-%dT%H:%MZ")
        resume = from_ms(self.end_ms).strftime("%Y-%m-%dT%H:%MZ")
        return f"{self.missing} missing from {first}, data resumes {resume}"


@dataclass(frozen=True, slots=True)
class MisalignedCandles:
    """Open times that do not sit on the timeframe's grid (a corrupt or mislabelled file)."""

    count: int
    first_ms: int


def find_gaps(candles: Candles, timeframe: str) -> list[Gap]:
    """Return every run of missing candles between the first and last stored candle.

    Raises:
        InvalidInputError: ``timeframe`` is unknown.
    """
    step = timeframe_ms(timeframe)
    if len(candles) < 2:
        return []
    deltas = np.diff(candles.timestamp)
    where = np.flatnonzero(deltas > step)
    return [
        Gap(
            int(candles.timestamp[i]) + step,
            int(candles.timestamp[i + 1]),
            int(deltas[i] // step) - 1,
        )
        for i in where
    ]


def find_misaligned(candles: Candles, timeframe: str) -> MisalignedCandles | None:
    """Return the open times that are not a whole number of candles apart, if any."""
    step = timeframe_ms(timeframe)
    if len(candles) == 0:
        return None
    off = (candles.timestamp - candles.timestamp[0]) % step
    bad = np.flatnonzero(off != 0)
    if bad.size == 0:
        return None
    return MisalignedCandles(int(bad.size), int(candles.timestamp[bad[0]]))
