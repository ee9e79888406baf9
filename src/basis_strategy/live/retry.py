"""What to do with an order whose outcome is unknown, after querying the venue by client id.

Why: resending after a timeout without asking first is how duplicate orders happen (hummingbot
#3374), and marking an order failed after a network error is how untracked positions happen
(hummingbot #8457). The only way to a resend goes through `RetryPolicy.decide`, whose input is
the answer to a query by client id:

- a venue report settles the order (TRACK while it is open, DONE when it is final);
- no answer (QueryFailed) changes nothing: QUERY_AGAIN;
- "not found" counts; after `lost_after` of them the order is LOST, and a resend is allowed only
  if the venue never acknowledged the order and fewer than `max_attempts` were made. The resend
  uses the SAME client id (`resend`), so if the first order does exist after all, the venue's
  duplicate check refuses the second (SendDuplicate puts it back to AMBIGUOUS);
- otherwise ESCALATE: halt and alert, a person must look (never a silent resend).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from basis_strategy.live.orders import (
    OrderRecord,
    OrderState,
    QueryFailed,
    QueryNotFound,
    Resend,
    VenueReport,
    apply,
)

QueryResult = VenueReport | QueryNotFound | QueryFailed


class RetryAction(StrEnum):
    TRACK = "track"  # open on the venue: follow its reports
    DONE = "done"  # final (filled, canceled, rejected)
    QUERY_AGAIN = "query_again"  # still unknown: query by client id again later
    RESEND = "resend"  # proven absent: persist `resend(order)`, then send with the same id
    ESCALATE = "escalate"  # lost and not safely resendable: halt and alert


@dataclass(frozen=True)
class RetryStep:
    order: OrderRecord  # persist it before acting
    action: RetryAction


@dataclass(frozen=True)
class RetryPolicy:
    """`lost_after` "not found" answers make an order LOST (Hummingbot uses 3); at most
    `max_attempts` sends of one client id in all."""

    lost_after: int = 3
    max_attempts: int = 2

    def __post_init__(self) -> None:
        if self.lost_after < 1 or self.max_attempts < 1:
            raise ValueError("RetryPolicy: lost_after and max_attempts must be >= 1")

    def decide(self, order: OrderRecord, result: QueryResult, at: datetime) -> RetryStep:
        """The order after the answer to a query by its client id, and what to do next."""
        if order.state is OrderState.INTENDED:
            raise ValueError(
                f"order {order.client_order_id}: settle the send first (SendUnknown or "
                "Restarted) before querying"
            )
        updated = apply(order, result, at, lost_after=self.lost_after)
        if updated.final:
            return RetryStep(updated, RetryAction.DONE)
        if isinstance(result, QueryFailed) or updated.state is not OrderState.LOST:
            if isinstance(result, VenueReport):
                return RetryStep(updated, RetryAction.TRACK)
            return RetryStep(updated, RetryAction.QUERY_AGAIN)
        if isinstance(result, QueryNotFound) and self.may_resend(updated):
            return RetryStep(updated, RetryAction.RESEND)
        return RetryStep(updated, RetryAction.ESCALATE)

    def may_resend(self, order: OrderRecord) -> bool:
        """LOST, never acknowledged by the venue, and attempts left."""
        return (
            order.state is OrderState.LOST
            and not order.acknowledged
            and order.attempts < self.max_attempts
        )

    def resend(self, order: OrderRecord, at: datetime) -> OrderRecord:
        """The order back to INTENDED with the same client id; persist, then send."""
        if not self.may_resend(order):
            raise ValueError(
                f"order {order.client_order_id}: resend refused (state {order.state}, "
                f"acknowledged {order.acknowledged}, attempts {order.attempts})"
            )
        return apply(order, Resend(), at)
