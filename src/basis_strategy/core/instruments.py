"""Position keys `venue:type:symbol` (domain 2) and how each one is valued.

A holding's value in share-class units is `sign × quantity × index × rate × price(underlying)`:
- `index`: the AAVE liquidity index (aTokens) or variable borrow index (debt tokens), else 1;
  AAVE quantities are stored scaled.
- `rate`: the LST exchange rate ρ (ETH per LST) for LSTs and LST aTokens, else 1.
- `price`: share-class units per unit of the underlying asset.
Perps hold a signed size and an average entry; they add `size × (mark − entry)` (in USDT).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

KINDS = frozenset({"BaseToken", "LST", "aToken", "debtToken", "Pending", "Perp"})
LSTS = frozenset({"weETH", "wstETH"})
CEX_VENUES = frozenset({"binance", "bybit", "okx"})


@dataclass(frozen=True, slots=True)
class Instrument:
    """A parsed position key with its valuation recipe."""

    key: str
    venue: str
    kind: str
    symbol: str
    underlying: str
    index_series: str | None
    rate_series: str | None
    sign: float
    is_perp: bool
    mark_series: str  # perps: the venue's mark series (`perp:okx:ETHUSDT`); else ""


@cache
def instrument(key: str) -> Instrument:
    """Parse and classify a position key; raises ValueError for a malformed one."""
    parts = key.split(":")
    if len(parts) != 3 or parts[1] not in KINDS:
        raise ValueError(f"position key must be venue:type:symbol with a known type, was {key!r}")
    venue, kind, symbol = parts
    index_series = rate_series = None
    sign = 1.0
    underlying = symbol
    if kind == "aToken":
        asset = symbol.removeprefix("a")
        index_series = f"aave_li:{asset}"
        underlying = "ETH" if asset in LSTS else asset
        rate_series = f"lst_rate:{asset}" if asset in LSTS else None
    elif kind == "debtToken":
        asset = symbol.removeprefix("debt")
        index_series = f"aave_bi:{asset}"
        underlying = "ETH" if asset == "WETH" else asset
        sign = -1.0
    elif kind == "LST":
        rate_series = f"lst_rate:{symbol}"
        underlying = "ETH"
    elif kind == "Perp":
        underlying = symbol.removesuffix("USDT")
    elif symbol == "WETH":
        underlying = "ETH"
    is_perp = kind == "Perp"
    mark_series = f"perp:{venue}:{symbol}" if is_perp else ""
    return Instrument(
        key, venue, kind, symbol, underlying, index_series, rate_series, sign, is_perp, mark_series
    )


def perp_key(venue: str, base: str) -> str:
    return f"{venue}:Perp:{base}USDT"


def cash_key(venue: str, asset: str) -> str:
    """A plain token balance: `wallet:BaseToken:USDT`, `binance:BaseToken:BTC`."""
    return f"{venue}:BaseToken:{asset}"


WALLET_USDT = cash_key("wallet", "USDT")
WALLET_ETH = cash_key("wallet", "ETH")
