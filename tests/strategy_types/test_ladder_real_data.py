"""The ladder engine on bundled real candles (BINANCE BTC/USDT 1h, 2024 H1): grid fills land
on the grid lines (or the open of a bar that gapped past one), each grid trade sells one
line above its buy, and DCA safety orders fill at their cumulative deviations from the
deal's base fill."""

from __future__ import annotations

import numpy as np
import pytest

from tradeforge.adapters.candles import open_market_data
from tradeforge.backtest import BacktestConfig, ExitReason
from tradeforge.backtest.ladder import (
    DcaSettings,
    GridSettings,
    dca_safety_orders,
    grid_levels,
    run_dca,
    run_grid,
)
from tradeforge.core.candles import Candles

START, END = 1_704_067_200_000, 1_719_792_000_000  # 2024-01-01 .. 2024-07-01
CONFIG = BacktestConfig(initial_cash=10_000.0, fee_maker=0.0002, fee_taker=0.0005, slippage=0.0005)


@pytest.fixture(scope="module")
def btc() -> Candles:
    candles = open_market_data(None).load("binance", "BTC/USDT", "1h", START, END)
    assert len(candles) > 4000
    return candles


@pytest.mark.parametrize("geometric", [False, True])
def test_grid_fills_land_on_the_lines(btc: Candles, geometric: bool) -> None:
    settings = GridSettings(
        38_000, 72_000, 30, geometric=geometric, investment=10_000, trade_to_fill=True
    )
    result = run_grid(btc, settings, CONFIG, symbol="BTC/USDT")
    levels = grid_levels(38_000, 72_000, 30, geometric)
    if geometric:
        np.testing.assert_allclose(levels[1:] / levels[:-1], (72_000 / 38_000) ** (1 / 29))
    else:
        np.testing.assert_allclose(np.diff(levels), 34_000 / 29)
    limits = [o for o in result.orders if o.order_type == "limit"]
    assert len(limits) > 100
    for order in limits:
        bar_open = btc.open[order.bar]
        assert order.price in levels or order.price == bar_open, order
        assert btc.low[order.bar] <= order.price <= btc.high[order.bar]
    market = [o for o in result.orders if o.order_type == "market"]
    assert len(market) == 1
    assert market[0].bar == 0
    assert market[0].price == pytest.approx(min(btc.open[0] * 1.0005, btc.high[0]))
    closed = [t for t in result.trades if not t.is_open]
    assert len(closed) == sum(1 for o in limits if o.side == "sell")
    index = {float(v): k for k, v in enumerate(levels)}
    paired = [t for t in closed if t.entry_price in index and t.exit_price in index]
    assert len(paired) > 50
    for t in paired:
        assert index[t.exit_price] == index[t.entry_price] + 1, t
    for t in closed:
        assert t.exit_bar > t.entry_bar  # a sell placed by a fill rests from the next bar
    np.testing.assert_allclose(result.position[:, 0].min(), 0.0, atol=1e-9)


def test_dca_safety_orders_fill_at_their_deviations(btc: Candles) -> None:
    settings = DcaSettings(
        direction=1, base_order=500, safety_order=250, safety_orders_count=5,
        price_deviation=0.01, step_scale=1.4, volume_scale=1.6, take_profit=0.015,
        stop_loss=None,
    )  # fmt: skip
    result = run_dca(btc, settings, CONFIG, symbol="BTC/USDT")
    deviations, amounts = dca_safety_orders(settings)
    base = np.nan
    nxt = 0
    checked = 0
    for order in result.orders:
        if order.reason is ExitReason.ENTRY:
            base, nxt = order.price, 0
            slipped = min(btc.open[order.bar] * 1.0005, btc.high[order.bar])  # clamped
            assert order.price == pytest.approx(slipped, rel=1e-12)
        elif order.reason is ExitReason.SAFETY_ORDER:
            level = base * (1 - deviations[nxt])
            if order.price != btc.open[order.bar]:
                assert order.price == pytest.approx(level, rel=1e-12)
            else:
                assert btc.open[order.bar] < level
            assert order.quantity == pytest.approx(amounts[nxt] / order.price, rel=1e-12)
            nxt += 1
            checked += 1
    assert checked >= 20
    deals = [t for t in result.trades if not t.is_open]
    assert len(deals) > 30
    assert all(t.reason is ExitReason.TAKE_PROFIT for t in deals)
    for t in deals:
        assert t.exit_price == pytest.approx(t.entry_price * 1.015, rel=1e-9) or (
            t.exit_price == btc.open[t.exit_bar]
        )
