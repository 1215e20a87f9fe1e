"""Optional language-model narrative on /analysis, against a local OpenAI-compatible server.

No model runs on this machine, so the endpoint is a small stand-in HTTP server on 127.0.0.1
that records what it is sent; the deterministic findings are the facts under test.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_support import assert_ok, bearer
from tradeforge.jobs.worker import build_context, run_next

from .conftest import FAST, container_of, new_key, submit, wait_for

SECRET = "sk-test-CANARY-4f1d"


class _ChatServer:
    def __init__(self, status: int = 200) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                payload = json.loads(self.rfile.read(length))
                owner.requests.append((dict(self.headers), payload))
                facts = json.loads(payload["messages"][1]["content"])
                text = f"Verdict: {facts['verdict']}. {facts['summary']}"
                body = json.dumps({"choices": [{"message": {"content": text}}]}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> _ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def chat() -> Iterator[_ChatServer]:
    with _ChatServer() as server:
        yield server


def _completed_result(client: TestClient) -> tuple[str, str]:
    key, _ = new_key(client)
    job_id = submit(client, key)
    ctx = build_context(container_of(client).settings, FAST)
    try:
        run_next(ctx)
    finally:
        ctx.close()
    done = wait_for(client, key, job_id)
    assert done["status"] == "completed", done
    return key, str(done["result_id"])


def test_configured_model_rewrites_the_findings_once_per_result(
    make_client: Callable[..., TestClient], chat: _ChatServer
) -> None:
    client = make_client(llm_base_url=chat.url, llm_api_key=SECRET, llm_model="local-model")
    key, result_id = _completed_result(client)
    url = f"/api/v1/backtest/results/{result_id}/analysis"
    first = assert_ok(client.get(url, headers=bearer(key)))
    assert first["method"].endswith("+llm")
    assert first["narrative"] == f"Verdict: {first['verdict']}. {first['summary']}"
    assert first["narrative_error"] is None
    headers, payload = chat.requests[0]
    assert headers["Authorization"] == f"Bearer {SECRET}"
    assert payload["model"] == "local-model"
    assert payload["temperature"] == 0
    assert json.loads(payload["messages"][1]["content"])["findings"] == first["findings"]
    again = assert_ok(client.get(url, headers=bearer(key)))
    assert again["narrative"] == first["narrative"]
    assert len(chat.requests) == 1  # cached: results never change


def test_failing_model_keeps_the_rule_based_analysis(
    make_client: Callable[..., TestClient],
) -> None:
    with _ChatServer(status=500) as broken:
        client = make_client(llm_base_url=broken.url, llm_api_key=SECRET)
        key, result_id = _completed_result(client)
        response = client.get(f"/api/v1/backtest/results/{result_id}/analysis", headers=bearer(key))
    data = assert_ok(response)
    assert data["narrative"] is None
    assert data["narrative_error"].startswith("LLM_UNAVAILABLE")
    assert "+llm" not in data["method"]
    assert SECRET not in response.text


def test_without_configuration_no_model_is_called(
    make_client: Callable[..., TestClient], chat: _ChatServer
) -> None:
    client = make_client()
    key, result_id = _completed_result(client)
    data = assert_ok(
        client.get(f"/api/v1/backtest/results/{result_id}/analysis", headers=bearer(key))
    )
    assert data["narrative"] is None
    assert chat.requests == []
