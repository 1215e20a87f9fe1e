"""One-pass input checks: the smallest bar gap, equal time axes and the candle price scan.

Re-exported by :mod:`tradeforge.backtest.kernels` (see its docstring for the conventions).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def min_gap_nb(timestamp: np.ndarray) -> int:
    """Return the smallest difference between consecutive values (``n >= 2``), in one pass.

    Equal to ``np.min(np.diff(timestamp))`` without the temporary difference array.
    """
    best = timestamp[1] - timestamp[0]
    for i in range(1, timestamp.shape[0]):
        best = min(best, timestamp[i] - timestamp[i - 1])
    return int(best)


@njit(cache=True)
def same_values_nb(a: np.ndarray, b: np.ndarray) -> bool:
    """Return whether two arrays of equal length hold the same values (stops at the first
    difference); ``np.array_equal`` without its temporary boolean array."""
    for i in range(a.shape[0]):  # noqa: SIM110 - a generator is not compiled by numba
        if a[i] != b[i]:
            return False
    return True


@njit(cache=True)
def scan_candles_nb(
    timestamp: np.ndarray, open_bits: np.ndarray, close_bits: np.ndarray, limit_bits: int
) -> tuple[int, int]:
    """Return ``(smallest timestamp gap, count of prices with magnitude >= the limit)``.

    ``open_bits``/``close_bits`` are the float64 prices viewed as int64: masking the sign
    bit leaves an integer that orders like ``abs(price)``, with inf and NaN above every
    finite value, so the count vectorises and is 0 exactly when every price is finite and
    below ``limit_bits`` (the bits of a positive float64). The gap is 0 for fewer than 2 bars.
    """
    n = timestamp.shape[0]
    best = timestamp[1] - timestamp[0] if n > 1 else 0
    for i in range(1, n):
        best = min(best, timestamp[i] - timestamp[i - 1])
    over = 0
    for i in range(n):
        over += (open_bits[i] & 0x7FFFFFFFFFFFFFFF) >= limit_bits
        over += (close_bits[i] & 0x7FFFFFFFFFFFFFFF) >= limit_bits
    return int(best), int(over)


@njit(cache=True)
def scan_candles_same_nb(
    timestamp: np.ndarray,
    reference: np.ndarray,
    open_bits: np.ndarray,
    close_bits: np.ndarray,
    limit_bits: int,
) -> tuple[int, int, bool]:
    """:func:`scan_candles_nb` that also returns whether ``timestamp`` equals ``reference``
    (an array of the same length), in the same pass over the times."""
    n = timestamp.shape[0]
    best = timestamp[1] - timestamp[0] if n > 1 else 0
    same = n == 0 or timestamp[0] == reference[0]
    for i in range(1, n):
        best = min(best, timestamp[i] - timestamp[i - 1])
        same &= timestamp[i] == reference[i]
    over = 0
    for i in range(n):
        over += (open_bits[i] & 0x7FFFFFFFFFFFFFFF) >= limit_bits
        over += (close_bits[i] & 0x7FFFFFFFFFFFFFFF) >= limit_bits
    return int(best), int(over), same
