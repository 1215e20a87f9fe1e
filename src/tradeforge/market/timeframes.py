"""Timeframes: names, lengths and bucket anchors.

A timeframe is written the ccxt way (``1m``, ``5m``, ``1h``, ``4h``, ``1d``, ``1w``). Every
bucket is anchored at the Unix epoch (1970-01-01 00:00 UTC) except weeks, which start on
Monday 00:00 UTC as Binance's weekly candles do (the epoch fell on a Thursday, so the week
anchor is 1970-01-05). Calendar months are not supported: their length varies.
"""

from __future__ import annotations

import difflib

import numpy as np
import numpy.typing as npt

from tradeforge.core.errors import InvalidInputError

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS

# Monday 1970-01-05 00:00 UTC: the anchor of every weekly bucket.
WEEK_ANCHOR_MS = 4 * DAY_MS

TIMEFRAME_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": WEEK_MS,
}

TIMEFRAMES: tuple[str, ...] = tuple(TIMEFRAME_MS)


def validate_timeframe(timeframe: str) -> str:
    """Return ``timeframe`` when it is supported.

    Raises:
        InvalidInputError: the timeframe is unknown; the suggestion names the closest one.
    """
    if timeframe in TIMEFRAME_MS:
        return timeframe
    close = difflib.get_close_matches(timeframe, TIMEFRAMES, n=1, cutoff=0.0)
    hint = f"Did you mean '{close[0]}'? " if close else ""
    raise InvalidInputError(
        f"Unknown timeframe '{timeframe}'.",
        suggestion=f"{hint}Supported timeframes: {', '.join(TIMEFRAMES)}.",
        details={"field": "timeframe"},
    )


def timeframe_ms(timeframe: str) -> int:
    """Return the length of one ``timeframe`` candle in milliseconds."""
    return TIMEFRAME_MS[validate_timeframe(timeframe)]


def anchor_ms(timeframe: str) -> int:
    """Return the open time (UTC ms) that bucket boundaries of ``timeframe`` align to."""
    return WEEK_ANCHOR_MS if timeframe == "1w" else 0


def floor_ms(ts_ms: int, timeframe: str) -> int:
    """Return the open time of the ``timeframe`` bucket containing ``ts_ms``."""
    step = timeframe_ms(timeframe)
    anchor = anchor_ms(timeframe)
    return (ts_ms - anchor) // step * step + anchor


def floor_array(ts_ms: npt.NDArray[np.int64], timeframe: str) -> npt.NDArray[np.int64]:
    """Vectorised :func:`floor_ms`."""
    step = timeframe_ms(timeframe)
    anchor = anchor_ms(timeframe)
    out: npt.NDArray[np.int64] = (ts_ms - anchor) // step * step + anchor
    return out


def is_multiple(target: str, source: str) -> bool:
    """Return whether ``target`` candles can be built exactly from ``source`` candles."""
    t, s = timeframe_ms(target), timeframe_ms(source)
    if t <= s or t % s != 0:
        return False
    # The source buckets must nest inside the target buckets.
    return (anchor_ms(target) - anchor_ms(source)) % s == 0
