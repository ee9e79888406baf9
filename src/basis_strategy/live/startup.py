"""Start-up reconciliation of a live session (issue 13 item 6, ADR-001, ADR-008): orders ->
fills -> positions -> balances, failing closed.

Why: the worst live failures after a restart were books that drifted from the venues
(nautilus #3104, #4735): a position opened by hand, a liquidation or an ADL while the process
was down, an order in flight at the crash. Before the first cycle of a live session, new or
resumed, each live venue is brought up and compared with the book the session starts from:

1. orders: `prepare()` sets the account up and settles the orders a previous process left
   open, each by a query by its client id (never resent);
2. fills: the venue's trades on our symbols that the fill ledger does not hold are listed
   (`unbooked_trades`): someone or something traded this account;
3. positions and balances: the venue's snapshot against the book (perps, spot holdings and
   USDT, within the tolerances). Money in flight to a venue is expected on neither side,
   unless the venue already credited it (its `arrived` says so): then it is expected there.

Any difference refuses the start (REC-003, one line, exit 2) naming the first difference and
how many there are, unless the operator explicitly adopts the venue's state (`adopt`), in
which case the differences are returned for the caller to book and log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from basis_strategy.core.errors import ConfigError
from basis_strategy.core.instruments import cash_key
from basis_strategy.data.market import MarketState
from basis_strategy.venues.live.reconcile import Mismatch, VenueSnapshot, differences
from basis_strategy.venues.transfers import Arrival, TransferTicket

QUOTE = "USDT"


class StartingVenue(Protocol):
    """What start-up reconciliation needs of a live venue (`LiveCex` fits)."""

    name: str

    def prepare(self) -> list[Any]: ...
    def unbooked_trades(self) -> list[Any]: ...
    def venue_snapshot(self) -> VenueSnapshot: ...
    def arrived(self, ticket: TransferTicket, market: MarketState) -> Arrival | None: ...


class StartupMismatchError(ConfigError):
    """The venues do not hold what the book says: the session does not start (exit 2)."""

    def __init__(self, mismatches: list[Mismatch]) -> None:
        self.mismatches = mismatches
        first = mismatches[0]
        more = f" (and {len(mismatches) - 1} more)" if len(mismatches) > 1 else ""
        super().__init__(
            "start-up reconciliation",
            f"{first.key}: book {first.expected:.12g}, venue {first.venue:.12g}: {first.reason}"
            f"{more}; fix the account or start with --adopt-venue-state [REC-003]",
        )


@dataclass
class StartupReport:
    """What start-up reconciliation found, per venue."""

    recovered: dict[str, list[Any]] = field(default_factory=dict)  # orders settled at start
    unbooked: dict[str, list[Any]] = field(default_factory=dict)  # venue fills not in the ledger
    mismatches: list[Mismatch] = field(default_factory=list)


def reconcile_at_start(
    venues: Iterable[StartingVenue],
    book: Mapping[str, float],
    in_flight: Iterable[TransferTicket],
    market: MarketState,
    tolerance_base: float,
    tolerance_usdt: float,
    *,
    adopt: bool = False,
) -> StartupReport:
    """Steps 1-3 of the module doc for every venue; StartupMismatchError on any difference
    unless `adopt`."""
    report = StartupReport()
    tickets = list(in_flight)
    for venue in venues:
        report.recovered[venue.name] = venue.prepare()
        unbooked = venue.unbooked_trades()
        report.unbooked[venue.name] = unbooked
        for trade in unbooked:
            report.mismatches.append(
                Mismatch(
                    f"{venue.name}:fill:{trade.get('id')}",
                    0.0,
                    float(trade.get("amount") or 0.0),
                    "a fill on the venue that the ledger does not hold",
                )
            )
        expected = _expected(venue, book, tickets, market)
        usdt = cash_key(venue.name, QUOTE)
        snapshot = venue.venue_snapshot()
        report.mismatches += differences(snapshot, expected, usdt, tolerance_base, tolerance_usdt)
    if report.mismatches and not adopt:
        raise StartupMismatchError(report.mismatches)
    return report


def _expected(
    venue: StartingVenue,
    book: Mapping[str, float],
    tickets: list[TransferTicket],
    market: MarketState,
) -> dict[str, float]:
    """The book's keys of this venue (nothing in flight), plus deposits already credited."""
    prefix = f"{venue.name}:"
    expected = {k: v for k, v in book.items() if k.startswith(prefix) and ":Pending:" not in k}
    usdt = cash_key(venue.name, QUOTE)
    expected.setdefault(usdt, 0.0)
    for ticket in tickets:
        if ticket.destination == venue.name and ticket.asset == QUOTE:
            arrival = venue.arrived(ticket, market)
            if arrival is not None:
                expected[usdt] += arrival.amount
    return expected
