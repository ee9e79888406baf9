"""Shared helpers for the on-chain venue tests: a hand-built market, the real venue configs,
a seeded system of venues on one wallet ledger, and book valuation as the exposure monitor
does it (`underlying_units` × π; perps `q (mark − entry)` in USDT).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from basis_strategy.components.monitors import unit_value
from basis_strategy.config.loader import RunConfig, load_run_config
from basis_strategy.config.venues import (
    AaveVenue,
    CexVenue,
    DexVenue,
    FlashVenue,
    RpcVenue,
    StakingVenue,
)
from basis_strategy.core.instructions import Instruction, Leg
from basis_strategy.core.instruments import instrument
from basis_strategy.data.market import AaveRisk, FundingRate, MarketState, RewardPayout
from basis_strategy.venues.interface import CostSwitches, Ledger
from basis_strategy.venues.simulated.chain import SimulatedAave, SimulatedDex, SimulatedWallet
from basis_strategy.venues.simulated.flash import SimulatedFlashLender
from basis_strategy.venues.simulated.staking import SimulatedStaking

T0 = datetime(2024, 8, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
VALUES = {
    "price:ETH": 3000.0,
    "price:EIGEN": 3.0,
    "price:ETHFI": 1.5,
    "lst_rate:weETH": 1.05,
    "lst_rate:wstETH": 1.2,
    "lst_market:weETH": 1.046,
    "lst_market:wstETH": 1.199,
    "aave_li:weETH": 1.01,
    "aave_li:wstETH": 1.002,
    "aave_li:WETH": 1.02,
    "aave_li:USDT": 1.1,
    "aave_bi:WETH": 1.03,
    "perp:binance:ETHUSDT": 3001.5,
    "perp:bybit:ETHUSDT": 2999.0,
    "gas_gwei": 12.5,
}
COSTS_ON = CostSwitches(gas=True, execution=True)
COSTS_OFF = CostSwitches(gas=False, execution=False)
EMODE = AaveRisk(max_ltv=0.93, liquidation_threshold=0.95, liquidation_bonus=0.01)
STANDARD = AaveRisk(max_ltv=0.80, liquidation_threshold=0.85, liquidation_bonus=0.05)


def risk(asset: str, emode: bool) -> AaveRisk:
    """The data's AAVE parameters (aave_v3_risk_parameters.json) for LST collateral."""
    if asset not in ("weETH", "wstETH"):
        raise KeyError(asset)
    return EMODE if emode else STANDARD


def market(
    index: int = 0,
    funding: tuple[FundingRate, ...] = (),
    rewards: tuple[RewardPayout, ...] = (),
    **changes: float,
) -> MarketState:
    """The market at grid index `index` (t = T0 + index hours)."""
    return MarketState(T0 + index * HOUR, index, {**VALUES, **changes}, funding, rewards)


@cache
def leveraged_config() -> RunConfig:
    return load_run_config("eth_leveraged", env={})


@cache
def hedged_config() -> RunConfig:
    return load_run_config("usdt_market_neutral", env={})


def venue_config(name: str) -> object:
    return hedged_config().venues[name]


def aave_config() -> AaveVenue:
    config = venue_config("aave_v3")
    assert isinstance(config, AaveVenue)
    return config


def dex_config() -> DexVenue:
    config = venue_config("uniswap")
    assert isinstance(config, DexVenue)
    return config


def staking_config(name: str) -> StakingVenue:
    config = venue_config(name)
    assert isinstance(config, StakingVenue)
    return config


def flash_config() -> FlashVenue:
    config = venue_config("morpho")
    assert isinstance(config, FlashVenue)
    return config


def rpc_config() -> RpcVenue:
    config = venue_config("alchemy")
    assert isinstance(config, RpcVenue)
    return config


def cex_config(name: str) -> CexVenue:
    config = venue_config(name)
    assert isinstance(config, CexVenue)
    return config


def seed(
    ledger: Ledger, holdings: dict[str, float], entries: dict[str, float] | None = None
) -> None:
    entries = entries or {}
    ledger.apply(
        tuple(
            Leg(key, qty, "Seeded", entry_after=entries.get(key)) for key, qty in holdings.items()
        )
    )


@dataclass
class Chain:
    """The on-chain venues on one wallet ledger (as `build_simulated_venues` wires them)."""

    ledger: Ledger
    wallet: SimulatedWallet
    aave: SimulatedAave
    dex: SimulatedDex
    etherfi: SimulatedStaking
    lido: SimulatedStaking
    morpho: SimulatedFlashLender

    def venue(
        self, name: str
    ) -> SimulatedWallet | SimulatedAave | SimulatedDex | SimulatedStaking | SimulatedFlashLender:
        return {
            "wallet": self.wallet,
            "aave_v3": self.aave,
            "uniswap": self.dex,
            "etherfi": self.etherfi,
            "lido": self.lido,
            "morpho": self.morpho,
        }[name]


def chain(
    costs: CostSwitches = COSTS_ON,
    holdings: dict[str, float] | None = None,
    emode: bool = True,
    flash: FlashVenue | None = None,
) -> Chain:
    ledger = Ledger()
    seed(ledger, holdings or {})
    wallet = SimulatedWallet(ledger, costs, rpc_config())
    aave = SimulatedAave(ledger, costs, aave_config(), risk)
    aave.emode = emode
    dex = SimulatedDex(ledger, costs, dex_config())
    etherfi = SimulatedStaking(ledger, costs, staking_config("etherfi"), 7.0)
    lido = SimulatedStaking(ledger, costs, staking_config("lido"), 3.0)
    steps = {"wallet": wallet, "aave_v3": aave, "uniswap": dex, "etherfi": etherfi, "lido": lido}
    morpho = SimulatedFlashLender(ledger, costs, flash or flash_config(), steps)
    return Chain(ledger, wallet, aave, dex, etherfi, lido, morpho)


def book_value(ledgers: Iterable[Ledger], at: MarketState, currency: str) -> float:
    """Share-class value of the ledgers' holdings, valued like the exposure monitor."""
    usdt = at.unit_price("USDT", currency)
    total = 0.0
    for ledger in ledgers:
        for key, qty in ledger.quantities.items():
            if qty == 0.0:
                continue
            inst = instrument(key)
            if inst.is_perp:
                total += qty * (at[inst.mark_series] - ledger.entries[key]) * usdt
            else:
                total += qty * unit_value(key, at, currency)
    return total


def gross_value(ledgers: Iterable[Ledger], at: MarketState, currency: str) -> float:
    """Σ |value| of the holdings: the scale for float tolerances."""
    total = 0.0
    for ledger in ledgers:
        for key, qty in ledger.quantities.items():
            inst = instrument(key)
            if inst.is_perp:
                total += abs(qty) * at[inst.mark_series] * at.unit_price("USDT", currency)
            else:
                total += abs(qty * unit_value(key, at, currency))
    return total


def booked_pnl(legs: Iterable[Leg], at: MarketState, currency: str) -> float:
    """Σ of the legs' P&L in share-class units, flows excluded."""
    return sum(
        leg.pnl_native * at.unit_price(leg.pnl_asset, currency)
        for leg in legs
        if leg.pnl_component and leg.pnl_component != "flow"
    )


def order(cls: type[Instruction], venue: str, **fields: object) -> Instruction:
    return cls(venue=venue, action="entry_partial", trigger="test", **fields)  # type: ignore[arg-type]


def by_instrument(legs: Iterable[Leg]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for leg in legs:
        totals[leg.instrument] = totals.get(leg.instrument, 0.0) + leg.amount
    return totals
