"""Indicator library: every TA-Lib function plus extras, behind one allow-list registry."""

from tradeforge.indicators.registry import (
    IndicatorSpec,
    get_indicator,
    indicators_catalog,
    registry,
)

__all__ = ["IndicatorSpec", "get_indicator", "indicators_catalog", "registry"]
