"""Strategy factory: one manager class per mode (ADR-052/055)."""

from __future__ import annotations

from basis_strategy.components.monitors import ExposureMonitor, PositionMonitor, RiskMonitor
from basis_strategy.config.loader import RunConfig
from basis_strategy.core.errors import ConfigError
from basis_strategy.strategies.base import StrategyManager
from basis_strategy.strategies.basis import BtcBasis, EthBasis
from basis_strategy.strategies.lending import PureLending

STRATEGIES: dict[str, type[StrategyManager]] = {
    "pure_lending": PureLending,
    "btc_basis": BtcBasis,
    "eth_basis": EthBasis,
}


def runnable(mode: str) -> bool:
    return mode in STRATEGIES


def build_strategy(
    config: RunConfig, positions: PositionMonitor, exposure: ExposureMonitor, risk: RiskMonitor
) -> StrategyManager:
    """The mode's strategy manager; the DeFi staking modes validate but do not run yet."""
    cls = STRATEGIES.get(config.mode.mode)
    if cls is None:
        raise ConfigError(
            "mode",
            f"{config.mode.mode} is configured and validated but cannot run yet "
            f"(runnable now: {', '.join(STRATEGIES)})",
        )
    return cls(config, positions, exposure, risk)
