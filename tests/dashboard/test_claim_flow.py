"""The two-step claim form: look the code up (nothing is used up), then confirm.

Failed lookups and failed confirmations count against the user's claim-attempt counter
(shared with ``POST /api/v1/meta/claim``) and a per-address counter.
"""

from __future__ import annotations

import itertools
import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_support import assert_error, assert_ok, bearer, create_user, login
from tradeforge.core.clock import FrozenClock

from ._support import (
    API,
    Dash,
    Person,
    confirm_claim,
    confirm_fields,
    csrf_of,
    login_form,
    preview_claim,
)

_PEOPLE = itertools.count(1)


def _error_code(page_html: str) -> str | None:
    match = re.search(r'data-error-code="([A-Z_]+)"', page_html)
    return None if match is None else match.group(1)


def _me(dash: Dash, agent: dict[str, Any]) -> Any:
    return assert_ok(dash.client.get(f"{API}/meta/agents/me", headers=bearer(agent["key"])))


def _person_at(dash: Dash, address: str, prefix: str) -> Person:
    """A logged-in user whose requests come from ``address``."""
    email = f"{prefix}{next(_PEOPLE)}@example.com"
    create_user(dash.app, email)
    client = TestClient(dash.app, raise_server_exceptions=False, client=(address, 50000))
    assert login_form(client, email).status_code == 303
    return Person(email, client)


def _fail(person: Person, times: int) -> None:
    for _ in range(times):
        response = preview_claim(person, "000000")
        assert _error_code(response.text) == "INVALID_CLAIM_CODE", response.text[:500]


def test_preview_shows_the_agent_and_does_not_use_the_code(dash: Dash) -> None:
    person = dash.person("preview")
    agent = dash.agent("Preview Bot")
    code = dash.claim_code(agent)
    first = preview_claim(person, code)
    assert first.status_code == 200, first.text
    page = first.text
    assert 'data-step="confirm"' in page
    assert "Preview Bot" in page
    assert agent["agent_id"] in page
    assert 'id="preview-registered">2' in page  # the registration time, in UTC
    assert "Scopes asked for" in page
    # trade is offered, explained and not ticked; research and read are fixed.
    trade = re.search(r'<input type="checkbox" name="scopes" value="trade"[^>]*>', page)
    assert trade is not None
    assert "checked" not in trade.group(0)
    assert "Only grant this to an agent you trust" in page
    assert confirm_fields(page)["claim_code"] == code
    assert agent["agent_id"] not in str(confirm_fields(page))  # no hidden agent id
    # Nothing was used up or changed: the agent is unclaimed and the code still works.
    assert _me(dash, agent)["claimed"] is False
    again = preview_claim(person, code)
    assert again.status_code == 200
    claimed = confirm_claim(person, again.text)
    assert claimed.status_code == 200, claimed.text
    assert 'id="claim-success"' in claimed.text
    assert "Preview Bot" in claimed.text
    me = _me(dash, agent)
    assert me["owner_email"] == person.email
    assert me["scopes"] == ["read", "research"]
    # The code is used up now.
    used = preview_claim(person, code)
    assert used.status_code == 400
    assert _error_code(used.text) == "INVALID_CLAIM_CODE"


def test_confirmation_page_has_no_inline_script_and_escapes_the_profile(dash: Dash) -> None:
    person = dash.person("escape")
    agent = dash.agent("Escaper")
    code = str(
        assert_ok(
            dash.client.post(
                f"{API}/meta/request-claim",
                headers=bearer(agent["key"]),
                json={"display_name": "<script>alert(1)</script>", "description": "<img src=x>"},
            )
        )["claim_code"]
    )
    page = preview_claim(person, code).text
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;img src=x&gt;" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert " style=" not in page
    assert not re.search(r"\son[a-z]+=", page)


def test_the_code_is_never_in_a_url_or_a_log(dash: Dash, caplog: pytest.LogCaptureFixture) -> None:
    person = dash.person("nolog")
    agent = dash.agent("Quiet Bot")
    code = dash.claim_code(agent)
    with caplog.at_level(logging.DEBUG):
        page = preview_claim(person, code)
        done = confirm_claim(person, page.text)
    assert done.status_code == 200
    assert 'method="post" action="/dashboard/claim/confirm"' in page.text
    for record in caplog.records:
        assert code not in record.getMessage()
        assert code not in str(record.__dict__)
    # A code in the query string is neither used nor shown.
    form = person.client.get("/dashboard/claim", params={"claim_code": code})
    assert form.status_code == 200
    assert code not in form.text
    assert 'data-step="code"' in form.text
    assert person.client.get("/dashboard/claim/confirm").status_code == 405


