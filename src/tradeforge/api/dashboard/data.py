"""JSON the dashboard's charts read: candles, trade markers, equity with drawdown and
buy-and-hold, and a post's attached equity curve.

Everything is columnar (``{"t": [...], "o": [...], ...}``, times in UTC seconds) so that
100k+ candles are a few megabytes of plain numbers, gzip-compressed when the browser
accepts it. The body is the usual envelope. Access follows the backtest page: the owner's
results, or public ones (attached to a post or registered); unauthenticated requests for
anything else are 401, other users' results 404. Nothing is recomputed: candles come
from the candle store, the rest from the stored result.
"""

from __future__ import annotations

import gzip
import json
import math
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from tradeforge.adapters.storage.repositories.dashboard import DashboardQueries
from tradeforge.api.dashboard.pages import visible_result
from tradeforge.api.dashboard.security import DASHBOARD_PREFIX
from tradeforge.api.dashboard.web import AccountsDep, Viewer, ViewerDep
from tradeforge.api.deps import ContainerDep, SessionDep
from tradeforge.api.envelope import make_meta, request_id_of
from tradeforge.api.routers.arena import ArenaDep
from tradeforge.api.routers.backtest import ServiceDep as JobsDep
from tradeforge.core.errors import AuthError, InvalidInputError, NotFoundError
from tradeforge.core.jobs import BacktestResultRecord
from tradeforge.services.accounts import AccountService
from tradeforge.services.backtest_jobs import BacktestJobService, script_request

router = APIRouter(prefix=f"{DASHBOARD_PREFIX}/data", include_in_schema=False)

IdPath = Annotated[str, Path(min_length=1, max_length=64)]

#: Above this many candles a chart gets bars merged k-to-1 (OHLC kept exact per bucket).
MAX_CHART_CANDLES = 400_000
#: Trades turned into markers (two each) for one page.
MAX_MARKER_TRADES = 25_000
_TRADE_CHUNK = 5000
_GZIP_MIN_BYTES = 32 * 1024

FloatArray = npt.NDArray[np.float64]


def json_response(request: Request, data: dict[str, Any]) -> Response:
    """The success envelope, serialised once (no model validation of big arrays)."""
    envelope = {
        "success": True,
        "data": data,
        "error": None,
        "meta": make_meta(request_id_of(request)).model_dump(mode="json"),
    }
    body = json.dumps(envelope, separators=(",", ":"), allow_nan=False).encode()
    headers = {"Vary": "Accept-Encoding"}
    accepts = request.headers.get("accept-encoding", "").lower()
    if len(body) >= _GZIP_MIN_BYTES and "gzip" in accepts:
        body = gzip.compress(body, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)


def _clean(values: FloatArray) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in values.tolist()]


def _authorised(
    result_id: str,
    viewer: Viewer,
    accounts: AccountService,
    jobs: BacktestJobService,
    session: Session,
) -> BacktestResultRecord:
    if viewer.user is None and not DashboardQueries(session).is_public_result(result_id):
        raise AuthError(
            "This data needs a logged-in user.",
            code="AUTHENTICATION_REQUIRED",
            suggestion=f"Log in at {DASHBOARD_PREFIX}/login, then reload the page.",
        )
    return visible_result(result_id, viewer, accounts, jobs, session)


def _instrument(record: BacktestResultRecord, ticker: str) -> Any:
    for name, inst in script_request(record.request).instruments():
        if name == ticker:
            return inst
    raise NotFoundError(
        f"{ticker[:80]!r} is not in this backtest's universe.",
        suggestion="Use one of the tickers listed on the backtest page.",
        details={"field": "ticker"},
    )


def _merge_bars(
    t: npt.NDArray[np.int64], o: FloatArray, h: FloatArray, lo: FloatArray, c: FloatArray, k: int
) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray, FloatArray, FloatArray]:
    starts = np.arange(0, t.shape[0], k)
    ends = np.minimum(starts + k, t.shape[0]) - 1
    return (
        t[starts],
        o[starts],
        np.maximum.reduceat(h, starts),
        np.minimum.reduceat(lo, starts),
        c[ends],
    )


@router.get("/backtests/{result_id}/candles")
def candles(
    request: Request,
    result_id: IdPath,
    container: ContainerDep,
    viewer: ViewerDep,
    accounts: AccountsDep,
    jobs: JobsDep,
    session: SessionDep,
    ticker: Annotated[str, Query(min_length=1, max_length=128)],
) -> Response:
    """The decision window's candles of one ticker (columnar, seconds)."""
    record = _authorised(result_id, viewer, accounts, jobs, session)
    inst = _instrument(record, ticker)
    bt_request = script_request(record.request)
    series = container.market_data.load(
        inst.exchange_id, inst.symbol, bt_request.timeframe, bt_request.start_ms, bt_request.end_ms
    )
    t = np.asarray(series.timestamp, dtype=np.int64) // 1000
    o, h = np.asarray(series.open, np.float64), np.asarray(series.high, np.float64)
    lo, c = np.asarray(series.low, np.float64), np.asarray(series.close, np.float64)
    merged = 1
    if t.shape[0] > MAX_CHART_CANDLES:
        merged = math.ceil(t.shape[0] / MAX_CHART_CANDLES)
        t, o, h, lo, c = _merge_bars(t, o, h, lo, c, merged)
    return json_response(
        request,
        {
            "ticker": ticker,
            "timeframe": bt_request.timeframe,
            "bars_merged": merged,
            "count": int(t.shape[0]),
            "t": t.tolist(),
            "o": _clean(o),
            "h": _clean(h),
            "l": _clean(lo),
            "c": _clean(c),
        },
    )


