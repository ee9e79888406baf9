"""The fund's own books (domain 5, issue 11): shares, flows and who pays their costs, and the
record of optional actions.

Shares are minted and burned at NAV per share. A flow is a group of instructions, from its
`StartFlow` to its `EndGroup`: the deposit or payout and the entry or exit trades it needs.
With `cost_allocation: investor` the group's costs (the equity it lost beyond the cash that
moved) are charged to its investor: a deposit mints `(d − costs) / NAV₀` shares, a withdrawal
burns `(w + costs) / NAV₀`, with NAV₀ the NAV per share before the group, so every other
holder's NAV per share is unchanged. With `pool` (and whenever no other holder exists, e.g.
the initial capital) shares move at the NAV per share of the deposit or payout instruction
itself, so the costs fall on every holder. A full redemption burns every share. A redemption's
realised return is measured against the average cost of the shares it burns.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from basis_strategy.core.instructions import (
    FundInstruction,
    PayWithdrawal,
    RefuseFlow,
    StartFlow,
    StartRebalance,
)


class ShareRegister:
    """Shares outstanding, their average cost, and the NAV per share new shares are issued at
    when none are outstanding (1.0 at first; the last NAV after a full redemption)."""

    def __init__(self) -> None:
        self.shares = 0.0
        self.cost_basis = 0.0
        self.issue_nav = 1.0

    def nav_per_share(self, equity: float) -> float:
        return equity / self.shares if self.shares > 0 else self.issue_nav

    def mint(self, shares: float, paid: float) -> None:
        self.shares += shares
        self.cost_basis += paid

    def burn(self, shares: float, nav: float) -> float:
        """Burn `shares` (all of them when they are nearly all); returns their cost basis."""
        if shares >= self.shares * (1 - 1e-12):
            basis, self.shares, self.cost_basis = self.cost_basis, 0.0, 0.0
            self.issue_nav = nav
            return basis
        basis = self.cost_basis * shares / self.shares
        self.shares -= shares
        self.cost_basis -= basis
        return basis


@dataclass
class FlowRecord:
    """One flow as `summary.json` lists it (share-class units; `amount` > 0 in, < 0 out)."""

    at: str
    kind: str
    requested: float | None
    requested_shares: float | str | None
    amount: float = 0.0
    shares: float = 0.0
    nav_before: float | None = None
    nav_after: float | None = None
    costs: float = 0.0
    costs_charged_to: str = ""
    cost_basis: float | None = None
    realised_return: float | None = None
    reason: str = ""


@dataclass
class _Group:
    start: FundInstruction
    at: datetime
    equity: float
    shares: float
    nav: float
    flow_value: float = 0.0
    payouts: int = 0
    basis_released: float = 0.0


@dataclass
class RebalanceTally:
    """Optional actions taken, by trigger, with their expected and actual costs."""

    taken: Counter[str] = field(default_factory=Counter)
    amount: float = 0.0
    expected_cost: float = 0.0
    actual_cost: float = 0.0
    expected_benefit: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "taken": dict(self.taken),
            "amount_moved": self.amount,
            "expected_cost": self.expected_cost,
            "actual_cost": self.actual_cost,
            "expected_benefit": self.expected_benefit,
        }


class FundBooks:
    """Settles flow and rebalance groups; keeps the share register and the flow records."""

    def __init__(self, cost_allocation: str) -> None:
        self.cost_allocation = cost_allocation
        self.register = ShareRegister()
        self.flows: list[FlowRecord] = []
        self.rebalancing = RebalanceTally()
        self.group: _Group | None = None
        self.groups = 0

    @property
    def shares(self) -> float:
        return self.register.shares

    def group_note(self) -> str:
        """`;flow=N` or `;plan=N` for the events of the group under way."""
        if self.group is None:
            return ""
        kind = "plan" if isinstance(self.group.start, StartRebalance) else "flow"
        return f";{kind}={self.groups}"

    def _investor_pays(self) -> bool:
        group = self.group
        return (
            self.cost_allocation == "investor"
            and group is not None
            and isinstance(group.start, StartFlow)
            and group.start.kind != "full_redemption"
            and group.shares > 0
        )

    # --- instructions -----------------------------------------------------------------------

    def open(self, start: FundInstruction, at: datetime, equity: float) -> str:
        """Begin a group; returns the note of its opening event."""
        if self.group is not None:
            raise RuntimeError(f"{type(start).__name__} inside an open group")
        self.groups += 1
        nav = self.register.nav_per_share(equity)
        self.group = _Group(start, at, equity, self.register.shares, nav)
        if isinstance(start, StartRebalance):
            benefit = start.expected_benefit
            # a reserve refill adds no carry: it has no benefit figure
            shown = f"{benefit:.10g}" if math.isfinite(benefit) else "none"
            return (
                f"plan={self.groups};trigger={start.trigger};amount={start.amount:.10g};"
                f"expected_cost={start.expected_cost:.10g};expected_benefit={shown};"
                f"horizon_days={start.horizon_days:g}"
            )
        assert isinstance(start, StartFlow)
        requested = f"{start.amount:.10g}" if math.isfinite(start.amount) else "all_shares"
        return f"flow={self.groups};kind={start.kind};requested={requested}"

    def cash_flow(self, instruction: FundInstruction | Any, value: float, equity: float) -> None:
        """A deposit or payout instruction moved `value` (share-class units) at `equity`
        (before it). Outside an investor-paid group, shares move now at that NAV."""
        group = self.group
        if group is not None:
            group.flow_value += value
            group.payouts += isinstance(instruction, PayWithdrawal)
        if self._investor_pays():
            return
        nav = self.register.nav_per_share(equity)
        if value > 0:
            self.register.mint(value / nav, value)
        elif not (group is not None and self._full(group)):
            basis = self.register.burn(-value / nav, nav)
            if group is not None:
                group.basis_released += basis

    @staticmethod
    def _full(group: _Group) -> bool:
        return isinstance(group.start, StartFlow) and group.start.kind == "full_redemption"

    def close(self, equity: float) -> str:
        """End the group under way; returns the note of its closing event."""
        group = self.group
        if group is None:
            raise RuntimeError("EndGroup without an open group")
        costs = group.equity + group.flow_value - equity
        if isinstance(group.start, StartRebalance):
            self.group = None
            return self._close_rebalance(group.start, costs)
        record = self._settle_flow(group, costs, equity)
        self.group = None
        self.flows.append(record)
        return (
            f"flow={self.groups};amount={record.amount:.10g};shares={record.shares:.10g};"
            f"costs={record.costs:.10g};charged_to={record.costs_charged_to}"
        )

    def _close_rebalance(self, start: StartRebalance, costs: float) -> str:
        tally = self.rebalancing
        tally.taken[start.trigger.split(":")[0]] += 1
        tally.amount += start.amount
        tally.expected_cost += start.expected_cost
        tally.actual_cost += costs
        if math.isfinite(start.expected_benefit):
            tally.expected_benefit += start.expected_benefit
        return f"plan={self.groups};actual_cost={costs:.10g}"

    def _settle_flow(self, group: _Group, costs: float, equity: float) -> FlowRecord:
        start = group.start
        assert isinstance(start, StartFlow)
        register, value, nav = self.register, group.flow_value, group.nav
        investor = self._investor_pays()
        basis = None
        if investor and value > 0:
            register.mint((value - costs) / nav, value)
        elif investor and value < 0:
            basis = register.burn((costs - value) / nav, nav)
        elif self._full(group) and group.payouts:
            basis = register.burn(register.shares, nav)
        elif value < 0:  # pool: burned at the payout's NAV already (`cash_flow`)
            basis = group.basis_released
        record = FlowRecord(
            at=group.at.isoformat(),
            kind=start.kind if value != 0 else "failed",
            requested=None if math.isnan(start.amount) else start.amount,
            requested_shares=_shares_label(start.shares),
            amount=value,
            shares=register.shares - group.shares,
            nav_before=nav,
            nav_after=equity / register.shares if register.shares > 0 else None,
            costs=costs,
            # a full redemption's costs come out of what its redeemers receive
            costs_charged_to="investor" if investor or self._full(group) else "pool",
            cost_basis=basis,
        )
        if basis is not None and basis > 0:
            record.realised_return = -value / basis - 1.0
        return record

    def refuse(self, refusal: RefuseFlow, at: datetime) -> None:
        self.flows.append(
            FlowRecord(
                at=at.isoformat(),
                kind="rejected",
                requested=refusal.amount,
                requested_shares=None,
                reason=refusal.reason,
            )
        )

    def summary(self) -> list[dict[str, Any]]:
        return [asdict(record) for record in self.flows]


def _shares_label(shares: float) -> float | str | None:
    if shares == 0.0:
        return None
    return "all" if math.isinf(shares) else shares
