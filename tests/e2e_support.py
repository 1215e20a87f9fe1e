"""A real 'tradeforge serve' process with its own data directory, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

TRADEFORGE = Path(sys.executable).with_name("tradeforge")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(data_dir: Path, log_path: Path) -> Iterator[str]:
    """Start the server, wait for /meta/health, yield the /api/v1 base URL, stop it."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEFORGE_")}
    env["TRADEFORGE_DATA_DIR"] = str(data_dir)
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
                httpx.get(f"{base}/meta/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "server did not start in 60 s"
                time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A running server; yields its /api/v1 base URL."""
    with running_server(tmp_path / "data", tmp_path / "server.log") as base:
        yield base
