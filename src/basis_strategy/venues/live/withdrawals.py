"""Live transfers between venues (issue 13 scope 5): a ccxt withdrawal at the source, a deposit
matched at the destination later, money leaving the account handled like an order.

Why: live, moving USDT is not the backtest's instant `Transfer`: the source venue withdraws to
an address with a fee, and the destination credits a deposit minutes to hours later, or late,
or never. The source returns the withdrawal's legs and a `TransferTicket` (venues/transfers.py);
the destination answers `arrived(ticket)` each cycle. Rules (docs/live.md section 1, as for
orders, stricter because a second withdrawal cannot be cancelled):

- the address comes only from the operator's allow-list (`TransferRoutes.addresses`, per
  destination and asset), and is checked against the destination venue's own deposit address
  when a lookup is given (`deposit_address_of`): anything else is refused before any call;
- the withdrawal is stored INTENDED in the `LiveStore` (`live_transfers`) with a deterministic
  reference before the withdraw call, sent with it as the venue's client reference
  (Binance `withdrawOrderId`, OKX `clientId`, Bybit `requestId`);
- a network error, timeout, 5xx or 429 leaves it AMBIGUOUS: the withdrawal history is queried
  (Binance and OKX filter by our reference; Bybit's history does not return `requestId`, so
  its rows are matched by address, amount and time, never one already linked to another
  transfer). A withdrawal never found stays AMBIGUOUS and raises `TransferUnresolvedError`;
  it is NEVER sent again (a later execute of the same transfer only queries again);
- the fee is the operator's `CexVenue.withdrawal_fee[asset]`, the number the backtest uses,
  known before sending (the venues' fee endpoints need more permissions and change the amount
  under our feet); an amount that does not cover it is refused. What really arrives is the
  deposit's amount (`Arrival.amount`). The fee is taken out of the amount on every venue, so
  `amount` leaves and `amount - fee` should arrive: Binance deducts it, Bybit is asked to
  (`feeType=1`), and OKX charges it on top of `amt`, so OKX is asked for `amount - fee`;
- a deposit is arrived when its status is 'ok' (credited; pending is not), matched by the
  txid of the source's withdrawal when the source can tell it (`txid_of`), else by amount
  (within `amount_tolerance`) in the time window from the withdrawal's sending, oldest first.
  The deposit id is stored with the ticket, unique per destination: a deposit never settles
  two tickets, and a ticket is returned arrived once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import ccxt

from basis_strategy.core.errors import OperationalError, ReconciliationHalt, TemporaryError
from basis_strategy.core.instructions import ExecutionResult, Leg, Transfer
from basis_strategy.core.instruments import cash_key
from basis_strategy.live.client_ids import client_order_id
from basis_strategy.live.store import LiveStore, TransferRecord, TransferState
from basis_strategy.venues.interface import ExecutionRejected, cost_detail, require_amount
from basis_strategy.venues.live.ccxt_calls import Pacer
from basis_strategy.venues.live.ccxt_orders import PROOF_OF_REFUSAL, RATE_LIMITED, to_ms
from basis_strategy.venues.live.legs import COST
from basis_strategy.venues.transfers import Arrival, TransferTicket

_LEFT = (TransferState.SENT, TransferState.ARRIVED, TransferState.LOST)  # money left the venue
_OPEN = (TransferState.INTENDED, TransferState.AMBIGUOUS)
# answers that prove no withdrawal was made: the order refusals, a refused address (not in the
# venue's own address book) and a suspended account; any other error is queried first
WITHDRAW_REFUSALS = (*PROOF_OF_REFUSAL, ccxt.InvalidAddress, ccxt.AccountSuspended)


class TransferUnresolvedError(OperationalError):
    """A withdrawal's outcome is unknown after the allowed queries: it stays AMBIGUOUS in the
    live store and is never resent; the next execute of the same transfer queries again."""


@dataclass(frozen=True)
class WithdrawalAddress:
    """An operator-approved destination: `network` is ccxt's unified code (ERC20, TRC20)."""

    address: str
    network: str
    tag: str | None = None


