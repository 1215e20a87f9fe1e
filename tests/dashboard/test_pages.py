"""Dashboard pages through a TestClient: login, CSRF, claim, agents, backtest access,
arena, headers and bad input (never a 500)."""

from __future__ import annotations

import html
import json
import re

import pytest

from api_support import assert_error, assert_ok, bearer, create_user
from tradeforge.api.dashboard.present import ALIASES
from tradeforge.api.dashboard.security import CONTENT_SECURITY_POLICY, safe_next

from ._support import API, ORIGIN, Dash, Owned, Person, csrf_of, login_form


def _error_code(page_html: str) -> str | None:
    match = re.search(r'data-error-code="([A-Z_]+)"', page_html)
    return None if match is None else match.group(1)


# -- login, redirects, logout ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/dashboard/agents", "/dashboard/claim"])
def test_page_logged_out_redirects_to_login_with_next(dash: Dash, path: str) -> None:
    response = dash.browser_client().get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/dashboard/login?next={path.replace('/', '%2F')}"


def test_backtest_logged_out_redirects_alike_for_real_and_unknown_ids(
    dash: Dash, owned: Owned
) -> None:
    client = dash.browser_client()
    real = client.get(f"/dashboard/backtests/{owned.result_id}", follow_redirects=False)
    fake = client.get("/dashboard/backtests/res_000000000000000000000000", follow_redirects=False)
    assert real.status_code == fake.status_code == 303
    assert real.headers["location"].startswith("/dashboard/login?next=%2Fdashboard%2Fbacktests")


def test_login_then_redirect_to_next_and_session_cookie_flags(dash: Dash) -> None:
    create_user(dash.app, "login-next@example.com")
    client = dash.browser_client()
    response = login_form(client, "login-next@example.com", next="/dashboard/claim")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/dashboard/claim"
    cookie = next(
        value
        for name, value in response.headers.multi_items()
        if name == "set-cookie" and value.startswith("tf_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # public URL is http here
    assert client.get("/dashboard/claim").status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/x",
        "//evil.example/x",
        "/\\evil.example",
        "/api/v1/meta/health",
        "javascript:alert(1)",
        "/dashboard/login",
        "/dashboard/\nx",
    ],
)
def test_next_must_be_a_local_dashboard_path(target: str) -> None:
    assert safe_next(target) == "/dashboard/agents"


def test_next_keeps_a_dashboard_path_with_query() -> None:
    assert safe_next("/dashboard/arena?sort=new") == "/dashboard/arena?sort=new"


def test_login_form_refuses_an_open_redirect(dash: Dash) -> None:
    create_user(dash.app, "open-redirect@example.com")
    client = dash.browser_client()
    response = login_form(client, "open-redirect@example.com", next="https://evil.example/")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/agents"


def test_wrong_password_is_an_inline_error(dash: Dash) -> None:
    create_user(dash.app, "wrong-pass@example.com")
    client = dash.browser_client()
    response = login_form(client, "wrong-pass@example.com", password="not the password")
    assert response.status_code == 401
    assert _error_code(response.text) == "INVALID_CREDENTIALS"
    assert 'id="login-form"' in response.text
    assert 'value="wrong-pass@example.com"' in response.text
    assert "tf_session" not in client.cookies


def test_logout_is_a_post_that_ends_the_session(dash: Dash) -> None:
    person = dash.person("logout")
    token = person.client.cookies["tf_session"]
    assert person.client.get("/dashboard/logout").status_code == 405
    refused = person.post_form("/dashboard/logout", {"csrf_token": "0" * 64})
    assert refused.status_code == 403
    response = person.post_form("/dashboard/logout", {"csrf_token": person.csrf()})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"
    # The session is gone on the server, not just the cookie in this browser.
    assert_error(
        dash.client.get(f"{API}/auth/me", headers=bearer(token)), 401, "AUTHENTICATION_REQUIRED"
    )


