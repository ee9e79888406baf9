"""Build the backtest's venue interfaces for one run (the factory of conventions 2 and 7)."""

from __future__ import annotations

from collections.abc import Callable

from basis_strategy.config.loader import RunConfig
from basis_strategy.config.venues import (
    AaveVenue,
    CexVenue,
    DexVenue,
    FlashVenue,
    RpcVenue,
    StakingVenue,
)
from basis_strategy.core.errors import ConfigError
from basis_strategy.data.market import AaveRisk
from basis_strategy.venues.interface import CostSwitches, Ledger, VenueInterface
from basis_strategy.venues.simulated.cex import SimulatedCex
from basis_strategy.venues.simulated.chain import (
    ChainVenue,
    SimulatedAave,
    SimulatedDex,
    SimulatedWallet,
)
from basis_strategy.venues.simulated.flash import SimulatedFlashLender
from basis_strategy.venues.simulated.staking import SimulatedStaking


def build_simulated_venues(
    config: RunConfig, aave_risk: Callable[[str, bool], AaveRisk] | None = None
) -> dict[str, VenueInterface]:
    """One SimulatedCex per CEX account (own ledger); the wallet and every on-chain venue of
    the mode (aave_v3, uniswap, etherfi / lido, morpho) on one shared wallet ledger.

    `aave_risk(asset, emode)`: AAVE risk parameters from the data (the provider's
    `aave_risk`; only a mode that borrows needs them). A staking venue's unstake
    delay is the mode's `staking.unstake_delay_days` when set, else the venue's own. Morpho
    routes bundle steps to the other on-chain venues.
    """
    costs = CostSwitches(gas=config.mode.costs.gas, execution=config.mode.costs.execution)
    chain = Ledger()
    rpc = config.venues.get("alchemy")
    if not isinstance(rpc, RpcVenue):
        raise ConfigError(
            "venues", f"the rpc venue 'alchemy' is required, was {sorted(config.venues)}"
        )
    on_chain: dict[str, ChainVenue] = {"wallet": SimulatedWallet(chain, costs, rpc)}
    venues: dict[str, VenueInterface] = {}
    flash: SimulatedFlashLender | None = None
    for name, venue in config.venues.items():
        if isinstance(venue, CexVenue):
            venues[name] = SimulatedCex(venue, costs)
        elif isinstance(venue, AaveVenue):
            aave = SimulatedAave(chain, costs, venue)
            if aave_risk is not None:
                aave.risk = aave_risk
            on_chain[name] = aave
        elif isinstance(venue, DexVenue):
            on_chain[name] = SimulatedDex(chain, costs, venue)
        elif isinstance(venue, StakingVenue):
            on_chain[name] = SimulatedStaking(chain, costs, venue, _unstake_delay(config, venue))
        elif isinstance(venue, FlashVenue):
            flash = SimulatedFlashLender(chain, costs, venue)
    if flash is not None:
        flash.venues = dict(on_chain)
        on_chain[flash.name] = flash
    venues.update(on_chain)
    return venues


def _unstake_delay(config: RunConfig, venue: StakingVenue) -> float:
    staking = config.mode.staking
    if staking is not None and staking.unstake_delay_days is not None:
        return staking.unstake_delay_days
    return venue.unstake_delay_days