# (asset, network) -> the destination venue's own deposit address (`LiveCex.deposit_address`)
DepositAddressLookup = Callable[[str, str], str]
# a withdrawal -> its on-chain txid as its source venue reports it, None while unknown
TxidLookup = Callable[[TransferRecord], str | None]


@dataclass(frozen=True)
class TransferRoutes:
    """What the operator allows: `addresses[(destination, asset)]`; the destinations' own
    deposit addresses to check them against; the sources' txid lookups for matching."""

    addresses: Mapping[tuple[str, str], WithdrawalAddress]
    deposit_address_of: Mapping[str, DepositAddressLookup] = field(default_factory=dict)
    txid_of: Mapping[str, TxidLookup] = field(default_factory=dict)
    max_queries: int = 4  # withdrawal-history queries after an ambiguous withdraw call
    poll_interval_s: float = 2.0
    match_window: timedelta = timedelta(days=2)  # a deposit later than this is not the ticket's
    clock_skew: timedelta = timedelta(minutes=10)  # venue clocks vs ours
    amount_tolerance: float = 1e-6  # |deposit - ticket| accepted when matching by amount


@dataclass(frozen=True)
class WithdrawDialect:
    """How one venue names the client reference and charges the fee (see the module doc)."""

    reference_param: str
    history_filters_by_reference: bool
    fee_on_top: bool = False
    extra_params: Mapping[str, Any] = field(default_factory=dict)


WITHDRAW_DIALECTS = {
    "binance": WithdrawDialect("withdrawOrderId", True),
    "binanceusdm": WithdrawDialect("withdrawOrderId", True),
    "okx": WithdrawDialect("clientId", True, fee_on_top=True),
    "bybit": WithdrawDialect("requestId", False, extra_params={"feeType": 1}),
}