def test_a_stale_session_cookie_is_treated_as_logged_out(dash: Dash) -> None:
    client = dash.browser_client()
    client.cookies.set("tf_session", "tf_sess_not-a-real-token")
    response = client.get("/dashboard/agents", follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/dashboard/arena").status_code == 200


# -- CSRF --------------------------------------------------------------------------------------


def test_post_without_csrf_token_is_a_403_page(visitor: Person) -> None:
    response = visitor.post_form("/dashboard/claim", {"claim_code": "123456"})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert _error_code(response.text) == "CSRF_CHECK_FAILED"


def test_csrf_token_of_another_session_is_refused(visitor: Person, owned: Owned) -> None:
    alice, bob = visitor, owned.person
    response = alice.post_form(
        "/dashboard/claim", {"claim_code": "123456", "csrf_token": bob.csrf()}
    )
    assert response.status_code == 403
    assert _error_code(response.text) == "CSRF_CHECK_FAILED"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {},
    ],
    ids=["foreign-origin", "null-origin", "foreign-referer", "no-origin-no-referer"],
)
def test_cross_site_form_post_is_refused_even_with_a_token(
    visitor: Person, headers: dict[str, str]
) -> None:
    token = visitor.csrf()
    response = visitor.client.post(
        "/dashboard/claim",
        data={"claim_code": "123456", "csrf_token": token},
        headers=headers,
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert _error_code(response.text) == "CSRF_CHECK_FAILED"


def test_same_origin_referer_is_accepted(visitor: Person) -> None:
    token = visitor.csrf()
    response = visitor.client.post(
        "/dashboard/claim",
        data={"claim_code": "000000", "csrf_token": token},
        headers={"Referer": f"{ORIGIN}/dashboard/claim"},
    )
    assert response.status_code == 400
    assert _error_code(response.text) == "INVALID_CLAIM_CODE"


def test_login_post_needs_the_login_form_token(dash: Dash) -> None:
    create_user(dash.app, "login-csrf@example.com")
    client = dash.browser_client()
    response = client.post(
        "/dashboard/login",
        data={"email": "login-csrf@example.com", "password": "x", "csrf_token": "0" * 64},
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 403
    assert _error_code(response.text) == "CSRF_CHECK_FAILED"


# -- claim -------------------------------------------------------------------------------------


def test_bad_claim_codes_are_inline_errors(dash: Dash) -> None:
    person = dash.person("badcode")
    for code in ("000000", "abc123", "12345", "１２３４５６", "'; drop table--"):
        form = {"claim_code": code, "csrf_token": person.csrf()}
        response = person.post_form("/dashboard/claim", form)
        assert response.status_code == 400, code
        assert _error_code(response.text) == "INVALID_CLAIM_CODE", code
        assert 'id="claim-form"' in response.text  # the form is still there to retry


def test_an_oversized_claim_code_is_a_400_page_not_a_500(visitor: Person) -> None:
    response = visitor.post_form(
        "/dashboard/claim", {"claim_code": "9" * 100_000, "csrf_token": visitor.csrf()}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert _error_code(response.text) == "VALIDATION_ERROR"


def test_claim_grants_trade_only_when_chosen(dash: Dash) -> None:
    person = dash.person("claimer")
    plain, trader = dash.agent("Plain Agent"), dash.agent("Trading Agent")
    first = dash.claim(person, plain)
    assert first.status_code == 200, first.text
    assert "Plain Agent" in first.text
    assert plain["agent_id"] in first.text
    assert ">read<" in first.text
    assert ">research<" in first.text
    assert ">trade<" not in first.text
    second = dash.claim(person, trader, "trade")
    assert ">trade<" in second.text
    me = assert_ok(dash.client.get(f"{API}/meta/agents/me", headers=bearer(trader["key"])))
    assert me["scopes"] == ["read", "research", "trade"]
    assert me["owner_email"] == person.email
    # A scope name other than trade in the form is ignored, never granted.
    other = dash.agent("Sneaky")
    dash.claim(person, other, "admin")
    me = assert_ok(dash.client.get(f"{API}/meta/agents/me", headers=bearer(other["key"])))
    assert me["scopes"] == ["read", "research"]


def test_agent_limit_is_an_inline_error(dash: Dash) -> None:
    person = dash.person("limit")
    for index in range(dash.settings.max_agents_per_user):
        assert dash.claim(person, dash.agent(f"Agent {index}")).status_code == 200
    response = dash.claim(person, dash.agent("One Too Many"))
    assert response.status_code == 409
    assert _error_code(response.text) == "AGENT_LIMIT_REACHED"
    assert "/dashboard/agents" in response.text  # the suggestion says where to revoke


# -- agents ------------------------------------------------------------------------------------


def test_agents_page_shows_key_prefixes_scopes_and_quota(dash: Dash, owned: Owned) -> None:
    page = owned.person.client.get("/dashboard/agents")
    assert page.status_code == 200
    me = assert_ok(dash.client.get(f"{API}/meta/agents/me", headers=bearer(owned.agent["key"])))
    assert f"{me['key_prefix']}…" in page.text
    assert owned.agent["key"] not in page.text  # the secret part never appears
    assert "RSI Bot" in page.text
    assert "<meter" in page.text
    assert "backtests" in page.text
    assert f"/dashboard/backtests/{owned.result_id}" in page.text  # recent backtests


def test_revoke_a_key_from_the_agents_page(dash: Dash) -> None:
    person = dash.person("revoker")
    agent = dash.agent("Doomed")
    dash.claim(person, agent)
    me = assert_ok(dash.client.get(f"{API}/meta/agents/me", headers=bearer(agent["key"])))
    page = person.client.get("/dashboard/agents").text
    response = person.post_form(
        f"/dashboard/agents/keys/{me['key_id']}/revoke", {"csrf_token": csrf_of(page)}
    )
    assert response.status_code == 303
    after = person.client.get(response.headers["location"])
    assert 'id="revoke-success"' in after.text
    assert "revoked</span>" in after.text
    assert_error(
        dash.client.get(f"{API}/meta/agents/me", headers=bearer(agent["key"])),
        401,
        "INVALID_API_KEY",
    )


def test_revoking_another_users_key_is_a_404_page(
    dash: Dash, owned: Owned, visitor: Person
) -> None:
    me = assert_ok(dash.client.get(f"{API}/meta/agents/me", headers=bearer(owned.agent["key"])))
    intruder = visitor
    response = intruder.post_form(
        f"/dashboard/agents/keys/{me['key_id']}/revoke", {"csrf_token": intruder.csrf()}
    )
    assert response.status_code == 404
    assert _error_code(response.text) == "KEY_NOT_FOUND"
    assert_ok(dash.client.get(f"{API}/meta/agents/me", headers=bearer(owned.agent["key"])))


# -- backtest page -----------------------------------------------------------------------------


def test_owner_sees_the_backtest_with_the_apis_metrics(dash: Dash, owned: Owned) -> None:
    page = owned.person.client.get(f"/dashboard/backtests/{owned.result_id}")
    assert page.status_code == 200, page.text
    api = assert_ok(
        dash.client.get(
            f"{API}/backtest/results/{owned.result_id}/metrics",
            headers=bearer(owned.agent["key"]),
        )
    )["metrics"]
    shown = dict(re.findall(r'data-metric="([a-z_]+)" data-value="([^"]*)"', page.text))
    assert set(shown) == set(api) - ALIASES
    for name in shown:
        assert json.loads(html.unescape(shown[name])) == api[name], name
    summary = assert_ok(
        dash.client.get(
            f"{API}/backtest/results/{owned.result_id}", headers=bearer(owned.agent["key"])
        )
    )
    assert summary["dashboard_url"].endswith(f"/dashboard/backtests/{owned.result_id}")
    assert summary["fingerprint"] in page.text
    assert 'data-ticker="BINANCE:BTC/USDT"' in page.text
    assert '<span class="tok-function">rsi</span>' in page.text
    assert '<span class="tok-action">emit_signal</span>' in page.text


def test_script_and_description_are_escaped(owned: Owned) -> None:
    page = owned.person.client.get(f"/dashboard/backtests/{owned.result_id}").text
    assert "<script>alert(" not in page
    assert "&lt;/code&gt;&lt;script&gt;alert(" in page


def test_another_user_gets_the_same_404_as_for_an_unknown_id(visitor: Person, owned: Owned) -> None:
    other = visitor
    mine = other.client.get(f"/dashboard/backtests/{owned.result_id}")
    fake = other.client.get("/dashboard/backtests/res_ffffffffffffffffffffffff")
    assert mine.status_code == fake.status_code == 404
    assert _error_code(mine.text) == _error_code(fake.text) == "BACKTEST_NOT_FOUND"

    def masked(text: str, ident: str) -> str:
        text = re.sub(r"Request id: <code>[0-9a-f]+</code>", "", text)
        return text.replace(ident, "<id>")

    assert masked(mine.text, owned.result_id) == masked(fake.text, "res_ffffffffffffffffffffffff")


def test_trade_pages_clamp_odd_page_numbers(owned: Owned) -> None:
    client = owned.person.client
    url = f"/dashboard/backtests/{owned.result_id}"
    last = client.get(url, params={"page": "999999999999999999999"})
    assert last.status_code == 200
    for odd in ("abc", "-3", "0", "1e9", ""):
        response = client.get(url, params={"page": odd})
        assert response.status_code == 200, odd
        assert 'id="trade-table"' in response.text


def test_a_result_attached_to_a_post_is_public(dash: Dash) -> None:
    agent = dash.agent("Show-off")
    result_id = dash.run_backtest(agent, description="Public RSI")
    body = {
        "category": "show_tell",
        "title": "My RSI backtest",
        "content": "Look at **this**.",
        "strategy_settings_id": result_id,
    }
    post = assert_ok(
        dash.client.post(f"{API}/arena/posts", json=body, headers=bearer(agent["key"]))
    )
    anonymous = dash.browser_client()
    page = anonymous.get(f"/dashboard/backtests/{result_id}")
    assert page.status_code == 200
    assert "Public RSI" in page.text
    equity = anonymous.get(f"/dashboard/data/backtests/{result_id}/equity")
    assert equity.status_code == 200
    post_page = anonymous.get(f"/dashboard/arena/posts/{post['id']}")
    assert post_page.status_code == 200
    assert f"/dashboard/backtests/{result_id}" in post_page.text
    assert "<strong>this</strong>" in post_page.text
    curve = assert_ok(anonymous.get(f"/dashboard/data/arena/posts/{post['id']}/equity"))
    assert len(curve["t"]) == len(curve["equity"]) > 10


# -- arena and leaderboard ---------------------------------------------------------------------


def test_arena_feed_filters_and_bad_values(dash: Dash) -> None:
    agent = dash.agent("Poster")
    body = {"category": "market_talk", "title": "Feed post", "content": "Hello arena."}
    assert_ok(dash.client.post(f"{API}/arena/posts", json=body, headers=bearer(agent["key"])))
    client = dash.browser_client()
    assert "Feed post" in client.get("/dashboard/arena").text
    assert "Feed post" in client.get("/dashboard/arena", params={"category": "market_talk"}).text
    assert "Feed post" not in client.get("/dashboard/arena", params={"category": "show_tell"}).text
    weird = client.get("/dashboard/arena", params={"sort": "<x>", "period": "forever"})
    assert weird.status_code == 200
    bad_cursor = client.get("/dashboard/arena", params={"cursor": "garbage"})
    assert bad_cursor.status_code == 400
    assert bad_cursor.headers["content-type"].startswith("text/html")
    assert client.get("/dashboard/arena/posts/nope").status_code == 404


@pytest.mark.parametrize("sort", ["roi", "sharpe", "calmar", "posts", "bogus"])
def test_leaderboard_renders(dash: Dash, sort: str) -> None:
    response = dash.browser_client().get("/dashboard/leaderboard", params={"sort": sort})
    assert response.status_code == 200
    assert 'id="leaderboard"' in response.text


def test_user_content_is_escaped_everywhere(dash: Dash) -> None:
    evil = "<img src=x onerror=alert(1)>"
    agent = dash.agent(f"Mallory {evil}")
    body = {
        "category": "strategy_ideas",
        "title": f"Title <script>alert(2)</script> {evil}",
        "content": "Body <script>alert(3)</script> [x](javascript:alert(4))",
        "tags": ["xss"],
    }
    post = assert_ok(
        dash.client.post(f"{API}/arena/posts", json=body, headers=bearer(agent["key"]))
    )
    comment = {"content": f"Comment {evil} <script>alert(5)</script>"}
    assert_ok(
        dash.client.post(
            f"{API}/arena/posts/{post['id']}/comments", json=comment, headers=bearer(agent["key"])
        )
    )
    client = dash.browser_client()
    pages = [
        client.get("/dashboard/arena").text,
        client.get(f"/dashboard/arena/posts/{post['id']}").text,
        client.get("/dashboard/leaderboard", params={"sort": "posts"}).text,
    ]
    person = dash.person("xss")
    pages.append(dash.claim(person, agent).text)
    pages.append(person.client.get("/dashboard/agents").text)
    for page in pages:
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert 'href="javascript:' not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages[1]


# -- headers, errors, static -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/login",
        "/dashboard/arena",
        "/dashboard/nope",
        "/dashboard/data/backtests/x/equity",
    ],
)
def test_dashboard_security_headers(dash: Dash, path: str) -> None:
    response = dash.browser_client().get(path)
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    assert headers.get_list("x-content-type-options") == ["nosniff"]
    assert headers.get_list("referrer-policy") == ["same-origin"]
    assert headers.get_list("x-frame-options") == ["DENY"]
    assert headers["cache-control"] == "no-store"


def test_pages_have_no_inline_script_or_style(dash: Dash, owned: Owned) -> None:
    pages = [
        owned.person.client.get(f"/dashboard/backtests/{owned.result_id}").text,
        owned.person.client.get("/dashboard/agents").text,
        owned.person.client.get("/dashboard/claim").text,
        dash.browser_client().get("/dashboard/login").text,
    ]
    for page in pages:
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
        assert " style=" not in page
        assert "<style" not in page
        assert not re.search(r"\son[a-z]+=", page)


def test_api_headers_are_unchanged(dash: Dash) -> None:
    response = dash.client.get(f"{API}/meta/health")
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" not in response.headers


def test_unknown_dashboard_path_is_an_html_404(dash: Dash) -> None:
    response = dash.browser_client().get("/dashboard/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "NOT_FOUND" in response.text


def test_static_assets_and_vendored_chart_library(dash: Dash) -> None:
    client = dash.browser_client()
    library = client.get(
        "/dashboard/static/vendor/lightweight-charts/lightweight-charts.standalone.production.js"
    )
    assert library.status_code == 200
    assert "Lightweight Charts" in library.text[:400]
    assert (
        "Apache License" in client.get("/dashboard/static/vendor/lightweight-charts/LICENSE").text
    )
    notice = client.get("/dashboard/static/vendor/lightweight-charts/NOTICE.txt").text
    assert "5.2.1" in notice
    for asset in ("css/dashboard.css", "js/theme.js", "js/charts.js", "js/backtest.js"):
        response = client.get(f"/dashboard/static/{asset}")
        assert response.status_code == 200, asset
        assert response.headers["cache-control"].startswith("public")
    assert client.get("/dashboard/static/../templates/base.html").status_code == 404


def test_dashboard_routes_are_not_in_the_openapi_document(dash: Dash) -> None:
    paths = dash.client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/dashboard")]


def test_dashboard_guide_is_served(dash: Dash) -> None:
    response = dash.client.get(f"{API}/docs/dashboard", headers={"Accept": "text/markdown"})
    assert response.status_code == 200
    assert "Who may see a backtest" in response.text
