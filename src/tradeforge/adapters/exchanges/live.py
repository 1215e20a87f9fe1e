"""Live mode: read-through fetching of recent candles from the exchange into the store.

Off by default (``TRADEFORGE_MARKET_LIVE=false``) and never needed by the tests of other
features. When on, every read of a series first fetches the closed candles that came after
the newest stored one (bounded per call, throttled per series), writes them into the user
store, and then answers from the store exactly as offline mode does. An exchange failure
degrades to the stored data with a warning; it is raised only when nothing is stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from tradeforge.adapters.candles.layered import MarketDataStore
from tradeforge.adapters.exchanges.downloader import CcxtDownloader
from tradeforge.core.candles import Candles
from tradeforge.core.clock import Clock, to_ms
from tradeforge.core.errors import ExchangeError, InvalidInputError
from tradeforge.market.catalog import get_exchange
from tradeforge.market.source import FundingRates, SeriesInfo
from tradeforge.market.timeframes import floor_ms, timeframe_ms

log = logging.getLogger(__name__)

DownloaderFactory = Callable[[str], CcxtDownloader]


class ReadThroughMarketData:
    """A :class:`~tradeforge.market.source.MarketDataSource` that tops up from the exchange.

    Args:
        store: the layered store (its user layer receives the fetched candles).
        downloader_for: builds a downloader for a catalogue exchange id.
        clock: decides which candles are closed.
        max_candles: most candles fetched for one read (older history: ``data download``).
        min_refresh_seconds: a series is not re-fetched more often than this.
    """

    def __init__(
        self,
        store: MarketDataStore,
        downloader_for: DownloaderFactory,
        clock: Clock,
        *,
        max_candles: int = 5000,
        min_refresh_seconds: float = 30.0,
    ) -> None:
        if store.user is None:
            raise InvalidInputError(
                "Live mode needs a writable user store.",
                code="CONFIGURATION_ERROR",
                suggestion="Open the market data with settings so candles_dir is used.",
            )
        self._store = store
        self._downloader_for = downloader_for
        self._clock = clock
        self._max_candles = max_candles
        self._min_refresh = min_refresh_seconds
        self._refreshed: dict[tuple[str, str, str], float] = {}
        self._downloaders: dict[str, CcxtDownloader] = {}
        self._lock = threading.Lock()

    def _downloader(self, exchange_id: str) -> CcxtDownloader:
        with self._lock:
            if exchange_id not in self._downloaders:
                self._downloaders[exchange_id] = self._downloader_for(exchange_id)
            return self._downloaders[exchange_id]

    def _due(self, key: tuple[str, str, str]) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._refreshed.get(key)
            if last is not None and now - last < self._min_refresh:
                return False
            self._refreshed[key] = now
            return True

    def refresh(self, exchange_id: str, symbol: str, timeframe: str) -> int:
        """Fetch the closed candles after the newest stored one; return how many were added."""
        info = get_exchange(exchange_id)
        if info is None or info.ccxt_id is None or not self._due((info.id, symbol, timeframe)):
            return 0
        step = timeframe_ms(timeframe)
        open_bucket = floor_ms(to_ms(self._clock.now()), timeframe)
        stored = self._store.available_range(info.id, symbol, timeframe)
        since = open_bucket - self._max_candles * step
        if stored is not None:
            since = max(since, stored[1] + step)
        if since >= open_bucket:
            return 0
        try:
            result = self._downloader(info.id).download_ohlcv(
                symbol, timeframe, since_ms=since, until_ms=open_bucket
            )
        except ExchangeError as error:
            if stored is None:
                raise
            log.warning(
                "live refresh of %s %s %s failed (%s); serving stored candles",
                info.id, symbol, timeframe, error.code,
            )  # fmt: skip
            return 0
        return result.added

    # -- MarketDataSource ------------------------------------------------------------------

    def load(
        self,
        exchange_id: str,
        symbol: str,
        timeframe: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> Candles:
        self.refresh(exchange_id, symbol, timeframe)
        return self._store.load(exchange_id, symbol, timeframe, start_ms, end_ms)

    def available_range(
        self, exchange_id: str, symbol: str, timeframe: str
    ) -> tuple[int, int] | None:
        self.refresh(exchange_id, symbol, timeframe)
        return self._store.available_range(exchange_id, symbol, timeframe)

    def list_series(self) -> list[SeriesInfo]:
        return self._store.list_series()

    def load_funding(
        self,
        exchange_id: str,
        symbol: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> FundingRates:
        return self._store.load_funding(exchange_id, symbol, start_ms, end_ms)
