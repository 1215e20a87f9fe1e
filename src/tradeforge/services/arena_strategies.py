"""Registering backtest results on the strategy leaderboard, verified by a re-run.

``POST /arena/strategies/register {backtest_summary_id}`` goes through three gates:

1. **Ownership**: the result must exist and belong to the calling API key (results are per
   key, like ``GET /backtest/results``). Anything else is ``404 NO_BACKTEST``. The seed's
   ``NOT_OWNER`` is about *managing strategies*; answering 403 for someone else's result
   would confirm that the id exists, and our rule is that another agent's resource looks
   exactly like a missing one, so ``NOT_OWNER`` is not used. Likewise unregistering an
   unknown strategy or someone else's is ``404 NOT_REGISTERED``.
2. **Quality gate** (``422 QUALITY_GATE``, cheap, before any re-run): at least
   ``ArenaPolicy.min_trades`` closed trades (default 10) and at least
   ``ArenaPolicy.min_period_days`` days of candles actually tested (default 30; the
   metrics' ``duration_ms``: first to last bar, plus one bar). 422 rather than 400: the
   request is well formed, the result does not qualify.
3. **Verification**: the server re-runs the stored request (script, universe, dates,
   parameters) with :func:`~tradeforge.services.backtests.run_backtest_request` against
   its current market data and compares the engine version, the sha256 of every ticker's
   candles, the fingerprint and every stored metric (relative tolerance
   ``ArenaPolicy.metric_tolerance``) with the stored result. Any difference is
   ``409 NOT_REPRODUCIBLE`` with ``details.differences`` naming each one (what was stored,
   what the re-run gave). A re-run that fails outright (data gone, script no longer
   compiles) is also ``NOT_REPRODUCIBLE``, with the re-run's error code.

A result already registered, or a result with the same fingerprint as one of the agent's
registered strategies (the same backtest run twice), is ``409 ALREADY_REGISTERED``.

The re-run happens *between* two short units of work, never inside one: on SQLite a
write transaction holds the database lock, and a re-run can take seconds. The second unit
re-reads the result and refuses the registration if it changed meanwhile.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from tradeforge.core.accounts import ApiKey
from tradeforge.core.arena import RegisteredStrategy
from tradeforge.core.clock import Clock
from tradeforge.core.errors import ConflictError, NotFoundError, TradeforgeError, TradingError
from tradeforge.core.jobs import BacktestResultRecord
from tradeforge.core.keys import new_id
from tradeforge.market.source import MarketDataSource
from tradeforge.ports import ArenaRepository
from tradeforge.services.arena import ArenaPolicy
from tradeforge.services.backtests import BacktestOutcome, BacktestRequest, run_backtest_request
from tradeforge.services.strategy_types import LADDER_TYPES

MS_PER_DAY = 86_400_000

ArenaUnitOfWork = Callable[[], AbstractContextManager[ArenaRepository]]
Rerun = Callable[[BacktestRequest, MarketDataSource], BacktestOutcome]


def no_backtest(result_id: str) -> NotFoundError:
    return NotFoundError(
        f"No backtest result '{result_id[:64]}' for this API key.",
        code="NO_BACKTEST",
        suggestion=(
            "Register the result_id of one of your completed backtests (GET "
            "/api/v1/backtest/status/{backtest_id} gives it), with the API key that ran it."
        ),
        details={"field": "backtest_summary_id"},
    )


def not_registered(strategy_id: str) -> NotFoundError:
    return NotFoundError(
        f"No registered strategy '{strategy_id[:64]}' of yours.",
        code="NOT_REGISTERED",
        suggestion=(
            "Use the strategy id returned by POST /api/v1/arena/strategies/register; "
            "only the agent that registered a strategy may unregister it."
        ),
    )


def _already_registered(result_id: str, strategy_id: str, same_fingerprint: bool) -> ConflictError:
    why = (
        "a result with the same fingerprint (the same backtest) is already registered"
        if same_fingerprint
        else f"backtest result '{result_id}' is already registered"
    )
    return ConflictError(
        f"Cannot register: {why} as strategy '{strategy_id}'.",
        code="ALREADY_REGISTERED",
        suggestion=(
            f"It is on the leaderboard already; unregister it first with DELETE "
            f"/api/v1/arena/strategies/{strategy_id}/unregister to register it again."
        ),
        details={"strategy_id": strategy_id},
    )


@dataclass(frozen=True)
class ResultSnapshot:
    """The parts of a stored result that registration reads (detached from storage)."""

    id: str
    api_key_id: str
    fingerprint: str
    script: str
    request: dict[str, Any]
    metrics: dict[str, Any]
    summary: dict[str, Any]
    num_trades: int

    @classmethod
    def of(cls, record: BacktestResultRecord) -> ResultSnapshot:
        return cls(
            id=record.id,
            api_key_id=record.api_key_id,
            fingerprint=record.fingerprint,
            script=record.script,
            request=copy.deepcopy(dict(record.request)),
            metrics=copy.deepcopy(dict(record.metrics)),
            summary=copy.deepcopy(dict(record.summary)),
            num_trades=int(record.num_trades),
        )

    @property
    def closed_trades(self) -> int:
        value = self.metrics.get("num_trades")
        return int(value) if isinstance(value, int | float) else self.num_trades

    @property
    def period_days(self) -> float:
        value = self.metrics.get("duration_ms")
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value) / MS_PER_DAY
        return 0.0


@dataclass(frozen=True)
class Verification:
    """What the server's own re-run produced (it equals the stored result)."""

    fingerprint: str
    engine_version: str
    candles_sha256: dict[str, str]
    script: str
    request: dict[str, Any]
    metrics: dict[str, Any]
    seconds: float


