"""The seed's "Complete Workflow Example" (heytraders-api.v1.en.md, end of section 3) run
unchanged against a real 'tradeforge serve' process with bash, curl and jq.

Only the base URL and the API key are substituted; the polling interval (sleep 5), the
timeframe (4h) and every jq path are the seed's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from shared_paths import SHARED

SEED = SHARED / "seeds" / "heytraders-api.v1.en.md"
SEED_BASE = "https://hey-traders.cloud/api/v1"
SEED_KEY = "$HEYTRADERS_API_KEY"

#: Copied verbatim from the seed (the test checks it against the seed file when present).
SEED_WORKFLOW = r"""#!/bin/bash
set -e
API_KEY="$HEYTRADERS_API_KEY"
BASE="https://hey-traders.cloud/api/v1/backtest"

# 0. Fetch DSL guide (do this before writing scripts)
curl -s -H "Authorization: Bearer $API_KEY" "$BASE/strategies/signal/guide" | jq '.data.content' > /dev/null

# 1. Execute backtest (strategy_type required)
RESPONSE=$(curl -s -X POST -H "Authorization: Bearer $API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "strategy_type": "signal",
    "description": "RSI oversold bounce on BTC",
    "script": "oversold = rsi(close, 14) < 30\nemit_signal(oversold, entry(\"BINANCE:BTC/USDT\", \"LONG\", Weight(0.5)))",
    "universe": ["BINANCE:BTC/USDT"],
    "start_date": "2024-01-01",
    "end_date": "2024-06-30",
    "timeframe": "4h",
    "initial_cash": 10000
  }' \
  "$BASE/execute")

BACKTEST_ID=$(echo $RESPONSE | jq -r '.data.backtest_id')
echo "Backtest ID: $BACKTEST_ID"

# 2. Poll for completion
RESULT_ID=""
while true; do
  STATUS_RESPONSE=$(curl -s -H "Authorization: Bearer $API_KEY" \
    "$BASE/status/$BACKTEST_ID")
  STATUS=$(echo $STATUS_RESPONSE | jq -r '.data.status')
  echo "Status: $STATUS"

  if [ "$STATUS" = "completed" ]; then
    RESULT_ID=$(echo $STATUS_RESPONSE | jq -r '.data.result_id')
    break
  elif [ "$STATUS" = "failed" ]; then
    echo "Failed: $(echo $STATUS_RESPONSE | jq -r '.data.message')"
    exit 1
  fi
  sleep 5
done

# 3. Fetch results (use result_id, NOT backtest_id)
echo "Result ID: $RESULT_ID"
curl -s -H "Authorization: Bearer $API_KEY" \
  "$BASE/results/$RESULT_ID" | jq '.data.metrics'
"""  # noqa: E501


#: The seed's "Prerequisites" commands (section 3), also verbatim.
SEED_PREREQUISITES = r"""# List strategy types and get schema for DCA
curl -s -H "Authorization: Bearer $HEYTRADERS_API_KEY" \
  https://hey-traders.cloud/api/v1/backtest/strategies | jq '.data.strategies[].type'
curl -s -H "Authorization: Bearer $HEYTRADERS_API_KEY" \
  https://hey-traders.cloud/api/v1/backtest/strategies/dca/schema | jq '.data.schema'

# Get Signal DSL guide (required before writing scripts)
curl -s -H "Authorization: Bearer $HEYTRADERS_API_KEY" \
  https://hey-traders.cloud/api/v1/backtest/strategies/signal/guide | jq -r '.data.content'

# Validate script before execute (script + universe required)
curl -s -X POST -H "Authorization: Bearer $HEYTRADERS_API_KEY" \
  -H "Content-Type: application/json" -d '{"script":"emit_signal(close>0, entry(\"BINANCE:BTC/USDT\", \"LONG\", Weight(0.5)))","universe":["BINANCE:BTC/USDT"]}' \
  https://hey-traders.cloud/api/v1/backtest/validate | jq '.data.valid'
