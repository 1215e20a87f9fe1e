"""Settings come from TRADEFORGE_* variables, then a TOML file, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeforge.config import Settings


def test_defaults_are_embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("TRADEFORGE_DATA_DIR", "TRADEFORGE_DATABASE_URL", "TRADEFORGE_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.data_dir == (tmp_path / "var").resolve()
    assert (
        settings.effective_database_url
        == f"sqlite:///{tmp_path.resolve() / 'var' / 'tradeforge.sqlite3'}"
    )
    assert settings.counter_backend == "database"
    assert settings.rate_limit_per_hour == 300
    assert settings.max_body_bytes == 1024 * 1024


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRADEFORGE_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("TRADEFORGE_RATE_LIMIT_PER_HOUR", "42")
    settings = Settings()
    assert settings.data_dir == tmp_path / "elsewhere"
    assert settings.rate_limit_per_hour == 42


def test_toml_file_is_read_and_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "tf.toml"
    config.write_text('port = 9001\nrate_limit_per_hour = 7\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("TRADEFORGE_CONFIG_FILE", str(config))
    monkeypatch.setenv("TRADEFORGE_RATE_LIMIT_PER_HOUR", "8")
    settings = Settings()
    assert settings.port == 9001
    assert settings.log_level == "DEBUG"
    assert settings.rate_limit_per_hour == 8


def test_invalid_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEFORGE_PORT", "70000")
    with pytest.raises(ValueError, match="port"):
        Settings()