def test_a_wrong_code_is_an_inline_error_on_the_first_step(dash: Dash) -> None:
    person = dash.person("wrong")
    response = preview_claim(person, "999999")
    assert response.status_code == 400
    assert _error_code(response.text) == "INVALID_CLAIM_CODE"
    assert 'id="claim-form"' in response.text
    assert 'data-step="code"' in response.text


def test_an_expired_code_is_refused_on_both_steps(dash: Dash) -> None:
    clock = dash.app.state.container.clock
    assert isinstance(clock, FrozenClock)
    person = dash.person("expired")
    late, stale = dash.agent("Late Bot"), dash.agent("Stale Bot")
    late_code = dash.claim_code(late)
    page = preview_claim(person, dash.claim_code(stale))
    assert page.status_code == 200
    clock.advance(timedelta(minutes=31))
    response = preview_claim(person, late_code)
    assert response.status_code == 400
    assert _error_code(response.text) == "INVALID_CLAIM_CODE"
    response = confirm_claim(person, page.text)
    assert response.status_code == 400
    assert _error_code(response.text) == "INVALID_CLAIM_CODE"
    assert 'id="claim-form"' in response.text  # back to step 1, to enter a new code
    assert _me(dash, stale)["claimed"] is False


def test_a_code_used_between_the_steps_is_refused(dash: Dash) -> None:
    person = dash.person("raced")
    agent = dash.agent("Raced Bot")
    code = dash.claim_code(agent)
    page = preview_claim(person, code)
    assert page.status_code == 200
    token = login(dash.client, person.email)
    assert_ok(
        dash.client.post(f"{API}/meta/claim", headers=bearer(token), json={"claim_code": code})
    )
    response = confirm_claim(person, page.text, "trade")
    assert response.status_code == 400
    assert _error_code(response.text) == "INVALID_CLAIM_CODE"
    assert _me(dash, agent)["scopes"] == ["read", "research"]  # trade was not granted


def test_confirm_with_a_different_code_or_reference_is_refused(dash: Dash) -> None:
    person = dash.person("tamper")
    seen, other = dash.agent("Seen Bot"), dash.agent("Other Bot")
    page = preview_claim(person, dash.claim_code(seen)).text
    other_code = dash.claim_code(other)
    other_page = preview_claim(person, other_code).text
    tampered = [
        {"claim_code": other_code},  # a valid code for another agent
        {"claim_code": "123456"},
        {"claim_ref": confirm_fields(other_page)["claim_ref"]},
        {"claim_ref": "0" * 32},
        {"claim_ref": ""},
    ]
    for changes in tampered:
        response = confirm_claim(person, page, **changes)
        assert response.status_code == 400, changes
        assert _error_code(response.text) == "INVALID_CLAIM_CODE", changes
    assert _me(dash, seen)["claimed"] is False
    assert _me(dash, other)["claimed"] is False
    # The untampered confirmation still works for each.
    assert confirm_claim(person, page).status_code == 200
    assert confirm_claim(person, other_page).status_code == 200
    assert _me(dash, seen)["owner_email"] == person.email
    assert _me(dash, other)["owner_email"] == person.email


def test_csrf_is_required_on_both_steps(dash: Dash) -> None:
    person, other = dash.person("csrf"), dash.person("csrf-other")
    agent = dash.agent("Guarded Bot")
    code = dash.claim_code(agent)
    for form in ({"claim_code": code}, {"claim_code": code, "csrf_token": other.csrf()}):
        response = person.post_form("/dashboard/claim", form)
        assert response.status_code == 403
        assert _error_code(response.text) == "CSRF_CHECK_FAILED"
    page = preview_claim(person, code).text
    fields = {**confirm_fields(page), "scopes": ["trade"]}
    refused = [
        person.post_form("/dashboard/claim/confirm", fields),
        person.post_form("/dashboard/claim/confirm", {**fields, "csrf_token": other.csrf()}),
        person.client.post(
            "/dashboard/claim/confirm",
            data={**fields, "csrf_token": csrf_of(page)},
            headers={"Origin": "https://evil.example"},
        ),
    ]
    for response in refused:
        assert response.status_code == 403
        assert _error_code(response.text) == "CSRF_CHECK_FAILED"
    assert _me(dash, agent)["claimed"] is False
    assert confirm_claim(person, page).status_code == 200  # the code was not used up


