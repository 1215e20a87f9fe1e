"""Typed backtest results: trades, orders, per-ticker summaries and the result fingerprint.

The kernels return plain float64 tables; :class:`BacktestResult` keeps them and builds the
typed views (``trades``, ``orders``, ``stats``, ``fingerprint``) on first access, so a
parameter sweep that only needs the final equity pays for nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.backtest import kernels as k
from tradeforge.backtest.stats import Stats, compute_stats
from tradeforge.core.candles import Candles

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ENGINE_VERSION = "tradeforge-backtest/1"


class ExitReason(StrEnum):
    """Why a fill happened (``entry`` for fills that open a position)."""

    SIGNAL = "signal"
    STOP = "stop"
    TAKE_PROFIT = "take_profit"
    TRAILING = "trailing"
    LIQUIDATION = "liquidation"
    END = "end"
    PORTFOLIO_STOP = "portfolio_stop"
    PORTFOLIO_TAKE_PROFIT = "portfolio_take_profit"
    ENTRY = "entry"
    SAFETY_ORDER = "safety_order"  # a DCA safety order adding to an open deal


_REASONS: tuple[ExitReason, ...] = (
    ExitReason.SIGNAL,
    ExitReason.STOP,
    ExitReason.TAKE_PROFIT,
    ExitReason.TRAILING,
    ExitReason.LIQUIDATION,
    ExitReason.END,
    ExitReason.PORTFOLIO_STOP,
    ExitReason.PORTFOLIO_TAKE_PROFIT,
    ExitReason.ENTRY,
    ExitReason.SAFETY_ORDER,
)


class Ambiguity(StrEnum):
    """How a trade's exit bar was settled when its stop and take-profit were both in range.

    ``none``: the exit bar was not ambiguous. ``worst_case``: no lower timeframe was given,
    the adverse exit was assumed. ``resolved``: the lower timeframe showed which level printed
    first. ``sub_bar_ambiguous``: the deciding sub-bar itself touched both, the adverse exit
    was assumed. ``unresolved``: sub-bars were missing (a hole before the decision, or none
    reached a level), the adverse exit was assumed.
    """

    NONE = "none"
    WORST_CASE = "worst_case"
    RESOLVED = "resolved"
    SUB_BAR_AMBIGUOUS = "sub_bar_ambiguous"
    UNRESOLVED = "unresolved"


# Indexed by the kernels' AMBIGUITY_* codes.
_AMBIGUITIES: tuple[Ambiguity, ...] = (
    Ambiguity.NONE,
    Ambiguity.WORST_CASE,
    Ambiguity.RESOLVED,
    Ambiguity.SUB_BAR_AMBIGUOUS,
    Ambiguity.UNRESOLVED,
)
_ORDER_TYPES = ("market", "limit", "stop", "liquidation")
_STATUSES = ("filled", "rejected", "expired")


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip. Times are the open time (UTC ms) of the bar in which each fill happened.

    ``pnl`` is net: ``direction * quantity * (exit_price - entry_price) - entry_fee -
    exit_fee - funding``. ``return_pct`` is ``pnl`` over the margin committed
    (``quantity * entry_price / leverage``). An ``is_open`` trade is marked at the last close
    with no exit fee (reason ``end``). ``is_ambiguous`` marks an exit bar where the stop and
    the take-profit could both have filled and the worse one was assumed; ``ambiguity`` says
    how such a bar was settled (``resolved`` when a lower timeframe showed the order, and
    then ``is_ambiguous`` is false).
    """

    symbol: str
    side: str
    entry_time: int
    exit_time: int
    entry_bar: int
    exit_bar: int
    quantity: float
    entry_price: float
    exit_price: float
    entry_fee: float
    exit_fee: float
    funding: float
    pnl: float
    return_pct: float
    reason: ExitReason
    is_ambiguous: bool
    is_open: bool
    ambiguity: Ambiguity = Ambiguity.NONE

    @property
    def is_intrabar_resolved(self) -> bool:
        """Whether a lower timeframe settled which of the stop and take-profit came first."""
        return self.ambiguity is Ambiguity.RESOLVED


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One line of the orders log: a fill, or an entry that was rejected or expired."""

    time: int
    bar: int
    symbol: str
    side: str
    quantity: float
    price: float
    fee: float
    reason: ExitReason
    order_type: str
    status: str


@dataclass(frozen=True, slots=True)
class TickerResult:
    """What one symbol contributed. ``equity`` is its sub-account curve in isolated mode."""

    symbol: str
    num_trades: int
    pnl: float
    fees_paid: float
    funding_paid: float
    funding_coverage: float | None
    equity: FloatArray | None


@dataclass(frozen=True, slots=True)
class PositionState:
    """Position state at each bar's close, on the symbol's own bar axis.

    ``direction`` is +1/-1/0, ``entry_price`` is NaN and ``bars_since_entry`` is -1 when
    flat. This is the state a state-dependent rule would have read at that close.
    """

    timestamp: IntArray
    direction: IntArray
    quantity: FloatArray
    entry_price: FloatArray
    bars_since_entry: IntArray


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a result depends on; equal digests mean the same inputs and engine."""

    engine_version: str
    script_sha256: str | None
    parameters: dict[str, Any]
    candles_sha256: dict[str, str]
    digest: str
    intrabar_sha256: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.intrabar_sha256 is None:  # keep runs without a lower timeframe unchanged
            del out["intrabar_sha256"]
        return out


