"""Exchange adapters: the only place tradeforge imports ccxt."""

from tradeforge.adapters.exchanges.downloader import CcxtDownloader, DownloadResult, create_exchange
from tradeforge.adapters.exchanges.errors import (
    CCXT_ERROR_TABLE,
    map_ccxt_error,
    translate_ccxt_errors,
)

__all__ = [
    "CCXT_ERROR_TABLE",
    "CcxtDownloader",
    "DownloadResult",
    "create_exchange",
    "map_ccxt_error",
    "translate_ccxt_errors",
]
