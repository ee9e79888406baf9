"""Simulated liquid staking protocols: EtherFi (weETH) and Lido (wstETH) (domain 4.2, 4.4).

Both share the one wallet ledger. `Stake` mints the LST at the oracle rate ρ (gas only);
`RequestUnstake` queues LST for redemption at ρ: the ETH is `{venue}:Pending:ETH` until the
claim, which `settle` makes once the delay has passed. EtherFi also pays the restaking
rewards (EIGEN, ETHFI) listed in `market.rewards`, pro rata to the eETH-equivalent held hour
by hour.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime, timedelta

from basis_strategy.config.venues import StakingVenue
from basis_strategy.core.errors import ConfigError
from basis_strategy.core.instructions import (
    ExecutionResult,
    Instruction,
    Leg,
    RequestUnstake,
    Stake,
)
from basis_strategy.core.instruments import WALLET_ETH, cash_key
from basis_strategy.data.market import MarketState, RewardPayout
from basis_strategy.venues.interface import CostSwitches, Ledger, require_amount
from basis_strategy.venues.simulated.chain import NOTHING, ChainVenue, wallet_key

HOUR = timedelta(hours=1)


class HoldingRecord:
    """Cumulative eETH-equivalent-hours by grid index, O(1) per hour (domain 4.4).

    `record(i, held)` stores the holding carried through the hour that ends at grid index i
    (so the hour [t_{i−1}, t_i) is keyed i). `total(a, b)` is the sum over keys in (a, b]:
    the hours starting at grid indices a … b−1. Indices before the first record count 0;
    indices after the last one count nothing more.
    """

    def __init__(self) -> None:
        self._first = 0
        self._last = -1
        self._cumulative: list[float] = []

    def record(self, index: int, held: float) -> None:
        """Record the holding at `index`; a skipped index repeats `held`, a repeated or earlier
        index is ignored (one record per hour)."""
        if not self._cumulative:
            self._first = self._last = index
            self._cumulative.append(held)
            return
        running = self._cumulative[-1]
        for _ in range(index - self._last):
            running += held
            self._cumulative.append(running)
        self._last = max(self._last, index)

    def cumulative(self, index: int) -> float:
        """Σ of the records with keys <= `index`."""
        if not self._cumulative or index < self._first:
            return 0.0
        return self._cumulative[min(index, self._last) - self._first]

    def total(self, start: int, end: int) -> float:
        return self.cumulative(end) - self.cumulative(start)


class SimulatedStaking(ChainVenue):
    """One liquid staking protocol (`etherfi` -> weETH, `lido` -> wstETH).

    `unstake_delay_days`: the mode's `staking.unstake_delay_days` when given, else the venue's.
    """

    def __init__(
        self,
        ledger: Ledger,
        costs: CostSwitches,
        config: StakingVenue,
        unstake_delay_days: float,
    ) -> None:
        super().__init__(ledger, costs)
        self.name = config.name
        self.config = config
        self.lst = config.lst
        self.lst_key = f"{config.name}:LST:{config.lst}"
        if wallet_key(self.lst) != self.lst_key:
            raise ConfigError(f"{config.name}.lst", f"{config.lst} is not issued by {config.name}")
        if not (unstake_delay_days >= 0.0 and math.isfinite(unstake_delay_days)):
            raise ConfigError("unstake_delay_days", f"must be >= 0, was {unstake_delay_days!r}")
        self.pending_key = f"{config.name}:Pending:ETH"
        self.delay = timedelta(days=unstake_delay_days)
        self.claims: deque[tuple[datetime, float]] = deque()  # (claim time, ETH), in order
        self.pays_rewards = config.name == "etherfi"  # restaking rewards follow weETH only
        self.holdings = HoldingRecord()
        self.handlers = {Stake: self._stake, RequestUnstake: self._request_unstake}

    # --- instructions ---------------------------------------------------------------------------

    def _rate(self, market: MarketState) -> float:
        return market["lst_rate:" + self.lst]

    def _stake(
        self, order: Stake, market: MarketState, ledger: Ledger, costs: CostSwitches
    ) -> tuple[Leg, ...]:
        """ETH -> LST at ρ: `amount / ρ` units; no execution cost (mint at the oracle)."""
        require_amount(self.name, "stake amount", order.amount)
        ledger.require(WALLET_ETH, order.amount)
        rate = self._rate(market)
        gas = costs.gas_leg(self.config.gas_units["stake"], market, f"{self.name}_stake")
        return (
            Leg(WALLET_ETH, -order.amount, "Staked", 1.0),
            Leg(self.lst_key, order.amount / rate, "Staked", rate),
            *gas,
        )

    def _request_unstake(
        self, order: RequestUnstake, market: MarketState, ledger: Ledger, costs: CostSwitches
    ) -> tuple[Leg, ...]:
        """LST -> pending ETH, its value fixed at ρ now; claimable after the delay."""
        require_amount(self.name, "unstake amount", order.amount)
        ledger.require(self.lst_key, order.amount)
        rate = self._rate(market)
        claim_at = market.t + self.delay
        gas = costs.gas_leg(
            self.config.gas_units["unstake_request"], market, f"{self.name}_unstake_request"
        )
        return (
            Leg(self.lst_key, -order.amount, "UnstakeRequested", rate),
            Leg(
                self.pending_key,
                order.amount * rate,
                "UnstakeRequested",
                1.0,
                detail=f"claim_at={claim_at.isoformat()}",
            ),
            *gas,
        )

    def commit(self, instruction: Instruction, market: MarketState) -> None:
        if isinstance(instruction, RequestUnstake):
            self.claims.append((market.t + self.delay, instruction.amount * self._rate(market)))

    # --- settlement ---------------------------------------------------------------------------

    def settle(self, market: MarketState) -> ExecutionResult:
        """Claims due at or before t (gas each), then (EtherFi) the hour's holding record and
        any reward payout of the hour."""
        legs = self._claim_legs(market)
        if self.pays_rewards:
            self.holdings.record(market.index, self.eeth_equivalent(market))
            legs += self._reward_legs(market)
        if not legs:
            return NOTHING
        self.ledger.apply(legs)
        return ExecutionResult(legs)

    def _claim_legs(self, market: MarketState) -> tuple[Leg, ...]:
        legs: list[Leg] = []
        while self.claims and self.claims[0][0] <= market.t:
            _, eth = self.claims.popleft()
            legs.append(Leg(self.pending_key, -eth, "UnstakeClaimed", 1.0))
            legs.append(Leg(WALLET_ETH, eth, "UnstakeClaimed", 1.0))
            legs.extend(
                self.costs.gas_leg(self.config.gas_units["claim"], market, f"{self.name}_claim")
            )
        return tuple(legs)

    def eeth_equivalent(self, market: MarketState) -> float:
        """eETH-equivalent held now: (wallet LST + LST supplied to AAVE) × ρ (domain 4.4)."""
        units = self.ledger.qty(self.lst_key)
        supplied = self.ledger.qty(f"aave_v3:aToken:a{self.lst}")
        if supplied:
            units += supplied * market["aave_li:" + self.lst]
        return units * self._rate(market) if units else 0.0

    def _grid_index(self, when: datetime, market: MarketState) -> int:
        """Grid index of the hour `when` on the hourly grid that puts `market.t` at
        `market.index`."""
        return market.index - (market.t - when) // HOUR

    def _reward_legs(self, market: MarketState) -> tuple[Leg, ...]:
        legs = []
        for payout in market.rewards:
            leg = self._reward_leg(payout, market)
            if leg is not None:
                legs.append(leg)
        return tuple(legs)

    def _reward_leg(self, payout: RewardPayout, market: MarketState) -> Leg | None:
        """`per_eeth_hour × Σ_h eETH-equivalent` over the period's hours [start, end)."""
        held_hours = self.holdings.total(
            self._grid_index(payout.period_start, market),
            self._grid_index(payout.period_end, market),
        )
        tokens = payout.per_eeth_hour * held_hours
        if tokens <= 0.0:
            return None
        token_usd = market.usd(payout.token)
        king_value_eth = tokens * token_usd / market.usd("ETH")
        detail = (
            f"kind={payout.kind};period={payout.period_start.isoformat()}/"
            f"{payout.period_end.isoformat()};estimate={str(payout.estimate).lower()};"
            f"king_value_eth={king_value_eth:.12g}"
        )
        return Leg(
            cash_key("wallet", payout.token),
            tokens,
            "RewardPaid",
            token_usd,
            "rewards",
            tokens,
            payout.token,
            detail=detail,
        )
