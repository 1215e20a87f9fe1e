"""Market data: exchanges, instruments, symbols, timeframes and candle handling.

Pure domain code (numpy only): storage lives in ``tradeforge.adapters.candles`` and exchange
access in ``tradeforge.adapters.exchanges``. Public names are re-exported here.
"""

from tradeforge.market.gaps import Gap, find_gaps
from tradeforge.market.resample import resample
from tradeforge.market.source import FundingRates, MarketDataSource, SeriesInfo, SeriesKind
from tradeforge.market.symbols import (
    Instrument,
    InstrumentId,
    Notation,
    format_instrument,
    parse_instrument,
)
from tradeforge.market.timeframes import TIMEFRAMES, floor_ms, timeframe_ms, validate_timeframe

__all__ = [
    "TIMEFRAMES",
    "FundingRates",
    "Gap",
    "Instrument",
    "InstrumentId",
    "MarketDataSource",
    "Notation",
    "SeriesInfo",
    "SeriesKind",
    "find_gaps",
    "floor_ms",
    "format_instrument",
    "parse_instrument",
    "resample",
    "timeframe_ms",
    "validate_timeframe",
]
