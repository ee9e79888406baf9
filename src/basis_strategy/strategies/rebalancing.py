"""Cost-aware optional actions (issue 11): the gate, and the expected costs it weighs.

An optional action (redeploying excess margin, re-levering inside the LTV band, deploying idle
cash, refilling the reserve, selling dust) is first proposed with the amount it moves, its
full expected cost and, when it adds carry, its expected benefit over the configured horizon
(all in share-class units). The gate lets it run only when the benefit is at least
`benefit_cost_ratio` × the cost, the amount is at least `min_amount_usd` and the cost at most
`max_cost_fraction` of the amount; otherwise the skip is counted by trigger and reason (the
summary reports the counts, not every hour). An action that runs is framed by
`StartRebalance` / `EndGroup`, so the event log carries its trigger and expected figures and
the fund books measure what it actually cost. Mandatory actions never come here.

`CostModel` prices gas, swaps, CEX trades and withdrawals from the venue configs with the same
formulas the venues charge, at the hour's prices.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from basis_strategy.config.loader import RunConfig
from basis_strategy.config.venues import CexVenue, DexVenue, RpcVenue
from basis_strategy.core.instructions import Action, EndGroup, Instruction, StartRebalance
from basis_strategy.data.market import MarketState
from basis_strategy.math.costs import gas_cost_eth, slippage_bps

DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class Proposal:
    """An optional action before the gate. `benefit` None: it adds no carry (a reserve
    refill), so only the minimum amount and the cost cap apply."""

    trigger: str
    amount: float
    cost: float
    benefit: float | None


class RebalanceGate:
    """Decides whether an optional action runs, and counts the ones it skips."""

    def __init__(self, config: RunConfig) -> None:
        self.settings = config.mode.rebalancing
        self.currency = config.share_class.currency
        self.skipped: dict[str, Counter[str]] = {}

    @property
    def horizon_years(self) -> float:
        return self.settings.horizon_days / DAYS_PER_YEAR

    def skip(self, trigger: str, reason: str) -> None:
        self.skipped.setdefault(trigger.split(":")[0], Counter())[reason] += 1

    def enabled(self, trigger: str) -> bool:
        """False (and counted) when optional actions are switched off."""
        if not self.settings.optional:
            self.skip(trigger, "optional_off")
        return self.settings.optional

    def allows(self, proposal: Proposal, market: MarketState) -> bool:
        settings = self.settings
        reason = ""
        if not settings.optional:
            reason = "optional_off"
        elif proposal.amount * market.usd(self.currency) < settings.min_amount_usd:
            reason = "below_min_amount"
        elif not proposal.cost <= settings.max_cost_fraction * proposal.amount:
            reason = "cost_above_max_fraction"
        elif proposal.benefit is not None and not (
            proposal.benefit >= settings.benefit_cost_ratio * proposal.cost
        ):
            reason = "benefit_below_cost"
        if reason:
            self.skip(proposal.trigger, reason)
        return not reason

    def run(
        self, proposal: Proposal, action: Action, steps: Iterable[Instruction]
    ) -> Iterator[Instruction]:
        """The action's instructions framed for the record (issue 11: trigger, expected cost
        and benefit in the event log; actual cost measured by the fund books)."""
        benefit = proposal.benefit if proposal.benefit is not None else math.nan
        yield StartRebalance(
            action=action,
            trigger=proposal.trigger,
            amount=proposal.amount,
            expected_cost=proposal.cost,
            expected_benefit=benefit,
            horizon_days=self.settings.horizon_days,
        )
        yield from steps
        yield EndGroup(action=action, trigger=proposal.trigger)

    def skipped_summary(self) -> dict[str, dict[str, int]]:
        return {trigger: dict(reasons) for trigger, reasons in self.skipped.items()}


class CostModel:
    """Expected costs, in share-class units, as the venues will charge them (domain 4.5)."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.currency = config.share_class.currency
        self.gas_on = config.mode.costs.gas
        self.execution_on = config.mode.costs.execution
        rpc = config.venues.get("alchemy")
        self.transfer_gas = rpc.gas_units["erc20_transfer"] if isinstance(rpc, RpcVenue) else 0

    def usd(self, value_usd: float, market: MarketState) -> float:
        """USD -> share-class units."""
        return value_usd / market.usd(self.currency)

    def gas(self, units: int, market: MarketState) -> float:
        if not self.gas_on:
            return 0.0
        return gas_cost_eth(units, market.gas_gwei()) * market.unit_price("ETH", self.currency)

    def _rate(self, fee: float, notional_usd: float, bps: tuple[float, float]) -> float:
        if not self.execution_on:
            return 0.0
        return fee + slippage_bps(abs(notional_usd), bps[0], bps[1]) * 1e-4

    def swap_gas_eth(self, market: MarketState) -> float:
        """ETH one Uniswap swap burns in gas."""
        dex = self.config.venues["uniswap"]
        assert isinstance(dex, DexVenue)
        return gas_cost_eth(dex.gas_units["swap"], market.gas_gwei()) if self.gas_on else 0.0

    def swap(self, notional_usd: float, pair: str, market: MarketState) -> float:
        """A Uniswap swap: pool fee + slippage on the notional, plus its gas."""
        dex = self.config.venues["uniswap"]
        assert isinstance(dex, DexVenue)
        rate = self._rate(dex.swap_fee, notional_usd, dex.slippage_bps[pair])
        return self.usd(abs(notional_usd) * rate, market) + self.gas(dex.gas_units["swap"], market)

    def cex(self, venue: str) -> CexVenue:
        config = self.config.venues[venue]
        assert isinstance(config, CexVenue)
        return config

    def perp(self, venue: str, base: str, notional_usd: float, market: MarketState) -> float:
        cex = self.cex(venue)
        rate = self._rate(cex.perp_taker_fee, notional_usd, cex.slippage_bps.perp[base])
        return self.usd(abs(notional_usd) * rate, market)

    def spot(self, venue: str, base: str, notional_usd: float, market: MarketState) -> float:
        cex = self.cex(venue)
        fee = cex.spot_taker_fee or 0.0
        rate = self._rate(fee, notional_usd, cex.slippage_bps.spot[base])
        return self.usd(abs(notional_usd) * rate, market)

    def withdrawal(self, venue: str, market: MarketState) -> float:
        """A CEX withdrawal (to the wallet or another CEX): its flat fee plus the network gas
        of the transfer it makes."""
        fee = self.cex(venue).withdrawal_fee["USDT"] if self.execution_on else 0.0
        return self.usd(fee, market) + self.gas(self.transfer_gas, market)

    def wallet_transfer(self, market: MarketState) -> float:
        return self.gas(self.transfer_gas, market)
