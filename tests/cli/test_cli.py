"""Operator CLI: version, db upgrade, users and keys, with --help everywhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradeforge.adapters.storage.migrate import head_revision
from tradeforge.cli.main import app
from tradeforge.config import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str
) -> Iterator[None]:
    monkeypatch.setenv("TRADEFORGE_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("TRADEFORGE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def invoke(*args: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["db"],
        ["db", "upgrade"],
        ["users"],
        ["users", "create"],
        ["keys"],
        ["keys", "create"],
        ["keys", "list"],
        ["keys", "revoke"],
        ["version"],
        ["data"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_version_and_db_upgrade() -> None:
    assert "tradeforge" in invoke("version")
    assert f"revision {head_revision()}" in invoke("db", "upgrade")


def test_user_and_key_lifecycle() -> None:
    assert "created user alice@example.com" in invoke(
        "users",
        "create",
        "--email",
        "Alice@Example.com",
        "--password-stdin",
        stdin="long enough pw\n",
    )
    assert "alice@example.com" in invoke("users", "list")
    output = invoke("keys", "create", "--email", "alice@example.com", "--scopes", "research,trade")
    key = re.search(r"tf_live_\S+", output)
    assert key is not None
    key_id = re.search(r"key id:\s+(\w+)", output)
    assert key_id is not None
    listing = invoke("keys", "list", "--email", "alice@example.com")
    assert key.group(0) not in listing  # only the prefix is ever shown again
    assert key.group(0)[:20] in listing
    assert "revoked" in invoke("keys", "revoke", key_id.group(1))


def test_errors_are_code_message_suggestion_not_tracebacks() -> None:
    result = runner.invoke(app, ["keys", "create", "--email", "nobody@example.com"])
    assert result.exit_code == 2
    assert "USER_NOT_FOUND" in result.output
    assert "suggestion" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(
        app, ["users", "create", "--email", "x@example.com", "--password", "short"]
    )
    assert result.exit_code == 2
    assert "VALIDATION_ERROR" in result.output
    invoke("users", "create", "--email", "bob@example.com", "--password", "long enough pw")
    result = runner.invoke(
        app, ["keys", "create", "--email", "bob@example.com", "--scopes", "admin"]
    )
    assert "INVALID_PERMISSIONS" in result.output