@router.get("/backtests/{result_id}/markers")
def markers(
    request: Request,
    result_id: IdPath,
    viewer: ViewerDep,
    accounts: AccountsDep,
    jobs: JobsDep,
    session: SessionDep,
) -> Response:
    """Entries and exits per ticker (an open trade has no exit)."""
    record = _authorised(result_id, viewer, accounts, jobs, session)
    by_ticker: dict[str, dict[str, list[Any]]] = {}
    after, loaded = 0, 0
    while loaded < MAX_MARKER_TRADES:
        chunk = jobs.trades_after(record, after, min(_TRADE_CHUNK, MAX_MARKER_TRADES - loaded))
        if not chunk:
            break
        for trade in chunk:
            columns = by_ticker.setdefault(
                str(trade.get("symbol", "")),
                {"entry_t": [], "exit_t": [], "side": [], "entry_price": [], "exit_price": []},
            )
            entry_ms, exit_ms = trade.get("entry_time_ms"), trade.get("exit_time_ms")
            columns["entry_t"].append(None if entry_ms is None else int(entry_ms) // 1000)
            columns["exit_t"].append(
                None if exit_ms is None or trade.get("is_open") else int(exit_ms) // 1000
            )
            columns["side"].append(str(trade.get("side", "long")))
            columns["entry_price"].append(trade.get("entry_price"))
            columns["exit_price"].append(trade.get("exit_price"))
        after = int(chunk[-1]["seq"])
        loaded += len(chunk)
    return json_response(
        request,
        {
            "tickers": by_ticker,
            "trades": loaded,
            "total_trades": record.num_trades,
            "truncated": loaded < record.num_trades,
        },
    )


def _buy_and_hold(
    container: ContainerDep, record: BacktestResultRecord, times_ms: npt.NDArray[np.int64]
) -> list[float | None]:
    """Initial equity times the mean of each ticker's close / first close (the benchmark
    of the ``buy_and_hold_return_pct`` metric), sampled at the equity curve's times."""
    bt_request = script_request(record.request)
    initial = float(record.metrics.get("initial_equity") or bt_request.initial_cash)
    ratios: list[FloatArray] = []
    for _, inst in bt_request.instruments():
        series = container.market_data.load(
            inst.exchange_id, inst.symbol, bt_request.timeframe, bt_request.start_ms,
            bt_request.end_ms,
        )  # fmt: skip
        closes = np.asarray(series.close, np.float64)
        stamps = np.asarray(series.timestamp, np.int64)
        if closes.shape[0] == 0 or not math.isfinite(closes[0]) or closes[0] == 0:
            continue
        idx = np.searchsorted(stamps, times_ms, side="right") - 1
        ratio = np.where(idx >= 0, closes[np.clip(idx, 0, None)] / closes[0], 1.0)
        ratios.append(ratio)
    if not ratios:
        return [None] * int(times_ms.shape[0])
    return _clean(initial * np.mean(np.vstack(ratios), axis=0))


@router.get("/backtests/{result_id}/equity")
def equity(
    request: Request,
    result_id: IdPath,
    container: ContainerDep,
    viewer: ViewerDep,
    accounts: AccountsDep,
    jobs: JobsDep,
    session: SessionDep,
) -> Response:
    """The stored equity curve, its drawdown (percent below the running peak) and the
    buy-and-hold benchmark at the same times."""
    record = _authorised(result_id, viewer, accounts, jobs, session)
    times_ms = np.asarray(record.equity.get("timestamp", []), dtype=np.int64)
    values = np.asarray(
        [math.nan if v is None else float(v) for v in record.equity.get("equity", [])],
        dtype=np.float64,
    )
    filled = np.where(np.isfinite(values), values, -np.inf)
    peak = np.maximum.accumulate(filled) if filled.shape[0] else filled
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(
            np.isfinite(values) & (peak > 0), (values / peak - 1.0) * 100.0, math.nan
        )
    return json_response(
        request,
        {
            "t": (times_ms // 1000).tolist(),
            "equity": _clean(values),
            "drawdown_pct": _clean(drawdown),
            "buy_hold": _buy_and_hold(container, record, times_ms),
            "initial_equity": record.metrics.get("initial_equity"),
            "total_points": int(record.equity.get("total_points") or values.shape[0]),
        },
    )


@router.get("/arena/posts/{post_id}/equity")
def post_equity(request: Request, post_id: IdPath, arena: ArenaDep) -> Response:
    """The equity curve of the backtest attached to a post (public, like the post)."""
    view = arena.get_post(post_id, None)
    if view.backtest is None:
        raise InvalidInputError(
            "This post has no backtest attached.",
            suggestion="Only posts with a strategy_settings_id have an equity curve.",
        )
    curve = view.backtest.equity
    return json_response(
        request,
        {
            "result_id": view.backtest.result_id,
            "t": [int(ts) // 1000 for ts in curve["timestamp"]],
            "equity": curve["equity"],
        },
    )
