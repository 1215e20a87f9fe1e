from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from tradeforge.adapters.candles.importer import import_file
from tradeforge.adapters.candles.layered import MarketDataStore
from tradeforge.adapters.candles.parquet_store import ParquetStore
from tradeforge.core.clock import FrozenClock
from tradeforge.core.errors import InvalidInputError
from tradeforge.market.source import SeriesKind

from .conftest import ms

LATER = FrozenClock(datetime(2030, 1, 1, tzinfo=UTC))


def _real_hours(bundled: MarketDataStore, n: int = 100):
    return bundled.load("binance", "ETH/USDT", "1h", ms(2024, 3, 1), ms(2024, 3, 1) + n * 3_600_000)


def test_import_freqtrade_feather_with_datetime_column(
    tmp_path: Path, user_store: ParquetStore, bundled: MarketDataStore
) -> None:
    candles = _real_hours(bundled)
    table = pa.table({
        "date": pa.array(candles.timestamp.astype("datetime64[ms]")).cast(pa.timestamp("ms", "UTC")),  # noqa: E501
        "open": candles.open, "high": candles.high, "low": candles.low,
        "close": candles.close, "volume": candles.volume,
    })  # fmt: skip
    path = tmp_path / "user_data" / "data" / "binance" / "ETH_USDT-1h.feather"
    path.parent.mkdir(parents=True)
    feather.write_feather(table, path)
    result = import_file(user_store, path, clock=LATER)
    assert (result.exchange_id, result.symbol, result.timeframe) == ("binance", "ETH/USDT", "1h")
    assert result.write.added == 100
    stored = user_store.read_candles("binance", "ETH/USDT", "1h")
    np.testing.assert_array_equal(stored.timestamp, candles.timestamp)
    np.testing.assert_array_equal(stored.close, candles.close)


def test_import_csv_with_epoch_seconds_and_flags(
    tmp_path: Path, user_store: ParquetStore, bundled: MarketDataStore
) -> None:
    candles = _real_hours(bundled, 48)
    path = tmp_path / "export.csv"
    lines = ["time,open,high,low,close,volume"]
    for i in range(len(candles)):
        lines.append(
            ",".join(
                [
                    str(int(candles.timestamp[i]) // 1000),
                    *(
                        repr(float(getattr(candles, c)[i]))
                        for c in ("open", "high", "low", "close", "volume")
                    ),
                ]
            )
        )
    # A duplicated row (later copy wins) and unsorted order are normalised.
    lines.append(lines[5])
    lines[1], lines[2] = lines[2], lines[1]
    path.write_text("\n".join(lines))
    result = import_file(user_store, path, exchange_id="binance", symbol="ETHUSDT", clock=LATER)
    assert result.timeframe == "1h"  # inferred from row spacing
    assert result.symbol == "ETH/USDT"
    assert result.write.total == 48
    np.testing.assert_array_equal(
        user_store.read_candles("binance", "ETH/USDT", "1h").open, candles.open
    )


def test_import_drops_still_open_candle(
    tmp_path: Path, user_store: ParquetStore, bundled: MarketDataStore
) -> None:
    candles = _real_hours(bundled, 10)
    path = tmp_path / "binance" / "ETH_USDT-1h.parquet"
    path.parent.mkdir()
    pq.write_table(
        pa.table(
            {
                c: getattr(candles, c)
                for c in ("timestamp", "open", "high", "low", "close", "volume")
            }
        ),
        path,
    )
    now = datetime.fromtimestamp(
        (int(candles.timestamp[-1]) + 1_800_000) / 1000, UTC
    )  # mid last hour
    result = import_file(user_store, path, clock=FrozenClock(now))
    assert result.dropped_open == 1
    assert result.write.total == 9


def test_import_funding_file(tmp_path: Path, user_store: ParquetStore) -> None:
    path = tmp_path / "binance" / "futures" / "BTC_USDT_USDT-8h-funding_rate.feather"
    path.parent.mkdir(parents=True)
    feather.write_feather(
        pa.table(
            {
                "date": pa.array([ms(2024, 1, 1), ms(2024, 1, 1, 8)], pa.int64()),
                "open": [0.0001, 0.0002],
            }
        ),
        path,
    )
    result = import_file(user_store, path, clock=LATER)
    assert result.kind is SeriesKind.FUNDING_RATE
    assert (result.exchange_id, result.symbol) == ("binancefuturesusd", "BTC/USDT:USDT")
    assert user_store.read_funding("binancefuturesusd", "BTC/USDT:USDT").rate.tolist() == [
        0.0001,
        0.0002,
    ]


def test_import_without_names_asks_for_flags(tmp_path: Path, user_store: ParquetStore) -> None:
    path = tmp_path / "data.csv"
    path.write_text("timestamp,open,high,low,close,volume\n0,1,1,1,1,1\n")
    with pytest.raises(InvalidInputError) as info:
        import_file(user_store, path)
    assert "--exchange" in info.value.suggestion


def test_import_missing_column_is_rejected(tmp_path: Path, user_store: ParquetStore) -> None:
    path = tmp_path / "binance" / "BTC_USDT-1h.csv"
    path.parent.mkdir()
    path.write_text("timestamp,open,high,low,close\n0,1,1,1,1\n")
    with pytest.raises(InvalidInputError) as info:
        import_file(user_store, path, clock=LATER)
    assert "volume" in info.value.message


def test_import_skips_mark_price_files(tmp_path: Path, user_store: ParquetStore) -> None:
    path = tmp_path / "binance" / "futures" / "BTC_USDT_USDT-1h-mark.feather"
    path.parent.mkdir(parents=True)
    feather.write_feather(
        pa.table(
            {
                "date": pa.array([ms(2024, 1, 1)], pa.int64()),
                "open": [1.0],
                "high": [1.0],
                "low": [1.0],
                "close": [1.0],
                "volume": [0.0],
            }
        ),
        path,
    )
    with pytest.raises(InvalidInputError) as info:
        import_file(user_store, path, clock=LATER)
    assert "mark" in info.value.message