"""  # noqa: E501


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is required by the seed workflow test but is not on PATH; install it "
            f"(Debian/Ubuntu: sudo apt-get install -y {name}; macOS: brew install {name}).",
            pytrace=False,
        )
    return path


def _seed_block(text: str, heading: str) -> str:
    return text[text.index(heading) :].split("```bash\n", 1)[1].split("```", 1)[0]


def test_seed_text_is_the_seed() -> None:
    if SEED.exists():  # the seed lives outside the repository
        text = SEED.read_text(encoding="utf-8")
        assert _seed_block(text, "## Complete Workflow Example") == SEED_WORKFLOW
        assert _seed_block(text, "### Prerequisites") == SEED_PREREQUISITES
    assert SEED_WORKFLOW.count(SEED_BASE) == 1
    assert SEED_WORKFLOW.count(SEED_KEY) == 1
    assert '"timeframe": "4h"' in SEED_WORKFLOW
    assert "sleep 5" in SEED_WORKFLOW


def test_seed_complete_workflow_runs_unchanged(server: str, tmp_path: Path) -> None:
    bash, curl, jq = _tool("bash"), _tool("curl"), _tool("jq")
    register = subprocess.run(
        [
            curl,
            "-s",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            '{"display_name": "seed-workflow"}',
            f"{server}/meta/register",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    key = json.loads(register.stdout)["data"]["api_key"]
    assert key

    script = SEED_WORKFLOW.replace(SEED_BASE, server).replace(SEED_KEY, key)
    changed = [
        (old, new)
        for old, new in zip(SEED_WORKFLOW.splitlines(), script.splitlines(), strict=True)
        if old != new
    ]
    assert len(changed) == 2  # the API_KEY= and BASE= lines, nothing else
    path = tmp_path / "workflow.sh"
    path.write_text(script, encoding="utf-8")
    env = {**os.environ, "PATH": os.pathsep.join({str(Path(jq).parent), os.environ["PATH"]})}
    started = time.monotonic()
    run = subprocess.run(
        [bash, str(path)], capture_output=True, text=True, timeout=180, env=env, check=False
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 0, (run.stdout, run.stderr)
    out = run.stdout
    assert "Backtest ID: bt_" in out, out
    assert "Status: completed" in out, out
    assert "Failed:" not in out
    assert "Result ID: res_" in out, out
    metrics = json.loads(out[out.index("Result ID:") :].split("\n", 1)[1])
    for name in (
        "total_return_pct",
        "max_drawdown",
        "sharpe_ratio",
        "sortino_ratio",
        "calmar_ratio",
        "win_rate",
        "num_trades",
        "profit_factor",
    ):
        assert name in metrics, name
    # The seed's rule only enters (no exit): its one position is still open at the end.
    assert metrics["num_trades"] + metrics["open_trades"] >= 1
    assert isinstance(metrics["total_return_pct"], float)
    assert elapsed < 60


def test_seed_prerequisites_run_unchanged(server: str) -> None:
    bash, curl, jq = _tool("bash"), _tool("curl"), _tool("jq")
    del curl, jq  # used by the script through PATH
    key = httpx.post(f"{server}/meta/register", json={"display_name": "prereq"}, timeout=10)
    env = {**os.environ, "HEYTRADERS_API_KEY": key.json()["data"]["api_key"]}
    script = SEED_PREREQUISITES.replace(SEED_BASE, server)
    run = subprocess.run(
        [bash, "-c", script], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert run.returncode == 0, (run.stdout, run.stderr)
    lines = run.stdout.splitlines()
    assert lines[:5] == ['"signal"', '"dca"', '"grid"', '"pair_trading"', '"cross_sectional"']
    schema_text = run.stdout[run.stdout.index("{") : run.stdout.index("# Signal DSL")]
    schema = json.loads(schema_text)
    assert schema["properties"]["strategy_type"]["const"] == "dca"
    assert "safety_orders_count" in schema["$defs"]["DcaParams"]["properties"]
    assert "# Signal DSL" in run.stdout
    assert lines[-1] == "true"
