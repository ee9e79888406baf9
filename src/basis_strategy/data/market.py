"""The read-only market snapshot every component uses for one hour (architecture: MarketState).

Series names:
- `price:{ASSET}`: USD per unit (ETH, BTC, EIGEN, ETHFI; USDT is 1 by convention, domain 1)
- `perp:{venue}:{BASE}USDT`: the venue's perp mark (bar open)
- `aave_li:{ASSET}`, `aave_bi:{ASSET}`: AAVE liquidity / variable borrow index (normalised)
- `aave_lr:{ASSET}`, `aave_br:{ASSET}`: supply / variable borrow APR of the last snapshot
- `lst_rate:{LST}`: ρ, ETH per LST (oracle); `lst_market:{LST}`: ρ_mkt (DEX)
- `gas_gwei`: gas price
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class FundingRate:
    """A funding settlement at this hour: rate per 8h paid by longs to shorts when > 0."""

    venue: str
    base: str
    rate_per_8h: float


class MarketState:
    """Everything known at `t`: nothing in it is stamped after `t`."""

    __slots__ = ("funding", "index", "t", "values")

    def __init__(
        self, t: datetime, index: int, values: dict[str, float], funding: tuple[FundingRate, ...]
    ) -> None:
        self.t = t
        self.index = index
        self.values = values
        self.funding = funding

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def usd(self, asset: str) -> float:
        """USD per unit of `asset` (USDT counts as 1 USD)."""
        return 1.0 if asset == "USDT" else self.values["price:" + asset]

    def unit_price(self, asset: str, currency: str) -> float:
        """Share-class units per unit of `asset` (π in domain 12.2)."""
        if asset == currency:
            return 1.0
        return self.usd(asset) / self.usd(currency)

    def gas_gwei(self) -> float:
        return self.values["gas_gwei"]

    def __repr__(self) -> str:
        return f"MarketState(t={self.t.isoformat()}, {len(self.values)} series)"
