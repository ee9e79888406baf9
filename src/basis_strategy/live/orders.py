"""Live orders: the order state machine and the order record.

Why: the failures users of live systems report most come from treating a network error as
final (hummingbot #8457: an accepted order marked failed, an untracked short) and from booking
the intent instead of the fills (freqtrade #2383). So AMBIGUOUS (sent, outcome unknown) is a
real state only a venue answer can leave; REJECTED needs the venue's word (the create call
refused with a code, or a report); "not found" counts only as the answer to a query by client
id, and `lost_after` of them make the order LOST, still polled; the record books no quantity
(positions come from the fill ledger). The client id is `client_ids.client_order_id`.

States (`apply` raises IllegalTransitionError for any other move)::

    INTENDED --ack--> SUBMITTED
    INTENDED --timeout | disconnect | 5xx | 429 | restart | duplicate id--> AMBIGUOUS
    INTENDED --create refused with a venue code--> REJECTED
    INTENDED | SUBMITTED | AMBIGUOUS | LOST --report--> ACCEPTED | PARTIALLY_FILLED | FILLED
                                                        | CANCELED | REJECTED
    ACCEPTED | PARTIALLY_FILLED --report--> PARTIALLY_FILLED | FILLED | CANCELED
    SUBMITTED | AMBIGUOUS | ACCEPTED | PARTIALLY_FILLED --not found x lost_after--> LOST
    LOST --resend, same client id--> INTENDED
    FILLED, CANCELED, REJECTED are final. Repeated reports, and reports of an earlier state
    (NEW or PARTIALLY_FILLED once partially filled, filled or canceled), are ignored.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from basis_strategy.core.errors import OperationalError
from basis_strategy.live.client_ids import client_order_id


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderState(StrEnum):
    INTENDED = "intended"  # persisted, the create call not yet answered (maybe not sent)
    SUBMITTED = "submitted"  # the venue acknowledged the request; no order report yet
    AMBIGUOUS = "ambiguous"  # sent, outcome unknown: only a venue report settles it
    ACCEPTED = "accepted"  # the venue reports it open
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"  # includes expired; may carry fills (book them, not the intent)
    REJECTED = "rejected"  # only with the venue's proof
    LOST = "lost"  # not found `lost_after` times after queries by client id; still polled


class VenueStatus(StrEnum):
    """What a venue report (a query by client id, or the user stream) can say."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"


FINAL = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED})
_REPORTED = {
    VenueStatus.NEW: OrderState.ACCEPTED,
    VenueStatus.PARTIALLY_FILLED: OrderState.PARTIALLY_FILLED,
    VenueStatus.FILLED: OrderState.FILLED,
    VenueStatus.CANCELED: OrderState.CANCELED,
    VenueStatus.EXPIRED: OrderState.CANCELED,
    VenueStatus.REJECTED: OrderState.REJECTED,
}
_ANY_REPORT = frozenset(_REPORTED.values())
_LIVE = _ANY_REPORT - {OrderState.ACCEPTED, OrderState.REJECTED}
# the states a venue report may move an order to, by its current state
REPORT_TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    OrderState.INTENDED: _ANY_REPORT,  # the create call's answer is itself a report
    OrderState.SUBMITTED: _ANY_REPORT,  # e.g. Bybit and OKX reject asynchronously
    OrderState.AMBIGUOUS: _ANY_REPORT,
    OrderState.LOST: _ANY_REPORT,
    OrderState.ACCEPTED: _LIVE,
    OrderState.PARTIALLY_FILLED: _LIVE,
    OrderState.FILLED: frozenset(),
    OrderState.CANCELED: frozenset(),
    OrderState.REJECTED: frozenset(),
}
# reports from before the state we know (a query answered while the stream moved on): ignored
_EARLIER = frozenset({OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED})
_STALE = {
    OrderState.PARTIALLY_FILLED: frozenset({OrderState.ACCEPTED}),
    OrderState.FILLED: _EARLIER,
    OrderState.CANCELED: _EARLIER,
}
_QUERYABLE = frozenset(OrderState) - FINAL - {OrderState.INTENDED}


class IllegalTransitionError(OperationalError):
    """An event the order's state does not allow: a bug or a venue contradicting itself."""


@dataclass(frozen=True)
class SendAcked:
    """The create call returned success: the venue has the request (not yet a report)."""

    venue_order_id: str | None = None


@dataclass(frozen=True)
class SendUnknown:
    """The create call's outcome is unknown: timeout, disconnect, 5xx, 429 after sending."""

    reason: str


@dataclass(frozen=True)
class SendRejected:
    """The venue refused the create call with a code proving no order exists (margin, size,
    price filter). Never a timeout, 5xx or 429: those are SendUnknown."""

    code: str
    reason: str


@dataclass(frozen=True)
class SendDuplicate:
    """The venue refused the create call because the client id exists: the order is there."""

    reason: str = "duplicate client order id"


@dataclass(frozen=True)
class VenueReport:
    """The venue's word on the order; `filled_qty_base` is its cumulative filled quantity,
    kept to spot missing fills, never booked."""

    status: VenueStatus
    filled_qty_base: float = 0.0
    venue_order_id: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class QueryNotFound:
    """A query by client id answered that the venue has no such order."""


@dataclass(frozen=True)
class QueryFailed:
    """A query by client id got no answer (network, 5xx, 429): says nothing about the order."""

    reason: str


@dataclass(frozen=True)
class Restarted:
    """The process restarted: an INTENDED order may or may not have been sent."""


