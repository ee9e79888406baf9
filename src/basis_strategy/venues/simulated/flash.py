"""Simulated flash-loan lender (Morpho): atomic bundles, all or nothing (ADR-020, domain 10).

A `FlashBundle` is one transaction: flash-borrow, run the steps at their venues, repay the
flash loan with its fee, pay the bundle's gas once. The steps run against a trial copy of the
shared wallet ledger with gas switched off; only if every step succeeds, the flash is repaid
from wallet WETH and no balance but wallet ETH (gas debt) ends negative are the legs applied
to the real ledger. Otherwise `ExecutionRejected` names the bundle and the failing step and
nothing changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from basis_strategy.config.venues import FlashVenue
from basis_strategy.core.instructions import (
    ExecutionResult,
    FlashBundle,
    Instruction,
    Leg,
    SetEmode,
)
from basis_strategy.core.instruments import WALLET_ETH
from basis_strategy.data.market import MarketState
from basis_strategy.venues.interface import CostSwitches, ExecutionRejected, Ledger, cost_detail
from basis_strategy.venues.simulated.chain import COST, ChainVenue, wallet_key

NEGATIVE_TOLERANCE = 1e-9  # float dust a balance may end below zero


class SimulatedFlashLender(ChainVenue):
    """Morpho flash loans over the shared wallet ledger.

    `venues`: the on-chain venues the steps are routed to, by name (`wallet`, `aave_v3`,
    `uniswap`, `etherfi`, `lido`); it may be filled after construction.
    """

    name = "morpho"

    def __init__(
        self,
        ledger: Ledger,
        costs: CostSwitches,
        config: FlashVenue,
        venues: Mapping[str, ChainVenue] | None = None,
    ) -> None:
        super().__init__(ledger, costs)
        self.config = config
        self.venues: dict[str, ChainVenue] = dict(venues or {})

    def execute(self, instruction: Instruction, market: MarketState) -> ExecutionResult:
        if not isinstance(instruction, FlashBundle):
            raise ExecutionRejected(f"morpho cannot execute {type(instruction).__name__}")
        legs = self.bundle_legs(instruction, market, self.ledger.copy())
        self.ledger.apply(legs)
        for step in instruction.steps:
            self.venues[step.venue].commit(step, market)
        return ExecutionResult(legs)

    def bundle_legs(
        self, bundle: FlashBundle, market: MarketState, trial: Ledger
    ) -> tuple[Leg, ...]:
        """Every leg of the bundle, in order, computed on (and applied to) `trial`:
        flash borrow, the steps, the repayment with its fee, one gas leg."""
        key = wallet_key(bundle.asset)
        if not (bundle.amount > 0.0 and math.isfinite(bundle.amount)):
            raise self._rejected(bundle, "flash borrow", f"amount must be > 0, was {bundle.amount}")
        if bundle.gas_op not in self.config.gas_units:
            raise self._rejected(bundle, "gas", f"unknown gas_op {bundle.gas_op!r}")
        legs = [Leg(key, bundle.amount, "FlashBorrowed", 1.0, detail=f"kind={bundle.kind}")]
        trial.apply(tuple(legs))
        step_costs = CostSwitches(gas=False, execution=self.costs.execution)
        for number, step in enumerate(bundle.steps, 1):
            step_legs = self._step_legs(bundle, number, step, market, trial, step_costs)
            trial.apply(step_legs)
            legs.extend(step_legs)
        repayment = self._repayment(bundle, key, trial)
        trial.apply(repayment)
        legs.extend(repayment)
        gas = self.costs.gas_leg(self.config.gas_units[bundle.gas_op], market, bundle.gas_op)
        trial.apply(gas)
        legs.extend(gas)
        self._check_balances(bundle, trial, legs)
        return tuple(legs)

    def _step_legs(
        self,
        bundle: FlashBundle,
        number: int,
        step: Instruction,
        market: MarketState,
        trial: Ledger,
        costs: CostSwitches,
    ) -> tuple[Leg, ...]:
        where = f"step {number} ({type(step).__name__} at {step.venue})"
        venue = self.venues.get(step.venue)
        if venue is None:
            raise self._rejected(bundle, where, f"no on-chain venue {step.venue!r}")
        if isinstance(step, FlashBundle | SetEmode):
            raise self._rejected(bundle, where, "not allowed inside a bundle")
        try:
            return venue.legs(step, market, trial, costs)
        except ExecutionRejected as exc:
            raise self._rejected(bundle, where, str(exc)) from exc

    def _repayment(self, bundle: FlashBundle, key: str, trial: Ledger) -> tuple[Leg, ...]:
        """`amount × (1 + fee)` from the wallet; the fee is an execution cost."""
        fee = bundle.amount * self.costs.fee_rate(self.config.flash_loan_fee)
        due = bundle.amount + fee
        try:
            trial.require(key, due)
        except ExecutionRejected as exc:
            raise self._rejected(bundle, "flash repayment", str(exc)) from exc
        if fee == 0.0:
            return (Leg(key, -due, "FlashRepaid", 1.0),)
        return (
            Leg(key, -due, "FlashRepaid", 1.0, COST, -fee, bundle.asset, detail=cost_detail(fee)),
        )

    def _check_balances(self, bundle: FlashBundle, trial: Ledger, legs: list[Leg]) -> None:
        """No balance the bundle touched may end negative, except wallet ETH (gas debt)."""
        for key in dict.fromkeys(leg.instrument for leg in legs):
            if key != WALLET_ETH and trial.qty(key) < -NEGATIVE_TOLERANCE:
                raise self._rejected(
                    bundle, "final balances", f"{key} would end at {trial.qty(key):.10g}"
                )

    @staticmethod
    def _rejected(bundle: FlashBundle, where: str, reason: str) -> ExecutionRejected:
        return ExecutionRejected(
            f"morpho: {bundle.kind} bundle rejected at {where}: {reason}; nothing applied"
        )
