"""Failed dashboard logins count against the API login's per-address limit."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api_support import create_user
from conftest import T0, SettingsFactory
from tradeforge.api.app import create_app
from tradeforge.core.clock import FrozenClock

from ._support import login_form


def test_login_failures_are_rate_limited_per_address(
    make_settings: SettingsFactory, sqlite_url: str
) -> None:
    app = create_app(make_settings(sqlite_url), clock=FrozenClock(T0))
    with TestClient(app, raise_server_exceptions=False) as client:
        create_user(app, "limited@example.com")
        codes = [
            login_form(client, "limited@example.com", password="wrong password!").status_code
            for _ in range(11)
        ]
        assert codes[:10] == [401] * 10
        assert codes[10] == 429
        blocked = login_form(client, "limited@example.com")  # even the right password
        assert blocked.status_code == 429
        assert 'data-error-code="RATE_LIMITED"' in blocked.text
        assert "tf_session" not in client.cookies
