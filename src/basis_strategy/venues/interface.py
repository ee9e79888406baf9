"""One interface for every venue, simulated or live (conventions 7, ADR-008).

`execute` turns an instruction into the legs it produced (or raises `ExecutionRejected`
without changing anything); `receive` credits an incoming transfer; `settle` books what
accrued or happened at the venue this hour (funding, unstake claims, reward payouts,
liquidations); `positions` is the venue's own view of what it holds, which reconciliation
compares with the position monitor's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from basis_strategy.core.errors import OperationalError
from basis_strategy.core.instructions import ExecutionResult, Instruction, Leg
from basis_strategy.data.market import MarketState
from basis_strategy.math.costs import gas_cost_eth, slippage_bps


def cost_detail(fee: float, slippage: float = 0.0, discount: float = 0.0) -> str:
    """How an execution cost splits (in the cost leg's `pnl_asset` units, positive = paid):
    venue or pool fee, slippage, and for LSTs the market rate's gap to the oracle."""
    return f"fee={fee:.12g};slippage={slippage:.12g};discount={discount:.12g}"


class ExecutionRejected(OperationalError):
    """The venue refused an instruction; nothing was applied."""


def require_amount(venue: str, what: str, amount: float) -> None:
    """Refuse a non-positive or non-finite amount."""
    if not (amount > 0.0 and math.isfinite(amount)):
        raise ExecutionRejected(f"{venue}: {what} must be a finite amount > 0, was {amount!r}")


class VenueInterface(Protocol):
    name: str

    def execute(self, instruction: Instruction, market: MarketState) -> ExecutionResult: ...

    def receive(self, asset: str, amount: float, market: MarketState) -> ExecutionResult: ...

    def settle(self, market: MarketState) -> ExecutionResult: ...

    def positions(self) -> dict[str, float]: ...


@dataclass(frozen=True)
class CostSwitches:
    """Run-level cost switches (config `costs`)."""

    gas: bool
    execution: bool

    def slippage_rate(self, notional_usd: float, bps_range: tuple[float, float]) -> float:
        if not self.execution:
            return 0.0
        return slippage_bps(abs(notional_usd), bps_range[0], bps_range[1]) * 1e-4

    def fee_rate(self, rate: float) -> float:
        return rate if self.execution else 0.0

    def gas_leg(self, gas_units: int, market: MarketState, note: str) -> tuple[Leg, ...]:
        """Gas paid from the wallet's ETH (may go negative: gas debt, domain 5)."""
        if not self.gas:
            return ()
        gwei = market.gas_gwei()
        eth = gas_cost_eth(gas_units, gwei)
        return (Leg("wallet:BaseToken:ETH", -eth, f"GasPaid:{note}", gwei, "gas", -eth, "ETH"),)


class Ledger:
    """A venue's own record of balances (perps: signed size, and average entry)."""

    def __init__(self) -> None:
        self.quantities: dict[str, float] = {}
        self.entries: dict[str, float] = {}

    def qty(self, key: str) -> float:
        return self.quantities.get(key, 0.0)

    def copy(self) -> Ledger:
        """An independent copy (a trial ledger for an atomic bundle)."""
        trial = Ledger()
        trial.quantities = dict(self.quantities)
        trial.entries = dict(self.entries)
        return trial

    def apply(self, legs: tuple[Leg, ...]) -> None:
        for leg in legs:
            self.quantities[leg.instrument] = self.quantities.get(leg.instrument, 0.0) + leg.amount
            if leg.entry_after is not None:
                self.entries[leg.instrument] = leg.entry_after

    def require(self, key: str, amount: float) -> None:
        """Refuse to take more than is held (tolerance for float dust)."""
        held = self.qty(key)
        if amount > held * (1 + 1e-9) + 1e-9:
            raise ExecutionRejected(f"{key}: needs {amount:.10g}, holds {held:.10g}")
