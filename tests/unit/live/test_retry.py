"""The retry policy: no resend without a query by client id, a resend only once the venue has
said "not found" `lost_after` times for an order it never acknowledged, and with the same id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from basis_strategy.live.orders import (
    OrderRecord,
    OrderState,
    QueryFailed,
    QueryNotFound,
    SendAcked,
    SendDuplicate,
    SendUnknown,
    Side,
    VenueReport,
    VenueStatus,
    apply,
    new_order,
)
from basis_strategy.live.retry import RetryAction, RetryPolicy

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
T1 = T0 + timedelta(seconds=10)
POLICY = RetryPolicy(lost_after=3, max_attempts=2)


def timed_out(acked: bool = False) -> OrderRecord:
    order = new_order("live-1", 3, 0, "bybit", "BTC/USDT:USDT", Side.BUY, 0.1, None, T0)
    if acked:
        return apply(apply(order, SendAcked("v-1"), T0), VenueReport(VenueStatus.NEW), T0)
    return apply(order, SendUnknown("read timeout"), T0)


def test_a_failed_query_changes_nothing_and_asks_to_query_again() -> None:
    order = timed_out()
    step = POLICY.decide(order, QueryFailed("HTTP 503"), T1)
    assert step.order == order and step.action is RetryAction.QUERY_AGAIN


@pytest.mark.parametrize(
    ("status", "state", "action"),
    [
        (VenueStatus.NEW, OrderState.ACCEPTED, RetryAction.TRACK),
        (VenueStatus.PARTIALLY_FILLED, OrderState.PARTIALLY_FILLED, RetryAction.TRACK),
        (VenueStatus.FILLED, OrderState.FILLED, RetryAction.DONE),
        (VenueStatus.REJECTED, OrderState.REJECTED, RetryAction.DONE),
    ],
)
def test_a_report_settles_the_order(
    status: VenueStatus, state: OrderState, action: RetryAction
) -> None:
    step = POLICY.decide(timed_out(), VenueReport(status), T1)
    assert step.order.state is state and step.action is action


def test_resend_only_after_lost_after_not_found_answers_and_with_the_same_id() -> None:
    order = timed_out()
    actions = []
    for _ in range(3):
        step = POLICY.decide(order, QueryNotFound(), T1)
        order = step.order
        actions.append(step.action)
    assert actions == [RetryAction.QUERY_AGAIN, RetryAction.QUERY_AGAIN, RetryAction.RESEND]
    again = POLICY.resend(order, T1)
    assert again.state is OrderState.INTENDED and again.attempts == 2
    assert again.client_order_id == timed_out().client_order_id
    # the first order existed after all: the venue refuses the duplicate id, we query again
    assert apply(again, SendDuplicate(), T1).state is OrderState.AMBIGUOUS


def test_an_order_the_venue_acknowledged_is_never_resent() -> None:
    order = timed_out(acked=True)
    for _ in range(3):
        step = POLICY.decide(order, QueryNotFound(), T1)
        order = step.order
    assert order.state is OrderState.LOST and step.action is RetryAction.ESCALATE
    with pytest.raises(ValueError, match="resend refused"):
        POLICY.resend(order, T1)


def test_no_more_than_max_attempts_sends() -> None:
    policy = RetryPolicy(lost_after=1, max_attempts=2)
    first = policy.decide(timed_out(), QueryNotFound(), T1)
    assert first.action is RetryAction.RESEND
    second = apply(policy.resend(first.order, T1), SendUnknown("timeout"), T1)
    last = policy.decide(second, QueryNotFound(), T1)
    assert last.order.state is OrderState.LOST and last.action is RetryAction.ESCALATE


def test_a_lost_order_whose_query_fails_is_queried_again() -> None:
    lost = RetryPolicy(lost_after=1).decide(timed_out(), QueryNotFound(), T1).order
    assert POLICY.decide(lost, QueryFailed("dns"), T1).action is RetryAction.QUERY_AGAIN


def test_an_order_whose_send_is_unsettled_cannot_be_queried_by_the_policy() -> None:
    order = new_order("live-1", 3, 0, "okx", "BTC/USDT:USDT", Side.BUY, 0.1, None, T0)
    with pytest.raises(ValueError, match="settle the send first"):
        POLICY.decide(order, QueryNotFound(), T1)


def test_the_policy_refuses_nonsense_limits() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        RetryPolicy(lost_after=0)
