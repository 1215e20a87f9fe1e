from __future__ import annotations

import pytest

from tradeforge.core.errors import InvalidInputError
from tradeforge.market.timeframes import TIMEFRAMES, floor_ms, is_multiple, validate_timeframe

from .conftest import ms


def test_floor_week_starts_monday_midnight_utc() -> None:
    # 2024-01-03 is a Wednesday; its Binance week opened Monday 2024-01-01 00:00 UTC.
    assert floor_ms(ms(2024, 1, 3, 15, 30), "1w") == ms(2024, 1, 1)
    assert floor_ms(ms(2024, 1, 1), "1w") == ms(2024, 1, 1)
    assert floor_ms(ms(2023, 12, 31, 23, 59), "1w") == ms(2023, 12, 25)


@pytest.mark.parametrize(
    ("timeframe", "expected"),
    [("1m", ms(2024, 5, 6, 7, 8)), ("5m", ms(2024, 5, 6, 7, 5)), ("4h", ms(2024, 5, 6, 4)),
     ("1d", ms(2024, 5, 6))],
)  # fmt: skip
def test_floor_epoch_anchored_timeframes(timeframe: str, expected: int) -> None:
    assert floor_ms(ms(2024, 5, 6, 7, 8, 9), timeframe) == expected


def test_is_multiple_rejects_non_nesting_buckets() -> None:
    assert is_multiple("1h", "5m")
    assert is_multiple("1w", "1d")
    assert not is_multiple("1w", "3d")  # 3-day buckets do not nest in Monday weeks
    assert not is_multiple("5m", "1h")
    assert not is_multiple("1h", "1h")


def test_validate_timeframe_unknown_suggests_closest() -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_timeframe("1hr")
    assert info.value.code == "VALIDATION_ERROR"
    assert "'1h'" in info.value.suggestion
    assert validate_timeframe("15m") == "15m"
    assert "1w" in TIMEFRAMES
