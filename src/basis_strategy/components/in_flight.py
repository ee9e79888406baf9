"""The in-flight book: transfers a live venue sent that the destination has not credited yet
(issue 13 scope 5; the contract is `venues/transfers.py`).

Why a book of its own: in a backtest a `Transfer` is credited in the same instruction, so the
engine never holds money "between" venues. Live, a withdrawal takes minutes to hours to be
credited; meanwhile the money is the fund's (valued in equity as the position
`{destination}:Pending:{asset}`) but on neither venue's account, so reconciliation must not
expect it at the source or the destination, and the strategy must not send it twice. The
book keeps each ticket until its arrival is booked; a ticket past `alert_after` is alerted
once and stays (a transfer is never silently written off: a person finds the money).

Division of work: the venue that sent returns the ticket (`ExecutionResult.ticket`); the
destination venue only *reports* an arrival (`ArrivalWatcher.arrived`); the engine then books
it and credits the destination through `VenueInterface.receive`, as the instant path does,
so the destination's own view (what reconciliation reads) moves with the book. This module
holds the state and the legs; `components/execution.py` does the booking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from basis_strategy.core.errors import OperationalError
from basis_strategy.core.instructions import Leg
from basis_strategy.live.alerts import Alert
from basis_strategy.venues.interface import cost_detail
from basis_strategy.venues.transfers import (
    Arrival,
    ArrivalWatcher,
    TransferTicket,
    in_transit_key,
)

ALERT_AFTER = timedelta(hours=2)  # default limit before a transfer in flight is alerted
SENT = "TransferSent"
ARRIVED = "TransferArrived"
LATE = "TransferLate"
COST = "execution_costs"
LATE_CODE = "TRF-001"  # core/log_codes.py


def sent_leg(ticket: TransferTicket, expected: float) -> Leg:
    """The money on its way, valued like the asset. `expected`: what the source's own legs
    imply is under way (amount sent less the withdrawal fee they booked); a ticket that
    differs is booked honestly as an execution cost of the gap, so attribution adds up."""
    key = in_transit_key(ticket.destination, ticket.asset)
    detail = f"transfer_id={ticket.transfer_id};source={ticket.source}"
    gap = ticket.amount - expected
    if gap == 0.0:
        return Leg(key, ticket.amount, SENT, 1.0, detail=detail)
    detail = f"{cost_detail(-gap)};{detail};expected={expected:.12g}"
    return Leg(key, ticket.amount, SENT, 1.0, COST, gap, ticket.asset, detail=detail)


def arrived_leg(arrival: Arrival) -> Leg:
    """The money leaves the transit position. A credit that differs from the ticket's amount
    (a deposit fee, rounding) is an execution cost (negative: paid) of the difference, so the
    hour's attribution still adds up: equity moves by exactly `credited - expected`."""
    ticket = arrival.ticket
    difference = arrival.amount - ticket.amount
    detail = f"transfer_id={ticket.transfer_id};source={ticket.source}"
    if difference == 0.0:
        key = in_transit_key(ticket.destination, ticket.asset)
        return Leg(key, -ticket.amount, ARRIVED, 1.0, detail=detail)
    return Leg(
        in_transit_key(ticket.destination, ticket.asset),
        -ticket.amount,
        ARRIVED,
        1.0,
        COST,
        difference,
        ticket.asset,
        detail=(
            f"{cost_detail(-difference)};{detail};expected={ticket.amount:.12g};"
            f"credited={arrival.amount:.12g}"
        ),
    )


def watcher_of(venue: object, ticket: TransferTicket) -> ArrivalWatcher:
    """The destination as an `ArrivalWatcher`; OperationalError when it cannot report arrivals
    (the money would be in flight with nobody to tell us it landed)."""
    if not callable(getattr(venue, "arrived", None)):
        raise OperationalError(
            f"transfer {ticket.transfer_id}: destination {ticket.destination!r} cannot report "
            "arrivals (no `arrived`): the ticket is booked in flight, a person must look"
        )
    return cast(ArrivalWatcher, venue)  # `arrived` checked just above


