"""ETH share class DeFi modes (domain 9.4, 9.5): NAV in ETH, never hedged.

- eth_staking_only: wallet ETH above the reserve becomes LST (mint or DEX, whichever is
  cheaper). Only flows, dust and the reserve band move it. Withdrawals sell LST on the DEX,
  or with `unstake_route: protocol` queue it at the protocol and pay the redeemer when the
  claim completes.
- eth_leveraged: the LST is AAVE e-mode collateral against WETH debt at target LTV λ, built
  and changed only by atomic flash bundles. LTV at or above critical (step 1) or warning
  (step 3) deleverages to λ; LTV below λ − band re-levers (step 6, not after a critical
  action in the same hour).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from basis_strategy.config.loader import RunConfig
from basis_strategy.core.instructions import Action, Instruction, PayWithdrawal
from basis_strategy.data.market import MarketState
from basis_strategy.strategies.base import NO_STEPS, Steps, StrategyManager
from basis_strategy.strategies.lst import LstLeg


class StakingOnly(StrategyManager):
    """Targets: LST ETH value = E × (1 − R_res); the reserve is wallet ETH."""

    def __init__(self, config: RunConfig, *parts: Any) -> None:
        super().__init__(config, *parts)
        self.leg = LstLeg(config, self.positions)
        self.queued: list[float] = []  # protocol-route payouts waiting for their claim

    def pending_eth(self) -> float:
        return self.qty(f"{self.leg.venue}:Pending:ETH")

    def deploy(self, market: MarketState) -> Steps:
        action: Action = "entry_partial" if self.leg.is_open() else "entry_full"
        return self.leg.add(self.deployable(market), action, "deploy", market)

    def raise_cash(self, amount: float, action: Action, market: MarketState) -> Steps:
        if math.isinf(amount):
            return self.leg.close(action, "withdrawal", market)
        return self.leg.take(amount, action, "withdrawal", market)

    # --- flows ------------------------------------------------------------------------------

    def on_flows(self, market: MarketState) -> Steps:
        flows = super().on_flows(market)
        if not self.queued:
            return flows
        return self._pay_queued_then(flows)

    def _pay_queued_then(self, flows: Steps) -> Iterator[Instruction]:
        while self.queued and self.qty(self.wallet_cash) >= self.queued[0] * (1 - 1e-12):
            amount = min(self.queued.pop(0), self.qty(self.wallet_cash))
            yield PayWithdrawal(
                venue="wallet",
                action="flow",
                trigger="withdrawal_claimed",
                asset="ETH",
                amount=amount,
            )
        yield from flows

    def withdraw(self, amount: float, market: MarketState) -> Iterator[Instruction]:
        """Protocol route (unlevered): queue the LST and pay once the claim lands (8.4)."""
        if self.leg.levered or self.leg.unstake_route != "protocol":
            yield from super().withdraw(amount, market)
            return
        equity = self.book(market).equity
        amount = min(amount, equity)
        shortfall = amount - self.qty(self.wallet_cash) - self.pending_eth()
        if shortfall > 0:
            units = shortfall / self.leg.rate(market)
            yield from self.leg.unstake(units, "exit_partial", "withdrawal")
        self.queued.append(amount)
        yield from self._pay_queued_then(iter(NO_STEPS))

    # --- dust and the reserve band ------------------------------------------------------------

    def deviation(self, market: MarketState) -> Steps:
        """Reserve band: idle wallet ETH is deployed; a reserve short by more than the
        threshold is refilled from the leg (ETH owed to queued payouts is not idle)."""
        if self.critical_ran:
            return NO_STEPS
        equity = self.book(market).equity
        if equity <= 0:
            return NO_STEPS
        spare = self.qty(self.wallet_cash) + self.pending_eth() - sum(self.queued)
        gap = spare - self.mode.reserve_ratio * equity
        if gap / equity > self.mode.position_deviation_threshold:
            return self.deploy(market)
        if -gap / equity > self.mode.position_deviation_threshold and self.leg.is_open():
            return self.raise_cash(-gap, "exit_partial", market)
        return NO_STEPS


class Leveraged(StakingOnly):
    """eth_leveraged: C = E'/(1 − λ), D = λE'/(1 − λ), held by LTV bands (domain 9.5)."""

    def __init__(self, config: RunConfig, *parts: Any) -> None:
        super().__init__(config, *parts)
        assert config.mode.leverage is not None and config.mode.leverage.target_ltv is not None
        self.leverage = config.mode.leverage
        self.target_ltv = config.mode.leverage.target_ltv

    def risk_critical(self, market: MarketState) -> Steps:
        if self.assess(market).aave_level not in ("critical", "liquidatable"):
            return NO_STEPS
        self.critical_ran = True
        return self.leg.deleverage(self.target_ltv, "ltv_critical", market)

    def risk_warning(self, market: MarketState) -> Steps:
        if self.assess(market).aave_level != "warning":
            return NO_STEPS
        return self.leg.deleverage(self.target_ltv, "ltv_warning", market)

    def deviation(self, market: MarketState) -> Steps:
        reserve = super().deviation(market)
        if reserve is not NO_STEPS or self.critical_ran or not self.leg.is_open():
            return reserve
        if self.leg.ltv(market) < self.target_ltv - self.leverage.ltv_band:
            return self.leg.relever("ltv_band", market)
        return NO_STEPS
