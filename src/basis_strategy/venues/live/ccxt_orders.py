"""Translate ccxt's answers and exceptions into the live order events (live/orders.py).

Why: the order state machine must only see what a venue proved. ccxt raises a
`OperationFailed` (NetworkError, RequestTimeout, ExchangeNotAvailable, DDoSProtection, and the
exchange's own "internal error, try again") when the outcome of a request is unknown; an
`ExchangeError` subclass such as InvalidOrder or InsufficientFunds when the venue answered with
a refusal. A refusal because the client id already exists is the opposite of a refusal: the
order is there (hummingbot #3374). This module keeps those distinctions in one place so
`LiveCex` (ADR-012) never treats a network error as final (hummingbot #8457).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt

from basis_strategy.core.errors import OperationalError, TemporaryError
from basis_strategy.live.ledger import Fill
from basis_strategy.live.orders import (
    QueryFailed,
    QueryNotFound,
    SendDuplicate,
    SendRejected,
    SendUnknown,
    Side,
    VenueReport,
    VenueStatus,
)
from basis_strategy.live.retry import QueryResult
from basis_strategy.venues.live.dialects import Dialect

# Refusals that prove no order was created (the venue answered and said no).
PROOF_OF_REFUSAL: tuple[type[Exception], ...] = (
    ccxt.InvalidOrder,
    ccxt.InsufficientFunds,
    ccxt.BadRequest,
    ccxt.AuthenticationError,
    ccxt.PermissionDenied,
)
RATE_LIMITED: tuple[type[Exception], ...] = (ccxt.DDoSProtection, ccxt.RateLimitExceeded)
_UNIFIED_STATUS = {
    "closed": VenueStatus.FILLED,
    "canceled": VenueStatus.CANCELED,
    "cancelled": VenueStatus.CANCELED,
    "expired": VenueStatus.EXPIRED,
    "rejected": VenueStatus.REJECTED,
}


class OrderUnresolvedError(OperationalError):
    """An order's outcome is still unknown after the allowed queries: halt; the order stays
    in the live store (AMBIGUOUS or LOST) for `LiveCex.recover` or an operator."""


class VenueBackoffError(TemporaryError):
    """The venue asks to wait longer than this process will sleep (e.g. a 418 IP ban)."""


SendOutcome = SendUnknown | SendRejected | SendDuplicate


def send_failure(error: Exception, dialect: Dialect) -> SendOutcome:
    """The order event for an exception raised by `create_order`.

    Ambiguous unless the venue proved the outcome: a duplicate id (in the venue's own words,
    `dialect.is_duplicate`) proves the order exists; a refusal listed in PROOF_OF_REFUSAL
    proves it does not. Any other ExchangeError (unmapped codes) stays ambiguous: querying
    costs one request, a wrong REJECTED costs a position.
    """
    if dialect.is_duplicate(error):
        return SendDuplicate(str(error)[:200])
    if isinstance(error, PROOF_OF_REFUSAL):
        return SendRejected(type(error).__name__, str(error)[:500])
    return SendUnknown(f"{type(error).__name__}: {str(error)[:200]}")


def is_acknowledgement(order: Mapping[str, Any]) -> bool:
    """A create answer that only acknowledges (Bybit, OKX: ids, no status, no filled): it
    proves the order exists, not what became of it; a later query tells (it may still be
    rejected asynchronously, so it must not be read as "open")."""
    return order.get("status") is None and order.get("filled") is None


def report_of(order: Mapping[str, Any], contract_size: float = 1.0) -> VenueReport:
    """A ccxt unified order as a venue report (venue-neutral: ccxt's unified status). ccxt's
    `filled` is in contracts: times `contract_size`, the report is in base units."""
    filled = float(order.get("filled") or 0.0)
    if filled and contract_size != 1.0:
        filled = float(Decimal(repr(filled)) * Decimal(repr(float(contract_size))))
    status = _UNIFIED_STATUS.get(str(order.get("status")))
    if status is None:  # "open" (or missing): accepted, maybe partly filled
        status = VenueStatus.PARTIALLY_FILLED if filled > 0 else VenueStatus.NEW
    venue_id = order.get("id")
    return VenueReport(status, filled, None if venue_id is None else str(venue_id))


def query_failure(error: Exception) -> QueryResult:
    """A query by client id that raised: "not found" is an answer, anything else is none."""
    if isinstance(error, ccxt.OrderNotFound):
        return QueryNotFound()
    return QueryFailed(f"{type(error).__name__}: {str(error)[:200]}")


def fill_of(
    trade: Mapping[str, Any],
    venue: str,
    client_order_id: str | None,
    quote: str = "USDT",
    contract_size: float = 1.0,
) -> Fill:
    """A ccxt unified trade as a ledger fill in base units (ccxt's `amount` is contracts:
    times `contract_size`; OKX ETH-USDT-SWAP 3.5 contracts are 0.35 ETH). A fee in another
    currency (e.g. BNB discount) cannot be valued honestly here: refused, so nothing
    half-booked hides it."""
    fee = trade.get("fee") or {}
    currency, cost = fee.get("currency"), fee.get("cost")
    if cost and currency not in (None, quote):
        raise OperationalError(
            f"{venue} trade {trade.get('id')}: fee in {currency}, only {quote} fees are booked"
        )
    return Fill(
        venue=venue,
        symbol=str(trade["symbol"]),
        trade_id=str(trade["id"]),
        client_order_id=client_order_id,
        side=Side(str(trade["side"])),
        qty_base=float(Decimal(repr(float(trade["amount"]))) * Decimal(repr(contract_size))),
        price_usdt=float(trade["price"]),
        fee_usdt=float(cost or 0.0),
        filled_at=utc_ms(int(trade["timestamp"])),
    )


def utc_ms(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)


def to_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
