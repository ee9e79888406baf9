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

import itertools
import math
from collections.abc import Iterator
from typing import Any

from basis_strategy.config.loader import RunConfig
from basis_strategy.config.models import Flow
from basis_strategy.core.instructions import (
    Action,
    EndGroup,
    FlowKind,
    Instruction,
    PayWithdrawal,
    StartFlow,
)
from basis_strategy.data.market import MarketState
from basis_strategy.strategies.base import NO_STEPS, Steps, StrategyManager
from basis_strategy.strategies.lst import LstLeg
from basis_strategy.strategies.rebalancing import Proposal


class StakingOnly(StrategyManager):
    """Targets: LST ETH value = E × (1 − R_res); the reserve is wallet ETH."""

    def __init__(self, config: RunConfig, *parts: Any) -> None:
        super().__init__(config, *parts)
        self.leg = LstLeg(config, self.positions)
        # protocol-route redemptions waiting for their claim: (ETH owed, inf for all; requested)
        self.queued: list[tuple[float, float]] = []

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
        return itertools.chain(self._pay_queued(), flows)

    def _pay_queued(self) -> Iterator[Instruction]:
        """Pay queued protocol-route redemptions whose ETH has arrived, oldest first (a full
        redemption once every claim has landed)."""
        while self.queued:
            amount, requested = self.queued[0]
            full = math.isinf(amount)
            if (full and self.pending_eth() > 0) or (
                not full and self.qty(self.wallet_cash) < amount * (1 - 1e-12)
            ):
                return
            self.queued.pop(0)
            kind: FlowKind = "full_redemption" if full else "withdrawal"
            yield StartFlow(
                action="flow",
                trigger="withdrawal_claimed",
                kind=kind,
                amount=requested,
                shares=math.inf if full else 0.0,
            )
            if full:
                yield from self.pay_out_all()
            else:
                yield PayWithdrawal(
                    venue="wallet",
                    action="flow",
                    trigger="withdrawal_claimed",
                    asset="ETH",
                    amount=min(amount, self.qty(self.wallet_cash)),
                )
            yield EndGroup(action="flow", trigger="withdrawal_claimed")

    def redeem(self, flow: Flow, market: MarketState) -> Iterator[Instruction]:
        """Protocol route (unlevered): queue the LST at the protocol and pay once the claim
        lands (8.4); the redemption is settled then."""
        if self.leg.levered or self.leg.unstake_route != "protocol":
            yield from super().redeem(flow, market)
            return
        refused = self.refusal(flow, market)
        if refused is not None:
            yield refused
            return
        requested = math.nan if flow.amount is None else flow.amount
        if self.is_full(flow, market):
            yield from self.leg.unstake(self.qty(self.leg.lst_key), "exit_full", "withdrawal")
            yield from self.sweep(market)
            self.queued.append((math.inf, requested))
        else:
            assert flow.amount is not None
            amount = -flow.amount
            shortfall = amount - self.qty(self.wallet_cash) - self.pending_eth()
            if shortfall > 0:
                units = shortfall / self.leg.rate(market)
                yield from self.leg.unstake(units, "exit_partial", "withdrawal")
            self.queued.append((amount, requested))
        yield from self._pay_queued()

    # --- the reserve band -----------------------------------------------------------------------

    def deviation(self, market: MarketState) -> Steps:
        """Reserve band: idle wallet ETH is deployed, and a reserve short by more than the
        threshold is refilled from the leg, each when the gate allows it (issue 11). ETH owed
        to queued payouts is not idle; nothing moves while a full redemption is queued."""
        if self.critical_ran or any(math.isinf(amount) for amount, _ in self.queued):
            return NO_STEPS
        equity = self.book(market).equity
        if equity <= 0:
            return NO_STEPS
        spare = self.qty(self.wallet_cash) + self.pending_eth() - sum(a for a, _ in self.queued)
        gap = spare - self.mode.reserve_ratio * equity
        horizon = self.gate.horizon_years
        if gap / equity > self.mode.position_deviation_threshold:
            proposal = self.leg.add_proposal(self.deployable(market), market, 1.0, horizon)
            return self.gated(proposal, "entry_partial", self.deploy(market), market)
        if -gap / equity > self.mode.position_deviation_threshold and self.leg.is_open():
            cost = self.leg.take_cost_eth(-gap, market)
            refill = Proposal("reserve_refill", -gap, cost, None)
            steps = self.raise_cash(-gap, "exit_partial", market)
            return self.gated(refill, "exit_partial", steps, market)
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
        """The reserve band, else a re-lever to λ below λ − band, when it pays (issue 11)."""
        reserve = super().deviation(market)
        if reserve is not NO_STEPS or self.critical_ran or not self.leg.is_open():
            return reserve
        if self.leg.ltv(market) >= self.target_ltv - self.leverage.ltv_band:
            return NO_STEPS
        proposal = self.leg.relever_proposal(market, 1.0, self.gate.horizon_years)
        return self.gated(proposal, "entry_partial", self.leg.relever("ltv_band", market), market)