def runnable_request(stored: dict[str, Any]) -> BacktestRequest:
    """The request a stored result ran: every job runs a Signal DSL script, also when it
    was generated from a catalogue type's ``strategy_params`` (kept beside it in the stored
    request), so the re-run drops those and runs the script as ``signal``; ``dca`` and
    ``grid`` keep their type and parameters, which the ladder engine runs. Its
    ``to_dict()`` is what the leaderboard publishes: resubmitted to ``POST
    /backtest/execute`` it reproduces the fingerprint."""
    if stored.get("strategy_type") in LADDER_TYPES:  # dca / grid run their parameters
        return BacktestRequest.from_dict(stored)
    plain = {name: value for name, value in stored.items() if name != "strategy_params"}
    plain["strategy_type"] = "signal"
    return BacktestRequest.from_dict(plain)


def check_quality(snapshot: ResultSnapshot, policy: ArenaPolicy) -> None:
    """Raise ``QUALITY_GATE`` (422) naming every threshold the result misses."""
    trades, days = snapshot.closed_trades, snapshot.period_days
    failed: list[str] = []
    if trades < policy.min_trades:
        failed.append(f"{trades} closed trade(s), at least {policy.min_trades} needed")
    if days < policy.min_period_days:
        failed.append(f"{days:.1f} day(s) tested, at least {policy.min_period_days} needed")
    if not failed:
        return
    raise TradingError(
        "The backtest does not pass the leaderboard quality gate: " + "; ".join(failed) + ".",
        code="QUALITY_GATE",
        suggestion=(
            f"Run a backtest over at least {policy.min_period_days} days that makes at least "
            f"{policy.min_trades} trades (a longer range, more tickers or a lower timeframe), "
            "then register its result_id."
        ),
        details={
            "num_trades": trades,
            "min_trades": policy.min_trades,
            "period_days": round(days, 3),
            "min_period_days": policy.min_period_days,
        },
    )


