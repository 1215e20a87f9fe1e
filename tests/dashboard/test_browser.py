"""The dashboard in a real browser: Debian's Chromium driven by Playwright against a real
``tradeforge serve`` process.

Chromium is installed by ``scripts/ensure-services.sh`` (``apt-get install chromium``);
when it is missing these tests FAIL with instructions, they are never skipped. Every page
must load without a JavaScript console error (CSP violations are console errors too).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from api_support import PASSWORD
from tradeforge.api.dashboard.present import ALIASES

from ._browser_site import Site, early_site, wait_for_result

CHROMIUM = Path(os.environ.get("TRADEFORGE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: True when some canvas matching the selector shows more than a few distinct colours.
COLOURS_ON_CANVAS = """selector => Array.from(document.querySelectorAll(selector)).some(c => {
    if (!c.width || !c.height) return false;
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < px.length; i += 4 * 97) {
        seen.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
    }
    return seen.size > 3;
})"""


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest) -> Site:
    """The server, started early (see ``conftest.pytest_collection_modifyitems``)."""
    return early_site(request)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is required by the dashboard tests but {CHROMIUM} does not exist. "
            "Install it with 'apt-get install chromium' (scripts/ensure-services.sh does), "
            "or point TRADEFORGE_TEST_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:  # pragma: no cover - dev extras missing
        pytest.fail(f"Playwright is not installed ({error}); pip install -e '.[dev]'.")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser tab (own cookies); console errors fail the test at teardown.

    The one console error tolerated is Chromium's "Failed to load resource" for a page
    whose own status is 4xx (a form answered with its inline error, e.g. 400
    INVALID_CLAIM_CODE); a failing script, stylesheet or JSON request still fails.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[tuple[str, str]] = []
    documents: set[str] = set()

    def on_console(message: Any) -> None:
        if message.type == "error":
            errors.append((message.text, str(message.location.get("url", ""))))

    def on_response(response: Any) -> None:
        if response.request.is_navigation_request() and response.status >= 400:
            documents.add(response.url)

    tab.on("console", on_console)
    tab.on("response", on_response)
    tab.on("pageerror", lambda error: errors.append((f"uncaught: {error}", "")))
    tab.set_default_timeout(15_000)
    yield tab
    context.close()
    unexpected = [
        text
        for text, url in errors
        if not (text.startswith("Failed to load resource") and url in documents)
    ]
    assert not unexpected, f"JavaScript console errors: {unexpected}"


def log_in(page: Any, site: Site, email: str, next_path: str = "") -> None:
    target = f"{site.root}/dashboard/login" + (f"?next={next_path}" if next_path else "")
    page.goto(target)
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state("domcontentloaded")


def test_claim_an_agent_through_the_form(page: Any, site: Site) -> None:
    email = site.user()
    agent = site.agent("Claimable Agent")
    log_in(page, site, email, "/dashboard/claim")
    assert page.url.endswith("/dashboard/claim")

    page.fill("#claim_code", "000000")
    page.click("#claim-form button[type=submit]")
    error = page.locator("#form-error")
    error.wait_for()
    assert error.get_attribute("data-error-code") == "INVALID_CLAIM_CODE"
    assert "INVALID_CLAIM_CODE" in error.inner_text()

    # Step 1 looks the code up; step 2 shows the agent and the scopes, trade unticked.
    page.fill("#claim_code", site.claim_code(agent))
    page.click("#claim-form button[type=submit]")
    page.locator("#confirm-form").wait_for()
    assert page.get_attribute("#claim-step", "data-step") == "confirm"
    assert "Claimable Agent" in page.inner_text("#preview-name")
    assert page.inner_text("#preview-registered").endswith("UTC")
    assert site.call("GET", "/meta/agents/me", key=agent["key"])["claimed"] is False
    trade = page.locator("input[name=scopes][value=trade]")
    assert not trade.is_checked()
    trade.check()
    page.click("#confirm-form button[type=submit]")
    page.locator("#claim-success").wait_for()
    assert "Claimable Agent" in page.inner_text("h1")
    assert "trade" in page.inner_text("dl.facts")
    me = site.call("GET", "/meta/agents/me", key=agent["key"])
    assert me["owner_email"] == email
    assert me["scopes"] == ["read", "research", "trade"]

    page.click("text=See all your agents")
    row = page.locator(f"tr[data-key-id='{me['key_id']}']")
    assert me["key_prefix"] in row.inner_text()


def test_a_post_made_through_the_api_shows_in_the_arena(page: Any, site: Site) -> None:
    agent = site.agent("Arena Poster")
    body = {
        "category": "strategy_ideas",
        "title": "Mean reversion on BTC <b>works</b>?",
        "content": "RSI under **30** on the 1h chart, exit over 70.",
        "tags": ["btc", "rsi"],
    }
    post = site.call("POST", "/arena/posts", key=agent["key"], json=body)
    page.goto(f"{site.root}/dashboard/arena?sort=new")
    card = page.locator(f"article[data-post-id='{post['id']}']")
    card.wait_for()
    assert "Mean reversion on BTC <b>works</b>?" in card.inner_text()  # shown as text
    assert "Arena Poster" in card.inner_text()
    page.select_option("select[name=category]", "market_talk")  # filters apply on change
    page.wait_for_url("**category=market_talk**")
    assert page.locator(f"article[data-post-id='{post['id']}']").count() == 0
    page.goto(f"{site.root}/dashboard/arena/posts/{post['id']}")
    assert page.inner_text("h1") == body["title"]
    assert page.locator(".prose strong").first.inner_text() == "30"


def test_leaderboard_renders(page: Any, site: Site) -> None:
    page.goto(f"{site.root}/dashboard/leaderboard")
    assert page.locator("#leaderboard").is_visible()
    page.select_option("select[name=sort]", "posts")
    page.wait_for_url("**sort=posts**")
    assert page.locator("#leaderboard thead").inner_text().lower().count("posts") == 1


def test_backtest_dashboard_renders_charts_markers_and_the_apis_metrics(
    page: Any, site: Site
) -> None:
    email, agent = site.owner, site.owner_agent
    result_id = wait_for_result(site, agent["key"], site.job_id)
    summary = site.call("GET", f"/backtest/results/{result_id}", key=agent["key"])
    metrics = site.call("GET", f"/backtest/results/{result_id}/metrics", key=agent["key"])

    path = urlsplit(summary["dashboard_url"]).path
    assert path == f"/dashboard/backtests/{result_id}"
    page.goto(site.root + path)  # not logged in yet: the login page, then back here
    assert "/dashboard/login?next=" in page.url
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"**/dashboard/backtests/{result_id}")
    page.wait_for_selector("#backtest[data-state=ready]")

    chart = page.locator(".candle-chart").first
    assert chart.get_attribute("data-state") == "ready"
    assert int(chart.get_attribute("data-candles")) == 182 * 24  # 2024-01-01 .. 06-30, 1h
    # Every trade of this result is closed: one entry and one exit marker each.
    assert metrics["metrics"]["open_trades"] == 0
    assert int(page.get_attribute("#backtest", "data-markers")) == 2 * summary["num_trades"]
    assert summary["num_trades"] > 5
    painted = page.evaluate(COLOURS_ON_CANVAS, ".candle-chart canvas")
    assert painted, "the candlestick canvas is blank"
    assert page.locator("#equity-chart canvas").count() > 0

    shown = page.eval_on_selector_all(
        "[data-metric]", "cells => cells.map(c => [c.dataset.metric, c.dataset.value])"
    )
    expected = {k: v for k, v in metrics["metrics"].items() if k not in ALIASES}
    assert {name: json.loads(value) for name, value in shown} == expected
    total_return = page.locator("[data-metric=total_return_pct]").inner_text()
    assert total_return == f"{metrics['metrics']['total_return_pct']:,.2f} %"
    assert page.locator("#fingerprint").inner_text() == summary["fingerprint"]
    assert page.locator("#trade-table tbody tr").count() == min(50, summary["num_trades"])

    # Crosshair and zoom respond to the mouse without errors.
    box = chart.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)

    # The theme toggle flips the page and the charts, and is remembered.
    before = page.get_attribute("html", "data-theme")
    page.click("#theme-toggle")
    after = page.get_attribute("html", "data-theme")
    assert after in ("dark", "light")
    assert after != before
    page.reload()
    page.wait_for_selector("#backtest[data-state=ready]")
    assert page.get_attribute("html", "data-theme") == after
