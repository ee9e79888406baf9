"""pure_lending (domain 9.1): supply USDT to AAVE v3; only flows and the reserve move it."""

from __future__ import annotations

import math

from basis_strategy.config.venues import AaveVenue
from basis_strategy.core.instructions import Action, ApproveToken, SupplyToAave, WithdrawFromAave
from basis_strategy.core.instruments import WALLET_USDT
from basis_strategy.data.market import MarketState
from basis_strategy.strategies.base import Steps, StrategyManager
from basis_strategy.strategies.rebalancing import Proposal

A_USDT = "aave_v3:aToken:aUSDT"


class PureLending(StrategyManager):
    """Targets: aUSDT underlying = E × (1 − R_res); the reserve is the rest."""

    approved = False  # USDT approved for AAVE (one transaction, before the first supply)

    def supplied(self, market: MarketState) -> float:
        return self.qty(A_USDT) * market["aave_li:USDT"]

    def deploy(self, market: MarketState) -> Steps:
        action: Action = "entry_partial" if self.qty(A_USDT) > 0 else "entry_full"
        yield from self.buy_gas_buffer(market, action, "gas_buffer")
        amount = self.deployable(market)
        if amount <= 0:
            return
        if not self.approved:
            yield ApproveToken(
                venue="wallet", action=action, trigger="approve", token="USDT", spender="aave_v3"
            )
            self.approved = True
        yield SupplyToAave(
            venue="aave_v3", action=action, trigger="deploy", asset="USDT", amount=amount
        )

    def raise_cash(self, amount: float, action: Action, market: MarketState) -> Steps:
        supplied = self.supplied(market)
        if supplied <= 0:
            return
        take = math.inf if amount >= supplied else amount
        yield WithdrawFromAave(
            venue="aave_v3", action=action, trigger="withdrawal", asset="USDT", amount=take
        )

    def deviation(self, market: MarketState) -> Steps:
        """Rebalance the reserve when a leg is off target by more than the threshold: idle
        cash is supplied when a horizon of supply yield pays for its gas, a short reserve is
        refilled when the amount and its cost pass the gate (issue 11, domain 9.1)."""
        yield from super().deviation(market)
        equity = self.book(market).equity
        if equity <= 0:
            return
        gap = self.supplied(market) - equity * (1 - self.mode.reserve_ratio)
        if abs(gap) / equity <= self.mode.position_deviation_threshold:
            return
        aave = self.config.venues["aave_v3"]
        assert isinstance(aave, AaveVenue)
        if gap < 0:
            amount = min(-gap, self.qty(WALLET_USDT))
            benefit = amount * market["aave_lr:USDT"] * self.gate.horizon_years
            cost = self.costs.gas(aave.gas_units["supply"], market)
            supply = SupplyToAave(
                venue="aave_v3",
                action="entry_partial",
                trigger="deviation",
                asset="USDT",
                amount=amount,
            )
            proposal = Proposal("deploy", amount, cost, benefit)
            yield from self.gated(proposal, "entry_partial", (supply,), market)
        else:
            withdraw = WithdrawFromAave(
                venue="aave_v3",
                action="exit_partial",
                trigger="deviation",
                asset="USDT",
                amount=gap,
            )
            cost = self.costs.gas(aave.gas_units["withdraw"], market)
            refill = Proposal("reserve_refill", gap, cost, None)
            yield from self.gated(refill, "exit_partial", (withdraw,), market)
