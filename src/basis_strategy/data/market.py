"""The read-only market snapshot every component uses for one hour (architecture: MarketState).

Series names:
- `price:{ASSET}`: USD per unit (ETH, BTC, EIGEN, ETHFI; USDT is 1 by convention, domain 1)
- `perp:{venue}:{BASE}USDT`: the venue's perp mark (bar open)
- `aave_li:{ASSET}`, `aave_bi:{ASSET}`: AAVE liquidity / variable borrow index (normalised),
  carried between daily snapshots at a rate known at the last one
- `aave_lr:{ASSET}`, `aave_br:{ASSET}`: supply / variable borrow APR of the last snapshot
- `lst_rate:{LST}`: ρ, ETH per LST (oracle; between daily observations carried at its
  trailing growth); `lst_market:{LST}`: ρ_mkt (DEX)
- `gas_gwei`: gas price

Discrete items of the hour: `funding` (settlements at t) and `rewards` (restaking reward
payouts at t, domain 4.4). `accrued`: for each series a new observation re-anchored at t, the
value accrual alone would have given (the P&L books the difference as a correction).
`mark_sources`: the source of each price and perp mark (`bybit ETHUSDT perp (proxy)`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class FundingRate:
    """A funding settlement at this hour: rate per 8h paid by longs to shorts when > 0."""

    venue: str
    base: str
    rate_per_8h: float


@dataclass(frozen=True, slots=True)
class RewardPayout:
    """A restaking reward paid at this hour (domain 4.4).

    A holder is owed `per_eeth_hour × Σ_h eETH-equivalent held` over the hours h of
    [`period_start`, `period_end`) (weETH in the wallet and supplied to AAVE, × ρ). Hours
    before the run count as zero. `kind`: eigen_weekly, ethfi_topup, seasonal, eeth_apy_gapfill;
    `estimate` marks the seasonal midpoints and the DefiLlama gap fill.
    """

    token: str
    kind: str
    period_start: datetime
    period_end: datetime
    per_eeth_hour: float
    estimate: bool


@dataclass(frozen=True, slots=True)
class AaveRisk:
    """A collateral's AAVE v3 risk parameters in the category the account uses (domain 4.1):
    e-mode (LST collateral, WETH debt) or standard."""

    max_ltv: float
    liquidation_threshold: float
    liquidation_bonus: float


LSTS = ("weETH", "wstETH")
NOTHING_ACCRUED: Mapping[str, float] = MappingProxyType({})
NO_SOURCES: Mapping[str, str] = MappingProxyType({})


class MarketState:
    """Everything known at `t`: nothing in it is stamped after `t`."""

    __slots__ = ("accrued", "funding", "index", "mark_sources", "rewards", "t", "values")

    def __init__(
        self,
        t: datetime,
        index: int,
        values: dict[str, float],
        funding: tuple[FundingRate, ...],
        rewards: tuple[RewardPayout, ...] = (),
        accrued: Mapping[str, float] = NOTHING_ACCRUED,
        mark_sources: Mapping[str, str] = NO_SOURCES,
    ) -> None:
        self.t = t
        self.index = index
        self.values = values
        self.funding = funding
        self.rewards = rewards
        self.accrued = accrued
        self.mark_sources = mark_sources

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def usd(self, asset: str) -> float:
        """USD per unit of `asset` (USDT counts as 1 USD; WETH as ETH; an LST at its oracle
        rate ρ × ETH, domain 3)."""
        if asset == "USDT":
            return 1.0
        if asset == "WETH":
            return self.values["price:ETH"]
        if asset in LSTS:
            return self.values["lst_rate:" + asset] * self.values["price:ETH"]
        return self.values["price:" + asset]

    def unit_price(self, asset: str, currency: str) -> float:
        """Share-class units per unit of `asset` (π in domain 12.2)."""
        if asset == currency:
            return 1.0
        return self.usd(asset) / self.usd(currency)

    def gas_gwei(self) -> float:
        return self.values["gas_gwei"]

    def __repr__(self) -> str:
        return f"MarketState(t={self.t.isoformat()}, {len(self.values)} series)"
