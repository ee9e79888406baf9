"""The fill and funding ledger: the source of truth for live positions.

Why: a position taken from the intent books a partial fill then cancel as the full amount
(freqtrade #2383, #11461); replayed fills with the same trade id make phantom positions
(nautilus #3046, #3775); funding booked from two sources is counted twice (freqtrade #13102).
So a position is the signed sum of its fills, each fill is keyed by (venue, symbol, trade id)
and each funding payment by (venue, symbol, funding time): adding an entry twice changes
nothing, and adding a different entry under a key already booked is an error, not a silent
overwrite.

The symbol is part of the fill key because Binance and OKX number trades per instrument: the
same trade id can appear on two symbols of one venue. Symbols must be one normalised spelling
(e.g. ccxt's `BTC/USDT:USDT`) or the same trade would be booked twice under two names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from basis_strategy.core.errors import OperationalError
from basis_strategy.live.orders import OrderRecord, Side

K = TypeVar("K")
E = TypeVar("E")
FLAT_QTY_BASE = 1e-9  # below every venue's lot size: float residue of a closed position


class ConflictingEntryError(OperationalError):
    """An entry under a key already booked, with different values: a venue or adapter bug."""


def _aware(what: str, at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError(f"{what}: must be a timezone-aware UTC datetime, was {at!r}")


@dataclass(frozen=True)
class Fill:
    """One execution reported by the venue; `fee_usdt` > 0 is a cost, < 0 a rebate.

    `fee_base` is a fee the venue took in the base asset instead (Binance spot takes a buy's
    fee from the coin bought): the base received is `qty_base - fee_base`. 0 on perps."""

    venue: str
    symbol: str
    trade_id: str
    client_order_id: str | None  # None for a fill of an order we did not place
    side: Side
    qty_base: float
    price_usdt: float
    fee_usdt: float
    filled_at: datetime
    fee_base: float = 0.0

    def __post_init__(self) -> None:
        if not self.trade_id:
            raise ValueError(f"fill on {self.venue} {self.symbol}: trade_id must not be empty")
        fees_finite = math.isfinite(self.fee_usdt) and math.isfinite(self.fee_base)
        if not (self.qty_base > 0 and self.price_usdt > 0 and fees_finite):
            raise ValueError(
                f"fill {self.key}: qty_base and price_usdt must be > 0 and fees finite, "
                f"were {self.qty_base}, {self.price_usdt}, {self.fee_usdt}, {self.fee_base}"
            )
        _aware(f"fill {self.key} filled_at", self.filled_at)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.venue, self.symbol, self.trade_id

    @property
    def signed_qty_base(self) -> float:
        return self.qty_base if self.side is Side.BUY else -self.qty_base


@dataclass(frozen=True)
class FundingPayment:
    """One funding settlement; `amount_usdt` > 0 received, < 0 paid."""

    venue: str
    symbol: str
    funding_at: datetime
    amount_usdt: float

    def __post_init__(self) -> None:
        _aware(f"funding on {self.venue} {self.symbol} funding_at", self.funding_at)
        if not math.isfinite(self.amount_usdt):
            raise ValueError(f"funding {self.key}: amount_usdt must be finite")

    @property
    def key(self) -> tuple[str, str, datetime]:
        return self.venue, self.symbol, self.funding_at


@dataclass(frozen=True)
class Position:
    """A (venue, symbol) position rebuilt from its fills and funding.

    `avg_entry_price_usdt` is the average price of the open quantity (0 when flat): buying
    more averages it, reducing keeps it and realises P&L, crossing zero restarts it at the
    crossing fill's price. Fees and funding are kept apart from the realised price P&L."""

    venue: str
    symbol: str
    qty_base: float = 0.0
    avg_entry_price_usdt: float = 0.0
    realized_pnl_usdt: float = 0.0
    fees_usdt: float = 0.0
    funding_usdt: float = 0.0

    @property
    def flat(self) -> bool:
        return abs(self.qty_base) < FLAT_QTY_BASE


