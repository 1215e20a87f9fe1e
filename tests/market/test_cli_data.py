from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tradeforge.adapters.candles.layered import MarketDataStore
from tradeforge.cli.data import app
from tradeforge.config import get_settings

from .conftest import ms

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("TRADEFORGE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TRADEFORGE_CONFIG_FILE", str(tmp_path / "none.toml"))
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


def test_list_shows_bundled_series(data_dir: Path) -> None:
    result = runner.invoke(
        app, ["list", "--exchange", "binance", "--symbol", "BTC/USDT"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "BTC/USDT" in result.output
    for timeframe in ("1m", "5m", "1h", "1d"):
        assert f" {timeframe} " in result.output
    assert "bundled" in result.output
    assert "73,265" in result.output


def test_import_then_list_shows_user_series(
    data_dir: Path, tmp_path: Path, bundled: MarketDataStore
) -> None:
    candles = bundled.load("binance", "XRP/USDT", "1h", ms(2024, 1, 1), ms(2024, 1, 3))
    path = tmp_path / "xrp.parquet"
    pq.write_table(
        pa.table(
            {
                c: getattr(candles, c)
                for c in ("timestamp", "open", "high", "low", "close", "volume")
            }
        ),
        path,
    )
    result = runner.invoke(app, ["import", str(path), "--exchange", "gate", "--symbol", "XRP/USDT"])
    assert result.exit_code == 0, result.output
    assert "48 added" in result.output
    assert (data_dir / "candles" / "gate" / "XRP_USDT-1h.parquet").is_file()
    listed = runner.invoke(app, ["list", "--exchange", "gate"], env={"COLUMNS": "200"})
    assert "XRP/USDT" in listed.output
    assert "user" in listed.output


def test_import_bad_file_exits_non_zero(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "junk.csv"
    path.write_text("a,b\n1,2\n")
    result = runner.invoke(
        app, ["import", str(path), "--exchange", "binance", "--symbol", "BTC/USDT"]
    )
    assert result.exit_code == 1


def test_gaps_lists_the_2018_outage(data_dir: Path) -> None:
    result = runner.invoke(
        app, ["gaps", "--exchange", "binance", "--symbol", "BTC/USDT"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "27 gaps" in result.output
    assert "2018-02-08 01:00" in result.output


def test_download_bad_exchange_reports_error_code(data_dir: Path) -> None:
    result = runner.invoke(
        app, ["download", "--exchange", "binanse", "--symbols", "BTC/USDT", "--since", "2024-01-01"]
    )
    assert result.exit_code == 1
    assert "VALIDATION_ERROR" in result.output
    assert "binance" in result.output


def test_download_through_local_fake_exchange(data_dir: Path, bundled: MarketDataStore) -> None:
    from .fake_exchange import FakeBinance, FakeBinanceState

    candles = bundled.load("binance", "BTC/USDT", "1h", ms(2024, 1, 1), ms(2024, 1, 5))
    with FakeBinance(FakeBinanceState(spot={"BTCUSDT": candles})) as fake:
        args = ["download", "--exchange", "binance", "--symbols", "BTC/USDT"]
        args += ["--since", "2024-01-01", "--until", "2024-01-03", "--api-url", fake.base_url]
        result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "48 new candles" in result.output
    assert (data_dir / "candles" / "binance" / "BTC_USDT-1h.parquet").is_file()
