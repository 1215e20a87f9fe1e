"""dca / grid requests in the service layer: validation, the job row round trip, and a
re-run (what the arena's verification does) reproducing the fingerprint."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tradeforge.adapters.candles import open_market_data
from tradeforge.core.errors import InvalidInputError
from tradeforge.services.arena_strategies import runnable_request
from tradeforge.services.backtest_jobs import job_request, script_request
from tradeforge.services.backtests import BacktestRequest, run_backtest_request
from tradeforge.services.strategy_types import GridParams, generate_script

BTC = "BINANCE:BTC/USDT"
GRID = {
    "lower_price": 40000,
    "upper_price": 50000,
    "grid_count": 11,
    "investment": 5000,
    "start_condition": "rsi(close, 14) < 45",
}


def _request(**overrides: Any) -> BacktestRequest:
    generated = generate_script("grid", GridParams.model_validate(GRID), (BTC,), "1h")
    values: dict[str, Any] = {
        "strategy_type": "grid",
        "strategy_params": generated.params,
        "script": generated.script,
        "universe": (BTC,),
        "start_date": date(2024, 1, 1),
        "end_date": date(2024, 1, 31),
    }
    values.update(overrides)
    return BacktestRequest(**values)


def test_grid_request_round_trips_through_the_job_row_and_reproduces() -> None:
    request = _request()
    generated = generate_script("grid", GridParams.model_validate(GRID), (BTC,), "1h")
    row = job_request(request, generated)
    assert row["strategy_type"] == "grid"
    assert row["strategy_params"]["grid_count"] == 11
    again = script_request(row)
    assert again == request
    source = open_market_data(None)
    first = run_backtest_request(again, source)
    assert first.result.stats.num_trades > 0
    assert first.required_warmup > 0  # the RSI start condition needed history
    rerun = run_backtest_request(runnable_request(first.request.to_dict()), source)
    assert rerun.fingerprint == first.fingerprint
    assert rerun.result.equity.tobytes() == first.result.equity.tobytes()


def test_signal_requests_keep_their_dict_and_fingerprint_shape() -> None:
    plain = BacktestRequest(
        script='emit_signal(close > 0, entry("BINANCE:BTC/USDT", "LONG", Weight(1)))',
        universe=(BTC,),
        start_date=date(2024, 1, 1),
        end_date=date(2024, 1, 2),
    )
    assert "strategy_params" not in plain.to_dict()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"strategy_params": None}, "strategy_params"),
        ({"universe": (BTC, "BINANCE:ETH/USDT")}, "universe"),
        ({"strategy_params": {**GRID, "grid_count": 1}}, "strategy_params.grid_count"),
        ({"strategy_params": {**GRID, "investment": 20_000}}, "strategy_params.investment"),
        ({"strategy_type": "signal"}, "strategy_params"),
    ],
)
def test_invalid_ladder_requests_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        _request(**overrides).validate()
    assert caught.value.details["field"] == field
