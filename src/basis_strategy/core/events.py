"""Events: what happened, in the past tense, immutable, numbered by the event logger.

One event per position change (a spot buy is two events, USDT out and BTC in, sharing a
bundle id). Each carries the after-state of its instrument, so the book can be rebuilt from
the log alone. Once per hour an `EquityMarked` event records the equity and the unit values
used to mark every holding (`marks`), so P&L can be rebuilt from the log alone as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# P&L attribution components (domain 12.2), in the order reports show them. The three
# `*_correction` components are the difference a daily observation (AAVE index snapshot, LST
# oracle ρ) finds on arrival against the value accrued towards it since the last one: over
# whole days, yield + correction is the observed index or ρ growth.
COMPONENTS: tuple[str, ...] = (
    "supply_yield",
    "staking_yield",
    "borrow_cost",
    "supply_correction",
    "staking_correction",
    "borrow_correction",
    "funding",
    "delta",
    "basis",
    "rewards",
    "dust_pnl",
    "gas",
    "execution_costs",
    "liquidation_penalty",
)
FLOW = "flow"  # deposits and withdrawals: change equity, are not P&L

NAN = float("nan")


@dataclass(frozen=True, slots=True)
class Event:
    """One logged change. `pnl_amount` is in share-class units; `after_*` is the new state."""

    seq: int
    t: datetime
    bundle_id: int
    event_type: str
    venue: str
    instrument: str
    amount: float
    price: float
    pnl_component: str
    pnl_amount: float
    after_qty: float
    after_entry: float
    note: str
    # EquityMarked only: position key -> (index, rate, price), or for perps (mark, spot, USDT price)
    marks: dict[str, tuple[float, float, float]] | None = None