def check_ticket(ticket: TransferTicket, destination: str, asset: str) -> None:
    """A ticket must match its instruction and carry a usable amount (fail fast: a wrong
    ticket would book money at the wrong venue)."""
    if (ticket.destination, ticket.asset) != (destination, asset):
        raise OperationalError(
            f"transfer {ticket.transfer_id}: ticket for {ticket.asset} to {ticket.destination}, "
            f"instruction was {asset} to {destination}"
        )
    if not (ticket.amount > 0.0 and math.isfinite(ticket.amount)):
        raise OperationalError(
            f"transfer {ticket.transfer_id}: amount must be finite and > 0, was {ticket.amount!r}"
        )


def check_arrival(arrival: Arrival, ticket: TransferTicket) -> None:
    """An arrival must be for the ticket asked about, with a usable credited amount."""
    if arrival.ticket.transfer_id != ticket.transfer_id:
        raise OperationalError(
            f"transfer {ticket.transfer_id}: {ticket.destination} reported the arrival of "
            f"{arrival.ticket.transfer_id}"
        )
    if not (arrival.amount >= 0.0 and math.isfinite(arrival.amount)):
        raise OperationalError(
            f"transfer {ticket.transfer_id}: credited amount must be finite and >= 0, "
            f"was {arrival.amount!r}"
        )


@dataclass(frozen=True, slots=True)
class LateTransfer:
    """A transfer still in flight after the limit: alerted once."""

    ticket: TransferTicket
    noticed_at: datetime

    @property
    def age(self) -> timedelta:
        return self.noticed_at - self.ticket.sent_at

    def message(self) -> str:
        t = self.ticket
        return (
            f"transfer {t.transfer_id} of {t.amount:.12g} {t.asset} from {t.source} to "
            f"{t.destination} still in flight after {self.age.total_seconds() / 3600:.2f} h "
            f"(sent {t.sent_at.isoformat()}): kept in flight, check both venues"
        )

    def alert(self, strategy: str = "") -> Alert:
        """The operator's alert (`TRF-001`), as the live service's other alerts."""
        return Alert(LATE_CODE, self.message(), strategy, self.noticed_at)


class InFlightBook:
    """Tickets sent and not yet credited, by transfer id; which were alerted late; counts.

    Part of the engine's parts (held by the execution manager), so the paper/live checkpoint
    pickles it with the positions it explains."""

    def __init__(self, alert_after: timedelta = ALERT_AFTER) -> None:
        if alert_after <= timedelta(0):
            raise ValueError(f"alert_after must be > 0, was {alert_after}")
        self.alert_after = alert_after
        self.pending: dict[str, TransferTicket] = {}
        self.alerted: set[str] = set()
        self.sent = 0
        self.arrived = 0
        self.late: list[LateTransfer] = []  # every late alert raised, in order

    def add(self, ticket: TransferTicket) -> None:
        if ticket.transfer_id in self.pending:
            raise OperationalError(
                f"transfer {ticket.transfer_id} is already in flight: a venue reported one "
                "withdrawal twice"
            )
        self.pending[ticket.transfer_id] = ticket
        self.sent += 1

    def remove(self, ticket: TransferTicket) -> None:
        del self.pending[ticket.transfer_id]
        self.alerted.discard(ticket.transfer_id)
        self.arrived += 1

    def newly_late(self, now: datetime) -> list[LateTransfer]:
        """Tickets in flight longer than the limit at `now` and not alerted before (each is
        returned once, then remembered)."""
        found = []
        for transfer_id, ticket in self.pending.items():
            if transfer_id not in self.alerted and now - ticket.sent_at > self.alert_after:
                self.alerted.add(transfer_id)
                found.append(LateTransfer(ticket, now))
        self.late.extend(found)
        return found

    def facts(self) -> dict[str, Any]:
        """For summary.json: the tickets still in flight at the end, and the counts."""
        return {
            "pending": [
                {
                    "transfer_id": t.transfer_id,
                    "source": t.source,
                    "destination": t.destination,
                    "asset": t.asset,
                    "amount": t.amount,
                    "sent_at": t.sent_at.isoformat(),
                    "late": t.transfer_id in self.alerted,
                }
                for t in self.pending.values()
            ],
            "sent": self.sent,
            "arrived": self.arrived,
            "late_alerts": len(self.late),
        }
