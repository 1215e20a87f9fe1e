"""Curated, hand-maintained metadata about assets (sectors). Data, not code: extend freely."""

from __future__ import annotations

import difflib

from tradeforge.core.errors import InvalidInputError

SECTORS: tuple[str, ...] = (
    "L1",
    "L2",
    "DeFi",
    "Payments",
    "Meme",
    "Exchange",
    "Oracle",
    "Interoperability",
    "AI",
    "Stablecoin",
)

# Base asset -> sector. One primary sector per asset, chosen by the asset's main use.
ASSET_SECTORS: dict[str, str] = {
    "BTC": "Payments",
    "LTC": "Payments",
    "BCH": "Payments",
    "XRP": "Payments",
    "XLM": "Payments",
    "ETH": "L1",
    "SOL": "L1",
    "ADA": "L1",
    "AVAX": "L1",
    "TRX": "L1",
    "NEAR": "L1",
    "SUI": "L1",
    "APT": "L1",
    "MATIC": "L2",
    "POL": "L2",
    "ARB": "L2",
    "OP": "L2",
    "DOT": "Interoperability",
    "ATOM": "Interoperability",
    "LINK": "Oracle",
    "UNI": "DeFi",
    "AAVE": "DeFi",
    "MKR": "DeFi",
    "CRV": "DeFi",
    "HYPE": "DeFi",
    "DOGE": "Meme",
    "SHIB": "Meme",
    "PEPE": "Meme",
    "BNB": "Exchange",
    "FET": "AI",
    "RENDER": "AI",
    "TAO": "AI",
    "USDT": "Stablecoin",
    "USDC": "Stablecoin",
    "DAI": "Stablecoin",
}


def sector_of(base: str) -> str | None:
    """Return the curated sector of a base asset, or ``None`` when it is not curated."""
    return ASSET_SECTORS.get(base.upper())


def validate_sector(sector: str) -> str:
    """Return the canonical spelling of ``sector`` (case-insensitive).

    Raises:
        InvalidInputError: unknown sector; the suggestion names the closest one.
    """
    for known in SECTORS:
        if known.lower() == sector.lower():
            return known
    lowered = {known.lower(): known for known in SECTORS}
    close = difflib.get_close_matches(sector.lower(), list(lowered), n=1, cutoff=0.0)
    hint = f"Did you mean '{lowered[close[0]]}'? " if close else ""
    raise InvalidInputError(
        f"Unknown sector '{sector}'.",
        suggestion=f"{hint}Sectors: {', '.join(SECTORS)}.",
        details={"field": "sector"},
    )
