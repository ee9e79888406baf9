"""USDT share class staking modes hedged with perp shorts (domain 9.6, 9.7, 11).

The long leg is on-chain: USDT is swapped to ETH on Uniswap and put into the LST leg
(unlevered LST, or the levered AAVE position built by a flash bundle); the shorts equal the
leg's net ETH `N` (C − D when levered), split by the hedge allocation. Margin bands, the
delta rule and withdrawals are the basis strategy's (domain 8.2, 11.2) with this long leg:
releasing x ETH of the leg (LST sale, or a partial exit at constant λ) and swapping it to
USDT in the wallet, which is then sent to the venue. usdt_market_neutral adds the AAVE LTV
bands: deleverage at warning / critical (equity and net ETH unchanged apart from costs, so
the perps stay; the delta rule fixes the residual) and re-lever below λ − band.
"""

from __future__ import annotations

import itertools
from typing import Any

from basis_strategy.components.monitors import Exposure
from basis_strategy.config.loader import RunConfig
from basis_strategy.core.instructions import Action, SwapOnDex
from basis_strategy.core.instruments import WALLET_ETH
from basis_strategy.data.market import MarketState
from basis_strategy.strategies.base import Steps
from basis_strategy.strategies.basis import Basis
from basis_strategy.strategies.lst import LstLeg


class HedgedStaking(Basis):
    """usdt_market_neutral_no_leverage, and with `leverage` set usdt_market_neutral."""

    asset = "ETH"

    def __init__(self, config: RunConfig, *parts: Any) -> None:
        super().__init__(config, *parts)
        self.leg = LstLeg(config, self.positions)
        self.cex_venues = self.hedge_venues
        self.long_cash_venue = "wallet"
        leverage = config.mode.leverage
        self.target_ltv = leverage.target_ltv if leverage and leverage.target_ltv else 0.0
        self.ltv_band = leverage.ltv_band if leverage else 0.0

    # --- the on-chain long leg -------------------------------------------------------------

    def long_units(self, market: MarketState) -> float:
        return self.leg.net_eth(market)

    def long_value(self, book: Exposure, market: MarketState) -> float:
        return self.leg.net_eth(market) * market.usd("ETH")

    def long_apr(self, market: MarketState) -> float:
        return self.leg.carry_apr(market)

    def long_entry_cost(self, usdt: float, market: MarketState) -> float:
        """USDT -> ETH on Uniswap, then the leg's entry (bundle or mint)."""
        swap = self.costs.swap(usdt, "ETH/USDT", market)
        eth = usdt / market.usd("ETH")
        return swap + self.leg.entry_cost_eth(eth, market) * market.usd("ETH")

    def buy_long(self, usdt: float, action: Action, trigger: str, market: MarketState) -> Steps:
        before = self.qty(WALLET_ETH)
        yield SwapOnDex(
            venue="uniswap",
            action=action,
            trigger=trigger,
            sell="USDT",
            buy="ETH",
            sell_amount=usdt,
        )
        yield from self.leg.add(self.eth_received_since(before), action, trigger, market)

    def sell_long(self, units: float, action: Action, trigger: str, market: MarketState) -> Steps:
        """Release `units` ETH of the leg (all of it when asked for nearly all) and swap the
        ETH it brings to the wallet into USDT."""
        before = self.qty(WALLET_ETH)
        if units >= self.leg.net_eth(market) * (1 - 1e-9):
            yield from self.leg.close(action, trigger, market)
        else:
            yield from self.leg.take(units, action, trigger, market)
        received = self.eth_received_since(before)
        if received > 0:
            yield SwapOnDex(
                venue="uniswap",
                action=action,
                trigger=trigger,
                sell="ETH",
                buy="USDT",
                sell_amount=received,
            )

    # --- AAVE bands (usdt_market_neutral) --------------------------------------------------------

    def risk_critical(self, market: MarketState) -> Steps:
        margins = super().risk_critical(market)
        if not self.leg.levered or self.assess(market).aave_level not in (
            "critical",
            "liquidatable",
        ):
            return margins
        self.critical_ran = True
        return itertools.chain(
            self.leg.deleverage(self.target_ltv, "ltv_critical", market), margins
        )

    def risk_warning(self, market: MarketState) -> Steps:
        margins = super().risk_warning(market)
        if not self.leg.levered or self.assess(market).aave_level != "warning":
            return margins
        return itertools.chain(self.leg.deleverage(self.target_ltv, "ltv_warning", market), margins)

    def deviation(self, market: MarketState) -> Steps:
        steps = super().deviation(market)
        if not self.leg.levered or self.critical_ran or not self.leg.is_open():
            return steps
        if self.leg.ltv(market) >= self.target_ltv - self.ltv_band:
            return steps
        # re-lever (10.4) when it pays: net ETH is unchanged, so the perps stay
        proposal = self.leg.relever_proposal(market, market.usd("ETH"), self.gate.horizon_years)
        if not self.gate.allows(proposal, market):
            return steps
        relever = self.gate.run(proposal, "entry_partial", self.leg.relever("ltv_band", market))
        return itertools.chain(steps, relever)
