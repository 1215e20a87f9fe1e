"""Market-data endpoints: symbols, OHLCV candles, tickers, funding rates and gap reports.

Everything is read from the candle store (bundled data plus downloads); nothing is faked.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from tradeforge.api.deps import PUBLIC, MarketDataDep, requires
from tradeforge.api.envelope import Envelope, ok
from tradeforge.api.schemas.market import (
    AvailableRange,
    CandleOut,
    FundingRateOut,
    FundingRatesResponse,
    FundingSeriesOut,
    GapOut,
    GapsResponse,
    OhlcvResponse,
    SymbolOut,
    SymbolsResponse,
    TickerOut,
    TickersRequest,
    TickersResponse,
    iso,
    parse_time,
)
from tradeforge.core.accounts import Scope
from tradeforge.core.errors import DataUnavailableError
from tradeforge.market.source import MarketDataSource, SeriesKind
from tradeforge.market.symbols import resolve_exchange
from tradeforge.services import market as market_service
from tradeforge.services.market import FundingPage, SymbolSummary, Ticker
from tradeforge.services.research import resolve_market

router = APIRouter(prefix="/market", tags=["market"])

ExchangeQuery = Annotated[
    str, Query(min_length=1, max_length=40, description="Exchange id (see /meta/markets).")
]
SymbolQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=100,
        description="BTC/USDT, BINANCE:BTC/USDT or BTCUSDT.",
        examples=["BINANCE:BTC/USDT"],
    ),
]
TimeQuery = Annotated[
    str | None,
    Query(
        max_length=40,
        description="UTC date (2024-01-31, midnight) or ISO datetime; no offset means UTC.",
    ),
]
CursorQuery = Annotated[
    str | None, Query(max_length=200, description="next_cursor of the previous page.")
]


def _range(first_ms: int, last_ms: int) -> AvailableRange:
    return AvailableRange(
        first=iso(first_ms), last=iso(last_ms), first_ms=first_ms, last_ms=last_ms
    )


def _symbol_out(row: SymbolSummary) -> SymbolOut:
    return SymbolOut(
        symbol=row.symbol,
        ticker=f"{row.exchange_id.upper()}:{row.symbol}",
        exchange=row.exchange_id,
        market_type=str(row.market_type),
        base=row.base,
        quote=row.quote,
        settle=row.settle,
        sector=row.sector,
        timeframes=list(row.timeframes),
        available=_range(row.first_ms, row.last_ms),
        has_funding=row.has_funding,
        score=row.score,
    )


def _list_symbols(
    request: Request,
    source: MarketDataSource,
    exchange: str,
    market_type: str | None,
    category: str | None,
    sector: str | None,
    limit: int,
) -> Envelope[SymbolsResponse]:
    exchange_id = resolve_exchange(exchange).id
    rows = market_service.list_symbols(
        source,
        exchange_id=exchange_id,
        market_type=market_type,
        category=category,
        sector=sector,
        limit=limit,
    )
    return ok(
        request,
        SymbolsResponse(
            exchange=exchange_id,
            category=category,
            count=len(rows),
            symbols=[_symbol_out(row) for row in rows],
        ),
    )


_SYMBOLS_DOC = """List the symbols with stored candles on an exchange.

