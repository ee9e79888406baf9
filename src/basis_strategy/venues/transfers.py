"""Transfers that take time (issue 13 scope 5): the contract between a live venue that sends or
receives funds and the engine that books what is in flight.

Why: in a backtest a `Transfer` is instant (the source's withdrawal and the destination's
`receive` happen in one instruction). Live, moving USDT between venues is a withdrawal and a
deposit with a fee and a latency of minutes to hours; until the deposit is credited the money
is on neither venue, yet it is still the fund's: it is counted in equity, the strategy plans
with it (a venue whose top-up is on its way is not topped up twice), reconciliation expects
it on neither venue, and a transfer that does not arrive within a limit raises an alert.

Contract:
- a source venue that cannot credit the destination at once returns, with the legs of its
  withdrawal (`WithdrawalSent`, the fee as `execution_costs`), a `TransferTicket` in
  `ExecutionResult.ticket`: the venue's own withdrawal id, what should arrive, when it left;
- the destination venue is an `ArrivalWatcher`: each cycle the engine asks it whether a
  ticket's deposit has been credited (`arrived`), and books the arrival then;
- while in flight, the amount is the position `in_transit_key(destination, asset)`
  (`{destination}:Pending:{asset}`), valued like the asset, on neither venue's book.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from basis_strategy.data.market import MarketState


@dataclass(frozen=True, slots=True)
class TransferTicket:
    """One withdrawal on its way to `destination`: `amount` is what should be credited there
    (sent minus the withdrawal fee), in units of `asset`."""

    transfer_id: str  # the source venue's withdrawal id (or the on-chain tx hash)
    source: str
    destination: str
    asset: str
    amount: float
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class Arrival:
    """A ticket's deposit as the destination credited it (`amount` may differ from the
    ticket's by a deposit fee or rounding)."""

    ticket: TransferTicket
    amount: float
    credited_at: datetime


class ArrivalWatcher(Protocol):
    """A destination venue whose deposits arrive later than the withdrawal left."""

    def arrived(self, ticket: TransferTicket, market: MarketState) -> Arrival | None:
        """The ticket's deposit if the venue has credited it, else None (still in flight)."""
        ...


def in_transit_key(destination: str, asset: str) -> str:
    """The position of money on its way to `destination` (on neither venue)."""
    return f"{destination}:Pending:{asset}"
