"""LiveStore's `live_transfers` table on SQLite and PostgreSQL: a withdrawal's intent and its
states survive a restart, and a deposit settles at most one ticket per destination.

Why: a withdrawal is money leaving; the record stored before the withdraw call is what stops a
restart from sending it again, and the (destination, deposit id) constraint is what stops one
deposit from being credited against two tickets (venues/live/withdrawals.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from basis_strategy.live.store import (
    DuplicateOrderError,
    LiveStore,
    TransferRecord,
    TransferState,
)

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
STRATEGY = "live-transfers-1"


@pytest.fixture
def store(database_url: str) -> Iterator[LiveStore]:
    with LiveStore(database_url) as opened:
        yield opened


def intent(seq: int, destination: str = "okx", strategy: str = STRATEGY) -> TransferRecord:
    return TransferRecord(f"bsref{seq}", strategy, seq, "binance", destination, "USDT", 500.0,
                          1.0, "0xabc", "ERC20", TransferState.INTENDED, T0, T0)  # fmt: skip


def test_a_transfer_round_trips_through_its_states(store: LiveStore, database_url: str) -> None:
    stored = intent(0)
    store.add_transfer(stored)
    assert store.transfer("bsref0") == stored and store.transfer("missing") is None
    sent = stored.moved(TransferState.SENT, T0 + timedelta(seconds=2), withdrawal_id="w1",
                        sent_at=T0, txid="0xfeed")  # fmt: skip
    assert store.save_transfer(sent)
    arrived = sent.moved(TransferState.ARRIVED, T0 + timedelta(hours=1), deposit_id="d1",
                         credited_amount=499.0, credited_at=T0 + timedelta(hours=1))  # fmt: skip
    assert store.save_transfer(arrived)
    with LiveStore(database_url) as restarted:  # a new process
        assert restarted.transfers(STRATEGY) == [arrived]
        assert restarted.transfers(STRATEGY, [TransferState.INTENDED]) == []
        assert restarted.settled_deposit_ids("okx") == {"d1"}


def test_a_reference_is_stored_once_and_unknown_ones_are_not_saved(store: LiveStore) -> None:
    store.add_transfer(intent(0))
    with pytest.raises(DuplicateOrderError):
        store.add_transfer(intent(0))
    with pytest.raises(KeyError, match="not stored"):
        store.save_transfer(intent(7))


def test_a_deposit_settles_one_ticket_per_destination(store: LiveStore) -> None:
    first, second, elsewhere = intent(0), intent(1), intent(2, destination="bybit")
    for record in (first, second, elsewhere):
        store.add_transfer(record)
    settle = {"deposit_id": "d1", "credited_amount": 499.0, "credited_at": T0}
    assert store.save_transfer(first.moved(TransferState.ARRIVED, T0, **settle))
    assert not store.save_transfer(second.moved(TransferState.ARRIVED, T0, **settle))
    assert store.transfer("bsref1") == second  # unchanged
    assert store.save_transfer(elsewhere.moved(TransferState.ARRIVED, T0, **settle))
    assert store.settled_deposit_ids("okx") == {"d1"} == store.settled_deposit_ids("bybit")
