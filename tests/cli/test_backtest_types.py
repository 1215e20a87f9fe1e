"""``tradeforge backtest --type dca|grid|pair_trading|cross_sectional``: parameter strategies
from a JSON or TOML file of ``strategy_params`` on the bundled candles, with hand-checkable
facts (safety fills average a deal down, grid fills land on the lines) and clear errors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradeforge.adapters.candles import open_market_data
from tradeforge.cli.main import app
from tradeforge.config import get_settings
from tradeforge.services.strategy_types import GridParams

runner = CliRunner()
BTC = "BINANCE:BTC/USDT"
WINDOW = ["--timeframe", "1h", "--from", "2024-03-01", "--to", "2024-05-31"]
DCA = {
    "base_order": 100,
    "safety_order": 100,
    "safety_orders_count": 4,
    "price_deviation_pct": 1.5,
    "step_scale": 1.2,
    "take_profit_pct": 2,
}
GRID = {
    "lower_price": 56_000,
    "upper_price": 72_000,
    "grid_count": 17,
    "investment": 5_000,
}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("TRADEFORGE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["backtest", *args])
    return result.exit_code, result.output


def test_help_documents_the_types() -> None:
    result = runner.invoke(app, ["backtest", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for word in ("--type", "dca", "grid", "pair_trading", "cross_sectional", "JSON"):
        assert word in result.output


def test_dca_run_fills_safety_orders(data_dir: Path, tmp_path: Path) -> None:
    params = _write(tmp_path, "dca.json", json.dumps(DCA))
    code, output = _run(str(params), "--type", "dca", "--universe", BTC, *WINDOW)
    assert code == 0, output
    assert "Backtest metrics" in output
    found = re.search(r"(\d+) safety order\(s\) filled", output)
    assert found is not None, output
    assert int(found.group(1)) > 0
    saved = list((data_dir / "results").glob("*.json"))
    assert len(saved) == 1
    data = json.loads(saved[0].read_text())
    assert data["request"]["strategy_type"] == "dca"
    assert data["request"]["strategy_params"]["safety_orders_count"] == 4
    script = saved[0].with_suffix(".tf")
    assert script.read_text() == data["script"]
    assert "# safety order 1: limit 1.5% below the base fill, 100 quote" in data["script"]
    assert f"generated dca script saved to {script}" in output.replace("\n", "")
    # A deal that took safety orders holds more than the base order's 100 quote, bought
    # at an average below its base fill; a deal without them holds about 100 quote.
    deals = [t for t in data["trades"] if not t["is_open"]]
    averaged = [t for t in deals if t["quantity"] * t["entry_price"] > 150]
    assert averaged, "no deal took a safety order"
    for t in deals:
        notional = t["quantity"] * t["entry_price"]
        assert 99 <= notional <= 100 + 4 * 100 + 1e-6
        if t["reason"] == "take_profit":
            assert t["exit_price"] == pytest.approx(t["entry_price"] * 1.02, rel=1e-9)


def test_dca_params_from_toml(data_dir: Path, tmp_path: Path) -> None:
    toml = "\n".join(f"{k} = {v}" for k, v in DCA.items()) + '\ndirection = "long"\n'
    params = _write(tmp_path, "dca.toml", toml)
    code, output = _run(str(params), "--type", "dca", "--universe", BTC, *WINDOW, "--json")
    assert code == 0, output
    data = json.loads(output)
    assert data["request"]["strategy_params"]["price_deviation_pct"] == 1.5
    assert data["metrics"]["num_trades"] > 0


def test_grid_run_fills_on_the_lines(data_dir: Path, tmp_path: Path) -> None:
    params = _write(tmp_path, "grid.json", json.dumps(GRID))
    code, output = _run(str(params), "--type", "grid", "--universe", BTC, *WINDOW, "--json")
    assert code == 0, output
    data = json.loads(output)
    assert data["request"]["strategy_type"] == "grid"
    lines = GridParams.model_validate(GRID).levels()
    assert lines[1] - lines[0] == pytest.approx(1_000)  # 17 lines, 1 000 apart
    candles = open_market_data(None).load(
        "binance", "BTC/USDT", "1h", data["equity"]["timestamp"][0], None
    )
    opens = dict(zip(candles.timestamp.tolist(), candles.open.tolist(), strict=True))
    closed = [t for t in data["trades"] if not t["is_open"]]
    assert len(closed) >= 10
    for t in closed:
        assert t["reason"] == "take_profit"
        # A buy rests on a line and fills there (or at the open of a bar that gapped
        # through it); its sell rests one line up.
        k = min(range(len(lines)), key=lambda i: abs(lines[i] - t["entry_price"]))
        assert t["entry_price"] in (lines[k], opens[t["entry_time_ms"]]), t
        assert t["exit_price"] in (lines[k + 1], opens[t["exit_time_ms"]]), t
        if t["entry_price"] == lines[k]:
            assert t["exit_price"] >= lines[k + 1]
    on_lines = [t for t in closed if t["entry_price"] in lines and t["exit_price"] in lines]
    assert len(on_lines) >= len(closed) - 2


def test_pair_trading_universe_defaults_to_the_legs(data_dir: Path, tmp_path: Path) -> None:
    params = _write(
        tmp_path,
        "pair.json",
        json.dumps({"leg_a": BTC, "leg_b": "BINANCE:ETH/USDT", "lookback": 48}),
    )
    code, output = _run(str(params), "--type", "pair_trading", *WINDOW, "--json")
    assert code == 0, output
    data = json.loads(output)
    assert data["request"]["universe"] == [BTC, "BINANCE:ETH/USDT"]
    assert "spread_z = zscore(spread, 48)" in data["script"]


def test_a_bad_params_file_names_the_field(data_dir: Path, tmp_path: Path) -> None:
    bad = dict(DCA, take_profit_pct=-1, colour="red")
    params = _write(tmp_path, "bad.json", json.dumps(bad))
    code, output = _run(str(params), "--type", "dca", "--universe", BTC, *WINDOW)
    assert code == 2
    assert "VALIDATION_ERROR" in output
    assert "strategy_params.take_profit_pct" in output
    assert "greater than 0" in output
    assert "strategy_params.colour" in output
    assert "suggestion" in output
    assert "/strategies/dca/schema" in output
    assert "Traceback" not in output
    assert not (data_dir / "results").exists()


@pytest.mark.parametrize(
    ("name", "text", "args", "needle"),
    [
        ("broken.json", "{not json", ["--type", "grid"], "not valid JSON"),
        ("broken.toml", "lower_price = ", ["--type", "grid"], "not valid TOML"),
        ("list.json", "[1, 2]", ["--type", "grid"], "must hold one object"),
        (
            "grid.json",
            json.dumps(dict(GRID, stop_loss_price=60_000)),
            ["--type", "grid"],
            "stop_loss_price must be below lower_price",
        ),
        (
            "cond.json",
            json.dumps(dict(DCA, start_condition="rsii(close, 14) < 30")),
            ["--type", "dca"],
            "strategy_params.start_condition",
        ),
        ("dca.json", json.dumps(DCA), ["--type", "dca", "--param", "n=3"], "--param"),
        ("dca.json", json.dumps(DCA), ["--type", "nope"], "nope"),
    ],
)
def test_params_file_errors_exit_2(
    data_dir: Path, tmp_path: Path, name: str, text: str, args: list[str], needle: str
) -> None:
    params = _write(tmp_path, name, text)
    code, output = _run(str(params), *args, "--universe", BTC, *WINDOW)
    assert code == 2, output
    assert needle in output
    assert "Traceback" not in output


def test_ladder_types_take_one_ticker(data_dir: Path, tmp_path: Path) -> None:
    params = _write(tmp_path, "dca.json", json.dumps(DCA))
    code, output = _run(
        str(params), "--type", "dca", "--universe", f"{BTC},BINANCE:ETH/USDT", *WINDOW
    )
    assert code == 2
    assert "field: universe" in output
    assert "Traceback" not in output


def test_cross_sectional_runs_and_maps_dsl_errors_to_its_field(
    data_dir: Path, tmp_path: Path
) -> None:
    universe = f"{BTC},BINANCE:ETH/USDT"
    good = _write(tmp_path, "cs.json", json.dumps({"ranking_expression": "roc(close, 20)"}))
    code, output = _run(
        str(good), "--type", "cross_sectional", "--universe", universe, *WINDOW, "--json"
    )
    assert code == 0, output
    assert "score = roc(close, 20)" in json.loads(output)["script"]
    bad = _write(tmp_path, "bad.json", json.dumps({"ranking_expression": "roc(close, 20"}))
    code, output = _run(str(bad), "--type", "cross_sectional", "--universe", universe, *WINDOW)
    assert code == 2
    assert "DSL_SYNTAX_ERROR" in output
    assert "strategy_params.ranking_expression" in output
    assert "Traceback" not in output
