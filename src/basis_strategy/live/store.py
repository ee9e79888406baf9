"""Live state that must survive `kill -9`: orders with their states, fills, funding and the
instruction sequence of each live strategy, through SQLAlchemy Core on SQLite or PostgreSQL.

Why: a restart must not forget an order in flight (it would be sent twice, or its fills left
unbooked) nor reuse an instruction sequence (its client ids would collide with orders the venue
already has). Hence the write order a caller must keep:

1. `next_seq(strategy_id)` reserves a sequence number (committed). A restart rewinds it to the
   last checkpointed cycle's mark (`rewind_seq`): the cycle a crash interrupted is redone with
   the same sequences, so its instructions get the same client ids and find the orders and
   withdrawals already stored under them (adopted and queried, never sent again);
2. `add_orders` commits the INTENDED rows BEFORE the create call is sent;
3. each venue answer is applied (`orders.apply`) and saved with `save_order`;
4. fills and funding are inserted with their ledger keys as primary keys and ON CONFLICT DO
   NOTHING, so a replay, or two workers inserting the same fill at once, books it once.

Withdrawals (`live_transfers`, venues/live/withdrawals.py) follow the same rule: the row is
INTENDED, with its deterministic reference, before the withdraw call; the deposit that settles
a ticket is recorded once per (destination, deposit id), so a deposit never settles two tickets.

On restart, `orders(strategy_id, open_only=True)` gives what to reconcile (INTENDED ones may or
may not have been sent: apply `Restarted`, then query them by client id) and `ledger` the fills
and funding. Every call is one transaction on its own pooled connection. Timestamps are aware
UTC in and out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from basis_strategy.core.database import (
    UTCDateTime,
    create_engine,
    create_tables,
    database_errors,
    mask_url,
)
from basis_strategy.core.errors import OperationalError
from basis_strategy.live.ledger import ConflictingEntryError, Fill, FundingPayment, Ledger
from basis_strategy.live.orders import FINAL, OrderRecord, OrderState, Side


class LiveStoreError(OperationalError):
    """The live store cannot be read or written: halt trading (names the masked URL)."""


class DuplicateOrderError(OperationalError):
    """An order with this client id, or this (strategy, seq, leg), is already stored."""


metadata = sa.MetaData()
live_orders = sa.Table(
    "live_orders",
    metadata,
    sa.Column("client_order_id", sa.String(32), primary_key=True),
    sa.Column("strategy_id", sa.String(200), nullable=False, index=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("leg", sa.Integer, nullable=False),
    sa.Column("venue", sa.String(64), nullable=False),
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("qty_base", sa.Double, nullable=False),
    sa.Column("price_usdt", sa.Double),
    sa.Column("state", sa.String(24), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("venue_order_id", sa.String(128)),
    sa.Column("venue_filled_qty_base", sa.Double, nullable=False),
    sa.Column("not_found_count", sa.Integer, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("acknowledged", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("quote_qty_usdt", sa.Double),  # a spot buy sized in USDT (else NULL)
    sa.UniqueConstraint("strategy_id", "seq", "leg", name="uq_live_orders_strategy_seq_leg"),
)
live_fills = sa.Table(
    "live_fills",
    metadata,
    sa.Column("venue", sa.String(64), primary_key=True),
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("trade_id", sa.String(128), primary_key=True),
    sa.Column("strategy_id", sa.String(200), nullable=False, index=True),
    sa.Column("client_order_id", sa.String(64), index=True),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("qty_base", sa.Double, nullable=False),
    sa.Column("price_usdt", sa.Double, nullable=False),
    sa.Column("fee_usdt", sa.Double, nullable=False),
    sa.Column("filled_at", UTCDateTime, nullable=False),
    sa.Column("fee_base", sa.Double, nullable=False, server_default="0"),  # spot buys' fee
)
live_funding = sa.Table(
    "live_funding",
    metadata,
    sa.Column("venue", sa.String(64), primary_key=True),
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("funding_at", UTCDateTime, primary_key=True),
    sa.Column("strategy_id", sa.String(200), nullable=False, index=True),
    sa.Column("amount_usdt", sa.Double, nullable=False),
)
live_sequences = sa.Table(
    "live_sequences",
    metadata,
    sa.Column("strategy_id", sa.String(200), primary_key=True),
    sa.Column("next_seq", sa.BigInteger, nullable=False),
)
live_openings = sa.Table(
    "live_openings",
    metadata,
    sa.Column("strategy_id", sa.String(200), primary_key=True),
    sa.Column("venue", sa.String(64), primary_key=True),
    sa.Column("asset", sa.String(16), primary_key=True),
    sa.Column("amount", sa.Double, nullable=False),
)
live_transfers = sa.Table(
    "live_transfers",
    metadata,
    sa.Column("reference", sa.String(32), primary_key=True),
    sa.Column("strategy_id", sa.String(200), nullable=False, index=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("destination", sa.String(64), nullable=False),
    sa.Column("asset", sa.String(16), nullable=False),
    sa.Column("amount", sa.Double, nullable=False),
    sa.Column("fee", sa.Double, nullable=False),
    sa.Column("address", sa.String(128), nullable=False),
    sa.Column("network", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("withdrawal_id", sa.String(128)),
    sa.Column("txid", sa.String(128)),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("deposit_id", sa.String(128)),
    sa.Column("credited_amount", sa.Double),
    sa.Column("credited_at", UTCDateTime),
    sa.Column("seen_at", UTCDateTime),
    sa.Column("reason", sa.Text, nullable=False),
    sa.UniqueConstraint("destination", "deposit_id", name="uq_live_transfers_deposit"),
)
ORDER_FIELDS = tuple(f.name for f in fields(OrderRecord))
FILL_FIELDS = tuple(f.name for f in fields(Fill))
FUNDING_FIELDS = tuple(f.name for f in fields(FundingPayment))


class TransferState(Enum):
    """A withdrawal's life: INTENDED (stored, perhaps sent) -> SENT (the venue's withdrawal id
    is known) or AMBIGUOUS (the withdraw call failed without an answer: query by reference,
    never resend) or REJECTED (the venue refused: nothing left) -> ARRIVED (a deposit on the
    destination settled it) or LOST (given up by an operator or the engine's alert)."""

    INTENDED = "INTENDED"
    SENT = "SENT"
    AMBIGUOUS = "AMBIGUOUS"
    REJECTED = "REJECTED"
    ARRIVED = "ARRIVED"
    LOST = "LOST"


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """One withdrawal of `amount` (the fee `fee` included) of `asset` from `source` to the
    allow-listed `address` on `network` for `destination`; `reference` is our client id."""

    reference: str
    strategy_id: str
    seq: int
    source: str
    destination: str
    asset: str
    amount: float
    fee: float
    address: str
    network: str
    state: TransferState
    created_at: datetime
    updated_at: datetime
    withdrawal_id: str | None = None
    txid: str | None = None
    sent_at: datetime | None = None
    deposit_id: str | None = None
    credited_amount: float | None = None
    credited_at: datetime | None = None
    reason: str = ""
    seen_at: datetime | None = None  # the cycle time its arrival was first booked at

    def moved(self, state: TransferState, at: datetime, **changes: Any) -> TransferRecord:
        """This record in `state` at `at` (with `changes` to other fields)."""
        return replace(self, state=state, updated_at=at, **changes)


TRANSFER_FIELDS = tuple(f.name for f in fields(TransferRecord))


class LiveStore:
    """Orders, fills, funding and sequence numbers of live strategies in one database."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.url_masked = mask_url(url)
        self.engine = create_engine(url)
        with self._errors("create the live tables"):
            create_tables(self.engine, metadata)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        with database_errors(self._url, "live store", doing, LiveStoreError):
            yield

    @contextmanager
    def _write(self, doing: str) -> Iterator[Connection]:
        with self._errors(doing), self.engine.begin() as conn:
            yield conn

    def next_seq(self, strategy_id: str) -> int:
        """Reserve the strategy's next instruction sequence (0, 1, 2, ...); committed on return."""
        where = live_sequences.c.strategy_id == strategy_id
        with self._write(f"reserve a sequence for {strategy_id}") as conn:
            conn.execute(self._insert_ignore(live_sequences, strategy_id=strategy_id, next_seq=0))
            conn.execute(live_sequences.update().where(where).values(next_seq=_plus_one()))
            after = conn.execute(sa.select(live_sequences.c.next_seq).where(where)).scalar_one()
        return int(after) - 1

    def peek_seq(self, strategy_id: str) -> int:
        """The sequence `next_seq` would reserve now (nothing reserved)."""
        where = live_sequences.c.strategy_id == strategy_id
        with self._errors(f"read the sequence of {strategy_id}"), self.engine.connect() as conn:
            value = conn.execute(sa.select(live_sequences.c.next_seq).where(where)).scalar()
        return 0 if value is None else int(value)

    def rewind_seq(self, strategy_id: str, next_seq: int) -> None:
        """Set the sequence `next_seq` reserves next back to a checkpoint's mark (module doc,
        step 1); never forward: a mark above the stored sequence is a foreign checkpoint."""
        where = live_sequences.c.strategy_id == strategy_id
        if next_seq > self.peek_seq(strategy_id):
            raise LiveStoreError(f"{strategy_id}: checkpoint sequence {next_seq} is ahead of "
                                 f"the live store's {self.peek_seq(strategy_id)}")  # fmt: skip
        with self._write(f"rewind the sequence of {strategy_id}") as conn:
            conn.execute(live_sequences.update().where(where).values(next_seq=next_seq))

    def keep_opening(
        self, strategy_id: str, venue: str, amount: float, asset: str = "USDT"
    ) -> float:
        """The strategy's opening balance of `asset` at `venue`: the first one kept wins (a
        restart reads it back, never adopts a balance again)."""
        with self._write(f"keep the opening balance of {strategy_id} at {venue}") as conn:
            conn.execute(self._insert_ignore(live_openings, strategy_id=strategy_id,
                                             venue=venue, asset=asset, amount=amount))  # fmt: skip
        kept = self.opening(strategy_id, venue, asset)
        assert kept is not None
        return kept

    def opening(self, strategy_id: str, venue: str, asset: str = "USDT") -> float | None:
        """The opening balance kept for (strategy, venue, asset), or None."""
        table = live_openings.c
        query = sa.select(table.amount).where(
            table.strategy_id == strategy_id, table.venue == venue, table.asset == asset
        )
        rows = self._select(query, "read an opening balance")
        return None if not rows else float(rows[0]["amount"])

    def add_orders(self, orders: Iterable[OrderRecord]) -> None:
        """Insert new orders (the INTENDED rows, before sending) in one transaction."""
        rows = [_order_row(order) for order in orders]
        if not rows:
            return
        with self._write("add orders") as conn:
            try:
                conn.execute(live_orders.insert(), rows)
            except sa.exc.IntegrityError:
                ids = ", ".join(row["client_order_id"] for row in rows)
                raise DuplicateOrderError(f"orders already stored: one of {ids}") from None

    def save_order(self, order: OrderRecord) -> None:
        """Store an order's new state (it must have been added); KeyError if unknown."""
        row = _order_row(order)
        key = live_orders.c.client_order_id == order.client_order_id
        with self._write(f"save order {order.client_order_id}") as conn:
            if not conn.execute(live_orders.update().where(key).values(**row)).rowcount:
                raise KeyError(f"order {order.client_order_id!r} not stored")

    def order(self, client_order_id: str) -> OrderRecord | None:
        query = sa.select(live_orders).where(live_orders.c.client_order_id == client_order_id)
        found = self._select(query, f"read order {client_order_id}")
        return _order(found[0]) if found else None

    def orders(self, strategy_id: str, open_only: bool = False) -> list[OrderRecord]:
        """The strategy's orders by (seq, leg); `open_only`: not FILLED/CANCELED/REJECTED (LOST
        and AMBIGUOUS ones included: they are still polled)."""
        query = sa.select(live_orders).where(live_orders.c.strategy_id == strategy_id)
        if open_only:
            query = query.where(live_orders.c.state.not_in([state.value for state in FINAL]))
        query = query.order_by(live_orders.c.seq, live_orders.c.leg)
        return [_order(row) for row in self._select(query, f"read orders of {strategy_id}")]

    def add_fill(self, strategy_id: str, fill: Fill) -> bool:
        """Book a fill once: True if new, False if this fill was booked before for this
        strategy; ConflictingEntryError if a different fill, or the same fill for another
        strategy, has its (venue, symbol, trade id)."""
        row = {**_values(fill, FILL_FIELDS), "strategy_id": strategy_id}
        return self._book(live_fills, row, fill, _fill, f"fill {fill.key}")

    def add_funding(self, strategy_id: str, payment: FundingPayment) -> bool:
        """Book a funding payment once (keyed (venue, symbol, funding_at)), like `add_fill`."""
        row = {**_values(payment, FUNDING_FIELDS), "strategy_id": strategy_id}
        return self._book(live_funding, row, payment, _funding, f"funding {payment.key}")

    def ledger(self, strategy_id: str) -> Ledger:
        """The strategy's fills and funding, as booked."""
        fills = self._select(sa.select(live_fills).where(live_fills.c.strategy_id == strategy_id))
        query = sa.select(live_funding).where(live_funding.c.strategy_id == strategy_id)
        return Ledger(map(_fill, fills), map(_funding, self._select(query)))

    def _book(
        self, table: sa.Table, row: dict[str, Any], entry: object, parse: Any, what: str
    ) -> bool:
        with self._write(f"book {what}") as conn:
            # RETURNING, not rowcount: psycopg reports -1 for ON CONFLICT DO NOTHING
            inserted = self._insert_ignore(table, **row).returning(*table.primary_key.columns)
            if conn.execute(inserted).first() is not None:
                return True
            key = sa.and_(*(column == row[column.name] for column in table.primary_key))
            stored = conn.execute(sa.select(table).where(key)).mappings().one()
        booked, owner = parse(stored), stored["strategy_id"]
        if booked != entry or owner != row["strategy_id"]:
            raise ConflictingEntryError(
                f"{what}: booked as {booked} for {owner}, now reported as {entry} for "
                f"{row['strategy_id']}"
            )
        return False

    def _insert_ignore(self, table: sa.Table, **values: Any) -> sa.Insert:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table).values(**values).on_conflict_do_nothing()

    def _select(self, query: sa.Select[Any], doing: str = "read the ledger") -> list[Any]:
        with self._errors(doing), self.engine.connect() as conn:
            return list(conn.execute(query).mappings().all())

    # --- withdrawals ------------------------------------------------------------------------

    def add_transfer(self, record: TransferRecord) -> None:
        """Insert a new withdrawal (INTENDED, before the withdraw call)."""
        with self._write(f"add transfer {record.reference}") as conn:
            try:
                conn.execute(live_transfers.insert(), [_values(record, TRANSFER_FIELDS)])
            except sa.exc.IntegrityError:
                raise DuplicateOrderError(f"transfer {record.reference} already stored") from None

    def save_transfer(self, record: TransferRecord) -> bool:
        """Store a withdrawal's new state; KeyError if unknown. False (nothing saved) when it
        names a deposit that already settled another ticket on that destination."""
        key = live_transfers.c.reference == record.reference
        row = _values(record, TRANSFER_FIELDS)
        with self._errors(f"save transfer {record.reference}"):
            try:
                with self.engine.begin() as conn:
                    updated = conn.execute(live_transfers.update().where(key).values(**row))
            except sa.exc.IntegrityError:  # uq_live_transfers_deposit: settled another ticket
                return False
        if not updated.rowcount:
            raise KeyError(f"transfer {record.reference!r} not stored")
        return True

    def transfer(self, reference: str) -> TransferRecord | None:
        query = sa.select(live_transfers).where(live_transfers.c.reference == reference)
        found = self._select(query, f"read transfer {reference}")
        return _transfer(found[0]) if found else None

    def transfers(
        self, strategy_id: str, states: Iterable[TransferState] | None = None
    ) -> list[TransferRecord]:
        """The strategy's withdrawals by seq (only those in `states` if given)."""
        query = sa.select(live_transfers).where(live_transfers.c.strategy_id == strategy_id)
        if states is not None:
            query = query.where(live_transfers.c.state.in_([s.value for s in states]))
        rows = self._select(
            query.order_by(live_transfers.c.seq), f"read transfers of {strategy_id}"
        )
        return [_transfer(row) for row in rows]

    def settled_deposit_ids(self, destination: str) -> set[str]:
        """Deposit ids on `destination` that already settled a ticket (any strategy)."""
        column = live_transfers.c.deposit_id
        query = sa.select(column).where(
            live_transfers.c.destination == destination, column.is_not(None)
        )
        return {row["deposit_id"] for row in self._select(query, "read settled deposits")}

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> LiveStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plus_one() -> sa.ColumnElement[int]:
    return live_sequences.c.next_seq + 1


def _values(record: object, names: tuple[str, ...]) -> dict[str, Any]:
    values = asdict(record)  # type: ignore[call-overload]
    return {
        name: v.value if isinstance(v, Enum) else v for name, v in values.items() if name in names
    }


def _order_row(order: OrderRecord) -> dict[str, Any]:
    return _values(order, ORDER_FIELDS)


def _order(row: Any) -> OrderRecord:
    values = {name: row[name] for name in ORDER_FIELDS}
    values.update(side=Side(values["side"]), state=OrderState(values["state"]))
    values["acknowledged"] = bool(values["acknowledged"])
    return OrderRecord(**values)


def _fill(row: Any) -> Fill:
    values = {name: row[name] for name in FILL_FIELDS}
    return Fill(**{**values, "side": Side(values["side"])})


def _funding(row: Any) -> FundingPayment:
    return FundingPayment(**{name: row[name] for name in FUNDING_FIELDS})


def _transfer(row: Any) -> TransferRecord:
    values = {name: row[name] for name in TRANSFER_FIELDS}
    return TransferRecord(**{**values, "state": TransferState(values["state"])})
