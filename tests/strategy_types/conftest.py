"""The strategy-type tests reuse the job fixtures: apps with and without the in-process
runner, on SQLite and on PostgreSQL."""

from __future__ import annotations

from jobs.conftest import idle_client, make_client, running_client

__all__ = ["idle_client", "make_client", "running_client"]