def _is_worst_case(code: float) -> bool:
    # Ambiguous and settled by assuming the adverse exit (every code but none and resolved).
    return bool(code != k.AMBIGUITY_NONE and code != k.AMBIGUITY_RESOLVED)


def candles_sha256(candles: Candles) -> str:
    """Return the sha256 of the bytes of all six candle columns, in column order."""
    digest = hashlib.sha256()
    for column in (
        candles.timestamp,
        candles.open,
        candles.high,
        candles.low,
        candles.close,
        candles.volume,
    ):
        digest.update(np.ascontiguousarray(column).tobytes())
    return digest.hexdigest()


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def make_fingerprint(
    candles: Mapping[str, Candles],
    script: str | None,
    parameters: Mapping[str, Any],
    intrabar: Mapping[str, Candles] | None = None,
) -> Fingerprint:
    """Return the :class:`Fingerprint` of a run over ``candles``.

    ``intrabar`` (lower-timeframe candles used to settle ambiguous bars) is hashed in when
    given; without it the digest is the same as before lower timeframes existed.
    """
    script_hash = hashlib.sha256(script.encode()).hexdigest() if script is not None else None
    params = json.loads(json.dumps(dict(parameters), sort_keys=True, default=_jsonable))
    hashes = {symbol: candles_sha256(c) for symbol, c in sorted(candles.items())}
    content: dict[str, Any] = {
        "engine": ENGINE_VERSION,
        "script": script_hash,
        "params": params,
        "candles": hashes,
    }
    sub_hashes = None
    if intrabar:
        sub_hashes = {symbol: candles_sha256(c) for symbol, c in sorted(intrabar.items())}
        content["intrabar"] = sub_hashes
    payload = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return Fingerprint(
        ENGINE_VERSION,
        script_hash,
        params,
        hashes,
        hashlib.sha256(payload.encode()).hexdigest(),
        sub_hashes,
    )


