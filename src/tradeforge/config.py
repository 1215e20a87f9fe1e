"""Settings: the only module that reads the environment.

Values come from ``TRADEFORGE_*`` environment variables, then an optional TOML file
(``TRADEFORGE_CONFIG_FILE``, default ``./tradeforge.toml`` when it exists), then defaults.
Every default is an embedded one: SQLite in the data directory, bundled market data,
in-process jobs, database-backed rate-limit counters.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _default_data_dir() -> Path:
    return Path.cwd() / "var"


class Settings(BaseSettings):
    """Platform configuration. See the README's Configuration section for each field."""

    model_config = SettingsConfigDict(
        env_prefix="TRADEFORGE_",
        extra="ignore",
        toml_file="tradeforge.toml",
    )

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    redis_url: str | None = None
    counter_backend: Literal["database", "redis"] = "database"

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = None
    trusted_proxies: list[str] = Field(default_factory=list)

    secret_key: SecretStr | None = None

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=64, ge=2, le=1000)

    rate_limit_per_hour: int = Field(default=300, ge=1)
    registrations_per_ip_per_hour: int = Field(default=5, ge=1)
    provisional_key_ttl_hours: int = Field(default=24, ge=1)
    claim_code_ttl_minutes: int = Field(default=30, ge=1)
    max_agents_per_user: int = Field(default=10, ge=1)

    provisional_backtests_per_hour: int = Field(default=10, ge=0)
    provisional_backtests_per_day: int = Field(default=30, ge=0)
    provisional_posts_per_day: int = Field(default=10, ge=0)
    provisional_api_calls_per_day: int = Field(default=1000, ge=0)
    claimed_backtests_per_hour: int = Field(default=100, ge=0)
    claimed_backtests_per_day: int = Field(default=1000, ge=0)
    claimed_posts_per_day: int = Field(default=100, ge=0)
    claimed_api_calls_per_day: int = Field(default=50000, ge=0)

    session_ttl_hours: int = Field(default=12, ge=1)

    # Optional language model that rewrites /backtest/results/{id}/analysis (off when unset).
    llm_base_url: str | None = None  # an OpenAI-compatible API root, e.g. http://127.0.0.1:8080/v1
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=20.0, gt=0, le=300)

    # Live market data: read-through fetching of recent closed candles through ccxt.
    market_live: bool = False
    market_live_max_candles: int = Field(default=5000, ge=1, le=100_000)
    market_live_refresh_seconds: float = Field(default=30.0, ge=0)
    market_live_api_url: str | None = None  # send exchange requests to a mirror instead

    backtest_workers: int = Field(default=2, ge=1, le=64)
    run_jobs_in_process: bool = True  # False: jobs are run by 'tradeforge worker' / Celery
    job_queue: Literal["database", "celery"] = "database"
    job_heartbeat_seconds: float = Field(default=2.0, gt=0)
    job_stale_seconds: float = Field(default=30.0, gt=0)
    job_reap_interval_seconds: float = Field(default=10.0, gt=0)
    job_time_limit_seconds: float = Field(default=900.0, gt=0)
    job_poll_seconds: float = Field(default=0.5, gt=0)
    # Test hook: workers sleep this long before each backtest (0 = off). Never set in production.
    test_job_delay_seconds: float = Field(default=0.0, ge=0)
    log_level: str = "INFO"
    log_json: bool | None = None  # None: JSON unless stderr is a terminal

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("TRADEFORGE_CONFIG_FILE", "tradeforge.toml"))
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
        )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'tradeforge.sqlite3'}"

    @property
    def numba_cache_dir(self) -> Path:
        return self.data_dir / "numba-cache"

    @property
    def candles_dir(self) -> Path:
        return self.data_dir / "candles"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (tests build their own ``Settings`` instead)."""
    return Settings()
