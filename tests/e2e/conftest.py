"""Fixtures for the end-to-end tests (the helpers live in tests/e2e_support.py)."""

from e2e_support import server

__all__ = ["server"]
