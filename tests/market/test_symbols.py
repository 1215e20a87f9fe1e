from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeforge.core.errors import InvalidInputError
from tradeforge.market.catalog import MarketType
from tradeforge.market.symbols import (
    InstrumentId,
    Notation,
    format_instrument,
    parse_instrument,
    require_known,
)

TOKEN = "21742633143463906290569050155826241533067272736897614950488156847949938836455"
codes = st.from_regex(r"[A-Z][A-Z0-9]{1,7}", fullmatch=True)
token_ids = st.from_regex(r"[1-9][0-9]{15,77}", fullmatch=True)


@st.composite
def spot_ids(
    draw: st.DrawFn, exchanges: tuple[str, ...] = ("binance", "coinbase", "gate")
) -> InstrumentId:
    return InstrumentId(draw(st.sampled_from(exchanges)), draw(codes), draw(codes))


@st.composite
def perp_ids(draw: st.DrawFn) -> InstrumentId:
    quote = draw(codes)
    exchange = draw(st.sampled_from(("binancefuturesusd", "hyperliquid", "bitmex")))
    return InstrumentId(exchange, draw(codes), quote, quote)


# -- examples --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "exchange", "expected"),
    [
        ("BINANCE:BTC/USDT", None, InstrumentId("binance", "BTC", "USDT")),
        ("BINANCEFUTURESUSD:BTC/USDT:USDT", None, InstrumentId("binancefuturesusd", "BTC", "USDT", "USDT")),  # noqa: E501
        ("BTC/USDT", "binance", InstrumentId("binance", "BTC", "USDT")),
        ("btc/usdt", "Binance", InstrumentId("binance", "BTC", "USDT")),
        ("BTC/USDT", "binancefuturesusd", InstrumentId("binancefuturesusd", "BTC", "USDT", "USDT")),
        ("BTCUSDT", "binance", InstrumentId("binance", "BTC", "USDT")),
        ("ETHBTC", "binance", InstrumentId("binance", "ETH", "BTC")),
        ("1000PEPEUSDC", "binance", InstrumentId("binance", "1000PEPE", "USDC")),
        ("BINANCE_BTC_USDT_", None, InstrumentId("binance", "BTC", "USDT")),
        ("BITMEX_ETH_USDT_ETHUSDT", None, InstrumentId("bitmex", "ETH", "USDT", "USDT")),
        ("KRW-BTC", None, InstrumentId("upbit", "BTC", "KRW")),
        ("KRW-ETH", "upbit", InstrumentId("upbit", "ETH", "KRW")),
        (TOKEN, None, InstrumentId("polymarket", TOKEN, "USDC")),
    ],
)  # fmt: skip
def test_parse_instrument_known_notations(
    text: str, exchange: str | None, expected: InstrumentId
) -> None:
    assert parse_instrument(text, exchange) == expected


def test_instrument_market_types_and_symbols() -> None:
    perp = parse_instrument("BINANCEFUTURESUSD:BTC/USDT:USDT")
    assert perp.market_type is MarketType.PERPETUAL
    assert perp.symbol == "BTC/USDT:USDT"
    token = parse_instrument("POLYMARKET:12345678901234567890")
    assert token.market_type is MarketType.PREDICTION
    assert token.symbol == "12345678901234567890"
    assert parse_instrument("KRW-BTC").market_type is MarketType.SPOT


@pytest.mark.parametrize(
    ("text", "exchange", "closest"),
    [
        ("BINANSE:BTC/USDT", None, "binance"),
        ("BTCXYZQ", "binance", "BTC/USDT"),
        ("BTC/", "binance", "BTC/USDT"),
        ("BTC/USDT:", "binance", "BTC/USDT"),
        ("BTC/USDT:USDT", "coinbase", "BTC/USDT"),
        ("BTC-", None, None),
        ("BINANCE_BTC_USDT", None, "BTC/USDT"),
        ("12345", "polymarket", None),
        ("", "binance", None),
    ],
)
def test_parse_instrument_malformed_raises_validation_error(
    text: str, exchange: str | None, closest: str | None
) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_instrument(text, exchange)
    assert info.value.code == "VALIDATION_ERROR"
    assert info.value.suggestion
    if closest is not None:
        assert closest in info.value.suggestion


def test_parse_instrument_without_exchange_says_how_to_name_it() -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_instrument("BTC/USDT")
    assert "BINANCE:BTC/USDT" in info.value.suggestion


def test_require_known_suggests_closest_stored_symbol() -> None:
    iid = parse_instrument("ETH/USTD", "binance")
    with pytest.raises(InvalidInputError) as info:
        require_known(iid, ["BTC/USDT", "ETH/USDT", "SOL/USDT"])
    assert "'ETH/USDT'" in info.value.suggestion


# -- round trips -----------------------------------------------------------------------------


@given(st.one_of(spot_ids(), perp_ids()))
def test_qualified_round_trip(iid: InstrumentId) -> None:
    text = format_instrument(iid, Notation.QUALIFIED)
    assert parse_instrument(text) == iid
    assert format_instrument(parse_instrument(text), Notation.QUALIFIED) == text


@given(st.one_of(spot_ids(), perp_ids()))
def test_unified_round_trip_with_exchange(iid: InstrumentId) -> None:
    text = format_instrument(iid, Notation.UNIFIED)
    assert parse_instrument(text, iid.exchange_id) == iid


@given(codes, st.sampled_from(("USDT", "USDC", "BTC", "FDUSD", "EUR")))
def test_concatenated_round_trip_for_known_quotes(base: str, quote: str) -> None:
    iid = InstrumentId("binance", base, quote)
    text = format_instrument(iid, Notation.CONCATENATED)
    parsed = parse_instrument(text, "binance")
    # Splitting is ambiguous only when the base itself ends in a longer known quote.
    assert format_instrument(parsed, Notation.CONCATENATED) == text
    if not any(
        (base + quote).endswith(q) and len(q) > len(quote)
        for q in ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "USDE")
    ):
        assert parsed == iid


@given(st.one_of(spot_ids(("binance", "gate", "coinbase")), perp_ids()))
def test_haas_round_trip(iid: InstrumentId) -> None:
    text = format_instrument(iid, Notation.HAAS)
    assert parse_instrument(text) == iid
    assert format_instrument(parse_instrument(text), Notation.HAAS) == text


@given(codes, st.sampled_from(("KRW", "BTC", "USDT")))
def test_upbit_round_trip(base: str, quote: str) -> None:
    iid = InstrumentId("upbit", base, quote)
    text = format_instrument(iid, Notation.UPBIT)
    assert text == f"{quote}-{base}"
    assert parse_instrument(text) == iid


@given(token_ids)
def test_polymarket_round_trip(token: str) -> None:
    iid = parse_instrument(token)
    assert iid.exchange_id == "polymarket"
    assert format_instrument(iid, Notation.POLYMARKET) == token
    assert parse_instrument(format_instrument(iid, Notation.QUALIFIED)) == iid


def test_format_prediction_in_pair_notation_is_rejected() -> None:
    iid = parse_instrument("12345678901234567890")
    with pytest.raises(InvalidInputError):
        format_instrument(iid, Notation.HAAS)
