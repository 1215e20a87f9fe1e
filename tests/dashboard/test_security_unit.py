"""The dashboard's security helpers on their own: CSRF tokens, origins, cookies, the DSL
highlighter's escaping contract."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from tradeforge.api.dashboard.highlight import highlight
from tradeforge.api.dashboard.security import (
    csrf_matches,
    csrf_token,
    is_same_origin,
    set_session_cookie,
)
from tradeforge.config import Settings


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, environment="test", **values)  # type: ignore[arg-type]


def _request(host: str, headers: dict[str, str], scheme: str = "http") -> Request:
    raw = [(b"host", host.encode())] + [
        (k.lower().encode(), v.encode()) for k, v in headers.items()
    ]
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": scheme,
        "path": "/dashboard/claim",
        "query_string": b"",
        "headers": raw,
        "server": (host.split(":")[0], 80),
    }
    return Request(scope)


def test_csrf_token_is_bound_to_the_session_and_to_the_server_secret(tmp_path: Path) -> None:
    plain = _settings(tmp_path)
    keyed = _settings(tmp_path, secret_key="s3cret")
    token = csrf_token(plain, "tf_sess_a")
    assert len(token) == 64
    assert csrf_matches(plain, "tf_sess_a", token)
    assert not csrf_matches(plain, "tf_sess_b", token)
    assert not csrf_matches(keyed, "tf_sess_a", token)
    assert not csrf_matches(plain, None, token)
    assert not csrf_matches(plain, "tf_sess_a", token[:-1])
    assert not csrf_matches(plain, "tf_sess_a", ["not", "a", "string"])


def test_same_origin_accepts_the_public_url_behind_a_proxy(tmp_path: Path) -> None:
    settings = _settings(tmp_path, public_url="https://trade.example.com")
    # The proxy forwards to 127.0.0.1:8000; the browser says where it really was.
    inside = _request("127.0.0.1:8000", {"Origin": "https://trade.example.com"})
    assert is_same_origin(inside, settings)
    assert is_same_origin(_request("127.0.0.1:8000", {"Origin": "http://127.0.0.1:8000"}), settings)
    assert not is_same_origin(_request("127.0.0.1:8000", {"Origin": "https://evil.com"}), settings)
    spoofed = _request("127.0.0.1:8000", {"Origin": "https://trade.example.com.evil.com"})
    assert not is_same_origin(spoofed, settings)


def test_session_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    response = Response()
    set_session_cookie(
        response, _settings(tmp_path, public_url="https://trade.example.com"), "t", 60
    )
    cookie = response.headers["set-cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Max-Age=60" in cookie


def test_highlighter_keeps_every_character_and_never_fails() -> None:
    sources = [
        'x = rsi(close, 14) < 30  # "note"\nemit_signal(x, entry("A", "LONG", Weight(0.5)))',
        "unterminated 'string\n<script>\x00\u202e",
        "",
        "((((" * 1000,
    ]
    for source in sources:
        tokens = highlight(source)
        assert "".join(token.text for token in tokens) == source
    kinds = {token.text: token.kind for token in highlight(sources[0])}
    assert kinds["rsi"] == "function"
    assert kinds["close"] == "data"
    assert kinds["emit_signal"] == "action"
    assert kinds["14"] == "number"
    assert kinds['# "note"'] == "comment"