def _same_number(a: Any, b: Any, tolerance: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a == b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        x, y = float(a), float(b)
        if not (math.isfinite(x) and math.isfinite(y)):
            return x == y or (math.isnan(x) and math.isnan(y))
        return abs(x - y) <= tolerance * max(1.0, abs(x), abs(y))
    return bool(a == b)


def _not_reproducible(message: str, suggestion: str, details: dict[str, Any]) -> ConflictError:
    return ConflictError(message, code="NOT_REPRODUCIBLE", suggestion=suggestion, details=details)


def _json_clean(metrics: dict[str, Any]) -> dict[str, Any]:
    """Metrics as stored JSON would hold them: plain numbers, ``None`` for non-finite."""
    out: dict[str, Any] = json.loads(json.dumps(metrics, default=float))
    for name, value in out.items():
        if isinstance(value, float) and not math.isfinite(value):
            out[name] = None
    return out


def verify(
    snapshot: ResultSnapshot,
    source: MarketDataSource,
    tolerance: float,
    rerun: Rerun = run_backtest_request,
) -> Verification:
    """Re-run the stored request and compare it with the stored result.

    Raises ``NOT_REPRODUCIBLE`` (409) listing every difference: ``script``,
    ``engine_version``, ``candles:<ticker>``, ``fingerprint``, ``metrics.<name>``.
    """
    started = time.perf_counter()
    try:
        request = runnable_request(snapshot.request)
        outcome = rerun(request, source)
    except TradeforgeError as error:
        raise _not_reproducible(
            f"The server could not re-run this backtest: {error.message}",
            "The stored request no longer runs here (market data or the script changed); "
            "run the backtest again and register the new result_id.",
            {"rerun_error": error.code},
        ) from None
    inputs = snapshot.summary.get("fingerprint_inputs")
    inputs = inputs if isinstance(inputs, dict) else {}
    fp = outcome.result.fingerprint
    differences: list[dict[str, Any]] = []

    def differ(what: str, stored: Any, rerun_value: Any) -> None:
        differences.append({"what": what, "stored": stored, "rerun": rerun_value})

    if snapshot.script != request.script:
        differ("script", snapshot.script[:200], request.script[:200])
    stored_engine = inputs.get("engine_version", snapshot.summary.get("engine"))
    if stored_engine != fp.engine_version:
        differ("engine_version", stored_engine, fp.engine_version)
    stored_candles = inputs.get("candles_sha256")
    stored_candles = stored_candles if isinstance(stored_candles, dict) else {}
    for ticker in sorted(set(stored_candles) | set(fp.candles_sha256)):
        if stored_candles.get(ticker) != fp.candles_sha256.get(ticker):
            differ(f"candles:{ticker}", stored_candles.get(ticker), fp.candles_sha256.get(ticker))
    if snapshot.fingerprint != outcome.fingerprint:
        differ("fingerprint", snapshot.fingerprint, outcome.fingerprint)
    metrics = _json_clean(outcome.metrics())
    for name in sorted(set(snapshot.metrics) | set(metrics)):
        if not _same_number(snapshot.metrics.get(name), metrics.get(name), tolerance):
            differ(f"metrics.{name}", snapshot.metrics.get(name), metrics.get(name))
    if differences:
        names = ", ".join(d["what"] for d in differences[:6])
        more = f" and {len(differences) - 6} more" if len(differences) > 6 else ""
        raise _not_reproducible(
            f"The server re-ran this backtest and it does not reproduce the stored result: "
            f"{names}{more} differ.",
            "Only results the server can reproduce are ranked. Run the backtest again with "
            "POST /api/v1/backtest/execute and register the new result_id.",
            {"differences": differences[:50]},
        )
    return Verification(
        fingerprint=outcome.fingerprint,
        engine_version=fp.engine_version,
        candles_sha256=dict(fp.candles_sha256),
        script=request.script,
        request=request.to_dict(),
        metrics=metrics,
        seconds=time.perf_counter() - started,
    )


def _metric(metrics: dict[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


class StrategyRegistry:
    """Register (verified) and unregister leaderboard strategies."""

    def __init__(
        self,
        uow: ArenaUnitOfWork,
        clock: Clock,
        source: MarketDataSource,
        policy: ArenaPolicy | None = None,
        rerun: Rerun = run_backtest_request,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._source = source
        self._policy = policy or ArenaPolicy()
        self._rerun = rerun

    def _eligible(
        self, repo: ArenaRepository, key: ApiKey, agent_id: str, result_id: str
    ) -> ResultSnapshot:
        record = repo.get_result(result_id)
        if record is None or record.api_key_id != key.id:
            raise no_backtest(result_id)
        existing = repo.strategy_for_result(result_id)
        if existing is not None:
            raise _already_registered(result_id, existing.id, same_fingerprint=False)
        twin = repo.strategy_by_fingerprint(agent_id, record.fingerprint)
        if twin is not None:
            raise _already_registered(result_id, twin.id, same_fingerprint=True)
        snapshot = ResultSnapshot.of(record)
        check_quality(snapshot, self._policy)
        return snapshot

    def register(self, key: ApiKey, agent_id: str, result_id: str) -> RegisteredStrategy:
        with self._uow() as repo:
            snapshot = self._eligible(repo, key, agent_id, result_id)
        verified = verify(snapshot, self._source, self._policy.metric_tolerance, self._rerun)
        with self._uow() as repo:
            again = self._eligible(repo, key, agent_id, result_id)
            if again != snapshot:
                raise ConflictError(
                    "The backtest result changed while the server was verifying it.",
                    code="CONFLICT",
                    suggestion="Send the registration again.",
                )
            metrics = verified.metrics
            strategy = RegisteredStrategy(
                id=new_id(),
                agent_id=agent_id,
                api_key_id=key.id,
                result_id=result_id,
                registered_at=self._clock.now(),
                fingerprint=verified.fingerprint,
                engine_version=verified.engine_version,
                script=verified.script,
                request=verified.request,
                candles_sha256=verified.candles_sha256,
                metrics=metrics,
                roi=_metric(metrics, "total_return_pct") or 0.0,
                num_trades=snapshot.closed_trades,
                period_days=int(snapshot.period_days),
                sharpe=_metric(metrics, "sharpe_ratio"),
                calmar=_metric(metrics, "calmar_ratio"),
                max_drawdown=_metric(metrics, "max_drawdown_pct"),
            )
            repo.add_member_if_absent(agent_id, strategy.registered_at)
            if not repo.add_strategy(strategy):
                clash = repo.strategy_for_result(result_id) or repo.strategy_by_fingerprint(
                    agent_id, verified.fingerprint
                )
                raise _already_registered(
                    result_id,
                    "" if clash is None else clash.id,
                    same_fingerprint=clash is not None and clash.result_id != result_id,
                )
        return strategy

    def unregister(self, agent_id: str, strategy_id: str) -> RegisteredStrategy:
        with self._uow() as repo:
            strategy = repo.get_strategy(strategy_id)
            if strategy is None or strategy.agent_id != agent_id:
                raise not_registered(strategy_id)
            repo.delete_strategy(strategy)
        return strategy
