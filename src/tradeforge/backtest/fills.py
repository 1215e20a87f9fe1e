"""Fill rules: at what price an order executes inside one OHLC bar, and what it costs.

These are the rules a trader audits, so they live in one small module that the backtest
kernels and (later) paper trading share. Every function is a pure scalar ``@njit`` function:
float64 in, float64 out, no state. ``side`` is ``+1`` for a buy and ``-1`` for a sell.
A returned price of ``NaN`` means "this order does not fill in this bar".

Conventions (see tradeforge/docs/backtesting.md, "Execution model"):

* Market orders fill at the reference price (next bar's open, or the signal bar's close in
  the ``signal_close`` convention) moved against the trader by ``slippage`` (a fraction).
* A limit order fills only when the bar trades *through* the limit (touching is not enough):
  at the limit, or at the open when the bar opens beyond it (a gap in the trader's favour).
  Limit fills pay no slippage.
* A stop order triggers when the bar touches the stop; it then fills as a market order at the
  stop plus slippage, or at the open plus slippage when the bar gaps past the stop.
* With ``clamp`` set, a slipped price never leaves the bar's ``[low, high]`` range: nobody can
  trade at a price the market did not print.
"""

from __future__ import annotations

import math

from numba import njit

# Order types (also stored in the orders log).
ORDER_MARKET = 0
ORDER_LIMIT = 1
ORDER_STOP = 2
ORDER_LIQUIDATION = 3


@njit(cache=True)
def clamp_to_bar(price: float, low: float, high: float, clamp: bool) -> float:
    """Return ``price`` limited to ``[low, high]`` when ``clamp`` is true."""
    if not clamp:
        return price
    if price > high:
        return high
    if price < low:
        return low
    return price


@njit(cache=True)
def market_fill_price(
    reference: float, side: int, slippage: float, low: float, high: float, clamp: bool
) -> float:
    """Return the fill price of a market order at ``reference`` after slippage."""
    return clamp_to_bar(reference * (1.0 + side * slippage), low, high, clamp)


@njit(cache=True)
def limit_fill_price(open_: float, high: float, low: float, limit: float, side: int) -> float:
    """Return the fill price of a limit order resting during this bar, or NaN.

    A buy limit fills when the bar trades below the limit (``low < limit``), a sell limit
    when it trades above (``high > limit``). An open already beyond the limit fills at the
    open.
    """
    if side > 0:
        if open_ < limit:
            return open_
        if low < limit:
            return limit
        return math.nan
    if open_ > limit:
        return open_
    if high > limit:
        return limit
    return math.nan


@njit(cache=True)
def stop_fill_price(
    open_: float, high: float, low: float, stop: float, side: int, slippage: float, clamp: bool
) -> float:
    """Return the fill price of a stop order resting during this bar, or NaN.

    A buy stop triggers when ``high >= stop``, a sell stop when ``low <= stop``; a bar that
    opens beyond the stop fills at the open. Slippage applies in both cases.
    """
    if side > 0:
        if open_ >= stop:
            return market_fill_price(open_, side, slippage, low, high, clamp)
        if high >= stop:
            return market_fill_price(stop, side, slippage, low, high, clamp)
        return math.nan
    if open_ <= stop:
        return market_fill_price(open_, side, slippage, low, high, clamp)
    if low <= stop:
        return market_fill_price(stop, side, slippage, low, high, clamp)
    return math.nan


@njit(cache=True)
def fee_for(quantity: float, price: float, fee_rate: float) -> float:
    """Return the fee charged on the notional ``quantity * price`` of one fill."""
    return abs(quantity) * price * fee_rate


@njit(cache=True)
def liquidation_price(entry_price: float, direction: int, leverage: float, maint: float) -> float:
    """Return the mark price at which an isolated-margin position is liquidated.

    The position's margin is ``notional / leverage`` (locked at entry). Liquidation happens
    when margin plus unrealised PnL falls to the maintenance margin ``maint * notional``:
    long ``e * (1 - 1/L) / (1 - maint)``, short ``e * (1 + 1/L) / (1 + maint)``. A 1x long
    can never be liquidated (the price is 0).
    """
    if direction > 0:
        return entry_price * (1.0 - 1.0 / leverage) / (1.0 - maint)
    return entry_price * (1.0 + 1.0 / leverage) / (1.0 + maint)


@njit(cache=True)
def liquidation_fill_price(
    open_: float, high: float, low: float, liq_price: float, direction: int
) -> float:
    """Return the fill price of the liquidation of a ``direction`` position, or NaN.

    A bar that opens at or beyond ``liq_price`` liquidates at the open; one that trades to
    it (``low <= liq`` for a long, ``high >= liq`` for a short) at ``liq_price`` limited to
    the bar. The signal kernels apply the same rule inline.
    """
    if direction > 0:
        if open_ <= liq_price:
            return open_
        if low <= liq_price:
            return clamp_to_bar(liq_price, low, high, True)
        return math.nan
    if open_ >= liq_price:
        return open_
    if high >= liq_price:
        return clamp_to_bar(liq_price, low, high, True)
    return math.nan


@njit(cache=True)
def round_quantity(quantity: float, qty_step: float) -> float:
    """Return ``quantity`` rounded down to a multiple of ``qty_step`` (0 = no step)."""
    if qty_step <= 0.0:
        return quantity
    # The small epsilon keeps 0.3 / 0.1 from flooring to 2; the result is re-multiplied.
    units = math.floor(quantity / qty_step + 1e-9)
    return units * qty_step


@njit(cache=True)
def order_quantity(
    size: float,
    size_type: int,
    price: float,
    equity: float,
    available: float,
    leverage: float,
    fee_rate: float,
    min_qty: float,
    qty_step: float,
) -> float:
    """Return the base quantity an entry order buys or sells, or 0 when it is rejected.

    ``size_type`` 0 = Weight (fraction of equity committed as margin plus the entry fee),
    1 = Amount (notional in quote currency), 2 = Quantity (base units). Orders larger than
    the available collateral shrink to fit; a result below ``min_qty`` (or zero) rejects.
    """
    cost_per_unit = price * (1.0 / leverage + fee_rate)
    if size_type == 0:
        budget = size * equity
        if budget > available:
            budget = available
        qty = budget / cost_per_unit
    elif size_type == 1:
        qty = size / price
    else:
        qty = size
    max_qty = available / cost_per_unit
    if qty > max_qty:
        qty = max_qty
    if not qty > 0.0:
        return 0.0
    qty = round_quantity(qty, qty_step)
    if qty_step > 0.0 and qty * cost_per_unit > available:
        qty -= qty_step
    if qty <= 0.0 or qty < min_qty:
        return 0.0
    return qty
