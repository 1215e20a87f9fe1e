"""The market data a process reads: the bundled set overlaid by the user's own store.

User data overrides bundled candles with the same open time and extends the series on
either side. A timeframe that is not stored natively (``4h``, ``1w``, or ``1d`` after the
bundled daily files end) is built by :func:`~tradeforge.market.resample.resample` from the
stored lower timeframe that reaches furthest; only whole buckets are produced.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tradeforge.config import Settings
from tradeforge.core.candles import Candles
from tradeforge.data import bundled_dir
from tradeforge.market.resample import resample
from tradeforge.market.source import (
    FundingRates,
    MarketDataSource,
    Origin,
    SeriesInfo,
    SeriesKind,
)
from tradeforge.market.timeframes import (
    TIMEFRAMES,
    floor_ms,
    is_multiple,
    timeframe_ms,
    validate_timeframe,
)
from tradeforge.ports import CandleSource

from .parquet_store import DEFAULT_CACHE, ArrayCache, ParquetStore


def _overlay(base: Candles, top: Candles) -> Candles:
    # Rows of ``top`` win on equal open times.
    if len(base) == 0:
        return top
    if len(top) == 0:
        return base
    if top.timestamp[0] > base.timestamp[-1] or top.timestamp[-1] < base.timestamp[0]:
        parts = (base, top) if top.timestamp[0] > base.timestamp[-1] else (top, base)
        return Candles(
            *(
                np.concatenate([getattr(parts[0], c), getattr(parts[1], c)])
                for c in ("timestamp", "open", "high", "low", "close", "volume")
            )
        )
    keep = ~np.isin(base.timestamp, top.timestamp)
    ts = np.concatenate([base.timestamp[keep], top.timestamp])
    order = np.argsort(ts, kind="stable")
    cols = [
        np.concatenate([getattr(base, c)[keep], getattr(top, c)])[order]
        for c in ("open", "high", "low", "close", "volume")
    ]
    return Candles(ts[order], *cols)


def _overlay_funding(base: FundingRates, top: FundingRates) -> FundingRates:
    if len(base) == 0:
        return top
    if len(top) == 0:
        return base
    keep = ~np.isin(base.timestamp, top.timestamp)
    ts = np.concatenate([base.timestamp[keep], top.timestamp])
    order = np.argsort(ts, kind="stable")
    return FundingRates(ts[order], np.concatenate([base.rate[keep], top.rate])[order])


def _union(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]))


class MarketDataStore:
    """Bundled + user candles and funding rates; implements ``CandleSource``.

    Args:
        user: the writable store (``settings.candles_dir``); ``None`` for bundled only.
        bundled: the read-only bundled store; ``None`` to ignore the bundled set.
    """

    def __init__(self, user: ParquetStore | None, bundled: ParquetStore | None) -> None:
        self.user = user
        self.bundled = bundled

    @property
    def layers(self) -> list[ParquetStore]:
        """Stores from lowest to highest priority."""
        return [s for s in (self.bundled, self.user) if s is not None]

    # -- native series -------------------------------------------------------------------

    def _native(self, exchange_id: str, symbol: str, timeframe: str) -> Candles:
        out = Candles.empty()
        for store in self.layers:
            out = _overlay(out, store.read_candles(exchange_id, symbol, timeframe))
        return out

    def _native_range(
        self, exchange_id: str, symbol: str, timeframe: str
    ) -> tuple[int, int] | None:
        found: tuple[int, int] | None = None
        for store in self.layers:
            found = _union(found, store.candles_range(exchange_id, symbol, timeframe))
        return found

    def _best_source(
        self, exchange_id: str, symbol: str, timeframe: str
    ) -> tuple[str, tuple[int, int]] | None:
        # The stored lower timeframe that reaches furthest (ties: the coarsest).
        best: tuple[int, int, str, tuple[int, int]] | None = None
        for lower in TIMEFRAMES:
            if not is_multiple(timeframe, lower):
                continue
            found = self._native_range(exchange_id, symbol, lower)
            if found is None:
                continue
            rank = (found[1] + timeframe_ms(lower), timeframe_ms(lower))
            if best is None or rank > best[:2]:
                best = (rank[0], rank[1], lower, found)
        return None if best is None else (best[2], best[3])

    # -- CandleSource --------------------------------------------------------------------

    def load(
        self,
        exchange_id: str,
        symbol: str,
        timeframe: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> Candles:
        """Return closed candles with open time in ``[start_ms, end_ms)``; empty when none.

        The arrays may be read-only views into the shared cache: copy before mutating.

        Raises:
            InvalidInputError: unknown timeframe.
        """
        validate_timeframe(timeframe)
        native = self._native(exchange_id, symbol, timeframe)
        source = self._best_source(exchange_id, symbol, timeframe)
        if source is not None:
            step = timeframe_ms(timeframe)
            lower, (_, lower_last) = source
            native_end = int(native.timestamp[-1]) + step if len(native) else None
            wanted = end_ms is None or native_end is None or end_ms > native_end
            if wanted and (native_end is None or lower_last + timeframe_ms(lower) > native_end):
                lo = native_end if native_end is not None else start_ms
                if start_ms is not None and (lo is None or lo < start_ms):
                    lo = start_ms
                lo = None if lo is None else floor_ms(lo, timeframe)
                hi = None if end_ms is None else floor_ms(end_ms - 1, timeframe) + step
                raw = self._native(exchange_id, symbol, lower).slice_ms(lo, hi)
                derived = resample(raw, lower, timeframe)
                if native_end is not None:
                    derived = derived.slice_ms(native_end, None)
                native = _overlay(native, derived)
        return native.slice_ms(start_ms, end_ms)

    def available_range(
        self, exchange_id: str, symbol: str, timeframe: str
    ) -> tuple[int, int] | None:
        """Return the first and last open times :meth:`load` can serve, or ``None``."""
        validate_timeframe(timeframe)
        found = self._native_range(exchange_id, symbol, timeframe)
        source = self._best_source(exchange_id, symbol, timeframe)
        if source is not None:
            lower, (first, last) = source
            step = timeframe_ms(timeframe)
            start = floor_ms(first, timeframe)
            if start != first:
                start += step
            stop = floor_ms(last + timeframe_ms(lower), timeframe) - step
            if stop >= start:
                found = _union(found, (start, stop))
        return found

    # -- MarketDataSource extras -----------------------------------------------------------

    def list_series(self) -> list[SeriesInfo]:
        """Return every native series, bundled and user rows combined per series."""
        merged: dict[tuple[str, str, SeriesKind, str | None], SeriesInfo] = {}
        for store in self.layers:
            for info in store.list_series():
                key = (info.exchange_id, info.symbol, info.kind, info.timeframe)
                prev = merged.get(key)
                if prev is None:
                    merged[key] = info
                    continue
                merged[key] = SeriesInfo(
                    info.exchange_id,
                    info.symbol,
                    info.kind,
                    info.timeframe,
                    min(prev.first_ms, info.first_ms),
                    max(prev.last_ms, info.last_ms),
                    max(prev.rows, info.rows),  # an upper bound would double-count overlaps
                    Origin.BOTH,
                )
        return sorted(
            merged.values(),
            key=lambda s: (s.exchange_id, s.symbol, s.kind, timeframe_ms(s.timeframe or "1m")),
        )

    def load_funding(
        self,
        exchange_id: str,
        symbol: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> FundingRates:
        """Return funding settlements with time in ``[start_ms, end_ms)``."""
        out = FundingRates.empty()
        for store in self.layers:
            out = _overlay_funding(out, store.read_funding(exchange_id, symbol))
        return out.slice_ms(start_ms, end_ms)

    def funding_range(self, exchange_id: str, symbol: str) -> tuple[int, int] | None:
        found: tuple[int, int] | None = None
        for store in self.layers:
            found = _union(found, store.funding_range(exchange_id, symbol))
        return found


def open_market_data(
    settings: Settings | None = None,
    *,
    include_bundled: bool = True,
    cache: ArrayCache | None = None,
) -> MarketDataStore:
    """Return the store a process should read: bundled set + ``settings.candles_dir``.

    Args:
        settings: platform settings (``None``: bundled data only).
        include_bundled: read the bundled set underneath the user store.
        cache: array cache for both layers (defaults to the process-wide one).
    """
    shared = DEFAULT_CACHE if cache is None else cache
    user = None
    if settings is not None:
        user = ParquetStore(Path(settings.candles_dir), origin=Origin.USER, cache=shared)
    bundled = None
    if include_bundled:
        bundled = ParquetStore(bundled_dir(), origin=Origin.BUNDLED, writable=False, cache=shared)
    return MarketDataStore(user, bundled)


if TYPE_CHECKING:
    # mypy proves the store satisfies both ports.
    _as_candle_source: CandleSource = MarketDataStore(None, None)
    _as_market_data: MarketDataSource = MarketDataStore(None, None)
