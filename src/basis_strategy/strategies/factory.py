"""Strategy factory: one manager class per mode (ADR-052/055)."""

from __future__ import annotations

from basis_strategy.components.fund import ShareRegister
from basis_strategy.components.monitors import ExposureMonitor, PositionMonitor, RiskMonitor
from basis_strategy.config.loader import RunConfig
from basis_strategy.core.errors import ConfigError
from basis_strategy.strategies.base import StrategyManager
from basis_strategy.strategies.basis import BtcBasis, EthBasis
from basis_strategy.strategies.hedged import HedgedStaking
from basis_strategy.strategies.lending import PureLending
from basis_strategy.strategies.staking import Leveraged, StakingOnly

STRATEGIES: dict[str, type[StrategyManager]] = {
    "pure_lending": PureLending,
    "btc_basis": BtcBasis,
    "eth_basis": EthBasis,
    "eth_staking_only": StakingOnly,
    "eth_leveraged": Leveraged,
    "usdt_market_neutral_no_leverage": HedgedStaking,
    "usdt_market_neutral": HedgedStaking,
}


def strategy_class(mode: str) -> type[StrategyManager]:
    """The mode's strategy manager class."""
    cls = STRATEGIES.get(mode)
    if cls is None:
        raise ConfigError(
            "mode",
            f"{mode} is configured and validated but cannot run yet "
            f"(runnable now: {', '.join(STRATEGIES)})",
        )
    return cls


def build_strategy(
    config: RunConfig,
    positions: PositionMonitor,
    exposure: ExposureMonitor,
    risk: RiskMonitor,
    shares: ShareRegister,
) -> StrategyManager:
    return strategy_class(config.mode.mode)(config, positions, exposure, risk, shares)
