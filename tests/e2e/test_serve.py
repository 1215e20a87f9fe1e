"""The real server process: 'tradeforge serve' with its own data directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TRADEFORGE = Path(sys.executable).with_name("tradeforge")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_migrates_serves_and_logs_without_secrets(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEFORGE_")}
    env["TRADEFORGE_DATA_DIR"] = str(tmp_path / "data")
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(TRADEFORGE), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/meta/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "server did not start in 60 s"
                time.sleep(0.2)
        assert health.status_code == 200
        assert health.json()["data"]["database"]["backend"] == "sqlite"
        registered = httpx.post(f"{base}/meta/register", json={"display_name": "e2e"}, timeout=5)
        key = registered.json()["data"]["api_key"]
        me = httpx.get(
            f"{base}/meta/agents/me", headers={"Authorization": f"Bearer {key}"}, timeout=5
        )
        assert me.status_code == 200
        assert me.json()["data"]["display_name"] == "e2e"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    output = log_path.read_text()
    assert f"serving on http://127.0.0.1:{port}" in output
    assert (tmp_path / "data" / "tradeforge.sqlite3").exists()
    assert key not in output
    assert '"logger": "tradeforge.access"' in output
