"""Fixtures for the DSL -> engine pipeline: the bundled real data set, nothing synthetic."""

from __future__ import annotations

import pytest

from tradeforge.adapters.candles import MarketDataStore, open_market_data


@pytest.fixture(scope="session")
def source() -> MarketDataStore:
    """The bundled data set only (no user store)."""
    return open_market_data(None)