@dataclass(frozen=True)
class Resend:
    """Send a LOST order again, with the same client id (the venue's duplicate check)."""


OrderEvent = (
    SendAcked | SendUnknown | SendRejected | SendDuplicate | VenueReport
    | QueryNotFound | QueryFailed | Restarted | Resend
)  # fmt: skip


@dataclass(frozen=True)
class OrderRecord:
    """One order leg of one instruction. `qty_base` is the intent and is never booked.

    `quote_qty_usdt` is set for a market buy sized in USDT (spot: Binance quoteOrderQty): that
    amount is what is sent, and `qty_base` is then only its estimate at the hour's price."""

    client_order_id: str
    strategy_id: str
    seq: int
    leg: int
    venue: str
    symbol: str
    side: Side
    qty_base: float
    price_usdt: float | None  # the limit price; None for a market order
    state: OrderState
    created_at: datetime
    updated_at: datetime
    venue_order_id: str | None = None
    venue_filled_qty_base: float = 0.0
    not_found_count: int = 0
    attempts: int = 1
    acknowledged: bool = False  # the venue once acknowledged it: never resend then
    reason: str = ""
    quote_qty_usdt: float | None = None  # a buy sized in USDT: sent instead of qty_base

    def __post_init__(self) -> None:
        if self.qty_base <= 0:
            raise ValueError(f"order {self.client_order_id}: qty_base must be > 0")
        if self.quote_qty_usdt is not None and not self.quote_qty_usdt > 0:
            raise ValueError(f"order {self.client_order_id}: quote_qty_usdt must be > 0")
        for name in ("created_at", "updated_at"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"order {self.client_order_id}: {name} must be timezone-aware")

    @property
    def final(self) -> bool:
        return self.state in FINAL


def new_order(
    strategy_id: str,
    seq: int,
    leg: int,
    venue: str,
    symbol: str,
    side: Side,
    qty_base: float,
    price_usdt: float | None,
    at: datetime,
    *,
    quote_qty_usdt: float | None = None,
) -> OrderRecord:
    """An INTENDED order; its client id from (strategy id as request id, seq, leg)."""
    client_id = client_order_id(strategy_id, seq, leg)
    return OrderRecord(
        client_id, strategy_id, seq, leg, venue, symbol, Side(side), qty_base, price_usdt,
        OrderState.INTENDED, at, at, quote_qty_usdt=quote_qty_usdt,
    )  # fmt: skip


def apply(order: OrderRecord, event: OrderEvent, at: datetime, lost_after: int = 3) -> OrderRecord:
    """The order after `event` at `at`; IllegalTransitionError if its state does not allow it."""
    if isinstance(event, VenueReport):
        return _report(order, event, at)
    if isinstance(event, QueryNotFound):
        return _not_found(order, at, lost_after)
    if isinstance(event, QueryFailed):
        return order  # a network error is never final
    if isinstance(event, Restarted):
        if order.state is not OrderState.INTENDED:
            return order
        return _move(order, OrderState.AMBIGUOUS, at, reason="restarted: maybe sent")
    if isinstance(event, Resend):
        _require(order, event, {OrderState.LOST})
        return _move(order, OrderState.INTENDED, at, attempts=order.attempts + 1)
    return _send_outcome(order, event, at)


def _send_outcome(
    order: OrderRecord,
    event: SendAcked | SendUnknown | SendRejected | SendDuplicate,
    at: datetime,
) -> OrderRecord:
    _require(order, event, {OrderState.INTENDED})
    if isinstance(event, SendAcked):
        return _move(
            order, OrderState.SUBMITTED, at, venue_order_id=event.venue_order_id, acknowledged=True
        )
    if isinstance(event, SendRejected):
        return _move(order, OrderState.REJECTED, at, reason=f"{event.code}: {event.reason}")
    return _move(order, OrderState.AMBIGUOUS, at, reason=event.reason)


def _report(order: OrderRecord, report: VenueReport, at: datetime) -> OrderRecord:
    target = _REPORTED[report.status]
    if target is order.state and order.final:
        return order  # a repeated report of the end
    if target in _STALE.get(order.state, ()):
        return order  # an out-of-order report from before what we know
    if target is not order.state and target not in REPORT_TRANSITIONS[order.state]:
        raise IllegalTransitionError(
            f"order {order.client_order_id}: a {report.status} report cannot move it from "
            f"{order.state}"
        )
    return _move(
        order,
        target,
        at,
        venue_order_id=report.venue_order_id or order.venue_order_id,
        venue_filled_qty_base=max(report.filled_qty_base, order.venue_filled_qty_base),
        acknowledged=True,
        reason=report.reason or order.reason,
    )


def _not_found(order: OrderRecord, at: datetime, lost_after: int) -> OrderRecord:
    if order.final:
        return order  # the venue proved its end earlier; archives forget orders
    _require(order, QueryNotFound(), _QUERYABLE)
    count = order.not_found_count + 1
    state = OrderState.LOST if count >= lost_after else order.state
    return replace(order, state=state, not_found_count=count, updated_at=at)


def _require(order: OrderRecord, event: OrderEvent, allowed: Collection[OrderState]) -> None:
    if order.state not in allowed:
        raise IllegalTransitionError(
            f"order {order.client_order_id}: {type(event).__name__} is not allowed in state "
            f"{order.state}"
        )


def _move(order: OrderRecord, state: OrderState, at: datetime, **changes: Any) -> OrderRecord:
    return replace(order, state=state, updated_at=at, not_found_count=0, **changes)
