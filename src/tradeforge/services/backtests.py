"""Backtest use case: a :class:`BacktestRequest` in, a :class:`BacktestOutcome` out.

The pipeline joins the Signal DSL and the backtest engine:

1. **loading_script** - compile the script (plans are cached by script hash, universe,
   timeframe and parameter values).
2. **loading_data** - load each universe ticker's candles from ``source`` over the decision
   window (``start_date`` 00:00 through ``end_date`` 23:59:59 UTC) plus
   ``required_warmup(plan)`` bars before it, and the funding rates of perpetuals. Missing
   history raises ``TA_OUT_OF_RANGE`` naming the earliest start that works.
3. **executing** - run the plan over the whole loaded range (so the first decision bar's
   indicators equal their full-history values), keep the decision window, translate each
   ticker's merged actions into engine :class:`~tradeforge.backtest.Signals` and run the
   engine (``run_backtest`` for one ticker, ``run_portfolio`` for several).

Signals are computed on closed bars and fill at the next bar's open (plus slippage): the
engine's default convention, the only one a request can use.

``dca`` and ``grid`` requests take the same three stages on their one ticker; their
generated script's ``start`` entry and ``stop`` exit become the start and stop conditions
of the ladder engine, which runs ``strategy_params`` (:func:`_run_ladder`).

Translation rules (DSL action -> engine):

* ``entry(t, "LONG"|"SHORT", Weight|Amount|Quantity, stop_loss, take_profit,
  trailing_stop)`` -> ``entry_long``/``entry_short`` with ``size``/``size_type`` and the
  per-position stops (fractions of the entry fill price). An entry whose size is not a
  finite positive number on its bar is skipped and counted in the warnings.
* ``exit(t)`` -> ``exit_long`` and ``exit_short`` (it closes either side). On one bar an
  entry and an exit of the same side cancel out (the engine's rule).
* ``exit(t, fraction)`` with a fraction below 1 -> ``exit_fraction`` on that bar: the
  engine closes that share of the position (a partial exit, see docs/backtesting.md).
* A script whose actions name fixed tickers runs once with the universe's first ticker as
  the current symbol; actions for another ticker act on that ticker's next bar that opens
  at or after the signal bar's close. A per-symbol script (``current_ticker``) runs once
  per universe ticker.
* State-dependent rules (``position_side``, ``bars_since_entry``, ...) are evaluated per
  bar with the exact simulated state: see :func:`_run_stateful`. They read the current
  symbol's position, or, when the current symbol is only a data source (a fixed-ticker
  script whose actions trade another ticker), the position of the ticker the action
  targets. ``equity`` is the account's equity (the ticker's sleeve in ``isolated`` mode).
* The portfolio holds the traded tickers: all of the universe for a per-symbol script,
  otherwise the tickers named in actions. Other universe tickers are data only.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from tradeforge.backtest import (
    BacktestConfig,
    BacktestResult,
    FundingRates,
    MarginMode,
    Signals,
    SizeType,
    Trade,
    candles_sha256,
    run_backtest,
    run_portfolio,
)
from tradeforge.backtest.ladder import DcaSettings, GridSettings, run_dca, run_grid
from tradeforge.backtest.stateful import Rule, run_backtest_stateful
from tradeforge.core.candles import Candles
from tradeforge.core.errors import DataUnavailableError, InvalidInputError, TradeforgeError
from tradeforge.dsl import (
    MarketData,
    Plan,
    SignalRun,
    SignalSeries,
    TickerSignals,
    compile_script,
    required_warmup,
    run_signals,
)
from tradeforge.dsl.errors import DslLimitError, TaOutOfRangeError
from tradeforge.dsl.stateprog import compile_condition
from tradeforge.market.source import MarketDataSource
from tradeforge.market.symbols import InstrumentId, parse_instrument
from tradeforge.services.strategy_types import LADDER_TYPES, DcaParams, GridParams

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

TIMEFRAMES: dict[str, int] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
STRATEGY_TYPES = ("signal", "dca", "grid")
MODES = ("isolated", "cross")
MAX_UNIVERSE = 20
STATEFUL_SECONDS = 60.0  # wall-time budget of the per-bar state-dependent path
#: Most lower-timeframe candles one ticker's request may load to settle same-bar stops
#: (about 2 years of 1m); a longer window settles with a coarser lower timeframe, or none.
MAX_INTRABAR_ROWS = 1_100_000
IN_LOOP = True  # evaluate state-dependent rules in the kernel loop where they compile

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


# --- errors --------------------------------------------------------------------------------


class BacktestCancelledError(TradeforgeError):
    """The caller cancelled the backtest between two stages."""

    default_code = "BACKTEST_CANCELLED"
    default_suggestion = "Submit the backtest again if you still need it."


class BacktestUnsupportedError(InvalidInputError):
    """The script uses a feature the backtest engine does not implement yet."""

    default_code = "BACKTEST_UNSUPPORTED"
    default_suggestion = "Rewrite the rule without the feature named in the message."


def _invalid(name: str, message: str, suggestion: str | None = None) -> InvalidInputError:
    return InvalidInputError(
        f"{name} {message}",
        suggestion=suggestion or "Fix the named field of the backtest request.",
        details={"field": name},
    )


# --- request ---------------------------------------------------------------------------------


def _as_date(value: Any, name: str) -> date:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise _invalid(name, f"must be a date (YYYY-MM-DD), got {value!r}")


def _date_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _iso(ms: int) -> str:
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return when.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class BacktestRequest:
    """One backtest, as a user or the job service submits it.

    Attributes:
        script: the Signal DSL source.
        universe: tickers ``EXCHANGE:BASE/QUOTE[:SETTLE]``; a bare ``BASE/QUOTE`` is read on
            ``exchange``. The first ticker is the script's current symbol.
        start_date / end_date: the decision window in UTC days, both days included (a
            trader asking for 2024-01-01 to 2024-06-30 means all of June 30). Warm-up
            candles come from before it.
        strategy_type: ``"signal"``, or ``"dca"`` / ``"grid"``: the ladder engine runs
            ``strategy_params`` on the single universe ticker, and ``script`` (generated from
            them) only supplies the start and stop conditions (see :func:`_run_ladder`).
        exchange: the default exchange id for bare symbols.
        timeframe: one of ``1m 5m 15m 1h 4h 1d``.
        initial_cash: starting equity in the quote currency (split equally across the
            universe in ``isolated`` mode).
        leverage: 1 to 100.
        trading_fee: fee rate per fill (0.0005 = 5 bps), maker and taker alike.
        slippage: adverse move on market and stop fills (fraction).
        stop_loss / take_profit: portfolio-level stops in percent of the initial cash
            (``10`` = close everything when equity falls 10 %).
        mode: ``isolated`` (one sub-account per ticker) or ``cross`` (one shared account).
        params: values for the script's ``param(...)`` declarations.
        strategy_params: the ``dca`` / ``grid`` parameters (``None`` for ``signal``).
    """

    script: str
    universe: Sequence[str]
    start_date: date
    end_date: date
    strategy_type: str = "signal"
    exchange: str = "binance"
    timeframe: str = "1h"
    initial_cash: float = 10_000.0
    leverage: float = 1.0
    trading_fee: float = 0.0005
    slippage: float = 0.0005
    stop_loss: float | None = None
    take_profit: float | None = None
    mode: str = "isolated"
    params: Mapping[str, float] | None = None
    strategy_params: Mapping[str, Any] | None = None

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> BacktestRequest:
        """Build a request from JSON-like data (dates as ``YYYY-MM-DD``) and validate it."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(payload) - known)
        if unknown:
            raise _invalid(unknown[0], "is not a backtest request field")
        data = dict(payload)
        for name in ("script", "universe", "start_date", "end_date"):
            if name not in data:
                raise _invalid(name, "is required")
        universe = data["universe"]
        if isinstance(universe, str):
            universe = [u for u in universe.split(",") if u.strip()]
        data["universe"] = tuple(universe)
        data["start_date"] = _as_date(data["start_date"], "start_date")
        data["end_date"] = _as_date(data["end_date"], "end_date")
        request = cls(**data)
        request.validate()
        return request

    def to_dict(self) -> dict[str, Any]:
        """Return the request as JSON-ready data (the inverse of :meth:`from_dict`)."""
        return {
            "strategy_type": self.strategy_type,
            "script": self.script,
            "universe": list(self.universe),
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "exchange": self.exchange,
            "timeframe": self.timeframe,
            "initial_cash": self.initial_cash,
            "leverage": self.leverage,
            "trading_fee": self.trading_fee,
            "slippage": self.slippage,
            "stop_loss": self.stop_loss,
            "take_profit": self.take_profit,
            "mode": self.mode,
            "params": dict(self.params) if self.params else None,
            # Only ladder requests carry it, so signal requests (and their fingerprints)
            # are unchanged.
            **(
                {"strategy_params": dict(self.strategy_params)}
                if self.strategy_params is not None
                else {}
            ),
        }

    @property
    def start_ms(self) -> int:
        return _date_ms(_as_date(self.start_date, "start_date"))

    @property
    def end_ms(self) -> int:
        """Exclusive end: midnight after ``end_date`` (the end day is included)."""
        return _date_ms(_as_date(self.end_date, "end_date")) + 86_400_000

    def validate(self) -> None:
        """Raise ``VALIDATION_ERROR`` naming the first invalid field."""
        if self.strategy_type not in STRATEGY_TYPES:
            raise _invalid("strategy_type", f"must be one of {list(STRATEGY_TYPES)}")
        if not isinstance(self.script, str) or not self.script.strip():
            raise _invalid("script", "must be a non-empty Signal DSL script")
        if isinstance(self.universe, str) or not self.universe:
            raise _invalid("universe", "must be a non-empty list of tickers")
        if len(self.universe) > MAX_UNIVERSE:
            raise _invalid("universe", f"has {len(self.universe)} tickers; at most {MAX_UNIVERSE}")
        if self.timeframe not in TIMEFRAMES:
            raise _invalid("timeframe", f"must be one of {', '.join(TIMEFRAMES)}")
        if self.end_ms <= self.start_ms:
            raise _invalid("end_date", "must not be before start_date (both days are included)")
        finite = (self.initial_cash, self.leverage, self.trading_fee, self.slippage)
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in finite):
            raise _invalid("initial_cash", "and the other money fields must be finite numbers")
        if self.initial_cash <= 0:
            raise _invalid("initial_cash", "must be positive")
        if not 1 <= self.leverage <= 100:
            raise _invalid("leverage", "must be between 1 and 100")
        if not 0 <= self.trading_fee < 0.1:
            raise _invalid("trading_fee", "must be a fraction in [0, 0.1) (0.0005 = 5 bps)")
        if not 0 <= self.slippage < 0.1:
            raise _invalid("slippage", "must be a fraction in [0, 0.1) (0.0005 = 5 bps)")
        if self.stop_loss is not None and not 0 < self.stop_loss < 100:
            raise _invalid("stop_loss", "is a percent of the initial cash in (0, 100)")
        if self.take_profit is not None and not self.take_profit > 0:
            raise _invalid("take_profit", "is a positive percent of the initial cash")
        if self.mode not in MODES:
            raise _invalid("mode", f"must be one of {list(MODES)}")
        for name, value in (self.params or {}).items():
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not (isinstance(name, str) and ok and math.isfinite(value)):
                raise _invalid("params", f"{name!r} must map to a finite number, got {value!r}")
        self.instruments()
        if self.strategy_type in LADDER_TYPES:
            self.ladder_params()
        elif self.strategy_params is not None:
            raise _invalid("strategy_params", "is only for strategy_type dca or grid")

    def ladder_params(self) -> DcaParams | GridParams:
        """Return the validated ``dca`` / ``grid`` parameters (``VALIDATION_ERROR`` naming
        the field otherwise)."""
        model = DcaParams if self.strategy_type == "dca" else GridParams
        if self.strategy_params is None:
            raise _invalid("strategy_params", f"is required for strategy_type {self.strategy_type}")
        if len(self.universe) != 1:
            raise _invalid(
                "universe",
                f"must hold exactly one ticker for {self.strategy_type}",
                "Run one backtest per ticker to compare several.",
            )
        try:
            params = model.model_validate(dict(self.strategy_params))
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            name = f"strategy_params.{where}" if where else "strategy_params"
            raise _invalid(name, str(first.get("msg", "is invalid"))) from None
        if (
            isinstance(params, GridParams)
            and params.investment_asset == "quote"
            and params.investment > self.initial_cash
        ):
            raise _invalid(
                "strategy_params.investment",
                f"({params.investment:g}) is more than initial_cash ({self.initial_cash:g})",
                "Invest at most initial_cash; leverage multiplies what the grid trades.",
            )
        return params

    def instruments(self) -> list[tuple[str, InstrumentId]]:
        """Return ``(ticker, instrument)`` per universe entry, tickers in DSL notation."""
        out: list[tuple[str, InstrumentId]] = []
        seen: set[str] = set()
        for text in self.universe:
            if not isinstance(text, str):
                raise _invalid("universe", f"entry {text!r} is not a ticker")
            try:
                inst = parse_instrument(text, None if ":" in text.split("/")[0] else self.exchange)
            except InvalidInputError as e:
                e.details.setdefault("field", "universe")
                raise
            ticker = inst.qualified
            if ticker in seen:
                raise _invalid("universe", f"lists {ticker} twice")
            seen.add(ticker)
            out.append((ticker, inst))
        return out

    def config(self) -> BacktestConfig:
        """Return the engine configuration this request asks for."""
        return BacktestConfig(
            initial_cash=float(self.initial_cash),
            fee_taker=float(self.trading_fee),
            fee_maker=float(self.trading_fee),
            slippage=float(self.slippage),
            leverage=float(self.leverage),
            portfolio_stop_loss=None if self.stop_loss is None else self.stop_loss / 100.0,
            portfolio_take_profit=None if self.take_profit is None else self.take_profit / 100.0,
            margin_mode=MarginMode(self.mode),
        )


