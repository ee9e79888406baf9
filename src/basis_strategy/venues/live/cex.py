"""A live centralised-exchange account behind the same interface as `SimulatedCex` (ADR-012).

One exchange account, linear USDT perps, through a ccxt client passed in (tests pass one
pointed at a local fake; production builds ccxt.binanceusdm / bybit / okx with credentials
read elsewhere: this module never reads them). What differs per exchange (the query by client
id, the funding sign, "already set" and duplicate-id answers) is the client's `Dialect`
(dialects.py), chosen by the ccxt client's `id`. Sizes here are base units; ccxt's are
contracts (OKX: 0.1 ETH each), converted only at the ccxt calls (amounts.py). Rules from
docs/live.md section 1:

- the order is persisted INTENDED in the `LiveStore` before it is sent, with a deterministic
  client id from the live strategy id and the store's sequence counter. A restart rewinds the
  counter to its checkpoint's mark (`restore_book_mark`), so the cycle a crash interrupted is
  redone with the same ids: an id already stored is that order, adopted and queried, never
  sent again (`_place`);
- a network error, timeout, 5xx or 429 leaves the order AMBIGUOUS; it is then queried by
  client id (`RetryPolicy`), and only a query can lead to a resend, with the SAME client id;
- only a venue refusal (InvalidOrder, InsufficientFunds, ...) is REJECTED: `ExecutionRejected`,
  nothing booked;
- quantities come from the venue's fills, booked once by (venue, symbol, trade id); a partial
  fill books the filled part and returns legs for it; the unfilled remainder is NOT re-sent:
  the order stays open in the store (ACCEPTED/PARTIALLY_FILLED) for the reconciler, and the
  strategy sees the shortfall in `positions()` next hour and re-plans;
- funding is its own ledger entry from the venue's funding history, booked once; its legs
  are the payments after the last one the engine's book holds (`_funding_to`, checkpointed:
  a payment booked in the ledger by a cycle a crash interrupted is returned again);
- an order whose legs were never returned (left open by a crash, or unresolved when an execute
  raised) is adopted by the next execute of the same trade (symbol, side, quantity) instead of
  a new order: restarts recover in-flight orders, they do not re-send them (`recover`).

Spot (BuySpot, SellSpot) goes through the same order path on the account's spot wallet, with
its own ccxt client (`spot_client`, given only to the configured spot venue): spot.py, which
also states how USDT moves between the spot and futures wallets. Without one, spot is refused.
A `Transfer` is a withdrawal (withdrawals.py, when `transfer_routes` are given): its legs at once
(the amount and its fee, as `SimulatedCex._withdraw`) and a `TransferTicket`; the destination's
`arrived` answers once its deposit is credited (`ArrivalWatcher`).

Legs mirror `SimulatedCex._trade_perp`: a `PerpTraded` leg on `venue:Perp:BASEUSDT` (signed
filled size at the average fill price, entry after from the fill ledger, execution cost = fee +
the fill's gap to the hour's mark `q (fill - mark)`, as the simulated venue's slippage is the
fill's distance from the mark) and a `PerpCashSettled` USDT leg (realised P&L - fee).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import ccxt

from basis_strategy.config.venues import CexVenue
from basis_strategy.core.errors import ReconciliationHalt
from basis_strategy.core.instructions import (
    BuySpot,
    ExecutionResult,
    Instruction,
    Leg,
    SellSpot,
    TradePerp,
    Transfer,
)
from basis_strategy.core.instruments import cash_key, perp_key
from basis_strategy.data.market import MarketState
from basis_strategy.live.client_ids import client_order_id
from basis_strategy.live.ledger import Fill, FundingPayment, Ledger
from basis_strategy.live.orders import (
    OrderEvent,
    OrderRecord,
    OrderState,
    QueryNotFound,
    Restarted,
    SendAcked,
    Side,
    apply,
    new_order,
)
from basis_strategy.live.retry import RetryAction, RetryPolicy
from basis_strategy.live.store import LiveStore
from basis_strategy.venues.interface import ExecutionRejected, require_amount
from basis_strategy.venues.live.amounts import contract_size, to_contracts
from basis_strategy.venues.live.ccxt_calls import Pacer, set_up_account
from basis_strategy.venues.live.ccxt_orders import (
    RATE_LIMITED,
    OrderUnresolvedError,
    fill_of,
    is_acknowledgement,
    query_failure,
    report_of,
    send_failure,
    to_ms,
    utc_ms,
)
from basis_strategy.venues.live.dialects import Dialect, dialect_for
from basis_strategy.venues.live.legs import fill_legs, perp_trade_legs
from basis_strategy.venues.live.reconcile import (
    Mismatch,
    VenueSnapshot,
    differences,
    read_snapshot,
    read_unbooked_trades,
)
from basis_strategy.venues.live.withdrawals import LiveWithdrawals, TransferRoutes
from basis_strategy.venues.transfers import Arrival, TransferTicket

if TYPE_CHECKING:
    from basis_strategy.venues.live.spot import SpotOrders

QUOTE = "USDT"
_OPEN = frozenset({OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED})
_NEVER = datetime.min.replace(tzinfo=UTC)  # before any funding payment


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LiveCexSettings:
    """Account set-up and the bounds of waiting. `max_wait_s` caps one sleep: a Retry-After
    above it (a 418 ban) raises VenueBackoffError rather than sleeping less than asked."""

    leverage: int = 3
    margin_mode: str = "cross"
    max_queries: int = 8  # queries by client id per execute before OrderUnresolvedError
    poll_interval_s: float = 0.5
    read_attempts: int = 3  # reads (trades, funding, balance) retried on network errors
    base_backoff_s: float = 0.5
    max_wait_s: float = 30.0


class LiveCex:
    """VenueInterface for one live exchange account (ADR-012); reconciliation per ADR-008."""

    checkpointed = False  # its state is on the venue and in the live store (checkpoint.py)

    def __init__(
        self,
        config: CexVenue,
        client: ccxt.Exchange,
        store: LiveStore,
        strategy_id: str,
        *,
        settings: LiveCexSettings | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utc_now,
        opening_usdt: float = 0.0,
        dialect: Dialect | None = None,
        spot_client: ccxt.Exchange | None = None,
        transfer_routes: TransferRoutes | None = None,
    ) -> None:
        self.name: str = config.name
        self.client, self.store, self.strategy_id = client, store, strategy_id
        self.dialect = dialect or dialect_for(client)  # ValueError for an unknown exchange
        self.settings = settings or LiveCexSettings()
        self.policy = policy or RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self.pacer = Pacer(
            self.name, client, sleep, self.settings.base_backoff_s, self.settings.max_wait_s,
            self.settings.read_attempts, self.dialect.wait_s,
        )  # fmt: skip
        self.usdt_key = cash_key(self.name, QUOTE)
        # base -> ccxt unified linear swap symbol (one spelling for the fill ledger)
        self.symbols = {s.removesuffix(QUOTE): f"{s.removesuffix(QUOTE)}/{QUOTE}:{QUOTE}"
                        for s in config.perp_symbols}  # fmt: skip
        self._opening_usdt = opening_usdt  # USDT held before the ledger's first entry
        self._unadopted: list[OrderRecord] = []  # recovered in-flight orders, no legs yet
        self._funding_to: dict[str, datetime] = {}  # symbol -> last payment returned as a leg
        # client ids (orders, withdrawals) of a cycle a crash interrupted, not redone yet
        self._redo_ids: set[str] = set()
        self._funding_pending = False  # restored: the ledger may hold funding not returned
        self._restored = False  # restored, its first cycle not done: the venue may be ahead
        self._adopted: list[Fill] = []  # venue fills the operator adopted, legs not returned
        self.spot: SpotOrders | None = None
        if spot_client is not None:  # spot.py builds on this class: imported here, not above
            from basis_strategy.venues.live.spot import SpotOrders

            self.spot = SpotOrders(
                config, spot_client, store, strategy_id,
                settings=settings, policy=policy, sleep=sleep, clock=clock,
            )  # fmt: skip
        # withdrawals and deposits (withdrawals.py); None: this account does not transfer
        self.transfers = None if transfer_routes is None else LiveWithdrawals(
            self.name, client, store, strategy_id, self.pacer, config.withdrawal_fee,
            transfer_routes, sleep, clock,
        )  # fmt: skip

    # --- start-up ---------------------------------------------------------------------------

    def prepare(self) -> list[OrderRecord]:
        """Markets, margin mode and leverage per perp ("already set" tolerated), then
        `recover`. Returns the recovered in-flight orders. A market whose units cannot be
        converted to base units (an inverse contract, amounts.py) is refused first."""
        set_up_account(self.client, self.dialect, list(self.symbols.values()),
                       self.settings.margin_mode, self.settings.leverage, QUOTE)  # fmt: skip
        spot = [] if self.spot is None else self.spot.prepare()
        return self.recover() + spot

    def recover(self) -> list[OrderRecord]:
        """Settle the orders a previous process left open: INTENDED ones may have been sent
        (`Restarted`), so each is queried by client id (never resent here) and its fills
        booked. Those with no fills booked before are kept for adoption: a re-run of the same
        instruction (same symbol, side, quantity) takes them over instead of sending again."""
        ledger = self.store.ledger(self.strategy_id)
        for order in self.store.orders(self.strategy_id, open_only=True):
            if order.venue != self.name or not self._owns(order.symbol):
                continue
            delivered = ledger.filled_qty_base(order.client_order_id) > 0
            order = self._settle(self._apply(order, Restarted()), allow_resend=False)
            self._book_fills(order)
            if not delivered:
                self._keep_for_adoption(order)
        return list(self._unadopted)

    def _keep_for_adoption(self, order: OrderRecord) -> None:
        """Remember an order whose legs were never returned (replacing an older copy)."""
        ids = [o.client_order_id for o in self._unadopted]
        if order.client_order_id in ids:
            self._unadopted[ids.index(order.client_order_id)] = order
        else:
            self._unadopted.append(order)

    def book_mark(self) -> dict[str, Any]:
        """What of the live store the engine's book holds, kept with each checkpoint: the next
        instruction sequence, the last funding payment returned per symbol, and the adopted
        fills (`adopt_unbooked`) whose legs were returned."""
        pending = {f.key for f in self._adopted}
        booked = sorted(f.key for f in self._foreign() if f.key not in pending)
        return {
            "next_seq": self.store.peek_seq(self.strategy_id),
            "funding_to": dict(self._funding_to),
            "foreign": booked,
            "arrived": [] if self.transfers is None else sorted(self.transfers.arrivals_booked),
        }

    def _foreign(self) -> list[Fill]:
        """This venue's fills of no order of ours in the ledger: adopted ones."""
        fills = self.store.ledger(self.strategy_id).fills
        mine = [f for f in fills if f.venue == self.name and self._owns(f.symbol)]
        return [f for f in mine if f.client_order_id is None]

    def restore_book_mark(self, mark: dict[str, Any]) -> None:
        """Back to a checkpoint's book (module doc): the sequence rewound, so the interrupted
        cycle's instructions meet their stored orders and withdrawals by id; funding after
        the mark returned again. Until then the book's view (`positions`) leaves that
        cycle's fills, withdrawals and funding out, as the restored book does."""
        next_seq = int(mark["next_seq"])
        self.store.rewind_seq(self.strategy_id, next_seq)
        self._funding_to = dict(mark["funding_to"])
        ids = {o.client_order_id for o in self.store.orders(self.strategy_id)
               if o.venue == self.name and o.seq >= next_seq}  # fmt: skip
        self._unadopted = [o for o in self._unadopted if o.seq < next_seq]
        if self.transfers is not None:
            ids |= {t.reference for t in self.store.transfers(self.strategy_id)
                    if t.source == self.name and t.seq >= next_seq}  # fmt: skip
            self.transfers.redo_ids = ids
            self.transfers.arrivals_booked = set(mark["arrived"])
        if self.spot is not None:
            self.spot._unadopted = [o for o in self.spot._unadopted if o.seq < next_seq]
            self.spot._redo_ids, self.spot._restored = ids, True
        self._redo_ids = ids  # one set: an id is redone once, whichever path meets it
        self._funding_pending = self._restored = True
        booked = {tuple(key) for key in mark["foreign"]}
        self._adopted = [f for f in self._foreign() if f.key not in booked]

    def ahead_of_book(self) -> dict[str, float]:
        """What the venue holds that the restored book does not yet: the part of a crashed
        cycle not redone so far (its fills, withdrawals, funding). Empty otherwise."""
        if not (self._restored or self._adopted):
            return {}
        whole, book = self.positions(whole_ledger=True), self.positions()
        return {k: whole.get(k, 0.0) - book.get(k, 0.0) for k in whole.keys() | book.keys()}

    def finish_redo(self) -> None:
        """End of the first cycle after a restart: what the redone cycle did not meet again is
        on the venue and in no book (the cycle decided otherwise): ReconciliationHalt."""
        left, self._redo_ids = sorted(self._redo_ids), set()
        self._funding_pending = self._restored = False
        if self.spot is not None:
            self.spot._redo_ids, self.spot._restored = self._redo_ids, False
        if self.transfers is not None:
            self.transfers.redo_ids = self._redo_ids
        if left:
            raise ReconciliationHalt(
                f"{self.name}: the cycle redone after the restart did not meet {len(left)} "
                f"order(s) or withdrawal(s) the venue already has ({', '.join(left[:3])}): "
                "they are in no book"
            )

    def _owns(self, symbol: str) -> bool:
        """An order or fill of this path: ccxt spells a swap `BASE/QUOTE:SETTLE`, a spot
        market `BASE/QUOTE`; the spot path (spot.py) owns the latter."""
        return ":" in symbol

    def unadopted(self) -> list[OrderRecord]:
        """Recovered orders no instruction took over yet: for the reconciler."""
        return list(self._unadopted) + ([] if self.spot is None else self.spot.unadopted())

    # --- VenueInterface ---------------------------------------------------------------------

    def execute(self, instruction: Instruction, market: MarketState) -> ExecutionResult:
        if isinstance(instruction, TradePerp):
            return ExecutionResult(self._trade_perp(instruction, market))
        if isinstance(instruction, Transfer) and self.transfers is not None:
            return self.transfers.send(instruction)  # a withdrawal: legs and a ticket
        if isinstance(instruction, BuySpot | SellSpot):
            if self.spot is None:
                raise ExecutionRejected(f"{self.name}: no spot client: not the spot venue")
            return ExecutionResult(self.spot.trade(instruction, market))
        if isinstance(instruction, Transfer):
            raise ExecutionRejected(
                f"{self.name}: {type(instruction).__name__} is not supported live yet"
            )
        raise ExecutionRejected(f"{self.name} cannot execute {type(instruction).__name__}")

    def receive(self, asset: str, amount: float, market: MarketState) -> ExecutionResult:
        """The book's leg of a deposit this venue credited (the engine calls it when `arrived`
        says so). The venue's own view is not changed here: `arrived` stored the deposit and
        `positions` counts it from the store, so a restart cannot count it twice."""
        if asset != QUOTE:
            raise ExecutionRejected(f"{self.name}: only {QUOTE} transfers are supported live")
        return ExecutionResult((Leg(self.usdt_key, amount, "TransferReceived", 1.0),))

    def arrived(self, ticket: TransferTicket, market: MarketState) -> Arrival | None:
        """A ticket's deposit once this venue credited it, else None (`ArrivalWatcher`)."""
        if self.transfers is None:
            raise ExecutionRejected(f"{self.name}: no transfer routes configured")
        return self.transfers.arrived(ticket, market.t)

    def deposit_address(self, asset: str, network: str) -> str:
        """This account's deposit address for `asset` on `network` (ccxt unified code): what
        a source checks its allow-listed address against (`TransferRoutes`)."""
        read = partial(self.client.fetch_deposit_address, asset, {"network": network})
        return str(self.pacer.read(read)["address"])

    def settle(self, market: MarketState) -> ExecutionResult:
        """Funding from the venue's history since the last booked payment per symbol, booked
        once ((venue, symbol, time) keys); legs for the ledger's payments after the last one
        returned (`_funding_to`), signed received > 0 whatever the venue's convention
        (`Dialect.funding_received_usdt`). Venue liquidations are not booked here:
        reconciliation finds them (ADR-008)."""
        legs, pending, restored = self._adopted_legs(market), False, self._funding_pending
        funding = self.store.ledger(self.strategy_id).funding
        for base, symbol in self.symbols.items():
            booked = sorted((p for p in funding if (p.venue, p.symbol) == (self.name, symbol)),
                            key=lambda p: p.funding_at)  # fmt: skip
            last = booked[-1].funding_at if booked else None
            since = None if last is None else to_ms(last) + 1
            history = self.pacer.read(partial(self.client.fetch_funding_history, symbol, since))
            for entry in sorted(history, key=lambda e: int(e["timestamp"])):
                at = utc_ms(int(entry["timestamp"]))
                payment = FundingPayment(
                    self.name, symbol, at, self.dialect.funding_received_usdt(entry)
                )
                new = entry.get("symbol") == symbol and (last is None or at > last)
                if new and self.store.add_funding(self.strategy_id, payment):
                    booked.append(payment)
            mark = market.values.get(f"perp:{self.name}:{base}{QUOTE}", math.nan)
            returned_to = self._funding_to.get(symbol)
            for payment in booked:
                if returned_to is not None and payment.funding_at <= returned_to:
                    continue
                if restored and payment.funding_at > market.t:  # a later cycle's, re-stepped
                    pending = True
                    continue
                cash = payment.amount_usdt
                leg = Leg(self.usdt_key, cash, "FundingSettled", mark, "funding", cash, QUOTE)
                legs.append(leg)
                self._funding_to[symbol] = payment.funding_at
        self._funding_pending = pending
        return ExecutionResult(tuple(legs))

    def positions(self, whole_ledger: bool = False) -> dict[str, float]:
        """The venue's own view from the fill ledger: perp size = signed sum of fills; USDT =
        opening + realised P&L - fees + funding - withdrawals sent + deposits arrived, plus
        the spot fills' USDT; spot holdings from the spot fills (`spot_book`; keys as
        SimulatedCex's). As the engine's book holds it (`_book_ledger`), unless
        `whole_ledger` (start-up reconciliation: what the venue must hold)."""
        cash = self._opening_usdt
        held: dict[str, float] = {}
        ledger = self.store.ledger(self.strategy_id)
        if not whole_ledger:
            ledger = self._book_ledger(ledger)
        for (venue, symbol), position in ledger.positions().items():
            if venue != self.name or not self._owns(symbol):
                continue
            held[perp_key(self.name, symbol.split("/")[0])] = position.qty_base
            cash += position.realized_pnl_usdt - position.fees_usdt + position.funding_usdt
        if self.spot is not None:
            holdings, spot_usdt = self.spot.book(ledger.fills)
            held.update(holdings)
            cash += spot_usdt
        if self.transfers is not None:  # withdrawals that left, deposits that arrived
            cash += self.transfers.usdt_moved(QUOTE, whole_ledger)
        held[self.usdt_key] = cash
        return held

    def _book_ledger(self, ledger: Ledger) -> Ledger:
        """The ledger without what the engine's book does not hold yet: fills of a cycle a
        crash interrupted (`_redo_ids`) and funding not returned as a leg (`_funding_to`)."""
        redo, adopted = self._redo_ids, {f.key for f in self._adopted}
        fills = [f for f in ledger.fills if f.client_order_id not in redo and f.key not in adopted]
        funding = [p for p in ledger.funding if p.venue != self.name
                   or p.funding_at <= self._funding_to.get(p.symbol, _NEVER)]  # fmt: skip
        return Ledger(fills, funding)

    # --- reconciliation (ADR-008) -----------------------------------------------------------

    def venue_snapshot(self) -> VenueSnapshot:
        """fetch_positions + fetch_balance, keyed as `positions()` (`read_snapshot`); on the
        spot venue, plus the spot wallet's holdings and USDT (`SpotOrders.add_wallet`)."""
        symbols = list(self.symbols.values())
        read = partial(read_snapshot, self.pacer.read, self.client, self.dialect, symbols)
        snapshot = read(self.name, self._clock(), QUOTE)
        return snapshot if self.spot is None else self.spot.add_wallet(snapshot)

    def adopt_unbooked(self) -> list[Fill]:
        """The operator adopts the venue's state at a restart (`--adopt-venue-state`): its
        perp fills the ledger lacks (an order placed by hand, a liquidation, an ADL) are
        booked in the ledger as fills of no order of ours, and their legs are returned at
        the next settlement, at that hour's mark. Returns the fills adopted."""
        adopted = []
        for trade in self.unbooked_trades():
            size = contract_size(self.client, str(trade["symbol"]))
            fill = fill_of(trade, self.name, None, QUOTE, size)
            if self.store.add_fill(self.strategy_id, fill):
                adopted.append(fill)
        self._adopted += adopted
        return adopted

    def _adopted_legs(self, market: MarketState) -> list[Leg]:
        legs: list[Leg] = []
        fills = self.store.ledger(self.strategy_id).fills
        for base, symbol in self.symbols.items():
            mine = [f for f in self._adopted if f.symbol == symbol]
            mark = market.values.get(f"perp:{self.name}:{base}{QUOTE}")
            legs += fill_legs(self.name, base, symbol, mine, fills, mark)
        self._adopted = []
        return legs

    def unbooked_trades(self, since: datetime | None = None) -> list[Any]:
        """The venue's fills on our symbols (since `since`) that the ledger does not hold: a
        liquidation, an ADL or a hand-placed order (`read_unbooked_trades`)."""
        ledger = self.store.ledger(self.strategy_id)
        booked = {f.trade_id for f in ledger.fills if f.venue == self.name and self._owns(f.symbol)}
        since_ms = None if since is None else to_ms(since)
        symbols = list(self.symbols.values())
        return read_unbooked_trades(self.pacer.read, self.client, self.dialect, symbols,
                                    booked, since_ms)  # fmt: skip

    def reconcile(
        self,
        expected: dict[str, float] | None = None,
        tolerance_base: float = 1e-9,
        tolerance_usdt: float = 0.01,
    ) -> list[Mismatch]:
        """Differences between `expected` (default: our ledger's perps) and the venue."""
        if expected is None:
            held = self.positions(whole_ledger=True)
            expected = {k: v for k, v in held.items() if k != self.usdt_key}
        snapshot = self.venue_snapshot()
        return differences(snapshot, expected, self.usdt_key, tolerance_base, tolerance_usdt)

    # --- orders -----------------------------------------------------------------------------

    def _trade_perp(self, order: TradePerp, market: MarketState) -> tuple[Leg, ...]:
        symbol = self.symbols.get(order.base)
        if symbol is None:
            raise ExecutionRejected(f"{self.name} does not list perp {order.base}{QUOTE}")
        require_amount(self.name, "perp size_delta", abs(order.size_delta))
        # cut to whole lots of contracts, or refused if none, before anything is stored (amounts.py)
        _, qty_base = to_contracts(self.client, self.name, symbol, abs(order.size_delta))
        side = Side.BUY if order.size_delta > 0 else Side.SELL
        record = self._adopt(symbol, side, qty_base) or self._place(symbol, side, qty_base)
        return self._legs(record, order.base, market)

    def _place(
        self, symbol: str, side: Side, qty_base: float, quote_qty_usdt: float | None = None
    ) -> OrderRecord:
        redone = self._redone(symbol, side)
        if redone is not None:
            return redone
        seq = self.store.next_seq(self.strategy_id)
        record = new_order(self.strategy_id, seq, 0, self.name, symbol, side, qty_base, None,
                           self._clock(), quote_qty_usdt=quote_qty_usdt)  # fmt: skip
        self.store.add_orders([record])  # the intent is on disk before anything is sent
        return self._finish_or_keep(record, send=True)

    def _redone(self, symbol: str, side: Side) -> OrderRecord | None:
        """The order stored under the next sequence's client id, if any: a redone cycle's
        (module doc), its sequence reserved again and the order adopted, never resent; an
        order of another trade there means the cycle decided otherwise: ReconciliationHalt.
        Only after a restart: otherwise no stored order can have the next id."""
        if not self._restored:
            return None
        seq = self.store.peek_seq(self.strategy_id)
        stored = self.store.order(client_order_id(self.strategy_id, seq, 0))
        if stored is None:
            return None
        if (stored.venue, stored.symbol, stored.side) != (self.name, symbol, side):
            raise ReconciliationHalt(
                f"{self.name}: the redone cycle's order {stored.client_order_id} is {side.value} "
                f"{symbol}, the one stored under that id {stored.side.value} {stored.symbol} on "
                f"{stored.venue}: the cycle decided otherwise after the restart"
            )
        self.store.next_seq(self.strategy_id)
        self._redo_ids.discard(stored.client_order_id)
        return self._finish_or_keep(stored, send=False)

    def _adopt(self, symbol: str, side: Side, size: float) -> OrderRecord | None:
        """An in-flight order for the same trade (recovered at start, or left unresolved by
        an earlier call): take it over instead of sending again. `size` is what the order
        sends (`_sent_size`: base units; a spot buy's USDT)."""
        for index, record in enumerate(self._unadopted):
            if (record.symbol, record.side) == (symbol, side) and math.isclose(
                self._sent_size(record), size, rel_tol=1e-12
            ):
                del self._unadopted[index]
                return self._finish_or_keep(record, send=False)
        return None

    def _finish_or_keep(self, record: OrderRecord, send: bool) -> OrderRecord:
        """Send (if new) and finish; if that fails without the venue's refusal, the order is
        kept for adoption, so retrying the same instruction in this process resolves it rather
        than sending a second order."""
        try:
            return self._finish(self._send(record) if send else record)
        except ExecutionRejected:
            raise
        except Exception:
            self._keep_for_adoption(self.store.order(record.client_order_id) or record)
            raise

    def _finish(self, record: OrderRecord) -> OrderRecord:
        """Resolve the order (queries, perhaps a resend), refuse if rejected, book fills."""
        record = self._settle(record, allow_resend=True)
        if record.state is OrderState.REJECTED:
            raise ExecutionRejected(
                f"{self.name}: order {record.client_order_id} refused: {record.reason}"
            )
        if not record.final and record.state not in _OPEN:
            raise OrderUnresolvedError(
                f"{self.name}: order {record.client_order_id} still {record.state} after "
                f"{self.settings.max_queries} queries ({record.reason}); left in the live store"
            )
        self._book_fills(record)
        return record

    def _sent_size(self, record: OrderRecord) -> float:
        return record.qty_base

    def _create(self, record: OrderRecord) -> Any:
        """The create call: a market order of the record's size in the venue's contracts (the
        record is in base units), with the order's client id."""
        contracts, _ = to_contracts(self.client, self.name, record.symbol, record.qty_base)
        return self.client.create_order(
            record.symbol, "market", record.side.value, contracts,
            params={"clientOrderId": record.client_order_id},
        )  # fmt: skip

    def _send(self, record: OrderRecord) -> OrderRecord:
        """One create call (`_create`); its answer, or its failure, as order events."""
        try:
            answer = self._create(record)
        except ccxt.BaseError as error:
            record = self._apply(record, send_failure(error, self.dialect))
            if isinstance(error, RATE_LIMITED):
                self.pacer.wait_rate_limited(0)
            return record
        record = self._apply(record, SendAcked(_str_or_none(answer.get("id"))))
        if is_acknowledgement(answer):  # Bybit, OKX: ids only; the fill is seen by a query
            return record
        return self._apply(record, report_of(answer, contract_size(self.client, record.symbol)))

    def _settle(self, record: OrderRecord, allow_resend: bool) -> OrderRecord:
        """Query by client id until the order is final, or the query budget is spent. Only a
        RESEND decision (proven absent, never acknowledged) sends again, same client id."""
        for _ in range(self.settings.max_queries):
            if record.final:
                return record
            self._sleep(self.settings.poll_interval_s)
            step = self.policy.decide(record, self._query(record), self._clock())
            self.store.save_order(step.order)
            record = step.order
            if step.action is RetryAction.RESEND and allow_resend:
                resent = self.policy.resend(record, self._clock())
                self.store.save_order(resent)
                record = self._send(resent)
            elif step.action is RetryAction.ESCALATE or step.action is RetryAction.RESEND:
                return record
        return record

    def _query(self, record: OrderRecord) -> Any:
        """The order by OUR client id, the venue's way (`Dialect.find_order`): never a plain
        "latest order" answer that could be another order's."""
        try:
            answer = self.dialect.find_order(self.client, record.client_order_id, record.symbol)
        except ccxt.BaseError as error:
            if isinstance(error, RATE_LIMITED):
                self.pacer.wait_rate_limited(0)
            return query_failure(error)
        size = contract_size(self.client, record.symbol)
        return QueryNotFound() if answer is None else report_of(answer, size)

    def _apply(self, record: OrderRecord, event: OrderEvent) -> OrderRecord:
        updated = apply(record, event, self._clock(), lost_after=self.policy.lost_after)
        self.store.save_order(updated)
        return updated

    # --- fills and legs ---------------------------------------------------------------------

    def _book_fills(self, record: OrderRecord) -> None:
        """Book the order's trades once; re-fetch once if the venue's filled quantity is ahead
        of its trade list (the shortfall stays visible as `Ledger.unbooked_qty_base`)."""
        if record.venue_order_id is None or record.venue_filled_qty_base <= 0:
            return
        size = contract_size(self.client, record.symbol)
        by_order = {self.dialect.order_trades_param: record.venue_order_id}
        for attempt in range(2):
            trades = self.pacer.read(
                partial(self.client.fetch_my_trades, record.symbol, None, None, by_order)
            )
            for trade in trades:
                if str(trade.get("order")) == record.venue_order_id:
                    self.store.add_fill(self.strategy_id, self._fill_of(trade, record, size))
            ledger = self.store.ledger(self.strategy_id)
            if attempt == 0 and ledger.unbooked_qty_base(record) > 1e-12:
                self._sleep(self.settings.poll_interval_s)
                continue
            return

    def _fill_of(self, trade: Any, record: OrderRecord, contract_size: float) -> Fill:
        return fill_of(trade, self.name, record.client_order_id, QUOTE, contract_size)

    def _legs(self, record: OrderRecord, base: str, market: MarketState) -> tuple[Leg, ...]:
        mark = market.values.get(f"perp:{self.name}:{base}{QUOTE}")
        fills = self._book_ledger(self.store.ledger(self.strategy_id)).fills  # none later
        return perp_trade_legs(self.name, base, record.symbol, record.client_order_id, fills, mark)


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)