@dataclass(frozen=True)
class BacktestResult:
    """Outcome of one backtest (one symbol, or a portfolio of symbols).

    Attributes:
        symbols: the symbols, in column order of the kernel tables.
        timestamp: bar open times (UTC ms) of the equity curve.
        equity: total equity at each bar's close.
        fill_table / trade_table: raw kernel records (see ``kernels.FILL_*``/``TRADE_*``).
        funding_coverage: per symbol, the share of the period covered by funding data
            (``None`` when no funding series was supplied).
        held: the ``(n, k)`` position matrix when the engine produced it, or ``None`` for a
            single-symbol run on its own bars, whose :attr:`position` is rebuilt from the
            trade table on first access (the same values the kernel would have written).
        intrabar: the lower-timeframe candles given per symbol (see ``run_backtest``).
    """

    symbols: tuple[str, ...]
    timestamp: IntArray
    equity: FloatArray
    fill_table: FloatArray
    trade_table: FloatArray
    initial_equity: float
    timeframe_ms: int
    leverage: float
    candles: Mapping[str, Candles]
    parameters: Mapping[str, Any]
    script: str | None = None
    funding_coverage: Mapping[str, float | None] = field(default_factory=dict)
    ticker_equity: Mapping[str, FloatArray] = field(default_factory=dict)
    bar_timestamps: Sequence[IntArray] = ()
    held: FloatArray | None = None
    intrabar: Mapping[str, Candles] = field(default_factory=dict)

    @cached_property
    def position(self) -> FloatArray:
        """``(n, k)`` signed quantity per symbol after each bar (0.0 when flat)."""
        if self.held is not None:
            return self.held
        # Each trade is held at the closes of [entry bar, exit bar) (an open one to the last
        # bar) with quantity ``direction * qty``, exactly what the kernel marks per bar.
        out: FloatArray = k.position_from_trades_nb(
            self.trade_table, self.timestamp.shape[0], len(self.symbols)
        )
        return out

    def _bar_time(self, column: int, bar: int) -> int:
        ts = self.bar_timestamps[column] if self.bar_timestamps else self.timestamp
        return int(ts[bar])

    def _bar_times(self, cols: IntArray, bars: IntArray) -> IntArray:
        if not self.bar_timestamps:
            return self.timestamp[bars]
        out = np.empty(bars.shape[0], dtype=np.int64)
        for col, ts in enumerate(self.bar_timestamps):
            mask = cols == col
            out[mask] = ts[bars[mask]]
        return out

    @cached_property
    def trades(self) -> list[Trade]:
        """Every round trip, in the order it closed (open trades last)."""
        out: list[Trade] = []
        for row in self.trade_table:
            col = int(row[k.TRADE_ASSET])
            direction = int(row[k.TRADE_DIRECTION])
            qty = float(row[k.TRADE_QTY])
            entry_price = float(row[k.TRADE_ENTRY_PRICE])
            margin = qty * entry_price / self.leverage
            pnl = float(row[k.TRADE_PNL])
            entry_bar = int(row[k.TRADE_ENTRY_BAR])
            exit_bar = int(row[k.TRADE_EXIT_BAR])
            out.append(
                Trade(
                    symbol=self.symbols[col],
                    side="long" if direction > 0 else "short",
                    entry_time=self._bar_time(col, entry_bar),
                    exit_time=self._bar_time(col, exit_bar),
                    entry_bar=entry_bar,
                    exit_bar=exit_bar,
                    quantity=qty,
                    entry_price=entry_price,
                    exit_price=float(row[k.TRADE_EXIT_PRICE]),
                    entry_fee=float(row[k.TRADE_ENTRY_FEE]),
                    exit_fee=float(row[k.TRADE_EXIT_FEE]),
                    funding=float(row[k.TRADE_FUNDING]),
                    pnl=pnl,
                    return_pct=pnl / margin * 100.0 if margin > 0 else 0.0,
                    reason=_REASONS[int(row[k.TRADE_REASON])],
                    is_ambiguous=_is_worst_case(row[k.TRADE_AMBIGUOUS]),
                    is_open=bool(row[k.TRADE_IS_OPEN]),
                    ambiguity=_AMBIGUITIES[int(row[k.TRADE_AMBIGUOUS])],
                )
            )
        return out

    def state(self, symbol: str | None = None) -> PositionState:
        """Return the per-bar :class:`PositionState` of ``symbol`` (default: the first one)."""
        col = 0 if symbol is None else self.symbols.index(symbol)
        ts = self.bar_timestamps[col] if self.bar_timestamps else self.timestamp
        n = ts.shape[0]
        direction = np.zeros(n, dtype=np.int64)
        quantity = np.zeros(n, dtype=np.float64)
        entry_price = np.full(n, np.nan)
        since = np.full(n, -1, dtype=np.int64)
        rows = self.trade_table[self.trade_table[:, k.TRADE_ASSET] == col]
        for row in rows:
            start = int(row[k.TRADE_ENTRY_BAR])
            # Held at the closes of [entry bar, exit bar); an open trade to the last bar.
            stop = n if row[k.TRADE_IS_OPEN] else int(row[k.TRADE_EXIT_BAR])
            direction[start:stop] = int(row[k.TRADE_DIRECTION])
            # The parts of a partially closed position share its entry bar: they add up.
            quantity[start:stop] += row[k.TRADE_QTY]
            entry_price[start:stop] = row[k.TRADE_ENTRY_PRICE]
            since[start:stop] = np.arange(stop - start)
        return PositionState(ts, direction, quantity, entry_price, since)

    @cached_property
    def orders(self) -> list[OrderRecord]:
        """The orders log: every fill, rejection and expiry, in execution order."""
        out: list[OrderRecord] = []
        for row in self.fill_table:
            col = int(row[k.FILL_ASSET])
            bar = int(row[k.FILL_BAR])
            out.append(
                OrderRecord(
                    time=self._bar_time(col, bar),
                    bar=bar,
                    symbol=self.symbols[col],
                    side="buy" if row[k.FILL_SIDE] > 0 else "sell",
                    quantity=float(row[k.FILL_QTY]),
                    price=float(row[k.FILL_PRICE]),
                    fee=float(row[k.FILL_FEE]),
                    reason=_REASONS[int(row[k.FILL_REASON])],
                    order_type=_ORDER_TYPES[int(row[k.FILL_ORDER_TYPE])],
                    status=_STATUSES[int(row[k.FILL_STATUS])],
                )
            )
        return out

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1])

    @property
    def fees_paid(self) -> float:
        filled = self.fill_table[:, k.FILL_STATUS] == k.STATUS_FILLED
        return float(self.fill_table[filled, k.FILL_FEE].sum())

    @property
    def funding_paid(self) -> float:
        return float(self.trade_table[:, k.TRADE_FUNDING].sum())

    @cached_property
    def per_ticker(self) -> dict[str, TickerResult]:
        """Per-symbol contribution: trades, net PnL, fees, funding."""
        out: dict[str, TickerResult] = {}
        tt = self.trade_table
        ft = self.fill_table
        for col, symbol in enumerate(self.symbols):
            rows = tt[tt[:, k.TRADE_ASSET] == col]
            fills = ft[(ft[:, k.FILL_ASSET] == col) & (ft[:, k.FILL_STATUS] == k.STATUS_FILLED)]
            out[symbol] = TickerResult(
                symbol=symbol,
                num_trades=int(np.count_nonzero(rows[:, k.TRADE_IS_OPEN] == 0)),
                pnl=float(rows[:, k.TRADE_PNL].sum()),
                fees_paid=float(fills[:, k.FILL_FEE].sum()),
                funding_paid=float(rows[:, k.TRADE_FUNDING].sum()),
                funding_coverage=self.funding_coverage.get(symbol),
                equity=self.ticker_equity.get(symbol),
            )
        return out

    @cached_property
    def stats(self) -> Stats:
        """Headline metrics (computed on first access)."""
        tt = self.trade_table
        cols = tt[:, k.TRADE_ASSET].astype(np.int64)
        entry_ms = self._bar_times(cols, tt[:, k.TRADE_ENTRY_BAR].astype(np.int64))
        exit_ms = self._bar_times(cols, tt[:, k.TRADE_EXIT_BAR].astype(np.int64))
        margin = tt[:, k.TRADE_QTY] * tt[:, k.TRADE_ENTRY_PRICE] / self.leverage
        with np.errstate(divide="ignore", invalid="ignore"):
            ret_pct = np.where(margin > 0, tt[:, k.TRADE_PNL] / margin * 100.0, 0.0)
        bh = [c.close[-1] / c.close[0] - 1.0 for c in self.candles.values() if len(c) > 0]
        return compute_stats(
            timestamp=self.timestamp,
            equity=self.equity,
            initial_equity=self.initial_equity,
            timeframe_ms=self.timeframe_ms,
            trade_pnl=tt[:, k.TRADE_PNL],
            trade_return_pct=ret_pct,
            trade_entry_ms=entry_ms,
            trade_exit_ms=exit_ms,
            trade_is_open=tt[:, k.TRADE_IS_OPEN] > 0,
            in_market=self._in_market(),
            fees_paid=self.fees_paid,
            funding_paid=self.funding_paid,
            buy_and_hold_return_pct=float(np.mean(bh)) * 100.0 if bh else None,
            ambiguous_bars=int(np.count_nonzero(tt[:, k.TRADE_AMBIGUOUS])),
            intrabar_resolved_bars=int(
                np.count_nonzero(tt[:, k.TRADE_AMBIGUOUS] == k.AMBIGUITY_RESOLVED)
            ),
        )

    def _in_market(self) -> npt.NDArray[np.bool_]:
        # Whether any position is open at each close; from the trades when the position
        # matrix was not produced (the same answer without building it).
        if self.held is None and "position" not in self.__dict__:
            out: npt.NDArray[np.bool_] = k.in_market_nb(self.trade_table, self.timestamp.shape[0])
            return out
        held: npt.NDArray[np.bool_] = np.any(self.position != 0.0, axis=1)
        return held

    @cached_property
    def fingerprint(self) -> Fingerprint:
        """Engine version, script hash, parameters and the sha256 of every candle series."""
        return make_fingerprint(self.candles, self.script, self.parameters, self.intrabar)
