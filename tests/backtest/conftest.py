from __future__ import annotations

import numpy as np
import pytest

from tradeforge.core.candles import Candles

from ._helpers import DATA


@pytest.fixture(scope="session")
def btc_1h() -> Candles:
    """2,400 real hourly BTC/USD candles (Coinbase, late 2017, one 10-hour gap)."""
    data = np.load(DATA / "coinbase_btc_usd_1h.npz")
    return Candles.from_arrays(
        data["timestamp"], data["open"], data["high"], data["low"], data["close"], data["volume"]
    )
