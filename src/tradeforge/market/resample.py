"""Build higher-timeframe candles from lower-timeframe ones, exactly as exchanges do.

A target candle takes the first open, the highest high, the lowest low, the last close and
the summed volume of the source candles whose open time falls in its bucket (buckets are
anchored as :mod:`tradeforge.market.timeframes` describes; weeks start Monday 00:00 UTC).

Partial buckets: a bucket at either end of the input that the input does not cover from
its first to its last source candle would differ from the exchange's own candle, so it is
dropped (the trailing one is often still open). Buckets inside the input that miss candles
because of an exchange outage are kept: the exchange builds its candle from the same
trades, so they still match. Empty buckets produce no candle: gaps stay gaps.
"""

from __future__ import annotations

import numpy as np

from tradeforge.core.candles import Candles
from tradeforge.core.errors import InvalidInputError
from tradeforge.market.timeframes import floor_array, is_multiple, timeframe_ms


def resample(
    candles: Candles,
    source_timeframe: str,
    target_timeframe: str,
    *,
    keep_partial: bool = False,
) -> Candles:
    """Aggregate ``candles`` of ``source_timeframe`` into ``target_timeframe`` candles.

    Args:
        candles: source candles (open times aligned to ``source_timeframe``).
        source_timeframe: timeframe of ``candles``.
        target_timeframe: a whole multiple of the source whose buckets nest the source's.
        keep_partial: keep the first/last bucket even when the input covers it only in part.

    Raises:
        InvalidInputError: the target cannot be built exactly from the source.
    """
    if source_timeframe == target_timeframe:
        return candles
    if not is_multiple(target_timeframe, source_timeframe):
        raise InvalidInputError(
            f"Cannot build {target_timeframe} candles from {source_timeframe} candles.",
            suggestion="Resample to a timeframe that is a whole multiple of the source one.",
            details={"field": "timeframe"},
        )
    if len(candles) == 0:
        return candles
    step = timeframe_ms(target_timeframe)
    source_step = timeframe_ms(source_timeframe)
    buckets = floor_array(candles.timestamp, target_timeframe)
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], len(candles)] - 1
    out = Candles(
        buckets[starts].copy(),
        candles.open[starts].copy(),
        np.maximum.reduceat(candles.high, starts),
        np.minimum.reduceat(candles.low, starts),
        candles.close[ends].copy(),
        np.add.reduceat(candles.volume, starts),
    )
    if keep_partial:
        return out
    lo, hi = 0, len(out)
    if candles.timestamp[0] != out.timestamp[0]:
        lo = 1
    if candles.timestamp[-1] + source_step != out.timestamp[-1] + step:
        hi -= 1
    if lo >= hi:
        return Candles.empty()
    return Candles(
        out.timestamp[lo:hi],
        out.open[lo:hi],
        out.high[lo:hi],
        out.low[lo:hi],
        out.close[lo:hi],
        out.volume[lo:hi],
    )