class LiveWithdrawals:
    """The transfers of one live venue account: withdrawals it sends, deposits it receives."""

    def __init__(
        self,
        venue: str,
        client: ccxt.Exchange,
        store: LiveStore,
        strategy_id: str,
        pacer: Pacer,
        withdrawal_fee: Mapping[str, float],
        routes: TransferRoutes,
        sleep: Callable[[float], None],
        clock: Callable[[], datetime],
    ) -> None:
        exchange_id = str(getattr(client, "id", ""))
        if exchange_id not in WITHDRAW_DIALECTS:
            raise ValueError(f"no withdrawal dialect for ccxt exchange {exchange_id!r}")
        self.venue, self.client, self.store, self.strategy_id = venue, client, store, strategy_id
        self.dialect = WITHDRAW_DIALECTS[exchange_id]
        self.pacer, self.fees, self.routes = pacer, withdrawal_fee, routes
        self._sleep, self._clock = sleep, clock
        # references of a cycle a crash interrupted, not redone yet (LiveCex.restore_book_mark):
        # found again by their reference, not by `_adopt`, and not in the book's view till then
        self.redo_ids: set[str] = set()
        # references whose arrival the engine's book holds (returned by `arrived`; a
        # checkpoint's mark on a restart): the book's view counts only these deposits
        self.arrivals_booked: set[str] = set()

    # --- the source side --------------------------------------------------------------------

    def send(self, order: Transfer) -> ExecutionResult:
        """Withdraw `order.amount` (fee included) to the allow-listed address: the
        `WithdrawalSent` leg and the ticket of what should arrive."""
        require_amount(self.venue, "transfer amount", order.amount)
        route = self.routes.addresses.get((order.destination, order.asset))
        if route is None:
            raise ExecutionRejected(f"{self.venue}: no allow-listed {order.asset} address "
                                    f"for {order.destination}")  # fmt: skip
        if order.asset not in self.fees:
            raise ExecutionRejected(f"{self.venue}: no withdrawal fee of {order.asset} configured")
        fee = self.fees[order.asset]
        if order.amount <= fee:
            raise ExecutionRejected(f"{self.venue}: withdrawal {order.amount} {order.asset} "
                                    f"does not cover its fee {fee}")  # fmt: skip
        record = self._adopt(order)
        if record is None:
            record, stored = self._intend(order, route, fee)
            if not stored:
                record = self._withdraw(record, route)
        record = self._resolve(record)
        legs = (Leg(cash_key(self.venue, order.asset), -record.amount, "WithdrawalSent", 1.0,
                    COST, -record.fee, order.asset, detail=cost_detail(record.fee)),)  # fmt: skip
        return ExecutionResult(legs, ticket_of(record))

    def _intend(
        self, order: Transfer, route: WithdrawalAddress, fee: float
    ) -> tuple[TransferRecord, bool]:
        """Check the address, then store the intent (before anything is sent). Returns the
        record and whether it was already stored: a redone cycle's withdrawal (its reference
        reused after a restart), queried, never sent again."""
        lookup = self.routes.deposit_address_of.get(order.destination)
        if lookup is not None:
            theirs = lookup(order.asset, route.network)
            if theirs != route.address:
                raise ExecutionRejected(
                    f"{self.venue}: allow-listed {order.asset} address {route.address} is not "
                    f"{order.destination}'s deposit address on {route.network} ({theirs})"
                )
        seq = self.store.next_seq(self.strategy_id)
        reference = client_order_id(self.strategy_id, seq, 0)
        stored = self.store.transfer(reference)
        if stored is not None:
            if (stored.source, stored.destination, stored.asset) != (
                self.venue, order.destination, order.asset
            ):  # fmt: skip
                raise ReconciliationHalt(
                    f"{self.venue}: the redone cycle's withdrawal {reference} goes to "
                    f"{order.destination}, the one stored under that reference to "
                    f"{stored.destination}: the cycle decided otherwise after the restart"
                )
            self.redo_ids.discard(reference)
            return stored, True
        now = self._clock()
        record = TransferRecord(
            reference, self.strategy_id, seq, self.venue, order.destination, order.asset,
            order.amount, fee, route.address, route.network, TransferState.INTENDED, now, now,
        )  # fmt: skip
        self.store.add_transfer(record)
        return record, False

    def _adopt(self, order: Transfer) -> TransferRecord | None:
        """An earlier withdrawal of the same transfer whose outcome is unknown (a crash, an
        unresolved call): it is queried again, never sent again."""
        for record in self.store.transfers(self.strategy_id, _OPEN):
            if record.reference in self.redo_ids:
                continue
            if (record.source, record.destination, record.asset) == (
                self.venue, order.destination, order.asset
            ) and math.isclose(record.amount, order.amount, rel_tol=1e-12):  # fmt: skip
                return record
        return None

    def _withdraw(self, record: TransferRecord, route: WithdrawalAddress) -> TransferRecord:
        params: dict[str, Any] = {"network": route.network, **self.dialect.extra_params}
        params[self.dialect.reference_param] = record.reference
        if route.tag:
            params["tag"] = route.tag
        asked = record.amount - record.fee if self.dialect.fee_on_top else record.amount
        try:
            answer = self.client.withdraw(record.asset, asked, record.address, params)
        except ccxt.BaseError as error:
            reason = f"{type(error).__name__}: {str(error)[:300]}"
            if isinstance(error, WITHDRAW_REFUSALS):
                self._save(record.moved(TransferState.REJECTED, self._clock(), reason=reason))
                raise ExecutionRejected(f"{self.venue}: withdrawal {record.reference} "
                                        f"refused: {reason}") from None  # fmt: skip
            if isinstance(error, RATE_LIMITED):
                self.pacer.wait_rate_limited(0)
            return self._save(record.moved(TransferState.AMBIGUOUS, self._clock(), reason=reason))
        return self._sent(record, str(answer["id"]), answer.get("txid"))

    def _resolve(self, record: TransferRecord) -> TransferRecord:
        """Query the history until the withdrawal is found (SENT), or give up unresolved."""
        for _ in range(self.routes.max_queries):
            if record.state is TransferState.SENT:
                return record
            self._sleep(self.routes.poll_interval_s)
            found = self._find(record)
            if found is not None:
                record = self._sent(record, str(found["id"]), found.get("txid"))
        if record.state is TransferState.SENT:
            return record
        raise TransferUnresolvedError(
            f"{self.venue}: withdrawal {record.reference} not found after "
            f"{self.routes.max_queries} queries ({record.reason}); left {record.state.value} in "
            "the live store, never resent"
        )

    def _find(self, record: TransferRecord) -> dict[str, Any] | None:
        """Our withdrawal in the venue's history, or None: by its id once known, else by our
        reference (Binance, OKX), else by address, amount and time among the rows no other
        transfer of ours claims (Bybit; see the module doc)."""
        ref = self.dialect.reference_param
        by_reference = self.dialect.history_filters_by_reference and not record.withdrawal_id
        params = {ref: record.reference} if by_reference else {}
        rows = self.pacer.read(
            partial(self.client.fetch_withdrawals, record.asset, None, None, params)
        )
        if record.withdrawal_id:
            return next((dict(r) for r in rows if str(r.get("id")) == record.withdrawal_id),
                        None)  # fmt: skip
        if by_reference:
            return next((dict(r) for r in rows
                         if (r.get("info") or {}).get(ref) == record.reference), None)  # fmt: skip
        known = {t.withdrawal_id for t in self.store.transfers(self.strategy_id) if t.withdrawal_id}
        earliest = to_ms(record.created_at - self.routes.clock_skew)
        for row in sorted(rows, key=lambda r: int(r.get("timestamp") or 0)):
            if str(row.get("id")) in known or int(row.get("timestamp") or 0) < earliest:
                continue
            address = row.get("addressTo") or row.get("address")
            if address == record.address and _same_gross(row, record):
                return dict(row)
        return None

    def _sent(self, record: TransferRecord, withdrawal_id: str, txid: Any) -> TransferRecord:
        now = self._clock()
        # sent when the withdraw call went out (just after the intent was stored), also when
        # its answer was lost and the history found it later
        sent_at = record.sent_at or record.created_at
        changes = {"withdrawal_id": withdrawal_id, "sent_at": sent_at, "reason": ""}
        if txid:
            changes["txid"] = str(txid)
        return self._save(record.moved(TransferState.SENT, now, **changes))

    def _save(self, record: TransferRecord) -> TransferRecord:
        self.store.save_transfer(record)
        return record

    def txid(self, record: TransferRecord) -> str | None:
        """The on-chain txid of one of this venue's withdrawals (once broadcast), from the
        history; stored with the record. A `TransferRoutes.txid_of` lookup."""
        if record.txid:
            return record.txid
        found = self._find(record) if record.withdrawal_id else None
        txid = None if found is None else found.get("txid")
        if not txid:
            return None
        self._save(record.moved(record.state, self._clock(), txid=str(txid)))
        return str(txid)

    def open_transfers(self) -> list[TransferRecord]:
        """This venue's withdrawals whose outcome is unknown (INTENDED after a crash,
        AMBIGUOUS after a lost answer): for the reconciler and the operator, who may mark one
        REJECTED (`LiveStore.save_transfer`) once the venue's own records prove it absent."""
        return [r for r in self.store.transfers(self.strategy_id, _OPEN) if r.source == self.venue]

    def usdt_moved(self, asset: str, whole_ledger: bool = True) -> float:
        """Withdrawals that left this venue (negative) plus deposits credited to it; unless
        `whole_ledger`, as the book holds them: without the withdrawals of a cycle being
        redone (`redo_ids`) and the deposits whose arrival was not booked yet."""
        moved = 0.0
        for record in self.store.transfers(self.strategy_id):
            if record.asset != asset or (not whole_ledger and record.reference in self.redo_ids):
                continue
            if record.source == self.venue and record.state in _LEFT:
                moved -= record.amount
            booked = whole_ledger or record.reference in self.arrivals_booked
            if (
                record.destination == self.venue
                and record.state is TransferState.ARRIVED
                and booked
            ):
                moved += record.credited_amount or 0.0
        return moved

    # --- the destination side ---------------------------------------------------------------

    def arrived(self, ticket: TransferTicket, at: datetime) -> Arrival | None:
        """The ticket's deposit once credited ('ok'), else None, for the cycle at `at`. A
        ticket that arrived before gets the same answer again: the engine books each ticket
        once (its in-flight book), and one restored from a checkpoint older than the arrival
        must still see it arrive; a re-stepped cycle before the one that first saw it
        (`seen_at`) does not."""
        record = self._record_of(ticket)
        if record.state is TransferState.ARRIVED and record.credited_amount is not None:
            if record.seen_at is not None and record.seen_at > at:
                return None
            credited_at = record.credited_at or self._clock()
            self.arrivals_booked.add(record.reference)
            return Arrival(ticket, record.credited_amount, credited_at)
        if record.state is not TransferState.SENT:
            return None  # lost, or not sent
        lookup = self.routes.txid_of.get(ticket.source)
        try:
            txid = lookup(record) if lookup is not None else record.txid
        except TemporaryError:
            # the source cannot be read now: wait a cycle rather than match by amount a
            # deposit that the txid would have told apart (a late ticket raises the alert)
            return None
        record = self.store.transfer(record.reference) or record  # with the txid just stored
        sent_at = record.sent_at or record.created_at
        since = to_ms(sent_at - self.routes.clock_skew)
        deposits = self.pacer.read(partial(self.client.fetch_deposits, ticket.asset, since))
        deposit = self._match(record, ticket, deposits, txid, sent_at)
        if deposit is None:
            return None
        now = self._clock()
        amount = float(deposit["amount"])
        settled = record.moved(TransferState.ARRIVED, now, deposit_id=str(deposit["id"]),
                               credited_amount=amount, credited_at=now, seen_at=at)  # fmt: skip
        if not self.store.save_transfer(settled):
            return None  # this deposit settled another ticket meanwhile
        self.arrivals_booked.add(record.reference)
        return Arrival(ticket, amount, now)

    def _record_of(self, ticket: TransferTicket) -> TransferRecord:
        for record in self.store.transfers(self.strategy_id):
            if (record.withdrawal_id, record.source) == (ticket.transfer_id, ticket.source):
                return record
        raise OperationalError(
            f"{self.venue}: ticket {ticket.transfer_id} from {ticket.source} is not in the "
            f"live store of {self.strategy_id}"
        )

    def _match(
        self,
        record: TransferRecord,
        ticket: TransferTicket,
        deposits: list[Any],
        txid: str | None,
        sent_at: datetime,
    ) -> Any | None:
        settled = self.store.settled_deposit_ids(self.venue)
        fresh = [d for d in deposits if str(d.get("id")) not in settled
                 and d.get("currency") == ticket.asset]  # fmt: skip
        if txid:
            same = [d for d in fresh if str(d.get("txid") or "").lower() == txid.lower()]
            return next((d for d in same if d.get("status") == "ok"), None)
        earliest = to_ms(sent_at - self.routes.clock_skew)
        latest = to_ms(sent_at + self.routes.match_window)
        for deposit in sorted(fresh, key=lambda d: int(d.get("timestamp") or 0)):
            at = int(deposit.get("timestamp") or 0)
            close = abs(float(deposit["amount"]) - ticket.amount) <= self.routes.amount_tolerance
            if deposit.get("status") == "ok" and close and earliest <= at <= latest:
                return deposit
        return None


def ticket_of(record: TransferRecord) -> TransferTicket:
    """What should arrive: the amount sent less the fee, from the venue's withdrawal id."""
    if record.withdrawal_id is None or record.sent_at is None:
        raise ValueError(f"transfer {record.reference} has not been sent")
    return TransferTicket(record.withdrawal_id, record.source, record.destination, record.asset,
                          record.amount - record.fee, record.sent_at)  # fmt: skip


def _same_gross(row: Mapping[str, Any], record: TransferRecord) -> bool:
    """A history row is this withdrawal's amount, whether the venue reports it gross or net."""
    amount = float(row.get("amount") or 0.0)
    fee = float(((row.get("fee") or {}).get("cost")) or 0.0)
    return any(math.isclose(value, record.amount, rel_tol=1e-9, abs_tol=1e-9)
               for value in (amount, amount + fee))  # fmt: skip
