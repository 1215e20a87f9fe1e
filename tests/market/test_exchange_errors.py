"""Every ccxt exception class maps to one of our errors through the single table."""

from __future__ import annotations

import inspect

import pytest
from ccxt.base import errors as ccxt_errors

from tradeforge.adapters.exchanges.errors import (
    CCXT_ERROR_TABLE,
    map_ccxt_error,
    translate_ccxt_errors,
)
from tradeforge.core.errors import (
    ExchangeAuthError,
    ExchangeError,
    ExchangeRateLimitedError,
    ExchangeUnavailableError,
    InvalidInputError,
    TradeforgeError,
    TradingError,
)

ALL_CCXT_ERRORS = sorted(
    (
        c
        for _, c in inspect.getmembers(ccxt_errors, inspect.isclass)
        if issubclass(c, ccxt_errors.BaseError)
    ),
    key=lambda c: c.__name__,
)

# ccxt class name -> (our class, code, retryable)
EXPECTED: dict[str, tuple[type[TradeforgeError], str, bool]] = {
    "AccountNotEnabled": (ExchangeAuthError, "EXCHANGE_ACCOUNT_NOT_ENABLED", False),
    "AccountSuspended": (ExchangeAuthError, "EXCHANGE_ACCOUNT_SUSPENDED", False),
    "AddressPending": (ExchangeError, "EXCHANGE_ADDRESS_PENDING", False),
    "ArgumentsRequired": (InvalidInputError, "VALIDATION_ERROR", False),
    "AuthenticationError": (ExchangeAuthError, "EXCHANGE_AUTH_FAILED", False),
    "BadRequest": (InvalidInputError, "EXCHANGE_BAD_REQUEST", False),
    "BadResponse": (ExchangeError, "EXCHANGE_BAD_RESPONSE", False),
    "BadSymbol": (InvalidInputError, "EXCHANGE_BAD_SYMBOL", False),
    "BaseError": (ExchangeError, "EXCHANGE_ERROR", False),
    "CancelPending": (ExchangeError, "EXCHANGE_CANCEL_PENDING", False),
    "ChecksumError": (ExchangeUnavailableError, "EXCHANGE_BAD_RESPONSE", True),
    "ContractUnavailable": (TradingError, "CONTRACT_UNAVAILABLE", False),
    "DDoSProtection": (ExchangeRateLimitedError, "EXCHANGE_RATE_LIMITED", True),
    "DuplicateOrderId": (TradingError, "DUPLICATE_ORDER_ID", False),
    "ExchangeClosedByUser": (ExchangeUnavailableError, "EXCHANGE_CLOSED", True),
    "ExchangeError": (ExchangeError, "EXCHANGE_ERROR", False),
    "ExchangeNotAvailable": (ExchangeUnavailableError, "EXCHANGE_UNAVAILABLE", True),
    "InsufficientFunds": (TradingError, "INSUFFICIENT_FUNDS", False),
    "InvalidAddress": (InvalidInputError, "EXCHANGE_INVALID_ADDRESS", False),
    "InvalidNonce": (ExchangeUnavailableError, "EXCHANGE_INVALID_NONCE", True),
    "InvalidOrder": (TradingError, "ORDER_REJECTED", False),
    "InvalidProxySettings": (ExchangeError, "EXCHANGE_CONFIGURATION", False),
    "ManualInteractionNeeded": (TradingError, "EXCHANGE_MANUAL_ACTION_NEEDED", False),
    "MarginModeAlreadySet": (TradingError, "EXCHANGE_NO_CHANGE", False),
    "MarketClosed": (TradingError, "MARKET_CLOSED", False),
    "NetworkError": (ExchangeUnavailableError, "EXCHANGE_UNAVAILABLE", True),
    "NoChange": (TradingError, "EXCHANGE_NO_CHANGE", False),
    "NotSupported": (ExchangeError, "EXCHANGE_NOT_SUPPORTED", False),
    "NullResponse": (ExchangeError, "EXCHANGE_BAD_RESPONSE", False),
    "OnMaintenance": (ExchangeUnavailableError, "EXCHANGE_MAINTENANCE", True),
    "OperationFailed": (ExchangeUnavailableError, "EXCHANGE_UNAVAILABLE", True),
    "OperationRejected": (TradingError, "ORDER_REJECTED", False),
    "OrderImmediatelyFillable": (TradingError, "ORDER_REJECTED", False),
    "OrderNotCached": (TradingError, "ORDER_NOT_FOUND", False),
    "OrderNotFillable": (TradingError, "ORDER_REJECTED", False),
    "OrderNotFound": (TradingError, "ORDER_NOT_FOUND", False),
    "PermissionDenied": (ExchangeAuthError, "EXCHANGE_PERMISSION_DENIED", False),
    "RateLimitExceeded": (ExchangeRateLimitedError, "EXCHANGE_RATE_LIMITED", True),
    "RequestTimeout": (ExchangeUnavailableError, "EXCHANGE_TIMEOUT", True),
    "RestrictedLocation": (ExchangeAuthError, "EXCHANGE_RESTRICTED_LOCATION", False),
    "UnsubscribeError": (ExchangeError, "EXCHANGE_ERROR", False),
}


def test_every_ccxt_exception_has_an_explicit_row() -> None:
    assert {c.__name__ for c in ALL_CCXT_ERRORS} == set(EXPECTED)
    assert set(ALL_CCXT_ERRORS) == set(CCXT_ERROR_TABLE)


@pytest.mark.parametrize("ccxt_class", ALL_CCXT_ERRORS, ids=lambda c: c.__name__)
def test_map_ccxt_error_row(ccxt_class: type[Exception]) -> None:
    target, code, retryable = EXPECTED[ccxt_class.__name__]
    error = map_ccxt_error(ccxt_class("binance boom"), exchange_id="binance")
    assert type(error) is target
    assert error.code == code
    assert error.retryable is retryable
    assert error.suggestion
    assert "binance" in error.message


def test_unknown_subclass_maps_through_its_parent() -> None:
    class FutureCcxtError(ccxt_errors.RateLimitExceeded):
        pass

    assert isinstance(
        map_ccxt_error(FutureCcxtError("x"), exchange_id="binance"), ExchangeRateLimitedError
    )


def test_translate_chains_the_cause_and_redacts_secrets() -> None:
    with pytest.raises(ExchangeAuthError) as info, translate_ccxt_errors("binance"):
        raise ccxt_errors.AuthenticationError(
            'binance GET https://x/api?signature=abc123&x=1 {"apiKey": "SECRETKEY"}'
        )
    assert isinstance(info.value.__cause__, ccxt_errors.AuthenticationError)
    assert "abc123" not in info.value.message
    assert "SECRETKEY" not in info.value.message
