"""pure_lending (domain 9.1): supply USDT to AAVE v3; only flows and the reserve move it."""

from __future__ import annotations

import math

from basis_strategy.config.models import AaveVenue
from basis_strategy.core.instructions import Action, ApproveToken, SupplyToAave, WithdrawFromAave
from basis_strategy.core.instruments import WALLET_USDT
from basis_strategy.data.market import MarketState
from basis_strategy.math.aave import SECONDS_PER_YEAR
from basis_strategy.math.costs import gas_cost_eth
from basis_strategy.strategies.base import Steps, StrategyManager

A_USDT = "aave_v3:aToken:aUSDT"
MONTH_SECONDS = SECONDS_PER_YEAR / 12


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
        """Rebalance the reserve when a leg is off target by more than the threshold, unless
        the gas would cost more than about a month of yield on the amount moved (9.1)."""
        yield from super().deviation(market)
        equity = self.book(market).equity
        if equity <= 0:
            return
        gap = self.supplied(market) - equity * (1 - self.mode.reserve_ratio)
        if abs(gap) / equity <= self.mode.position_deviation_threshold:
            return
        if gap < 0 and not self._worth_moving(-gap, market):
            return
        if gap < 0:
            amount = min(-gap, self.qty(WALLET_USDT))
            yield SupplyToAave(
                venue="aave_v3",
                action="entry_partial",
                trigger="deviation",
                asset="USDT",
                amount=amount,
            )
        else:
            yield WithdrawFromAave(
                venue="aave_v3",
                action="exit_partial",
                trigger="deviation",
                asset="USDT",
                amount=gap,
            )

    def _worth_moving(self, amount_usdt: float, market: MarketState) -> bool:
        if not self.mode.costs.gas:
            return True
        aave = self.config.venues["aave_v3"]
        assert isinstance(aave, AaveVenue)
        gas_usd = gas_cost_eth(aave.gas_units["supply"], market.gas_gwei()) * market.usd("ETH")
        month_yield_usd = amount_usdt * market["aave_lr:USDT"] * MONTH_SECONDS / SECONDS_PER_YEAR
        return gas_usd < month_yield_usd