``category=top_market_cap`` ranks by traded quote volume over the last 30 stored days
(no market-cap data is stored; this is a liquidity proxy); ``category=trending`` ranks by
``abs(7-day return) * (7-day / 30-day average daily quote volume)``. ``score`` carries the
ranking value. ``sector`` filters by a curated sector (L1, DeFi, AI, ...).
"""


@router.get("/symbols", summary="List tradable symbols", description=_SYMBOLS_DOC, **PUBLIC)
@router.get(
    "/tickers",
    summary="List tradable symbols (seed v1 name of /market/symbols)",
    description=_SYMBOLS_DOC,
    **PUBLIC,
)
def symbols(
    request: Request,
    source: MarketDataDep,
    exchange: ExchangeQuery = "binance",
    market_type: Annotated[str | None, Query(max_length=20, examples=["spot"])] = None,
    category: Annotated[
        str | None, Query(max_length=30, description="top_market_cap or trending")
    ] = None,
    sector: Annotated[str | None, Query(max_length=30, examples=["DeFi"])] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Envelope[SymbolsResponse]:
    return _list_symbols(request, source, exchange, market_type, category, sector, limit)


@router.get("/ohlcv", summary="OHLCV candles of a symbol", **requires(Scope.RESEARCH))
def ohlcv(
    request: Request,
    source: MarketDataDep,
    symbol: SymbolQuery,
    exchange: ExchangeQuery = "binance",
    timeframe: Annotated[str, Query(max_length=10, examples=["1h"])] = "1h",
    start: TimeQuery = None,
    end: TimeQuery = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    cursor: CursorQuery = None,
) -> Envelope[OhlcvResponse]:
    """Return closed candles, oldest first.

    With ``start`` (or ``cursor``) the page runs forward from ``start`` and ``next_cursor``
    resumes after its last candle; without, it holds the newest ``limit`` candles before
    ``end`` (exclusive) or the end of the data. ``available`` is the stored range; a
    window outside it is ``DATA_UNAVAILABLE`` (404) naming that range.
    """
    page = market_service.get_ohlcv(
        source,
        exchange,
        symbol,
        timeframe,
        start_ms=parse_time(start, "start"),
        end_ms=parse_time(end, "end"),
        limit=limit,
        cursor=cursor,
    )
    candles = [
        CandleOut(time=iso(ts), timestamp=ts, open=o, high=h, low=low, close=c, volume=v)
        for ts, o, h, low, c, v in page.rows()
    ]
    return ok(
        request,
        OhlcvResponse(
            exchange=page.exchange_id,
            symbol=page.symbol,
            ticker=f"{page.exchange_id.upper()}:{page.symbol}",
            timeframe=page.timeframe,
            count=len(candles),
            candles=candles,
            next_cursor=page.next_cursor,
            available=_range(page.available_first_ms, page.available_last_ms),
        ),
    )


def _ticker_out(ticker: Ticker) -> TickerOut:
    return TickerOut(
        exchange=ticker.exchange_id,
        symbol=ticker.symbol,
        ticker=f"{ticker.exchange_id.upper()}:{ticker.symbol}",
        last_price=ticker.last_price,
        open_24h=ticker.open_24h,
        change_24h_pct=ticker.change_24h_pct,
        high_24h=ticker.high_24h,
        low_24h=ticker.low_24h,
        volume_24h=ticker.volume_24h,
        quote_volume_24h=ticker.quote_volume_24h,
        as_of=iso(ticker.as_of_ms),
        as_of_ms=ticker.as_of_ms,
        timeframe=ticker.timeframe,
    )


@router.get(
    "/ticker", summary="Last price and 24h change of one symbol", **requires(Scope.RESEARCH)
)
def ticker(
    request: Request,
    source: MarketDataDep,
    symbol: SymbolQuery,
    exchange: ExchangeQuery = "binance",
) -> Envelope[TickerOut]:
    """Compute last price, 24h change, range and volume from the newest stored candles.

    ``as_of`` is the close time of the newest candle: the store may be behind the market.
    """
    return ok(request, _ticker_out(market_service.get_ticker(source, exchange, symbol)))


@router.post("/ticker", summary="Tickers of up to 20 symbols", **requires(Scope.RESEARCH))
def tickers(
    request: Request, body: TickersRequest, source: MarketDataDep
) -> Envelope[TickersResponse]:
    """Same as ``GET /market/ticker`` for 1 to 20 symbols, in the order asked."""
    rows = market_service.get_tickers(source, body.exchange, list(body.symbols))
    return ok(
        request,
        TickersResponse(
            exchange=resolve_exchange(body.exchange).id,
            count=len(rows),
            tickers=[_ticker_out(row) for row in rows],
        ),
    )


def _funding_out(page: FundingPage) -> FundingSeriesOut:
    rates = [
        FundingRateOut(time=iso(ts), timestamp=ts, funding_rate=rate) for ts, rate in page.rows()
    ]
    return FundingSeriesOut(
        symbol=page.symbol,
        ticker=f"{page.exchange_id.upper()}:{page.symbol}",
        count=len(rates),
        rates=rates,
        next_cursor=page.next_cursor,
    )


@router.get("/funding-rates", summary="Funding rates of perpetuals", **requires(Scope.RESEARCH))
def funding_rates(
    request: Request,
    source: MarketDataDep,
    exchange: ExchangeQuery = "binancefuturesusd",
    symbol: Annotated[
        str | None, Query(min_length=1, max_length=100, examples=["BTC/USDT:USDT"])
    ] = None,
    start: TimeQuery = None,
    end: TimeQuery = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    cursor: CursorQuery = None,
) -> Envelope[FundingRatesResponse]:
    """Funding settlements of a perpetual, paged like OHLCV.

    Without ``symbol``: the latest settlement of every perpetual with stored funding on
    the exchange (``start``/``end``/``cursor`` then bound that lookup). The bundled data
    covers ``binancefuturesusd`` (the default).
    """
    exchange_id = resolve_exchange(exchange).id
    start_ms, end_ms = parse_time(start, "start"), parse_time(end, "end")
    if symbol is not None:
        page = market_service.get_funding_rates(
            source,
            exchange_id,
            symbol,
            start_ms=start_ms,
            end_ms=end_ms,
            limit=limit,
            cursor=cursor,
        )
        return ok(request, FundingRatesResponse(exchange=exchange_id, series=[_funding_out(page)]))
    stored = sorted(
        {
            info.symbol
            for info in source.list_series()
            if info.exchange_id == exchange_id and info.kind == SeriesKind.FUNDING_RATE
        }
    )
    if not stored:
        raise DataUnavailableError(
            f"No funding rates are stored for {exchange_id}.",
            suggestion="Try exchange=binancefuturesusd, or download funding data first.",
            details={"field": "exchange"},
        )
    series = []
    for name in stored[:limit]:
        try:
            page = market_service.get_funding_rates(
                source, exchange_id, name, start_ms=None, end_ms=end_ms, limit=1
            )
        except DataUnavailableError:
            continue
        series.append(_funding_out(page))
    return ok(request, FundingRatesResponse(exchange=exchange_id, series=series))


@router.get("/gaps", summary="Missing candles of a stored series", **requires(Scope.RESEARCH))
def gaps(
    request: Request,
    source: MarketDataDep,
    symbol: SymbolQuery,
    exchange: ExchangeQuery = "binance",
    timeframe: Annotated[str, Query(max_length=10, examples=["1h"])] = "1h",
    start: TimeQuery = None,
    end: TimeQuery = None,
) -> Envelope[GapsResponse]:
    """Report runs of missing candles (exchange outages, delistings). Gaps are never filled."""
    start_ms, end_ms = parse_time(start, "start"), parse_time(end, "end")
    found = market_service.get_gaps(
        source, exchange, symbol, timeframe, start_ms=start_ms, end_ms=end_ms
    )
    market = resolve_market(source, exchange, symbol)
    rng = source.available_range(market.instrument.exchange_id, market.symbol, timeframe)
    if rng is None:
        raise DataUnavailableError(
            f"No {timeframe} candles stored for {market.ticker}.",
            suggestion="See GET /api/v1/market/symbols for the stored timeframes.",
            details={"field": "timeframe"},
        )
    return ok(
        request,
        GapsResponse(
            exchange=market.instrument.exchange_id,
            symbol=market.symbol,
            timeframe=timeframe,
            gap_count=len(found),
            missing_candles=sum(gap.missing for gap in found),
            gaps=[
                GapOut(
                    start=iso(gap.start_ms),
                    end=iso(gap.end_ms),
                    start_ms=gap.start_ms,
                    end_ms=gap.end_ms,
                    missing=gap.missing,
                    description=gap.describe(),
                )
                for gap in found
            ],
            available=_range(*rng),
        ),
    )
