"""``tradeforge backtest``: Rich output, --json, saved results and error handling."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradeforge.cli.main import app
from tradeforge.config import get_settings

runner = CliRunner()
SCRIPT = """r = rsi(close, 14)
emit_signal(r < 30, entry("BINANCE:BTC/USDT", "LONG", Weight(1)))
emit_signal(r > 70, exit("BINANCE:BTC/USDT"))
"""
WINDOW = [
    "--universe",
    "BINANCE:BTC/USDT",
    "--timeframe",
    "1h",
    "--from",
    "2024-01-01",
    "--to",
    "2024-03-01",
]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("TRADEFORGE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


@pytest.fixture
def strategy(tmp_path: Path) -> Path:
    path = tmp_path / "rsi.tf"
    path.write_text(SCRIPT)
    return path


def test_backtest_prints_metrics_and_saves_the_result(data_dir: Path, strategy: Path) -> None:
    result = runner.invoke(app, ["backtest", str(strategy), *WINDOW])
    assert result.exit_code == 0, result.output
    assert "Backtest metrics" in result.output
    assert "Sharpe ratio" in result.output
    assert "Trades (" in result.output
    saved = list((data_dir / "results").glob("*.json"))
    assert len(saved) == 1
    data = json.loads(saved[0].read_text())
    assert saved[0].stem == data["fingerprint"]
    assert f"saved to {saved[0]}" in result.output.replace("\n", "")


def test_json_flag_prints_only_the_result_json(
    data_dir: Path, strategy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "custom" / "result.json"
    result = runner.invoke(
        app, ["backtest", str(strategy), *WINDOW, "--json", "--out", str(out), "--fee", "0.001"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["request"]["trading_fee"] == 0.001
    assert data["metrics"]["num_trades"] >= 1
    assert json.loads(out.read_text()) == data


def test_params_reach_the_script(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "param.tf"
    path.write_text(
        'n = param("n", 14, 2, 50)\n'
        'emit_signal(rsi(close, n) < 30, entry("BINANCE:BTC/USDT", "LONG", Weight(1)))\n'
        'emit_signal(rsi(close, n) > 70, exit("BINANCE:BTC/USDT"))\n'
    )
    a = runner.invoke(app, ["backtest", str(path), *WINDOW, "--json"])
    b = runner.invoke(app, ["backtest", str(path), *WINDOW, "--json", "--param", "n=7"])
    assert a.exit_code == 0, a.output
    assert b.exit_code == 0, b.output
    da, db = json.loads(a.stdout), json.loads(b.stdout)
    assert db["request"]["params"] == {"n": 7.0}
    assert da["fingerprint"] != db["fingerprint"]
    assert da["metrics"]["num_trades"] != db["metrics"]["num_trades"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--from", "2018-01-03", "--to", "2018-02-01"], "TA_OUT_OF_RANGE"),
        (["--from", "2024-13-01", "--to", "2024-02-01"], "VALIDATION_ERROR"),
        (["--from", "2024-01-01", "--to", "2024-02-01", "--leverage", "500"], "VALIDATION_ERROR"),
        (["--from", "2024-01-01", "--to", "2024-02-01", "--param", "oops"], "VALIDATION_ERROR"),
    ],
)
def test_errors_print_code_and_suggestion_without_traceback(
    data_dir: Path, strategy: Path, args: list[str], code: str
) -> None:
    result = runner.invoke(
        app, ["backtest", str(strategy), "--universe", "BINANCE:BTC/USDT", *args]
    )
    assert result.exit_code == 2
    assert code in result.output
    assert "suggestion" in result.output
    assert "Traceback" not in result.output


def test_script_errors_and_missing_files_exit_2(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tf"
    bad.write_text("x = rsi(close, 14) &&\n")
    result = runner.invoke(app, ["backtest", str(bad), *WINDOW])
    assert result.exit_code == 2
    assert "DSL_SYNTAX_ERROR" in result.output
    result = runner.invoke(app, ["backtest", str(tmp_path / "missing.tf"), *WINDOW])
    assert result.exit_code == 2
    assert "VALIDATION_ERROR" in result.output
