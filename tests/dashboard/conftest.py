"""Fixtures of the dashboard tests.

``dash``: one app per module on SQLite and PostgreSQL, shared by the fast TestClient
tests; ``owned``: a user with a claimed agent and one completed backtest. Each test makes
its own users and agents, so the tests do not depend on each other.

Browser tests (``test_browser.py``) drive Debian's Chromium through Playwright against a
real ``tradeforge serve``; a failing browser test leaves a screenshot in
``test-artifacts/dashboard/`` (git-ignored).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import T0, _truncate_postgres
from tradeforge.api.app import create_app
from tradeforge.config import Settings
from tradeforge.core.clock import FrozenClock
from tradeforge.services.arena import ArenaPolicy

from ._browser_site import EARLY_SITE, EarlySite
from ._support import ARTIFACTS, Dash, Owned, Person


def _settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        environment="test",
        log_json=False,
        registrations_per_ip_per_hour=1000,
        max_agents_per_user=3,
        provisional_posts_per_day=1000,
        claimed_posts_per_day=1000,
        rate_limit_per_hour=100_000,
        run_jobs_in_process=False,
    )


def _dash(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[Dash]:
    data_dir = tmp_path_factory.mktemp("dashboard") / "data"
    data_dir.mkdir(parents=True)
    if backend == "sqlite":
        target = data_dir / "tradeforge.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        url = f"sqlite:///{target}"
    else:
        url = request.getfixturevalue("postgres_url")
        _truncate_postgres(url)
    settings = _settings(data_dir, url)
    app = create_app(settings, clock=FrozenClock(T0))
    app.state.container.extras["arena_policy"] = ArenaPolicy(posts_per_window=10_000)
    with TestClient(app, raise_server_exceptions=False) as client:
        built = Dash(app, client, settings)
        yield built
        built.close()


@pytest.fixture(scope="module")
def dash(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dash]:
    """The app on SQLite: the pages do not depend on the database; the queries they add
    are checked on PostgreSQL too (``pg_dash``, test_backends.py)."""
    yield from _dash(request, tmp_path_factory, "sqlite")


@pytest.fixture(scope="module")
def pg_dash(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dash]:
    yield from _dash(request, tmp_path_factory, "postgresql")


@pytest.fixture(scope="module")
def visitor(dash: Dash) -> Person:
    """A logged-in user who owns nothing (for refusals; makes at most one claim attempt)."""
    return dash.person("visitor")


@pytest.fixture(scope="module")
def owned(dash: Dash) -> Owned:
    person = dash.person("owner")
    agent = dash.agent("RSI Bot")
    response = dash.claim(person, agent)
    assert response.status_code == 200, response.text
    result_id = dash.run_backtest(agent)
    return Owned(person, agent, result_id)


# -- screenshots of failed browser tests ---------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    page = getattr(item, "funcargs", {}).get("page")
    if page is None:
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', item.nodeid)}.png"
    try:
        page.screenshot(path=str(target), full_page=True)
        report.sections.append(("screenshot", str(target)))
    except Exception as error:  # the browser may be the thing that broke
        report.sections.append(("screenshot", f"could not save a screenshot: {error!r}"))


@pytest.hookimpl(trylast=True)  # after -k / -m / --deselect have removed items
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last and start their server now, so that its slow first
    backtest overlaps the fast tests."""
    browser = [item for item in items if item.path.name == "test_browser.py"]
    if not browser or EARLY_SITE in config.stash:
        return
    items[:] = [item for item in items if item.path.name != "test_browser.py"] + browser
    early = config.stash[EARLY_SITE] = EarlySite().start()
    config.add_cleanup(early.close)