def _venue_order(fill: Fill) -> tuple[datetime, int, str]:
    """The venue's order of fills: by time, then trade id, numeric ids by value (a shorter
    decimal id is a smaller number: "999" before "1000"; same-length ids, e.g. UUIDs, by
    text)."""
    return fill.filled_at, len(fill.trade_id), fill.trade_id


def position_from(
    venue: str, symbol: str, fills: Iterable[Fill], funding: Iterable[FundingPayment] = ()
) -> Position:
    """The position of (venue, symbol): fills applied in (filled_at, trade_id) order, so the
    result does not depend on the order they arrived in."""
    qty = avg = realized = fees = 0.0
    mine = [f for f in fills if (f.venue, f.symbol) == (venue, symbol)]
    for fill in sorted(mine, key=_venue_order):
        qty, avg, realized = _add(qty, avg, realized, fill.signed_qty_base, fill.price_usdt)
        fees += fill.fee_usdt
    paid = sum(p.amount_usdt for p in funding if (p.venue, p.symbol) == (venue, symbol))
    return Position(venue, symbol, qty, avg, realized, fees, paid)


def _add(
    qty: float, avg: float, realized: float, delta: float, price: float
) -> tuple[float, float, float]:
    if abs(qty) < FLAT_QTY_BASE or (qty > 0) == (delta > 0):
        size = abs(qty) + abs(delta)
        return qty + delta, (avg * abs(qty) + price * abs(delta)) / size, realized
    closed = min(abs(delta), abs(qty))
    realized += closed * (price - avg) * math.copysign(1.0, qty)
    after = qty + delta
    if abs(after) < FLAT_QTY_BASE:
        return 0.0, 0.0, realized
    if (after > 0) != (qty > 0):
        return after, price, realized  # crossed zero: the rest opens at this price
    return after, avg, realized


class Ledger:
    """Fills and funding of one live strategy, in memory; `LiveStore.ledger` loads one."""

    def __init__(self, fills: Iterable[Fill] = (), funding: Iterable[FundingPayment] = ()) -> None:
        self._fills: dict[tuple[str, str, str], Fill] = {}
        self._funding: dict[tuple[str, str, datetime], FundingPayment] = {}
        for fill in fills:
            self.add_fill(fill)
        for payment in funding:
            self.add_funding(payment)

    def add_fill(self, fill: Fill) -> bool:
        """True if booked, False if this very fill was booked before; ConflictingEntryError
        if a different fill has its key."""
        return _add_once(self._fills, fill.key, fill, "fill")

    def add_funding(self, payment: FundingPayment) -> bool:
        """True if booked, False if booked before; ConflictingEntryError if it differs."""
        return _add_once(self._funding, payment.key, payment, "funding payment")

    @property
    def fills(self) -> list[Fill]:
        return sorted(self._fills.values(), key=lambda f: (f.venue, f.symbol, *_venue_order(f)))

    @property
    def funding(self) -> list[FundingPayment]:
        return sorted(self._funding.values(), key=lambda p: (p.funding_at, p.venue, p.symbol))

    def position(self, venue: str, symbol: str) -> Position:
        return position_from(venue, symbol, self._fills.values(), self._funding.values())

    def positions(self) -> dict[tuple[str, str], Position]:
        """Every (venue, symbol) with a fill or a funding payment."""
        keys = {(f.venue, f.symbol) for f in self._fills.values()}
        keys |= {(p.venue, p.symbol) for p in self._funding.values()}
        return {key: self.position(*key) for key in sorted(keys)}

    def filled_qty_base(self, client_order_id: str) -> float:
        """What the fills of one order add up to: the only booked quantity of an order."""
        return sum(f.qty_base for f in self._fills.values() if f.client_order_id == client_order_id)

    def unbooked_qty_base(self, order: OrderRecord) -> float:
        """How much more the venue reports filled than the fills booked for the order: > 0
        means fills are missing (fetch the order's trades), never a quantity to book."""
        return order.venue_filled_qty_base - self.filled_qty_base(order.client_order_id)


def _add_once(book: dict[K, E], key: K, entry: E, what: str) -> bool:
    booked = book.get(key)
    if booked is None:
        book[key] = entry
        return True
    if booked != entry:
        raise ConflictingEntryError(f"{what} {key}: booked as {booked}, now reported as {entry}")
    return False
