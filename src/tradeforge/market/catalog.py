"""The exchange catalogue: which venues tradeforge knows and what they trade.

Per-venue differences are data here, never ``if exchange == ...`` branches elsewhere.
``ccxt_id`` names the ccxt class used to talk to the venue (``None`` when ccxt has none).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MarketType(StrEnum):
    SPOT = "spot"
    PERPETUAL = "perpetual"
    PREDICTION = "prediction"


@dataclass(frozen=True, slots=True)
class ExchangeInfo:
    id: str
    name: str
    market_types: tuple[MarketType, ...]
    ccxt_id: str | None
    quote_currencies: tuple[str, ...]
    is_dex: bool = False
    notes: str = ""


EXCHANGES: tuple[ExchangeInfo, ...] = (
    ExchangeInfo("binance", "Binance", (MarketType.SPOT,), "binance", ("USDT", "USDC", "BTC")),
    ExchangeInfo("gate", "Gate.io", (MarketType.SPOT,), "gate", ("USDT",)),
    ExchangeInfo(
        "upbit",
        "Upbit",
        (MarketType.SPOT,),
        "upbit",
        ("KRW", "BTC", "USDT"),
        notes="KRW-quoted spot markets; Upbit writes them quote-first (KRW-BTC).",
    ),
    ExchangeInfo(
        "binancefuturesusd",
        "Binance USD-M Futures",
        (MarketType.PERPETUAL,),
        "binanceusdm",
        ("USDT", "USDC"),
    ),
    ExchangeInfo("gatefutures", "Gate Futures", (MarketType.PERPETUAL,), "gate", ("USDT",)),
    ExchangeInfo(
        "hyperliquid",
        "Hyperliquid",
        (MarketType.PERPETUAL,),
        "hyperliquid",
        ("USDC",),
        is_dex=True,
        notes="Perpetuals only; no spot trading.",
    ),
    ExchangeInfo(
        "lighter",
        "Lighter",
        (MarketType.PERPETUAL,),
        None,
        ("USDC",),
        is_dex=True,
        notes="Cancel orders by exchange_order_id.",
    ),
    ExchangeInfo(
        "polymarket",
        "Polymarket",
        (MarketType.PREDICTION,),
        "polymarket",
        ("USDC",),
        notes="Symbols are outcome token ids; prices are probabilities in [0, 1].",
    ),
    ExchangeInfo(
        "bitmex",
        "BitMEX",
        (MarketType.PERPETUAL, MarketType.SPOT),
        "bitmex",
        ("USDT", "USD"),
    ),
    ExchangeInfo("coinbase", "Coinbase", (MarketType.SPOT,), "coinbase", ("USD", "USDC")),
    ExchangeInfo("bitstamp", "Bitstamp", (MarketType.SPOT,), "bitstamp", ("USD", "EUR")),
)

_BY_ID = {exchange.id: exchange for exchange in EXCHANGES}


def get_exchange(exchange_id: str) -> ExchangeInfo | None:
    """Return the catalogue entry for ``exchange_id`` (case-insensitive), or ``None``."""
    return _BY_ID.get(exchange_id.lower())


def exchange_ids() -> list[str]:
    return [exchange.id for exchange in EXCHANGES]
