"""A `LiveCex` as a live CEX run's engine uses it (issue 13): it adopts the capital already on
the account as the run's initial deposit, and after every instruction it checks the book
against the VENUE's own read, not only against its ledger view.

Why the venue's read: `LiveCex.positions()` is built from our own fill ledger, so comparing
the book with it only proves that the book and the ledger agree. A liquidation, an order
placed by hand, a fill we missed or a balance we mis-booked shows only in the venue's answer
(`venue_snapshot`: fetch_positions + fetch_balance, both Binance wallets on the spot venue).
An empty position list while margin is in use never reads as flat (`reconcile.differences`).

The tolerance is the mode's `reconciliation_tolerance` (a fraction): sizes within that
fraction of the largest expected size (at least 1e-9), USDT within that fraction of the
expected balance (at least 0.01 USDT, the venues' display precision). A read that differs is
read again (`confirm_reads` in all, `confirm_wait_s` apart, REC-004 each time): a venue may
answer from a replica a moment behind its matching engine. A difference every read shows is
REC-002 and `ReconciliationHalt` (an OperationalError): the run halts, a person looks.

Money in flight: a deposit the venue already credited but the engine has not booked yet (its
arrival is booked at the next cycle's settlement) is in the book's `{venue}:Pending:USDT`. The
venue's USDT may then equal the book's plus any set of the transfers in flight to it (each
withdrawal's amount less its fee, from the live store: two in flight, one credited), or plus
the whole pending amount; each is accepted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from itertools import accumulate, combinations
from typing import Any

from basis_strategy.core.errors import OperationalError, ReconciliationHalt
from basis_strategy.core.instructions import ExecutionResult, Instruction, Leg, ReceiveDeposit
from basis_strategy.core.logs import log_event
from basis_strategy.data.market import MarketState
from basis_strategy.live.store import TransferState
from basis_strategy.venues.interface import ExecutionRejected
from basis_strategy.venues.live.cex import QUOTE, LiveCex
from basis_strategy.venues.live.reconcile import Mismatch, VenueSnapshot, differences, snapshot_of
from basis_strategy.venues.transfers import in_transit_key

LOG = logging.getLogger(__name__)
MIN_TOLERANCE_BASE = 1e-9
MIN_TOLERANCE_USDT = 0.01
MAX_TRANSFERS_COMBINED = 10  # in flight to one venue: every set of them tried (1023 at most)
# ccxt client id -> whether its fetch_balance USDT `total` includes unrealised P&L
TOTAL_INCLUDES_UNREALISED = {"binanceusdm": True, "okx": True, "bybit": False}


class LiveAccount(LiveCex):
    """`LiveCex` + the opening deposit + the post-instruction venue check (module doc)."""

    def __init__(
        self,
        *args: Any,
        tolerance: float = 1e-4,
        confirm_reads: int = 3,
        confirm_wait_s: float = 0.2,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        opening = kwargs.get("opening_usdt", 0.0)
        self.opening_usdt: float = float(opening)
        self.tolerance, self.confirm_reads, self.confirm_wait_s = (
            tolerance,
            confirm_reads,
            confirm_wait_s,
        )
        self.confirmations = 0  # venue reads that agreed with the book
        self.reread = 0  # reads that differed and were read again (REC-004)
        self._deposit_adopted = False
        self._wait: Callable[[float], None] = kwargs.get("sleep", time.sleep)

    # --- the opening capital ------------------------------------------------------------------

    def adopt_opening_balance(self) -> float:
        """Take the account's USDT (both wallets on the spot venue) as the opening balance of
        a fresh run: nothing may be open on the venue and nothing booked in the ledger for it,
        else the balance is not all cash of this run. The balance is kept in the live store:
        a restarted run reads it back and never adopts again. Returns the balance."""
        kept = self.store.opening(self.strategy_id, self.name)
        if kept is not None:
            self.opening_usdt = self._opening_usdt = kept
            return kept
        ledger = self.store.ledger(self.strategy_id)
        booked = [f for f in ledger.fills if f.venue == self.name] + [
            p for p in ledger.funding if p.venue == self.name
        ]
        snapshot = self.cash_snapshot()
        if booked or snapshot.positions:
            raise OperationalError(
                f"{self.name}: cannot adopt the opening balance: the ledger of "
                f"{self.strategy_id} has {len(booked)} entries here and the venue holds "
                f"{sorted(snapshot.positions)}"
            )
        kept = self.store.keep_opening(self.strategy_id, self.name, snapshot.usdt_total)
        self.opening_usdt = self._opening_usdt = kept
        return kept

    def execute(self, instruction: Instruction, market: MarketState) -> ExecutionResult:
        if isinstance(instruction, ReceiveDeposit):
            return self._adopt_opening(instruction)
        return super().execute(instruction, market)

    def _adopt_opening(self, deposit: ReceiveDeposit) -> ExecutionResult:
        """The initial deposit of a live CEX run IS the opening balance (it was on the
        account before the run, `opening_usdt`): booked once, as the flow it is, for exactly
        that amount. Anything else would be money the venue does not hold: refused."""
        if deposit.asset != QUOTE or deposit.in_kind or self._deposit_adopted:
            raise ExecutionRejected(
                f"{self.name}: only the opening {QUOTE} balance is a deposit live (once)"
            )
        if abs(deposit.amount - self.opening_usdt) > MIN_TOLERANCE_USDT:
            raise ExecutionRejected(
                f"{self.name}: deposit {deposit.amount:.10g} {QUOTE} is not the opening "
                f"balance {self.opening_usdt:.10g} {QUOTE} adopted"
            )
        self._deposit_adopted = True
        amount = deposit.amount
        return ExecutionResult(
            (Leg(self.usdt_key, amount, "Deposited", 1.0, "flow", amount, QUOTE),)
        )

    # --- the venue's word after every instruction ------------------------------------------------

    def expected(self, book: Mapping[str, float]) -> dict[str, float]:
        """The book's part on this venue: perps, spot coins and USDT (money in flight is on
        no venue: left out)."""
        mine = (f"{self.name}:Perp:", f"{self.name}:BaseToken:")
        found = {k: v for k, v in book.items() if k.startswith(mine)}
        found.setdefault(self.usdt_key, 0.0)
        return found

    def confirm_book(self, book: Mapping[str, float]) -> None:
        """Read the venue until it agrees with `book` (module doc); halt if it never does.
        While a crashed cycle is redone, the venue is ahead of the book by what is not redone
        yet (`ahead_of_book`): expected too."""
        expected = self.expected(book)
        for key, ahead in self.ahead_of_book().items():  # this venue's keys
            expected[key] = expected.get(key, 0.0) + ahead
        pending = book.get(in_transit_key(self.name, QUOTE), 0.0)
        largest = max((abs(v) for k, v in expected.items() if k != self.usdt_key), default=0.0)
        base_tol = max(MIN_TOLERANCE_BASE, self.tolerance * largest)
        usdt_tol = max(MIN_TOLERANCE_USDT, self.tolerance * abs(expected[self.usdt_key]))
        found: list[Mismatch] = []
        for attempt in range(self.confirm_reads):
            found = self._mismatches(expected, pending, base_tol, usdt_tol)
            if not found:
                self.confirmations += 1
                return
            if attempt + 1 < self.confirm_reads:
                self.reread += 1
                log_event(LOG, "REC-004", f"{self.name}: {_describe(found)}", venue=self.name,
                          attempt=attempt + 1)  # fmt: skip
                self._wait(self.confirm_wait_s)
        message = f"{self.name}: book and venue differ after {self.confirm_reads} reads: "
        message += _describe(found)
        log_event(LOG, "REC-002", message, venue=self.name, reads=self.confirm_reads)
        raise ReconciliationHalt(message)

    def cash_snapshot(self) -> VenueSnapshot:
        """`venue_snapshot` with the USDT the account holds as cash: ccxt's USDT `total` is
        the margin balance on Binance USDⓈ-M (marginBalance) and OKX (eq), i.e. the wallet
        plus the positions' unrealised P&L, but the wallet balance on Bybit (walletBalance).
        The book holds cash (realised P&L is booked, unrealised is the perp's value), so the
        unrealised P&L the venue reports on its positions is taken off where it is included.
        One read of positions and one of the balance, as `read_snapshot`."""
        includes_unrealised = TOTAL_INCLUDES_UNREALISED.get(self.client.id)
        if includes_unrealised is None:
            raise OperationalError(f"{self.name}: unknown balance convention of {self.client.id}")
        symbols = list(self.symbols.values())
        batches = [[s] for s in symbols] if self.dialect.positions_per_symbol else [symbols]
        read = self.pacer.read
        positions = [p for b in batches for p in read(partial(self.client.fetch_positions, b))]
        snapshot = snapshot_of(self.name, positions, read(self.client.fetch_balance),
                               self._clock(), QUOTE)  # fmt: skip
        if includes_unrealised:
            unrealised = sum(float(p.get("unrealizedPnl") or 0.0) for p in positions)
            snapshot = replace(snapshot, usdt_total=snapshot.usdt_total - unrealised)
        return snapshot if self.spot is None else self.spot.add_wallet(snapshot)

    def venue_snapshot(self) -> VenueSnapshot:
        """The venue's read with USDT as cash (`cash_snapshot`), so every comparison of the
        book's USDT with this account (the start-up reconciliation too) compares cash."""
        return self.cash_snapshot()

    def _mismatches(
        self, expected: dict[str, float], pending: float, base_tol: float, usdt_tol: float
    ) -> list[Mismatch]:
        snapshot = self.cash_snapshot()
        found = differences(snapshot, expected, self.usdt_key, base_tol, usdt_tol)
        if pending <= 0 or not any(m.key == self.usdt_key for m in found):
            return found
        for credited_usdt in self._credited_sums(pending):
            credited = {**expected, self.usdt_key: expected[self.usdt_key] + credited_usdt}
            found = differences(snapshot, credited, self.usdt_key, base_tol, usdt_tol)
            if not found:
                break
        return found

    def _credited_sums(self, pending: float) -> list[float]:
        """What the venue may have credited of the money in flight to it: the sum of any set
        of its transfers in flight (each amount less its fee; older ones first when there are
        too many sets to try), and the book's whole pending amount."""
        sent = [r for r in self.store.transfers(self.strategy_id, (TransferState.SENT,))
                if r.destination == self.name]  # fmt: skip
        arriving = [r.amount - r.fee for r in sent]
        if len(arriving) > MAX_TRANSFERS_COMBINED:
            sums = list(accumulate(arriving))
        else:
            sums = [sum(c) for n in range(1, len(arriving) + 1)
                    for c in combinations(arriving, n)]  # fmt: skip
        return [*sums, pending]


def _describe(found: list[Mismatch]) -> str:
    return "; ".join(f"{m.key} book {m.expected:.12g} venue {m.venue:.12g} ({m.reason})"
                     for m in found)  # fmt: skip


def confirm_all(venues: Mapping[str, object], book: Mapping[str, float]) -> int:
    """The cycle's closing check: every live account's read against the book, whether or not
    it traded this cycle (a liquidation or a hand-placed order on a quiet venue shows here,
    not at the next instruction). Returns how many accounts were read; halts as
    `confirm_book` does."""
    accounts = [venue for venue in venues.values() if isinstance(venue, LiveAccount)]
    for account in accounts:
        account.finish_redo()  # a cycle is done: nothing of a crashed one is left to redo
        account.confirm_book(book)
    return len(accounts)
