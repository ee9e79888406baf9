"""The chain (or a venue's internal ledger) between the venue fakes: a withdrawal one fake
accepts becomes, after a latency, a deposit on the fake that owns the destination address.

Why: live, moving USDT between venues is a withdrawal and a deposit with a fee and minutes to
hours in between, and sometimes the deposit is late or never comes (a wrong network, a stuck
chain, a venue that holds it for review). The live venue must book the withdrawal at once, hand
the engine a ticket, and see the deposit only when the destination credits it. Each venue fake
registers its account here (`register`); the fakes only translate their wire formats.

Time is the network's own injectable clock (`ManualClock`), so a test moves minutes forward
without sleeping. A withdrawal is broadcast `broadcast_s` after it is accepted (it gets its
txid then, and the deposit appears on the destination as pending), and credited `latency_s`
after it was accepted. Faults: a fee per venue (`VenueWallet.withdrawal_fee`), the next deposit
delayed by some seconds, or lost (broadcast at the source, never seen at the destination).
Thread-safe: the HTTP servers answer on several threads.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tests.fakes.cex_state import CexAccountState, RejectReason, VenueRejection


class ManualClock:
    """Milliseconds since the epoch, moved only by `advance` (starts at the real time)."""

    def __init__(self, start_ms: int | None = None) -> None:
        self._ms = int(time.time() * 1000) if start_ms is None else start_ms
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self._ms

    def now(self) -> datetime:
        """The clock as an aware UTC datetime (for the live venue's injected clock)."""
        return datetime.fromtimestamp(self() / 1000, UTC)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._ms += int(seconds * 1000)


class FeeMode(StrEnum):
    """How a venue charges its withdrawal fee."""

    INSIDE = "inside"  # taken out of the amount asked for: the recipient gets amount - fee
    ON_TOP = "on_top"  # charged besides the amount: the recipient gets the amount


class DepositFault(StrEnum):
    DELAYED = "delayed"  # credited `extra_s` later than the latency
    LOST = "lost"  # broadcast at the source, never seen at the destination


@dataclass(frozen=True)
class Withdrawal:
    """A withdrawal as the source venue records it; `amount` is what leaves towards the
    address (after an INSIDE fee), `fee` what the venue kept."""

    withdrawal_id: str
    source: str
    coin: str
    network: str
    address: str
    amount: Decimal
    fee: Decimal
    client_ref: str | None
    created_ms: int
    broadcast_ms: int
    txid: str

    def status(self, now_ms: int) -> str:
        """ "processing" until broadcast, then "completed" (each fake maps it to its codes)."""
        return "completed" if now_ms >= self.broadcast_ms else "processing"

    def txid_at(self, now_ms: int) -> str:
        return self.txid if now_ms >= self.broadcast_ms else ""


@dataclass(frozen=True)
class Deposit:
    """A deposit as the destination records it: pending from `seen_ms`, credited at
    `credited_ms` (the account's balance grows then)."""

    deposit_id: str
    destination: str
    coin: str
    network: str
    address: str
    amount: Decimal
    txid: str
    seen_ms: int
    credited_ms: int

    def status(self, now_ms: int) -> str:
        return "credited" if now_ms >= self.credited_ms else "pending"


@dataclass
class VenueWallet:
    """One venue's side: its account, its deposit addresses per (coin, network), its fee."""

    name: str
    state: CexAccountState
    network: TransferNetwork
    addresses: dict[tuple[str, str], str]
    withdrawal_fee: Decimal
    fee_mode: FeeMode
    withdrawals: list[Withdrawal] = field(default_factory=list)
    requests: int = 0  # withdraw requests that reached the venue (accepted or not)

    def withdraw(
        self, coin: str, network: str, address: str, amount: Decimal, client_ref: str | None
    ) -> Withdrawal:
        """Debit the account and put the transfer on its way; a repeated `client_ref` returns
        the first withdrawal (the venues' idempotency on their client reference)."""
        return self.network.withdraw(self, coin, network, address, amount, client_ref)

    def withdrawals_now(self) -> list[tuple[Withdrawal, int]]:
        """(withdrawal, now in ms) for every withdrawal, oldest first."""
        return self.network.listed(self)

    def deposits_now(self) -> list[tuple[Deposit, int]]:
        """(deposit, now in ms) for every deposit seen on this venue, oldest first."""
        return self.network.deposits_of(self)

    def deposit_address(self, coin: str, network: str) -> str:
        if (coin, network) not in self.addresses:
            raise VenueRejection(RejectReason.UNKNOWN_SYMBOL, f"no {coin} address on {network}")
        return self.addresses[(coin, network)]


class TransferNetwork:
    """Every registered venue's withdrawals and deposits, on one clock."""

    def __init__(
        self, clock: ManualClock | None = None, latency_s: float = 1800, broadcast_s: float = 60
    ) -> None:
        self.clock = clock or ManualClock()
        self.latency_s, self.broadcast_s = latency_s, broadcast_s
        self.wallets: dict[str, VenueWallet] = {}
        self.deposits: list[Deposit] = []
        self._credited: set[str] = set()
        self._faults: list[tuple[DepositFault, float]] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(70_001)

    def register(
        self,
        name: str,
        fake: Any,
        addresses: dict[tuple[str, str], str],
        withdrawal_fee: Decimal = Decimal(1),
        fee_mode: FeeMode = FeeMode.INSIDE,
    ) -> VenueWallet:
        """Attach a venue fake (its account is `fake.state`); sets `fake.wallet`."""
        wallet = VenueWallet(name, fake.state, self, dict(addresses), withdrawal_fee, fee_mode)
        with self._lock:
            self.wallets[name] = wallet
        fake.wallet = wallet
        return wallet

    def fault_next_deposit(self, fault: DepositFault, extra_s: float = 0.0) -> None:
        """The next withdrawal's deposit is delayed by `extra_s`, or lost."""
        with self._lock:
            self._faults.append((fault, extra_s))

    # -- used by the venue wallets -----------------------------------------------------------

    def withdraw(
        self,
        wallet: VenueWallet,
        coin: str,
        network: str,
        address: str,
        amount: Decimal,
        client_ref: str | None,
    ) -> Withdrawal:
        with self._lock:
            wallet.requests += 1
            self._credit_due()
            if client_ref:
                for done in wallet.withdrawals:
                    if done.client_ref == client_ref:
                        return done
            if amount <= 0 or (
                wallet.fee_mode is FeeMode.INSIDE and amount <= wallet.withdrawal_fee
            ):
                raise VenueRejection(RejectReason.INVALID_QUANTITY, f"{amount} {coin}")
            debit = amount + (wallet.withdrawal_fee if wallet.fee_mode is FeeMode.ON_TOP else 0)
            if debit > wallet.state.available_balance_quote():
                raise VenueRejection(RejectReason.INSUFFICIENT_MARGIN, f"withdraw {debit}")
            with wallet.state._lock:
                wallet.state.wallet_balance_quote -= debit
            sent = debit - wallet.withdrawal_fee
            now = self.clock()
            number = next(self._ids)
            txid = "0x" + hashlib.sha256(f"{wallet.name}:{number}".encode()).hexdigest()
            broadcast = now + int(self.broadcast_s * 1000)
            made = Withdrawal(f"w{number}", wallet.name, coin, network, address, sent,
                              wallet.withdrawal_fee, client_ref, now, broadcast, txid)  # fmt: skip
            wallet.withdrawals.append(made)
            self._route(made)
            return made

    def _route(self, made: Withdrawal) -> None:
        """The deposit this withdrawal becomes on the venue owning its address (if any)."""
        fault, extra_s = self._faults.pop(0) if self._faults else (None, 0.0)
        if fault is DepositFault.LOST:
            return
        for wallet in self.wallets.values():
            if wallet.addresses.get((made.coin, made.network)) == made.address:
                latency_ms = int((self.latency_s + extra_s) * 1000)
                self.deposits.append(
                    Deposit(
                        f"d{next(self._ids)}",
                        wallet.name,
                        made.coin,
                        made.network,
                        made.address,
                        made.amount,
                        made.txid,
                        made.broadcast_ms,
                        made.created_ms + latency_ms,
                    )
                )
                return

    def listed(self, wallet: VenueWallet) -> list[tuple[Withdrawal, int]]:
        with self._lock:
            self._credit_due()
            now = self.clock()
            return [(w, now) for w in wallet.withdrawals]

    def deposits_of(self, wallet: VenueWallet) -> list[tuple[Deposit, int]]:
        with self._lock:
            self._credit_due()
            now = self.clock()
            return [
                (d, now) for d in self.deposits if d.destination == wallet.name and now >= d.seen_ms
            ]

    def _credit_due(self) -> None:
        """Credit every deposit whose time has come to its venue's account (once)."""
        now = self.clock()
        for deposit in self.deposits:
            if deposit.deposit_id not in self._credited and now >= deposit.credited_ms:
                state = self.wallets[deposit.destination].state
                with state._lock:
                    state.wallet_balance_quote += deposit.amount
                self._credited.add(deposit.deposit_id)
