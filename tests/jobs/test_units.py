"""Pure pieces of the job service: equity downsampling, cursors, the span cap and the
rule-based analysis."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeforge.core.errors import InvalidInputError
from tradeforge.core.jobs import BacktestResultRecord
from tradeforge.services.backtest_jobs import (
    analyze,
    check_span,
    check_strategy_type,
    decode_cursor,
    downsample_equity,
    downsample_indices,
    encode_cursor,
)
from tradeforge.services.backtests import BacktestRequest

from .conftest import SCRIPT


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), min_size=1, max_size=400
    ),
    points=st.integers(min_value=4, max_value=120),
)
def test_downsampling_keeps_ends_and_extremes_within_budget(
    values: list[float], points: int
) -> None:
    idx = downsample_indices(values, points)
    assert len(idx) <= max(points, 0) or len(values) <= points
    assert idx == sorted(set(idx))
    assert idx[0] == 0
    assert idx[-1] == len(values) - 1
    kept = [values[i] for i in idx]
    assert min(values) in kept
    assert max(values) in kept


def test_downsampling_a_long_curve_keeps_a_deep_drawdown() -> None:
    values = np.linspace(100.0, 200.0, 100_000)
    values[61_234] = 20.0  # a one-bar crash
    reduced = downsample_equity(
        {"timestamp": list(range(values.shape[0])), "equity": values.tolist()}, 50
    )
    assert len(reduced["equity"]) <= 50
    assert 20.0 in reduced["equity"]
    assert 61_234 in reduced["timestamp"]
    assert reduced["total_points"] == 100_000


def test_cursor_round_trip_and_garbage() -> None:
    assert decode_cursor(encode_cursor(42)) == 42
    assert decode_cursor(None) == 0
    for bad in ("x", "dDo=", encode_cursor(1) + "!!", "t:-1"):
        with pytest.raises(InvalidInputError):
            decode_cursor(bad)


def _request(timeframe: str, start: date, end: date, universe: int = 1) -> BacktestRequest:
    tickers = tuple(f"BINANCE:C{i}/USDT" for i in range(universe))
    return BacktestRequest(
        script=SCRIPT, universe=tickers, start_date=start, end_date=end, timeframe=timeframe
    )


def test_span_cap() -> None:
    check_span(_request("1m", date(2023, 1, 1), date(2025, 1, 1)))
    check_span(_request("1d", date(2000, 1, 1), date(2025, 1, 1), universe=20))
    with pytest.raises(InvalidInputError) as caught:
        check_span(_request("1m", date(2019, 1, 1), date(2024, 1, 1)))
    assert "5m" in caught.value.suggestion
    with pytest.raises(InvalidInputError):  # 20 tickers x 1 year of 1m is too many bars
        check_span(_request("1m", date(2024, 1, 1), date(2025, 1, 1), universe=20))


def test_strategy_types() -> None:
    check_strategy_type("signal")
    check_strategy_type("pair_trading")
    check_strategy_type("cross_sectional")
    check_strategy_type("dca")
    check_strategy_type("grid")
    with pytest.raises(InvalidInputError, match="must be one of"):
        check_strategy_type("SIGNAL")


def _record(**metrics: Any) -> BacktestResultRecord:
    base = {
        "total_return_pct": 12.0,
        "buy_and_hold_return_pct": 5.0,
        "max_drawdown_pct": 8.0,
        "num_trades": 60,
        "win_rate_pct": 55.0,
        "profit_factor": 1.6,
        "sharpe_ratio": 1.8,
        "exposure_pct": 40.0,
    }
    base.update(metrics)
    return BacktestResultRecord(
        id="res_x",
        job_id="bt_x",
        api_key_id="k",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        fingerprint="0" * 64,
        script=SCRIPT,
        description="test result",
        request={},
        metrics=base,
        summary={"warnings": []},
        equity={"timestamp": [], "equity": []},
        num_trades=int(base["num_trades"]),
    )


def test_analysis_rules() -> None:
    good = analyze(_record())
    assert good["verdict"] == "promising"
    assert "beat buy-and-hold" in good["summary"]

    few = analyze(_record(num_trades=3))
    texts = " ".join(f["text"] for f in few["findings"])
    assert "too few trades" in texts
    assert few["verdict"] != "promising"

    bad = analyze(_record(total_return_pct=-30.0, max_drawdown_pct=55.0, profit_factor=0.6))
    assert bad["verdict"] == "weak"
    assert bad["counts"]["critical"] >= 1
    assert any(f["topic"] == "win_rate" and f["severity"] == "warning" for f in bad["findings"])

    none = analyze(_record(num_trades=0, win_rate_pct=math.nan))
    assert any("No trades" in f["text"] for f in none["findings"])
    assert analyze(_record()) == good  # deterministic


class _ConflictError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def test_worker_transactions_retry_serialization_failures_three_times(tmp_path: Any) -> None:
    from sqlalchemy.exc import DBAPIError

    from tradeforge.adapters.storage.db import create_db_engine, create_session_factory
    from tradeforge.jobs.worker import in_transaction

    engine = create_db_engine(f"sqlite:///{tmp_path / 'retry.sqlite3'}")
    factory = create_session_factory(engine)
    calls: list[int] = []

    def flaky(_repo: Any) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise DBAPIError("UPDATE", {}, _ConflictError("40001"))
        return "done"

    assert in_transaction(factory, flaky) == "done"
    assert len(calls) == 3

    def always(_repo: Any) -> str:
        raise DBAPIError("UPDATE", {}, _ConflictError("40P01"))

    with pytest.raises(DBAPIError):
        in_transaction(factory, always)

    other: list[int] = []

    def broken(_repo: Any) -> str:
        other.append(1)
        raise DBAPIError("UPDATE", {}, _ConflictError("23505"))

    with pytest.raises(DBAPIError):
        in_transaction(factory, broken)
    assert len(other) == 1  # not retried
    engine.dispose()
