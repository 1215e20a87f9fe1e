"""The real server process: 'tradeforge serve' with its own data directory."""

from __future__ import annotations

from pathlib import Path

import httpx

from e2e_support import running_server


def test_serve_migrates_serves_and_logs_without_secrets(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with running_server(tmp_path / "data", log_path) as base:
        health = httpx.get(f"{base}/meta/health", timeout=5)
        assert health.status_code == 200
        assert health.json()["data"]["database"]["backend"] == "sqlite"
        registered = httpx.post(f"{base}/meta/register", json={"display_name": "e2e"}, timeout=5)
        key = registered.json()["data"]["api_key"]
        me = httpx.get(
            f"{base}/meta/agents/me", headers={"Authorization": f"Bearer {key}"}, timeout=5
        )
        assert me.status_code == 200
        assert me.json()["data"]["display_name"] == "e2e"
    output = log_path.read_text()
    port = base.split(":")[2].split("/")[0]
    assert f"serving on http://127.0.0.1:{port}" in output
    assert (tmp_path / "data" / "tradeforge.sqlite3").exists()
    assert key not in output
    assert '"logger": "tradeforge.access"' in output
