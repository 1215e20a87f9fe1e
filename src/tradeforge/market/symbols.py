"""Instruments and the symbol notations people and other tools write them in.

One model, :class:`InstrumentId` (exchange + base + quote [+ settle]), and one parser that
recognises every notation tradeforge meets:

==================  =====================================  ==================================
notation            example                                 used by
==================  =====================================  ==================================
``QUALIFIED``       ``BINANCE:BTC/USDT``,                   the Signal DSL and backtests
                    ``BINANCEFUTURESUSD:BTC/USDT:USDT``
``UNIFIED``         ``BTC/USDT`` (+ exchange id)            orders and market endpoints (ccxt)
``CONCATENATED``    ``BTCUSDT`` (+ exchange id)             opentrader, exchange-native ids
``HAAS``            ``BINANCE_BTC_USDT_``,                  HaasOnline scripts
                    ``BITMEX_ETH_USDT_ETHUSDT``
``UPBIT``           ``KRW-BTC`` (quote first)               Upbit markets
``POLYMARKET``      ``2174263314346390629056905015582...``  Polymarket outcome token ids
==================  =====================================  ==================================

Perpetuals always carry a settle currency (``BTC/USDT:USDT``). On an exchange that only
trades perpetuals (``binancefuturesusd``) a bare ``BTC/USDT`` means the linear perpetual.
Haas contract names are mapped to the unified symbol and written back as ``BASEQUOTE``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from tradeforge.core.errors import InvalidInputError
from tradeforge.market.catalog import ExchangeInfo, MarketType, exchange_ids, get_exchange

_CODE_RE = re.compile(r"[A-Z0-9]{1,20}")
_TOKEN_ID_RE = re.compile(r"[0-9]{10,100}")

# Quote currencies used to split concatenated symbols (BTCUSDT), longest match first.
KNOWN_QUOTES: tuple[str, ...] = (
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "USDE", "DAI", "EUR", "USD", "GBP",
    "TRY", "BRL", "KRW", "JPY", "AUD", "BTC", "ETH", "BNB",
)  # fmt: skip

# Used for "did you mean" suggestions when the caller has no list of stored symbols.
COMMON_SYMBOLS: tuple[str, ...] = (
    "BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "ADA/USDT", "DOGE/USDT", "BNB/USDT",
    "LTC/USDT", "LINK/USDT", "DOT/USDT", "AVAX/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT",
    "BTC/USD", "ETH/USD", "BTC/KRW", "ETH/KRW",
)  # fmt: skip


class Notation(StrEnum):
    QUALIFIED = "qualified"
    UNIFIED = "unified"
    CONCATENATED = "concatenated"
    HAAS = "haas"
    UPBIT = "upbit"
    POLYMARKET = "polymarket"


@dataclass(frozen=True, slots=True, order=True)
class InstrumentId:
    """An instrument on one exchange: ``exchange_id`` + base/quote (+ settle for perps).

    For prediction markets ``base`` is the outcome token id and ``quote`` the collateral.
    """

    exchange_id: str
    base: str
    quote: str
    settle: str | None = None

    @property
    def market_type(self) -> MarketType:
        if self.settle is not None:
            return MarketType.PERPETUAL
        info = get_exchange(self.exchange_id)
        if info is not None and info.market_types == (MarketType.PREDICTION,):
            return MarketType.PREDICTION
        return MarketType.SPOT

    @property
    def symbol(self) -> str:
        """The ccxt unified symbol (``BTC/USDT``, ``BTC/USDT:USDT``, or a token id)."""
        if self.market_type is MarketType.PREDICTION:
            return self.base
        pair = f"{self.base}/{self.quote}"
        return pair if self.settle is None else f"{pair}:{self.settle}"

    @property
    def qualified(self) -> str:
        return format_instrument(self, Notation.QUALIFIED)

    def __str__(self) -> str:
        return self.qualified


@dataclass(frozen=True, slots=True)
class Instrument:
    """An instrument with the trading rules the exchange publishes (``None`` = unknown)."""

    id: InstrumentId
    price_precision: Decimal | None = None
    quantity_precision: Decimal | None = None
    min_quantity: Decimal | None = None
    min_notional: Decimal | None = None
    contract_size: Decimal | None = None

    @property
    def market_type(self) -> MarketType:
        return self.id.market_type

    @property
    def symbol(self) -> str:
        return self.id.symbol


def _invalid(message: str, text: str, known: Iterable[str] | None) -> InvalidInputError:
    candidates = list(known) if known is not None else list(COMMON_SYMBOLS)
    close = difflib.get_close_matches(text.upper(), candidates, n=1, cutoff=0.0)
    hint = f"Did you mean '{close[0]}'? " if close else ""
    return InvalidInputError(
        message,
        suggestion=(
            f"{hint}Write symbols as BASE/QUOTE (BTC/USDT), BASE/QUOTE:SETTLE for perpetuals, "
            "or EXCHANGE:BASE/QUOTE."
        ),
        details={"field": "symbol", "value": text},
    )


def resolve_exchange(exchange_id: str) -> ExchangeInfo:
    """Return the catalogue entry for ``exchange_id``.

    Raises:
        InvalidInputError: the exchange is unknown; the suggestion names the closest one.
    """
    info = get_exchange(exchange_id)
    if info is None:
        close = difflib.get_close_matches(exchange_id.lower(), exchange_ids(), n=1, cutoff=0.0)
        hint = f"Did you mean '{close[0]}'? " if close else ""
        raise InvalidInputError(
            f"Unknown exchange '{exchange_id}'.",
            suggestion=f"{hint}Known exchanges: {', '.join(exchange_ids())}.",
            details={"field": "exchange_id", "value": exchange_id},
        )
    return info


def _code(part: str, text: str, known: Iterable[str] | None) -> str:
    code = part.upper()
    if _CODE_RE.fullmatch(code) is None:
        raise _invalid(f"Malformed symbol '{text}': '{part}' is not a currency code.", text, known)
    return code


def _build(
    info: ExchangeInfo,
    base: str,
    quote: str,
    settle: str | None,
    text: str,
    known: Iterable[str] | None,
) -> InstrumentId:
    b, q = _code(base, text, known), _code(quote, text, known)
    s = None if settle is None else _code(settle, text, known)
    if s is None and info.market_types == (MarketType.PERPETUAL,):
        s = q  # a perpetual-only venue: BTC/USDT means the linear perpetual
    if s is not None and MarketType.PERPETUAL not in info.market_types:
        raise _invalid(
            f"'{text}' is a perpetual symbol but {info.id} lists no perpetuals.",
            f"{b}/{q}",
            known,
        )
    if info.market_types == (MarketType.PREDICTION,):
        raise _invalid(f"{info.id} symbols are outcome token ids, not '{text}'.", text, known)
    return InstrumentId(info.id, b, q, s)


def _parse_unified(text: str, info: ExchangeInfo, known: Iterable[str] | None) -> InstrumentId:
    if info.market_types == (MarketType.PREDICTION,):
        return _parse_token(text, info, known)
    pair, _, settle = text.partition(":")
    base, slash, quote = pair.partition("/")
    if not slash or (":" in text and not settle):
        raise _invalid(f"Malformed symbol '{text}'.", text, known)
    return _build(info, base, quote, settle or None, text, known)


def _parse_token(text: str, info: ExchangeInfo, known: Iterable[str] | None) -> InstrumentId:
    if _TOKEN_ID_RE.fullmatch(text) is None:
        raise _invalid(f"'{text}' is not a {info.id} token id (10-100 digits).", text, known)
    return InstrumentId(info.id, text, info.quote_currencies[0])


def _split_concatenated(text: str, info: ExchangeInfo | None) -> tuple[str, str] | None:
    code = text.upper()
    preferred = info.quote_currencies if info is not None else ()
    for group in (preferred, KNOWN_QUOTES):
        for quote in sorted(group, key=len, reverse=True):
            if code.endswith(quote) and len(code) > len(quote):
                return code[: -len(quote)], quote
    return None


def _parse_haas(text: str, known: Iterable[str] | None) -> InstrumentId:
    parts = text.split("_")
    if len(parts) != 4:
        raise _invalid(
            f"Malformed Haas symbol '{text}': expected EXCHANGE_BASE_QUOTE_CONTRACT.", text, known
        )
    exchange, base, quote, contract = parts
    info = resolve_exchange(exchange)
    settle = _code(quote, text, known) if contract else None
    return _build(info, base, quote, settle, text, known)


def parse_instrument(
    text: str,
    exchange_id: str | None = None,
    *,
    known: Iterable[str] | None = None,
) -> InstrumentId:
    """Parse ``text`` in any supported notation into an :class:`InstrumentId`.

    Args:
        text: the symbol as written (see the module docstring for notations).
        exchange_id: the exchange, required for notations that do not name one.
        known: symbols to draw "did you mean" suggestions from.

    Raises:
        InvalidInputError: unknown exchange, malformed symbol, or a notation that needs an
            exchange id without one (code ``VALIDATION_ERROR``).
    """
    text = text.strip()
    info = None if exchange_id is None else resolve_exchange(exchange_id)
    if not text:
        raise _invalid("The symbol is empty.", text, known)
    head, colon, rest = text.partition(":")
    if colon and "/" not in head:
        named = resolve_exchange(head)
        if info is not None and named.id != info.id:
            raise _invalid(f"'{text}' names {named.id}, not {info.id}.", rest, known)
        return _parse_unified(rest, named, known)
    if _TOKEN_ID_RE.fullmatch(text):
        return _parse_token(text, info or resolve_exchange("polymarket"), known)
    if "_" in text:
        parsed = _parse_haas(text, known)
        if info is not None and parsed.exchange_id != info.id:
            raise _invalid(f"'{text}' names {parsed.exchange_id}, not {info.id}.", text, known)
        return parsed
    if "-" in text and "/" not in text:
        # Upbit writes markets quote-first: KRW-BTC is BTC priced in KRW.
        quote, _, base = text.partition("-")
        return _build(info or resolve_exchange("upbit"), base, quote, None, text, known)
    if info is None:
        raise InvalidInputError(
            f"'{text}' does not name its exchange.",
            suggestion="Pass exchange_id, or write EXCHANGE:BASE/QUOTE (BINANCE:BTC/USDT).",
            details={"field": "exchange_id"},
        )
    if "/" in text:
        return _parse_unified(text, info, known)
    split = _split_concatenated(text, info)
    if split is None:
        raise _invalid(f"Cannot split '{text}' into base and quote currencies.", text, known)
    return _build(info, split[0], split[1], None, text, known)


def format_instrument(instrument: InstrumentId, notation: Notation) -> str:
    """Write ``instrument`` in ``notation``; :func:`parse_instrument` reads it back.

    Raises:
        InvalidInputError: the notation cannot express this instrument.
    """
    i = instrument
    if notation is Notation.QUALIFIED:
        return f"{i.exchange_id.upper()}:{i.symbol}"
    if notation is Notation.UNIFIED or notation is Notation.POLYMARKET:
        return i.symbol
    if i.market_type is MarketType.PREDICTION:
        raise InvalidInputError(
            f"{notation.value} notation cannot express the token id {i.base}.",
            suggestion="Use the unified or polymarket notation for prediction markets.",
        )
    if notation is Notation.CONCATENATED:
        return f"{i.base}{i.quote}"
    if notation is Notation.UPBIT:
        return f"{i.quote}-{i.base}"
    contract = "" if i.settle is None else f"{i.base}{i.quote}"
    return f"{i.exchange_id.upper()}_{i.base}_{i.quote}_{contract}"


def require_known(
    instrument: InstrumentId, known: Iterable[str], *, text: str | None = None
) -> InstrumentId:
    """Return ``instrument`` when its symbol is in ``known``.

    Raises:
        InvalidInputError: the symbol is unknown; the suggestion names the closest known one.
    """
    candidates = list(known)
    if instrument.symbol in candidates:
        return instrument
    shown = text or instrument.symbol
    raise _invalid(
        f"Unknown symbol '{shown}' on {instrument.exchange_id}.", instrument.symbol, candidates
    )