def test_trade_is_granted_only_when_ticked(dash: Dash) -> None:
    person = dash.person("trade")
    plain, trader, sneaky = dash.agent("Plain"), dash.agent("Trader"), dash.agent("Sneaky")
    assert dash.claim(person, plain).status_code == 200
    done = dash.claim(person, trader, "trade")
    assert done.status_code == 200
    assert ">trade<" in done.text
    assert dash.claim(person, sneaky, "admin", "research").status_code == 200
    assert _me(dash, plain)["scopes"] == ["read", "research"]
    assert _me(dash, trader)["scopes"] == ["read", "research", "trade"]
    assert _me(dash, sneaky)["scopes"] == ["read", "research"]


def test_agent_limit_is_shown_on_either_step(dash: Dash) -> None:
    person = dash.person("full")
    for index in range(dash.settings.max_agents_per_user - 1):
        assert dash.claim(person, dash.agent(f"Kept {index}")).status_code == 200
    first = preview_claim(person, dash.claim_code(dash.agent("First")))
    last = preview_claim(person, dash.claim_code(dash.agent("Last")))
    assert confirm_claim(person, last.text).status_code == 200  # now at the limit
    response = confirm_claim(person, first.text)
    assert response.status_code == 409
    assert _error_code(response.text) == "AGENT_LIMIT_REACHED"
    response = preview_claim(person, dash.claim_code(dash.agent("Another")))
    assert response.status_code == 409
    assert _error_code(response.text) == "AGENT_LIMIT_REACHED"
    assert "/dashboard/agents" in response.text


def test_failed_lookups_and_claims_share_the_users_limit(dash: Dash) -> None:
    person = _person_at(dash, "198.51.100.10", "limited")
    agent = dash.agent("Behind The Limit")
    code = dash.claim_code(agent)
    page = preview_claim(person, code)  # a successful lookup costs nothing
    _fail(person, 8)
    tampered = confirm_claim(person, page.text, claim_code="000001")  # the 9th failure
    assert _error_code(tampered.text) == "INVALID_CLAIM_CODE"
    token = login(dash.client, person.email)
    assert_error(  # the 10th, through the API: the same counter
        dash.client.post(f"{API}/meta/claim", headers=bearer(token), json={"claim_code": "1"}),
        400,
        "INVALID_CLAIM_CODE",
    )
    blocked = preview_claim(person, code)  # even the right code
    assert blocked.status_code == 429
    assert _error_code(blocked.text) == "RATE_LIMITED"
    retry = int(blocked.headers["retry-after"])
    assert 0 < retry <= 900
    assert f'data-retry-after="{retry}"' in blocked.text
    assert f"{retry} seconds" in blocked.text
    assert confirm_claim(person, page.text).status_code == 429  # confirming too
    assert_error(
        dash.client.post(f"{API}/meta/claim", headers=bearer(token), json={"claim_code": code}),
        429,
        "RATE_LIMITED",
    )
    assert _me(dash, agent)["claimed"] is False
    # Another user from another address is not affected.
    other = _person_at(dash, "198.51.100.11", "unaffected")
    assert dash.claim(other, agent).status_code == 200


def test_failed_lookups_are_limited_per_address(dash: Dash) -> None:
    address = "203.0.113.7"
    for _ in range(3):
        _fail(_person_at(dash, address, "crowd"), 8)  # under each user's own limit
    _fail(_person_at(dash, address, "crowd"), 6)  # 30 failures from this address
    agent = dash.agent("Address Limited")
    fresh = _person_at(dash, address, "fresh")
    response = preview_claim(fresh, dash.claim_code(agent))
    assert response.status_code == 429
    assert _error_code(response.text) == "RATE_LIMITED"
    elsewhere = _person_at(dash, "203.0.113.8", "elsewhere")
    assert dash.claim(elsewhere, agent).status_code == 200
