"""The one table from ccxt exceptions to tradeforge errors, and the one function using it.

Every ccxt call in tradeforge runs inside :func:`translate_ccxt_errors`, so no ccxt
exception reaches a service. The table names every ccxt exception class explicitly (a test
checks that none is missing), and lookup walks the raised class's MRO so a class added in a
later ccxt release still maps through its parent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import ccxt
from ccxt.base import errors as ccxt_errors

from tradeforge.core.errors import (
    ExchangeAuthError,
    ExchangeError,
    ExchangeRateLimitedError,
    ExchangeUnavailableError,
    InvalidInputError,
    TradeforgeError,
    TradingError,
)

_E = ccxt_errors

# ccxt class -> (our class, public code or None for the class default)
CCXT_ERROR_TABLE: dict[type[Exception], tuple[type[TradeforgeError], str | None]] = {
    _E.BaseError: (ExchangeError, None),
    _E.ExchangeError: (ExchangeError, None),
    _E.OperationFailed: (ExchangeUnavailableError, None),
    _E.NetworkError: (ExchangeUnavailableError, None),
    _E.RequestTimeout: (ExchangeUnavailableError, "EXCHANGE_TIMEOUT"),
    _E.ExchangeNotAvailable: (ExchangeUnavailableError, None),
    _E.OnMaintenance: (ExchangeUnavailableError, "EXCHANGE_MAINTENANCE"),
    _E.DDoSProtection: (ExchangeRateLimitedError, None),
    _E.RateLimitExceeded: (ExchangeRateLimitedError, None),
    _E.InvalidNonce: (ExchangeUnavailableError, "EXCHANGE_INVALID_NONCE"),
    _E.ChecksumError: (ExchangeUnavailableError, "EXCHANGE_BAD_RESPONSE"),
    _E.BadResponse: (ExchangeError, "EXCHANGE_BAD_RESPONSE"),
    _E.NullResponse: (ExchangeError, "EXCHANGE_BAD_RESPONSE"),
    _E.CancelPending: (ExchangeError, "EXCHANGE_CANCEL_PENDING"),
    _E.AuthenticationError: (ExchangeAuthError, None),
    _E.PermissionDenied: (ExchangeAuthError, "EXCHANGE_PERMISSION_DENIED"),
    _E.AccountNotEnabled: (ExchangeAuthError, "EXCHANGE_ACCOUNT_NOT_ENABLED"),
    _E.AccountSuspended: (ExchangeAuthError, "EXCHANGE_ACCOUNT_SUSPENDED"),
    _E.ArgumentsRequired: (InvalidInputError, None),
    _E.BadRequest: (InvalidInputError, "EXCHANGE_BAD_REQUEST"),
    _E.BadSymbol: (InvalidInputError, "EXCHANGE_BAD_SYMBOL"),
    _E.NotSupported: (ExchangeError, "EXCHANGE_NOT_SUPPORTED"),
    _E.InvalidProxySettings: (ExchangeError, "EXCHANGE_CONFIGURATION"),
    _E.ExchangeClosedByUser: (ExchangeUnavailableError, "EXCHANGE_CLOSED"),
    _E.InsufficientFunds: (TradingError, "INSUFFICIENT_FUNDS"),
    _E.InvalidAddress: (InvalidInputError, "EXCHANGE_INVALID_ADDRESS"),
    _E.AddressPending: (ExchangeError, "EXCHANGE_ADDRESS_PENDING"),
    _E.InvalidOrder: (TradingError, None),
    _E.OrderNotFound: (TradingError, "ORDER_NOT_FOUND"),
    _E.OrderNotCached: (TradingError, "ORDER_NOT_FOUND"),
    _E.OrderImmediatelyFillable: (TradingError, None),
    _E.OrderNotFillable: (TradingError, None),
    _E.DuplicateOrderId: (TradingError, "DUPLICATE_ORDER_ID"),
    _E.ContractUnavailable: (TradingError, "CONTRACT_UNAVAILABLE"),
    _E.OperationRejected: (TradingError, None),
    _E.NoChange: (TradingError, "EXCHANGE_NO_CHANGE"),
    _E.MarginModeAlreadySet: (TradingError, "EXCHANGE_NO_CHANGE"),
    _E.MarketClosed: (TradingError, "MARKET_CLOSED"),
    _E.ManualInteractionNeeded: (TradingError, "EXCHANGE_MANUAL_ACTION_NEEDED"),
    _E.RestrictedLocation: (ExchangeAuthError, "EXCHANGE_RESTRICTED_LOCATION"),
    _E.UnsubscribeError: (ExchangeError, None),
}


_SECRET_RE = re.compile(
    r"(?i)(signature|apikey|api_key|secret|password|x-mbx-apikey)([\"']?\s*[=:]\s*[\"']?)[^&\s\"',}]+"
)


def _short(text: str, limit: int = 300) -> str:
    # ccxt messages embed the request URL and the response body: drop anything secret-like
    # and keep them readable.
    text = _SECRET_RE.sub(r"\1\2<redacted>", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def map_ccxt_error(error: Exception, *, exchange_id: str) -> TradeforgeError:
    """Return the tradeforge error for a ccxt exception (no ccxt type escapes)."""
    for cls in type(error).__mro__:
        entry = CCXT_ERROR_TABLE.get(cls)
        if entry is not None:
            target, code = entry
            break
    else:
        target, code = ExchangeError, None
    detail = _short(str(error)) or type(error).__name__
    return target(
        f"{exchange_id}: {type(error).__name__}: {detail}",
        code=code,
        details={"exchange_id": exchange_id, "ccxt_error": type(error).__name__},
    )


@contextmanager
def translate_ccxt_errors(exchange_id: str) -> Iterator[None]:
    """Run a block of ccxt calls, re-raising ccxt exceptions as tradeforge errors."""
    try:
        yield
    except ccxt.BaseError as e:
        raise map_ccxt_error(e, exchange_id=exchange_id) from e
