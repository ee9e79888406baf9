"""The order state machine: AMBIGUOUS and LOST are real states, REJECTED needs the venue's
word, a network error is never final, illegal moves raise, and the record books nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from basis_strategy.live.orders import (
    FINAL,
    REPORT_TRANSITIONS,
    IllegalTransitionError,
    OrderEvent,
    OrderRecord,
    OrderState,
    QueryFailed,
    QueryNotFound,
    Resend,
    Restarted,
    SendAcked,
    SendDuplicate,
    SendRejected,
    SendUnknown,
    Side,
    VenueReport,
    VenueStatus,
    apply,
    new_order,
)

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
T1 = T0 + timedelta(seconds=5)
S = OrderState
REPORT_STATE = {
    VenueStatus.NEW: S.ACCEPTED,
    VenueStatus.PARTIALLY_FILLED: S.PARTIALLY_FILLED,
    VenueStatus.FILLED: S.FILLED,
    VenueStatus.CANCELED: S.CANCELED,
    VenueStatus.EXPIRED: S.CANCELED,
    VenueStatus.REJECTED: S.REJECTED,
}
# (state, a report of an earlier state): a query answered while the stream moved on
STALE = {
    (S.PARTIALLY_FILLED, S.ACCEPTED),
    (S.FILLED, S.ACCEPTED),
    (S.FILLED, S.PARTIALLY_FILLED),
    (S.CANCELED, S.ACCEPTED),
    (S.CANCELED, S.PARTIALLY_FILLED),
}


def intended() -> OrderRecord:
    return new_order("live-1", 7, 1, "binance", "BTC/USDT:USDT", Side.SELL, 0.5, None, T0)


def in_state(state: OrderState) -> OrderRecord:
    return replace(intended(), state=state)


def run(order: OrderRecord, *events: OrderEvent) -> OrderRecord:
    for event in events:
        order = apply(order, event, T1)
    return order


def test_a_new_order_is_intended_with_its_deterministic_client_id() -> None:
    order = intended()
    assert order.state is S.INTENDED and order.client_order_id.endswith("s7l1")
    assert order.attempts == 1 and not order.acknowledged and not order.final


def test_the_happy_path_records_venue_facts_and_times() -> None:
    order = run(
        intended(),
        SendAcked("v-1"),
        VenueReport(VenueStatus.NEW),
        VenueReport(VenueStatus.PARTIALLY_FILLED, filled_qty_base=0.2),
        VenueReport(VenueStatus.PARTIALLY_FILLED, filled_qty_base=0.3),
        VenueReport(VenueStatus.FILLED, filled_qty_base=0.5),
    )
    assert order.state is S.FILLED and order.final
    assert order.venue_order_id == "v-1" and order.venue_filled_qty_base == 0.5
    assert order.updated_at == T1 and order.created_at == T0


@pytest.mark.parametrize("reason", ["timeout", "disconnect", "HTTP 502", "HTTP 429"])
def test_an_unknown_send_outcome_is_ambiguous_not_final(reason: str) -> None:
    order = run(intended(), SendUnknown(reason))
    assert order.state is S.AMBIGUOUS and not order.final and order.reason == reason


def test_ambiguous_cannot_become_rejected_without_a_venue_report() -> None:
    ambiguous = run(intended(), SendUnknown("timeout"))
    with pytest.raises(IllegalTransitionError, match="SendRejected is not allowed"):
        apply(ambiguous, SendRejected("-2010", "insufficient margin"), T1)
    many = run(ambiguous, *[QueryFailed("dns")] * 10)
    assert many == ambiguous  # a network error never settles anything
    lost = run(ambiguous, QueryNotFound(), QueryNotFound(), QueryNotFound())
    assert lost.state is S.LOST and lost.not_found_count == 3
    rejected = apply(ambiguous, VenueReport(VenueStatus.REJECTED, reason="margin"), T1)
    assert rejected.state is S.REJECTED


def test_a_refused_create_call_is_rejected_with_its_code() -> None:
    order = run(intended(), SendRejected("-2019", "margin is insufficient"))
    assert order.state is S.REJECTED and order.reason == "-2019: margin is insufficient"


def test_not_found_counts_only_up_to_lost_and_a_report_resets_it() -> None:
    order = run(intended(), SendAcked(), QueryNotFound(), QueryNotFound())
    assert order.state is S.SUBMITTED and order.not_found_count == 2
    order = apply(order, VenueReport(VenueStatus.NEW), T1)
    assert order.state is S.ACCEPTED and order.not_found_count == 0
    assert apply(order, QueryNotFound(), T1, lost_after=1).state is S.LOST


def test_a_lost_order_is_still_polled_and_settled_by_a_late_report() -> None:
    lost = run(intended(), SendUnknown("timeout"), *[QueryNotFound()] * 3)
    assert lost.state is S.LOST
    assert apply(lost, QueryNotFound(), T1).state is S.LOST
    late = apply(lost, VenueReport(VenueStatus.FILLED, 0.5, "v-9"), T1)
    assert late.state is S.FILLED and late.venue_order_id == "v-9" and late.acknowledged


def test_not_found_before_the_send_is_settled_raises() -> None:
    with pytest.raises(IllegalTransitionError, match="QueryNotFound"):
        apply(intended(), QueryNotFound(), T1)


def test_a_final_order_ignores_not_found_and_repeated_reports() -> None:
    filled = run(intended(), VenueReport(VenueStatus.FILLED, 0.5))
    assert run(filled, QueryNotFound(), VenueReport(VenueStatus.FILLED, 0.5)) == filled


def test_reports_of_an_earlier_state_are_ignored() -> None:
    partial = run(intended(), VenueReport(VenueStatus.PARTIALLY_FILLED, 0.1))
    assert apply(partial, VenueReport(VenueStatus.NEW), T1) == partial
    filled = apply(partial, VenueReport(VenueStatus.FILLED, 0.5), T1)
    assert apply(filled, VenueReport(VenueStatus.PARTIALLY_FILLED, 0.1), T1) == filled
    assert filled.venue_filled_qty_base == 0.5


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("status", list(VenueStatus))
def test_every_report_follows_the_transition_table(state: OrderState, status: VenueStatus) -> None:
    order = in_state(state)
    target = REPORT_STATE[status]
    repeated = target is state and state in FINAL
    stale = (state, target) in STALE
    if repeated or stale:
        assert apply(order, VenueReport(status), T1) == order
    elif target is state or target in REPORT_TRANSITIONS[state]:
        assert apply(order, VenueReport(status), T1).state is target
    else:
        with pytest.raises(IllegalTransitionError, match="report cannot move it"):
            apply(order, VenueReport(status), T1)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (S.FILLED, VenueStatus.CANCELED),
        (S.CANCELED, VenueStatus.FILLED),
        (S.REJECTED, VenueStatus.NEW),
        (S.REJECTED, VenueStatus.PARTIALLY_FILLED),
        (S.ACCEPTED, VenueStatus.REJECTED),
        (S.PARTIALLY_FILLED, VenueStatus.REJECTED),
    ],
)
def test_contradicting_reports_raise(state: OrderState, status: VenueStatus) -> None:
    with pytest.raises(IllegalTransitionError):
        apply(in_state(state), VenueReport(status), T1)


@pytest.mark.parametrize("state", [s for s in S if s is not S.INTENDED])
@pytest.mark.parametrize(
    "event", [SendAcked(), SendUnknown("t"), SendRejected("1", "r"), SendDuplicate()]
)
def test_send_outcomes_apply_only_to_an_intended_order(
    state: OrderState, event: OrderEvent
) -> None:
    with pytest.raises(IllegalTransitionError, match="is not allowed in state"):
        apply(in_state(state), event, T1)


def test_no_event_but_a_venue_answer_leads_to_rejected() -> None:
    local: list[OrderEvent] = [SendAcked(), SendUnknown("t"), SendDuplicate(), QueryNotFound(),
                               QueryFailed("x"), Restarted(), Resend()]  # fmt: skip
    for state in S:
        for event in local:
            try:
                after = apply(in_state(state), event, T1, lost_after=1)
            except IllegalTransitionError:
                continue
            assert after.state is not S.REJECTED or state is S.REJECTED


def test_a_duplicate_client_id_means_the_order_exists() -> None:
    assert run(intended(), SendDuplicate()).state is S.AMBIGUOUS


def test_restart_makes_intended_orders_ambiguous_and_leaves_others() -> None:
    assert apply(intended(), Restarted(), T1).state is S.AMBIGUOUS
    accepted = in_state(S.ACCEPTED)
    assert apply(accepted, Restarted(), T1) == accepted


def test_only_a_lost_order_is_resent_and_keeps_its_client_id() -> None:
    lost = run(intended(), SendUnknown("timeout"), *[QueryNotFound()] * 3)
    again = apply(lost, Resend(), T1)
    assert again.state is S.INTENDED and again.attempts == 2
    assert again.client_order_id == lost.client_order_id and again.not_found_count == 0
    for state in set(S) - {S.LOST}:
        with pytest.raises(IllegalTransitionError, match="Resend"):
            apply(in_state(state), Resend(), T1)


def test_the_record_refuses_naive_times_and_empty_quantities() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        new_order("s", 0, 0, "okx", "ETH/USDT:USDT", Side.BUY, 1.0, None, datetime(2025, 3, 1))
    with pytest.raises(ValueError, match="qty_base must be > 0"):
        new_order("s", 0, 0, "okx", "ETH/USDT:USDT", Side.BUY, 0.0, 2000.0, T0)