# --- outcome ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """What data one ticker had: the decision window actually covered and its warm-up."""

    ticker: str
    requested_start_ms: int
    requested_end_ms: int
    first_bar_ms: int
    last_bar_ms: int
    bars: int
    expected_bars: int
    missing_bars: int
    warmup_bars: int
    warmup_start_ms: int | None
    funding_coverage: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ticker": self.ticker,
            "requested_start": _iso(self.requested_start_ms),
            "requested_end": _iso(self.requested_end_ms),
            "first_bar": _iso(self.first_bar_ms),
            "last_bar": _iso(self.last_bar_ms),
            "bars": self.bars,
            "expected_bars": self.expected_bars,
            "missing_bars": self.missing_bars,
            "complete": self.missing_bars == 0,
            "warmup_bars": self.warmup_bars,
            "warmup_start": None if self.warmup_start_ms is None else _iso(self.warmup_start_ms),
            "funding_coverage": self.funding_coverage,
        }


def _num(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class BacktestOutcome:
    """A finished backtest: the engine result plus everything needed to reproduce it.

    ``fingerprint`` is the engine's digest over the engine version, the script, the
    configuration, the request parameters (including the sha256 of the warm-up candles
    before the window) and the sha256 of every ticker's decision-window candles.
    """

    request: BacktestRequest
    result: BacktestResult
    script: str
    fingerprint: str
    required_warmup: int
    coverage: dict[str, Coverage]
    warnings: list[str]
    timings_ms: dict[str, float]
    plan_cached: bool
    uses_state: bool

    def metrics(self) -> dict[str, Any]:
        """Headline metrics: every :class:`~tradeforge.backtest.Stats` field plus the
        seed names ``max_drawdown`` (percent) and ``win_rate`` (percent)."""
        stats = self.result.stats.to_dict()
        out = {key: _num(value) for key, value in stats.items()}
        out["max_drawdown"] = out["max_drawdown_pct"]
        out["win_rate"] = out["win_rate_pct"]
        return out

    def summary(self) -> dict[str, Any]:
        """A small JSON-ready summary (no trades, no equity curve)."""
        return {
            "fingerprint": self.fingerprint,
            "metrics": self.metrics(),
            "per_ticker": self._per_ticker(include_equity=False),
            "warnings": list(self.warnings),
        }

    def _per_ticker(self, *, include_equity: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for symbol, tr in self.result.per_ticker.items():
            row: dict[str, Any] = {
                "num_trades": tr.num_trades,
                "pnl": tr.pnl,
                "fees_paid": tr.fees_paid,
                "funding_paid": tr.funding_paid,
                "funding_coverage": tr.funding_coverage,
            }
            if include_equity and tr.equity is not None:
                row["equity"] = [float(x) for x in tr.equity]
            out[symbol] = row
        return out

    def to_dict(self, *, max_equity_points: int | None = None) -> dict[str, Any]:
        """Return the whole outcome as JSON-ready data (what the job service stores).

        Args:
            max_equity_points: keep at most this many equity points (evenly spaced, the
                last point always kept); ``None`` keeps every bar.
        """
        r = self.result
        ts, eq = r.timestamp, r.equity
        if max_equity_points is not None and ts.shape[0] > max_equity_points > 1:
            idx = np.unique(np.linspace(0, ts.shape[0] - 1, max_equity_points).astype(np.int64))
            ts, eq = ts[idx], eq[idx]
        return {
            "fingerprint": self.fingerprint,
            "engine": r.fingerprint.engine_version,
            "request": self.request.to_dict(),
            "script": self.script,
            "metrics": self.metrics(),
            "trades": [_trade_dict(t) for t in r.trades],
            "equity": {"timestamp": ts.tolist(), "equity": [float(x) for x in eq]},
            "per_ticker": self._per_ticker(include_equity=False),
            "warmup": {
                "required_bars": self.required_warmup,
                "by_ticker": {
                    t: {
                        "bars": c.warmup_bars,
                        "start": None if c.warmup_start_ms is None else _iso(c.warmup_start_ms),
                    }
                    for t, c in self.coverage.items()
                },
            },
            "coverage": {t: c.to_dict() for t, c in self.coverage.items()},
            "warnings": list(self.warnings),
            "timings_ms": dict(self.timings_ms),
            "uses_state": self.uses_state,
            "fingerprint_inputs": r.fingerprint.to_dict(),
        }


def _trade_dict(t: Trade) -> dict[str, Any]:
    return {
        "symbol": t.symbol,
        "side": t.side,
        "entry_time": _iso(t.entry_time),
        "exit_time": _iso(t.exit_time),
        "entry_time_ms": t.entry_time,
        "exit_time_ms": t.exit_time,
        "quantity": t.quantity,
        "entry_price": t.entry_price,
        "exit_price": t.exit_price,
        "fees": t.entry_fee + t.exit_fee,
        "funding": t.funding,
        "pnl": t.pnl,
        "return_pct": t.return_pct,
        "reason": str(t.reason),
        "is_ambiguous": t.is_ambiguous,
        "is_open": t.is_open,
        "ambiguity": str(t.ambiguity),
    }


# --- plan cache -----------------------------------------------------------------------------

_PLAN_CACHE: OrderedDict[tuple[Any, ...], Plan] = OrderedDict()
_PLAN_CACHE_SIZE = 128
_PLAN_LOCK = threading.Lock()


def script_sha256(script: str) -> str:
    return hashlib.sha256(script.encode()).hexdigest()


def compile_cached(
    script: str,
    universe: Sequence[str],
    *,
    timeframe: str,
    params: Mapping[str, float] | None = None,
) -> tuple[Plan, bool]:
    """Return ``(plan, was_cached)``; plans are cached by script hash, universe, timeframe
    and parameter values (plans are immutable, so sharing them is safe)."""
    key = (
        script_sha256(script),
        tuple(universe),
        timeframe,
        tuple(sorted((params or {}).items())),
    )
    with _PLAN_LOCK:
        plan = _PLAN_CACHE.get(key)
        if plan is not None:
            _PLAN_CACHE.move_to_end(key)
            return plan, True
    plan = compile_script(script, universe, timeframe=timeframe, params=params)
    with _PLAN_LOCK:
        _PLAN_CACHE[key] = plan
        while len(_PLAN_CACHE) > _PLAN_CACHE_SIZE:
            _PLAN_CACHE.popitem(last=False)
    return plan, False


# --- translation ----------------------------------------------------------------------------


@dataclass
class _Orders:
    """Mutable engine inputs of one ticker on its own window bars."""

    entry_long: BoolArray
    entry_short: BoolArray
    exit: BoolArray
    weight: FloatArray
    amount: FloatArray
    quantity: FloatArray
    stop_loss: FloatArray
    take_profit: FloatArray
    trailing_stop: FloatArray
    exit_fraction: FloatArray

    @classmethod
    def empty(cls, n: int) -> _Orders:
        def nan() -> FloatArray:
            return np.full(n, np.nan)

        z = np.zeros
        return cls(
            z(n, bool), z(n, bool), z(n, bool), nan(), nan(), nan(), nan(), nan(), nan(), nan()
        )

    def copy(self) -> _Orders:
        return _Orders(**{k: v.copy() for k, v in self.__dict__.items()})


def _aligned_orders(ts: TickerSignals, src_ts: IntArray, dst_ts: IntArray) -> _Orders:
    """Move ``ts`` from the bars ``src_ts`` onto ``dst_ts``.

    A signal at source bar ``i`` (decided at its close) lands on the last destination bar
    opening at or before ``src_ts[i]``, so the engine fills it at the next destination bar,
    which opens at or after the signal's close: never earlier than the decision.
    """
    n = dst_ts.shape[0]
    out = _Orders.empty(n)
    same = src_ts.shape == dst_ts.shape and bool(np.array_equal(src_ts, dst_ts))
    pairs = {
        "entry_long": ts.long_entry,
        "entry_short": ts.short_entry,
        "exit": ts.exit,
        "weight": ts.weight,
        "amount": ts.amount,
        "quantity": ts.quantity,
        "stop_loss": ts.stop_loss,
        "take_profit": ts.take_profit,
        "trailing_stop": ts.trailing_stop,
        "exit_fraction": ts.exit_fraction,
    }
    if same:
        for name, values in pairs.items():
            setattr(out, name, np.array(values, copy=True))
        return out
    idx = np.searchsorted(dst_ts, src_ts, "right") - 1
    ok = idx >= 0
    for name, values in pairs.items():
        target = getattr(out, name)
        if values.dtype == np.bool_:
            hit = ok & values.astype(np.bool_)
            target[idx[hit]] = True
        else:
            has = ok & ~np.isnan(values)
            target[idx[has]] = values[has]
    return out


def _positive_or_nan(values: FloatArray) -> FloatArray:
    out = np.array(values, dtype=np.float64, copy=True)
    with np.errstate(invalid="ignore"):
        out[~(np.isfinite(out) & (out > 0))] = np.nan
    return out


def to_engine_signals(orders: _Orders, ticker: str, warnings: list[str]) -> Signals:
    """Translate one ticker's merged DSL actions into engine :class:`Signals`."""
    n = orders.exit.shape[0]
    frac = orders.exit_fraction
    with np.errstate(invalid="ignore"):
        partial = orders.exit & (frac < 1.0 - 1e-12)
    # Partial exits: the share on exit bars (1 elsewhere); None keeps today's full exits.
    exit_fraction = np.where(partial, frac, 1.0) if partial.any() else None
    entries = orders.entry_long | orders.entry_short
    size = np.ones(n)
    kinds = np.zeros(n, dtype=np.int64)  # 0 weight, 1 amount, 2 quantity, -1 invalid
    kinds[entries] = -1
    for code, values in enumerate((orders.weight, orders.amount, orders.quantity)):
        with np.errstate(invalid="ignore"):
            good = entries & (kinds == -1) & np.isfinite(values) & (values > 0)
        size[good] = values[good]
        kinds[good] = code
    bad = entries & (kinds == -1)
    entry_long, entry_short = orders.entry_long, orders.entry_short
    if bad.any():
        warnings.append(
            f"{ticker}: {int(bad.sum())} entry signal(s) skipped because their size was not a "
            f"finite positive number (first at bar {int(np.flatnonzero(bad)[0])})"
        )
        entry_long = entry_long & ~bad
        entry_short = entry_short & ~bad
        kinds[bad] = 0
    with np.errstate(invalid="ignore"):
        over = entries & ~bad & (kinds == 0) & (size > 1.0)
    if over.any():
        warnings.append(f"{ticker}: {int(over.sum())} Weight size(s) above 1 capped at 1")
        size[over] = 1.0
    used = set(np.unique(kinds[entries & ~bad]).tolist())
    size_type: SizeType | list[SizeType]
    names = (SizeType.WEIGHT, SizeType.AMOUNT, SizeType.QUANTITY)
    if len(used) <= 1:
        size_type = names[used.pop()] if used else SizeType.WEIGHT
    else:
        size_type = [names[c] for c in kinds.tolist()]

    def stop(values: FloatArray) -> FloatArray | None:
        clean = _positive_or_nan(values)
        return None if bool(np.isnan(clean).all()) else clean

    return Signals(
        entry_long=entry_long,
        exit_long=orders.exit,
        entry_short=entry_short,
        exit_short=orders.exit,
        size=size,
        size_type=size_type,
        stop_loss=stop(orders.stop_loss),
        take_profit=stop(orders.take_profit),
        trailing_stop=stop(orders.trailing_stop),
        exit_fraction=exit_fraction,
    )


# --- data -----------------------------------------------------------------------------------


@dataclass
class _Loaded:
    ticker: str
    instrument: InstrumentId
    candles: Candles  # warm-up + window
    window: Candles
    funding: FundingRates | None
    dsl_funding: tuple[IntArray, FloatArray] | None = None
    warmup_bars: int = 0
    intrabar: Candles | None = None  # a lower timeframe over the window (see _load_intrabar)


def _earliest_start(source: MarketDataSource, inst: InstrumentId, tf: str, warmup: int) -> str:
    full = source.load(inst.exchange_id, inst.symbol, tf, None, None)
    if len(full) <= warmup:
        return "none: the stored history is shorter than the warm-up"
    ms = int(full.timestamp[warmup])
    day = _as_date(_iso(ms), "start")
    if _date_ms(day) < ms:
        day = day + timedelta(days=1)
    return f"{day.isoformat()} (first bar with enough history: {_iso(ms)})"


def _load_ticker(
    source: MarketDataSource,
    ticker: str,
    inst: InstrumentId,
    request: BacktestRequest,
    warmup: int,
    needs_warmup: bool,
) -> Candles:
    tf = request.timeframe
    step = TIMEFRAMES[tf]
    start, end = request.start_ms, request.end_ms
    lo: int | None = start - warmup * step
    for _attempt in range(4):
        candles = source.load(inst.exchange_id, inst.symbol, tf, lo, end)
        before = int(np.searchsorted(candles.timestamp, start, "left"))
        if not needs_warmup or before >= warmup or lo is None:
            break
        rng = source.available_range(inst.exchange_id, inst.symbol, tf)
        if rng is None or rng[0] >= lo:
            break  # nothing older exists
        lo = lo - max(warmup * step, step) * (2**_attempt) if _attempt < 2 else None
    before = int(np.searchsorted(candles.timestamp, start, "left"))
    stored = source.available_range(inst.exchange_id, inst.symbol, tf)
    if needs_warmup and before < warmup and stored is not None and stored[0] < end:
        raise TaOutOfRangeError(
            f"the script needs {warmup} bars of {tf} history before {request.start_date} for "
            f"{ticker}, but only {before} exist; the earliest start that works is "
            f"{_earliest_start(source, inst, tf, warmup)}",
            suggestion="Move start_date later, or download older candles for this ticker.",
            details={
                "ticker": ticker,
                "required_warmup": warmup,
                "available": before,
                "field": "start_date",
            },
        )
    window = candles.slice_ms(start, end)
    if len(window) == 0:
        rng = stored
        where = (
            f"stored {tf} candles cover {_iso(rng[0])} to {_iso(rng[1])}"
            if rng
            else f"no {tf} candles are stored for it"
        )
        raise DataUnavailableError(
            f"no {tf} candles for {ticker} between {request.start_date} and {request.end_date}; "
            + where,
            suggestion="Pick dates inside the stored range, or download the data first "
            "(tradeforge data download).",
            details={"ticker": ticker, "timeframe": tf},
        )
    return candles


def _has_exit_levels(orders: _Orders) -> bool:
    levels = (orders.stop_loss, orders.take_profit, orders.trailing_stop)
    return any(bool(np.isfinite(a).any()) for a in levels)


def _load_intrabar(
    source: MarketDataSource, inst: InstrumentId, tf: str, start: int, end: int
) -> Candles | None:
    """Return the lower-timeframe candles that settle same-bar stop/take-profit bars.

    The finest stored timeframe below ``tf`` that divides it and covers the whole window;
    failing that, the finest one with candles inside the window (bars it misses are tagged
    ``unresolved``). A timeframe that would load more than :data:`MAX_INTRABAR_ROWS`
    candles over the window is passed over. ``None`` for 1m or when nothing lower is stored.
    """
    step = TIMEFRAMES[tf]
    lower = [t for t, ms in sorted(TIMEFRAMES.items(), key=lambda x: x[1]) if step % ms == 0]
    partial: str | None = None
    for sub_tf in lower[: lower.index(tf)]:
        if (end - start) // TIMEFRAMES[sub_tf] > MAX_INTRABAR_ROWS:
            continue
        rng = source.available_range(inst.exchange_id, inst.symbol, sub_tf)
        if rng is None or rng[0] >= end or rng[1] < start:
            continue
        if rng[0] <= start and rng[1] + TIMEFRAMES[sub_tf] >= end:
            return source.load(inst.exchange_id, inst.symbol, sub_tf, start, end)
        partial = partial or sub_tf
    if partial is None:
        return None
    return source.load(inst.exchange_id, inst.symbol, partial, start, end)


def _load_funding(
    source: MarketDataSource, inst: InstrumentId, start: int | None, end: int
) -> FundingRates | None:
    if inst.settle is None:
        return None
    rates = source.load_funding(inst.exchange_id, inst.symbol, start, end)
    if len(rates) == 0:
        return None
    return FundingRates(rates.timestamp, rates.rate)


# --- state-dependent rules -----------------------------------------------------------------


@dataclass
class _Dynamic:
    run: SignalRun
    signal: SignalSeries
    target: str


def _state_at(
    states: Mapping[str, Mapping[str, FloatArray]],
    windows: Mapping[str, Candles],
    d: _Dynamic,
    t: int,
    initial: float,
) -> dict[str, float]:
    ticker = d.run.ticker if d.run.ticker in states else d.target
    ts = windows[ticker].timestamp
    j = int(np.searchsorted(ts, t, "right")) - 1  # its last bar closed by this close
    if j < 0:
        nan = math.nan
        return {
            "position_side": 0.0,
            "position_size": 0.0,
            "entry_price": nan,
            "bars_since_entry": nan,
            "equity": initial,
        }
    return {k: float(v[j]) for k, v in states[ticker].items()}


def _state_arrays(
    result: BacktestResult, symbols: Sequence[str], cross: bool
) -> dict[str, dict[str, FloatArray]]:
    out: dict[str, dict[str, FloatArray]] = {}
    for s in symbols:
        st = result.state(s)
        if len(symbols) == 1 or cross:
            idx = np.searchsorted(result.timestamp, st.timestamp)
            equity = result.equity[idx]
        else:
            equity = result.ticker_equity[s]
        since = st.bars_since_entry.astype(np.float64)
        since[st.bars_since_entry < 0] = np.nan
        out[s] = {
            "position_side": st.direction.astype(np.float64),
            "position_size": st.quantity,
            "entry_price": st.entry_price,
            "bars_since_entry": since,
            "equity": np.asarray(equity, dtype=np.float64),
        }
    return out


def _run_stateful(
    base: dict[str, _Orders],
    dynamic: list[_Dynamic],
    windows: Mapping[str, Candles],
    engine: Callable[[dict[str, Signals]], BacktestResult],
    cross: bool,
    warnings: list[str],
    initial_equity: float,
    is_cancelled: CancelFn | None = None,
    progress: ProgressFn | None = None,
) -> tuple[BacktestResult, int]:
    """Exact per-bar evaluation of state-dependent rules by re-running the engine.

    The engine is causal and fills a signal decided at a bar's close no earlier than the
    next bar's open, so the state at the close of bar ``t`` depends only on decisions made
    at earlier closes. The loop keeps every decision before ``t`` final, assumes "no
    state-dependent action fires" from ``t`` on, runs the engine, and walks forward
    evaluating each rule (``SignalRun.condition_at``) on the simulated state. At the first
    time a rule fires, the actions of that time are added and the engine runs again from
    scratch; the walk resumes at the next bar. The result is exactly what a per-bar hook in
    the kernel would give; the cost is one engine run per bar on which a state-dependent
    action fires (an exit while flat, with no entry on that bar, needs no re-run).
    """
    symbols = sorted(base)
    orders = {s: base[s].copy() for s in symbols}
    initial = initial_equity
    times = np.unique(np.concatenate([d.run.timestamp for d in dynamic]))
    index_of = {id(d.run): d.run.timestamp for d in dynamic}
    deadline = time.monotonic() + STATEFUL_SECONDS
    runs = 0

    def simulate() -> BacktestResult:
        nonlocal runs
        runs += 1
        signals = {s: to_engine_signals(orders[s], s, []) for s in symbols}
        return engine(signals)

    result = simulate()
    states = _state_arrays(result, symbols, cross)
    pos = 0
    while pos < times.shape[0]:
        if pos % 512 == 0:
            if is_cancelled is not None and is_cancelled():
                raise BacktestCancelledError("the backtest was cancelled while executing")
            if progress is not None:
                progress(60.0 + 35.0 * pos / times.shape[0], "executing")
        if time.monotonic() > deadline:
            raise DslLimitError(
                f"state-dependent rules needed more than {STATEFUL_SECONDS:g} s "
                f"({runs} engine runs)",
                suggestion="Use a shorter range or a higher timeframe, or express the rule "
                "without position state.",
                details={"limit": "STATEFUL_SECONDS", "max": STATEFUL_SECONDS},
            )
        t = int(times[pos])
        fired: list[tuple[_Dynamic, int, dict[str, float]]] = []
        for d in dynamic:
            ts = index_of[id(d.run)]
            bar = int(np.searchsorted(ts, t))
            if bar >= ts.shape[0] or ts[bar] != t:
                continue
            state = _state_at(states, windows, d, t, initial)
            if d.run.condition_at(d.signal.index, bar, state):
                fired.append((d, bar, state))
        rerun = False
        for d, bar, state in fired:
            rerun |= _apply(d, bar, state, orders, windows, states)
        if rerun:
            result = simulate()
            states = _state_arrays(result, symbols, cross)
        pos += 1
    if runs > 1:
        warnings.append(f"state-dependent rules: evaluated per bar with {runs} engine runs")
    return result, runs


def _in_loop_rules(
    base: dict[str, _Orders], dynamic: list[_Dynamic], windows: Mapping[str, Candles]
) -> tuple[Signals, Signals, list[Rule]] | None:
    """The inputs of ``run_backtest_stateful`` for the signals ``_run_stateful`` would build,
    or ``None`` outside its scope: one traded symbol whose own run carries every rule, state
    in conditions only (sizes, stops and fractions pure), at most one (long) entry rule,
    whole exits, and conditions that ``compile_condition`` supports."""
    if len(base) != 1 or sum(d.signal.action == "entry" for d in dynamic) > 1:
        return None
    ((sym, orders),) = base.items()
    ts = windows[sym].timestamp
    n = ts.shape[0]
    fired = orders.copy()
    rules: list[Rule] = []
    for d in dynamic:
        run, sig = d.run, d.signal
        if d.target != sym or run.ticker != sym or not np.array_equal(run.timestamp, ts):
            return None
        plan, values, offset = (run.bar_evaluator.plan, run.bar_evaluator.values,
                                run.bar_evaluator.offset)  # fmt: skip
        sp = plan.signals[sig.index]
        fields = (sp.size, sp.stop_loss, sp.take_profit, sp.trailing_stop, sp.fraction)
        if sig.condition is not None or any(
            s is not None and plan.steps[s].dynamic for s in fields
        ):
            return None
        program = compile_condition(plan, values, offset, n, sp.condition)
        if program is None:
            return None
        if sig.action == "exit":
            with np.errstate(invalid="ignore"):
                if sig.fraction is not None and bool(np.any(sig.fraction < 1.0 - 1e-12)):
                    return None
        else:
            if sig.side != "LONG":
                return None
            # _apply's entry on every bar: the size and stops where no pure entry set a size
            free = np.isnan(orders.weight) & np.isnan(orders.amount) & np.isnan(orders.quantity)
            fired.entry_long[:] = True
            size = sig.size if sig.size_kind is not None else None
            pairs = [
                (getattr(fired, sig.size_kind or "weight"), size),
                (fired.stop_loss, sig.stop_loss),
                (fired.take_profit, sig.take_profit),
                (fired.trailing_stop, sig.trailing_stop),
            ]
            for target, given in pairs:
                target[free] = np.nan if given is None else given[free]
        rules.append(Rule(program, sig.action))
    return to_engine_signals(orders, sym, []), to_engine_signals(fired, sym, []), rules


def _in_loop(
    base: dict[str, _Orders],
    dynamic: list[_Dynamic],
    windows: Mapping[str, Candles],
    funding: Mapping[str, FundingRates],
    run: Callable[[Signals, Signals, list[Rule]], BacktestResult | None],
) -> BacktestResult | None:
    """The in-kernel run of the state-dependent rules, or ``None``: use ``_run_stateful``."""
    found = None if not IN_LOOP or funding else _in_loop_rules(base, dynamic, windows)
    return None if found is None else run(*found)


def _value(d: _Dynamic, name: str, bar: int, state: Mapping[str, float]) -> float:
    array = getattr(d.signal, name)
    if array is not None:
        return float(array[bar])
    declared = {
        "size": d.signal.size_kind is not None,
        "fraction": d.signal.action == "exit",
    }.get(name, True)
    if not declared:
        return math.nan
    return d.run.value_at(d.signal.index, name, bar, state)


def _apply(
    d: _Dynamic,
    bar: int,
    state: Mapping[str, float],
    orders: dict[str, _Orders],
    windows: Mapping[str, Candles],
    states: Mapping[str, Mapping[str, FloatArray]],
) -> bool:
    """Add one fired action to the target's orders; return whether it can change the run."""
    o = orders[d.target]
    t = int(d.run.timestamp[bar])
    dst = windows[d.target].timestamp
    j = int(np.searchsorted(dst, t, "right")) - 1
    if j < 0:
        return False
    if d.signal.action == "exit":
        fraction = _value(d, "fraction", bar, state)
        o.exit[j] = True
        if math.isnan(fraction):
            fraction = 1.0
        o.exit_fraction[j] = np.fmax(o.exit_fraction[j], fraction)
        flat = states[d.target]["position_side"][j] == 0
        return not (flat and not (o.entry_long[j] or o.entry_short[j]))
    (o.entry_long if d.signal.side == "LONG" else o.entry_short)[j] = True
    sizes = {"weight": o.weight, "amount": o.amount, "quantity": o.quantity}
    if not any(not math.isnan(float(a[j])) for a in sizes.values()):
        kind = d.signal.size_kind or "weight"
        sizes[kind][j] = _value(d, "size", bar, state)
        for name in ("stop_loss", "take_profit", "trailing_stop"):
            getattr(o, name)[j] = _value(d, name, bar, state)
    return True


# --- the use case ---------------------------------------------------------------------------


def _stage(
    progress: ProgressFn | None, is_cancelled: CancelFn | None, pct: float, stage: str
) -> None:
    if is_cancelled is not None and is_cancelled():
        raise BacktestCancelledError(f"the backtest was cancelled before {stage}")
    if progress is not None:
        progress(pct, stage)


def run_backtest_request(
    request: BacktestRequest,
    source: MarketDataSource,
    *,
    progress: ProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
) -> BacktestOutcome:
    """Run one backtest request end to end.

    Args:
        request: what to run (validated here).
        source: market data (``tradeforge.adapters.candles.open_market_data(settings)``).
        progress: called as ``progress(pct, stage)`` with ``pct`` in [0, 100] and stage one
            of ``loading_script``, ``loading_data``, ``executing``, ``done``.
        is_cancelled: polled between stages; when it returns true the run stops with
            :class:`BacktestCancelledError` (``BACKTEST_CANCELLED``).

    Raises:
        InvalidInputError: a bad request field (``VALIDATION_ERROR``).
        DslError: the script does not compile (``DSL_*``), or ``TA_OUT_OF_RANGE`` when the
            history before ``start_date`` is too short for the warm-up.
        DataUnavailableError: no candles for a ticker in the window (``DATA_UNAVAILABLE``).
        BacktestUnsupportedError: a ladder strategy whose start/stop conditions read the
            position state (``BACKTEST_UNSUPPORTED``).
        BacktestCancelledError: ``is_cancelled()`` returned true.
    """
    timings: dict[str, float] = {}
    warnings: list[str] = []
    _stage(progress, is_cancelled, 0.0, "loading_script")
    request.validate()
    instruments = request.instruments()
    tickers = [t for t, _ in instruments]
    clock = time.perf_counter()
    plan, cached = compile_cached(
        request.script, tickers, timeframe=request.timeframe, params=request.params
    )
    timings["compile_ms"] = (time.perf_counter() - clock) * 1e3
    warmup = required_warmup(plan)

    _stage(progress, is_cancelled, 10.0, "loading_data")
    clock = time.perf_counter()
    step = TIMEFRAMES[request.timeframe]
    start, end = request.start_ms, request.end_ms
    current = tickers[0]
    signal_tickers = set(tickers) if plan.is_per_symbol else {current}
    loaded: dict[str, _Loaded] = {}
    for i, (ticker, inst) in enumerate(instruments):
        candles = _load_ticker(
            source, ticker, inst, request, warmup, needs_warmup=ticker in signal_tickers
        )
        item = _Loaded(
            ticker,
            inst,
            candles,
            candles.slice_ms(start, end),
            _load_funding(source, inst, start, end),
            warmup_bars=int(np.searchsorted(candles.timestamp, start, "left")),
        )
        if plan.uses_funding and inst.settle is not None:
            rates = source.load_funding(inst.exchange_id, inst.symbol, None, end)
            item.dsl_funding = (rates.timestamp, rates.rate)
        loaded[ticker] = item
        if is_cancelled is not None and is_cancelled():
            raise BacktestCancelledError("the backtest was cancelled while loading data")
        if progress is not None:
            progress(10.0 + 30.0 * (i + 1) / len(instruments), "loading_data")
    timings["load_ms"] = (time.perf_counter() - clock) * 1e3

    _stage(progress, is_cancelled, 40.0, "executing")
    clock = time.perf_counter()
    market = MarketData(
        {t: item.candles for t, item in loaded.items()},
        source,
        {t: item.dsl_funding for t, item in loaded.items() if item.dsl_funding is not None},
    )
    runs: dict[str, SignalRun] = {}
    for ticker in sorted(signal_tickers, key=tickers.index):
        runs[ticker] = run_signals(plan, market, ticker=ticker, start_ms=start, end_ms=end)
    # The portfolio holds the tickers the script trades: every universe ticker for a
    # per-symbol script, otherwise those named in actions (others are data only).
    targets = {sp.ticker for sp in plan.signals}
    traded = [t for t in tickers if plan.is_per_symbol or t in targets]
    windows = {t: loaded[t].window for t in traded}
    base: dict[str, _Orders] = {t: _Orders.empty(len(w)) for t, w in windows.items()}
    dynamic: list[_Dynamic] = []
    for ticker, run in runs.items():
        for target, ts in run.by_ticker().items():
            if plan.is_per_symbol and target != ticker:
                continue  # each ticker's actions come from its own run
            if target not in base:  # compile_script keeps actions inside the universe
                continue
            base[target] = _aligned_orders(ts, run.timestamp, windows[target].timestamp)
        for sig in run.signals:
            if sig.is_state_dependent or sig.condition is None:
                if plan.is_per_symbol and sig.ticker != ticker:
                    continue
                dynamic.append(_Dynamic(run, sig, sig.ticker))
    timings["signals_ms"] = (time.perf_counter() - clock) * 1e3
    if request.strategy_type not in LADDER_TYPES:
        # A lower timeframe only settles bars where a position's stop and take-profit are
        # both in range, so it is loaded only for tickers whose orders can carry them.
        for t in traded:
            if _has_exit_levels(base[t]) or any(d.target == t for d in dynamic):
                item = loaded[t]
                item.intrabar = _load_intrabar(
                    source, item.instrument, request.timeframe, start, end
                )
    elif _ladder_needs_intrabar(request.ladder_params()):
        item = loaded[current]
        item.intrabar = _load_intrabar(source, item.instrument, request.timeframe, start, end)
    if is_cancelled is not None and is_cancelled():
        raise BacktestCancelledError("the backtest was cancelled before the simulation")
    if progress is not None:
        progress(60.0, "executing")

    clock = time.perf_counter()
    config = request.config()
    parameters = {
        "request": {k: v for k, v in request.to_dict().items() if k != "script"},
        "strategy_params": {p.name: p.value for p in plan.params},
        "required_warmup": warmup,
        # The window's candles are hashed by the engine; the warm-up before it is hashed here.
        "warmup_candles_sha256": {
            t: candles_sha256(loaded[t].candles.slice_ms(None, start)) for t in sorted(loaded)
        },
    }
    funding: dict[str, FundingRates] = {}
    for t in traded:
        perp = loaded[t].funding
        if perp is not None:
            funding[t] = perp
    single = traded[0]

    def engine(signals: dict[str, Signals]) -> BacktestResult:
        if len(traded) == 1:
            return run_backtest(
                windows[single],
                signals[single],
                config,
                symbol=single,
                timeframe_ms=step,
                funding=funding.get(single),
                script=request.script,
                parameters=parameters,
                intrabar=loaded[single].intrabar,
            )
        return run_portfolio(
            windows,
            signals,
            config,
            timeframe_ms=step,
            funding=funding or None,
            script=request.script,
            parameters=parameters,
            intrabar={t: sub for t in traded if (sub := loaded[t].intrabar) is not None},
        )

    in_kernel = partial(
        run_backtest_stateful, windows[single], config=config, symbol=single,
        timeframe_ms=step, script=request.script, parameters=parameters,
        intrabar=loaded[single].intrabar,
    )  # fmt: skip
    if request.strategy_type in LADDER_TYPES:
        if dynamic:
            raise BacktestUnsupportedError(
                f"the {request.strategy_type} start/stop conditions read the position state",
                suggestion="Write start_condition and stop_condition from market data only "
                "(prices, volumes, indicators).",
                details={"field": "strategy_params.start_condition"},
            )
        engine_runs = 1
        result = _run_ladder(
            request, single, windows[single], base[single], config, step, funding.get(single),
            parameters, loaded[single].intrabar,
        )  # fmt: skip
    elif dynamic and (in_loop := _in_loop(base, dynamic, windows, funding, in_kernel)):
        result, engine_runs = in_loop, 1
    elif dynamic:
        result, engine_runs = _run_stateful(
            base,
            dynamic,
            windows,
            engine,
            config.margin_mode is MarginMode.CROSS,
            warnings,
            config.initial_cash / (1 if config.margin_mode is MarginMode.CROSS else len(traded)),
            is_cancelled,
            progress,
        )
    else:
        engine_runs = 1
        result = engine({t: to_engine_signals(o, t, warnings) for t, o in base.items()})
    if dynamic:
        for t, o in base.items():  # surface the size warnings of the pure part once
            to_engine_signals(o, t, warnings)
    timings["engine_ms"] = (time.perf_counter() - clock) * 1e3
    timings["engine_runs"] = float(engine_runs)

    coverage: dict[str, Coverage] = {}
    for t, item in loaded.items():
        w = item.window
        expected = -(-(end - start) // step)
        span_bars = (int(w.timestamp[-1]) - int(w.timestamp[0])) // step + 1
        cov = Coverage(
            ticker=t,
            requested_start_ms=start,
            requested_end_ms=end,
            first_bar_ms=int(w.timestamp[0]),
            last_bar_ms=int(w.timestamp[-1]),
            bars=len(w),
            expected_bars=int(expected),
            missing_bars=int(expected - len(w)),
            warmup_bars=item.warmup_bars,
            warmup_start_ms=int(item.candles.timestamp[0]) if item.warmup_bars else None,
            funding_coverage=result.funding_coverage.get(t),
        )
        coverage[t] = cov
        if span_bars != len(w):
            warnings.append(f"{t}: {span_bars - len(w)} candle(s) missing inside the window")
        if int(w.timestamp[0]) > start or int(w.timestamp[-1]) + step < end:
            warnings.append(
                f"{t}: data covers {_iso(int(w.timestamp[0]))} to "
                f"{_iso(int(w.timestamp[-1]) + step)} of the requested window"
            )
        if item.instrument.settle is not None and t in windows and t not in funding:
            warnings.append(f"{t}: no funding rates stored; funding is not charged")
    _stage(progress, None, 100.0, "done")
    return BacktestOutcome(
        request=request,
        result=result,
        script=request.script,
        fingerprint=result.fingerprint.digest,
        required_warmup=warmup,
        coverage=coverage,
        warnings=warnings,
        timings_ms=timings,
        plan_cached=cached,
        uses_state=bool(dynamic),
    )


def _ladder_needs_intrabar(p: DcaParams | GridParams) -> bool:
    """Whether a ladder run loads a lower timeframe. A DCA deal always can have a bar where
    its take-profit and an adverse level (a safety order, the stop, liquidation) are both
    in range; a grid only when a ``stop_loss_price`` can meet its sells."""
    if isinstance(p, DcaParams):
        return True
    return p.stop_loss_price is not None


def _run_ladder(
    request: BacktestRequest,
    ticker: str,
    window: Candles,
    orders: _Orders,
    config: BacktestConfig,
    step: int,
    funding: FundingRates | None,
    parameters: Mapping[str, Any],
    intrabar: Candles | None = None,
) -> BacktestResult:
    """Run a ``dca`` or ``grid`` request in the ladder engine.

    The generated script's ``start`` entry and ``stop`` exit, evaluated by the DSL on the
    window's closed bars, are the engine's start and stop conditions. Without a
    ``start_condition`` the bot starts at the window's first open (``start = true``).
    ``intrabar`` (see :func:`_ladder_needs_intrabar`) settles the bars where the stop and
    the take-profit (a grid's sells) were both in range.
    """
    p = request.ladder_params()
    start = None if p.start_condition is None else orders.entry_long | orders.entry_short
    common: dict[str, Any] = {
        "symbol": ticker,
        "timeframe_ms": step,
        "funding": funding,
        "script": request.script,
        "parameters": parameters,
        "intrabar": intrabar,
    }
    if isinstance(p, DcaParams):
        dca = DcaSettings(
            direction=1 if p.direction == "long" else -1,
            base_order=p.base_order,
            safety_order=p.safety_order,
            safety_orders_count=p.safety_orders_count,
            price_deviation=p.price_deviation_pct / 100.0,
            step_scale=p.step_scale,
            volume_scale=p.volume_scale,
            take_profit=p.take_profit_pct / 100.0,
            stop_loss=None if p.stop_loss_pct is None else p.stop_loss_pct / 100.0,
        )
        return run_dca(window, dca, config, start=start, **common)
    grid = GridSettings(
        lower_price=p.lower_price,
        upper_price=p.upper_price,
        grid_count=p.grid_count,
        geometric=p.grid_type == "geometric",
        investment=p.investment,
        investment_is_base=p.investment_asset == "base",
        trade_to_fill=p.trade_to_fill,
        stop_exit=p.stop_exit,
        stop_loss_price=p.stop_loss_price,
    )
    stop = None if p.stop_condition is None else orders.exit
    return run_grid(window, grid, config, start=start, stop=stop, **common)


def outcome_json(outcome: BacktestOutcome, **kwargs: Any) -> str:
    """Serialise :meth:`BacktestOutcome.to_dict` as canonical JSON (sorted keys, no NaN)."""
    return json.dumps(_clean(outcome.to_dict(**kwargs)), sort_keys=True, allow_nan=False)


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


__all__ = [
    "BacktestCancelledError",
    "BacktestOutcome",
    "BacktestRequest",
    "BacktestUnsupportedError",
    "Coverage",
    "compile_cached",
    "outcome_json",
    "run_backtest_request",
    "script_sha256",
    "to_engine_signals",
]
