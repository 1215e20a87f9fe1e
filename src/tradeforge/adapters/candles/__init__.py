"""Candle storage: the Parquet store, the layered bundled + user view, and file import."""

from tradeforge.adapters.candles.importer import ImportResult, import_file
from tradeforge.adapters.candles.layered import MarketDataStore, open_market_data
from tradeforge.adapters.candles.parquet_store import ParquetStore, WriteResult

__all__ = [
    "ImportResult",
    "MarketDataStore",
    "ParquetStore",
    "WriteResult",
    "import_file",
    "open_market_data",
]
