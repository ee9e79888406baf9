"""LiveStore on SQLite and PostgreSQL: a restart (a new engine, or a process killed with
SIGKILL) finds the orders with their states, the fills, the funding and the next sequence;
fills and funding are booked once even when replayed or inserted by two workers at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa

from basis_strategy.live.ledger import ConflictingEntryError, Fill, FundingPayment
from basis_strategy.live.orders import (
    OrderRecord,
    OrderState,
    QueryNotFound,
    Restarted,
    SendAcked,
    SendUnknown,
    Side,
    VenueReport,
    VenueStatus,
    apply,
    new_order,
)
from basis_strategy.live.store import DuplicateOrderError, LiveStore, live_fills

SRC = Path(__file__).resolve().parents[3] / "src"
T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
PERP = "BTC/USDT:USDT"
STRATEGY = "live-btc-basis-1"
T = TypeVar("T")


@pytest.fixture
def store(database_url: str) -> Iterator[LiveStore]:
    with LiveStore(database_url) as opened:
        yield opened


def order(seq: int, leg: int = 0, strategy: str = STRATEGY) -> OrderRecord:
    return new_order(strategy, seq, leg, "binance", PERP, Side.SELL, 0.25, None, T0)


def fill(trade_id: str, qty: float = 0.1, minute: int = 0, client_id: str | None = None) -> Fill:
    at = T0 + timedelta(minutes=minute)
    return Fill("binance", PERP, trade_id, client_id, Side.SELL, qty, 65000.5, 0.65, at)


def test_sequences_are_reserved_per_strategy_and_never_reused(store: LiveStore) -> None:
    assert store.peek_seq(STRATEGY) == 0
    assert [store.next_seq(STRATEGY) for _ in range(3)] == [0, 1, 2]
    assert store.next_seq("other") == 0
    assert store.peek_seq(STRATEGY) == 3


def test_every_order_field_round_trips(store: LiveStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    placed = new_order(STRATEGY, 5, 2, "okx", PERP, Side.BUY, 0.1, 64000.25, T0)
    store.add_orders([placed])
    assert store.order(placed.client_order_id) == placed
    later = T0.astimezone(plus_two) + timedelta(seconds=3)
    settled = apply(apply(placed, SendAcked("okx-1"), later), VenueReport(VenueStatus.NEW), later)
    store.save_order(settled)
    got = store.order(settled.client_order_id)
    assert got == settled and got is not None
    assert got.updated_at.tzinfo == UTC and got.acknowledged is True
    assert store.order("missing") is None


def test_saving_an_order_never_added_is_refused(store: LiveStore) -> None:
    with pytest.raises(KeyError, match="not stored"):
        store.save_order(order(0))


def test_a_duplicate_order_is_refused_and_its_batch_is_not_written(store: LiveStore) -> None:
    store.add_orders([order(0)])
    with pytest.raises(DuplicateOrderError):
        store.add_orders([order(1), order(0)])
    assert [o.seq for o in store.orders(STRATEGY)] == [0]


def test_open_orders_include_ambiguous_and_lost_but_not_final_ones(store: LiveStore) -> None:
    orders = [order(seq) for seq in range(4)]
    store.add_orders(orders)
    ambiguous = apply(orders[1], SendUnknown("timeout"), T0)
    lost = apply(ambiguous, QueryNotFound(), T0, lost_after=1)
    filled = apply(orders[3], VenueReport(VenueStatus.FILLED, 0.25), T0)
    for changed in (ambiguous, apply(orders[2], SendUnknown("t"), T0), filled):
        store.save_order(changed)
    store.save_order(lost)
    open_states = [o.state for o in store.orders(STRATEGY, open_only=True)]
    assert open_states == [OrderState.INTENDED, OrderState.LOST, OrderState.AMBIGUOUS]
    assert len(store.orders(STRATEGY)) == 4 and store.orders("other") == []


def test_fills_and_funding_are_booked_once(store: LiveStore) -> None:
    fills = [fill("1"), fill("2", minute=1)]
    assert [store.add_fill(STRATEGY, f) for f in fills] == [True, True]
    assert [store.add_fill(STRATEGY, f) for f in fills] == [False, False]
    paid = FundingPayment("binance", PERP, T0, 3.5)
    assert store.add_funding(STRATEGY, paid) is True
    assert store.add_funding(STRATEGY, paid) is False
    ledger = store.ledger(STRATEGY)
    assert ledger.fills == fills and ledger.funding == [paid]
    position = ledger.position("binance", PERP)
    assert position.qty_base == pytest.approx(-0.2) and position.funding_usdt == 3.5


def test_a_different_fill_under_a_booked_key_is_refused(store: LiveStore) -> None:
    store.add_fill(STRATEGY, fill("1"))
    with pytest.raises(ConflictingEntryError, match="booked as"):
        store.add_fill(STRATEGY, fill("1", qty=0.2))
    store.add_funding(STRATEGY, FundingPayment("binance", PERP, T0, 1.0))
    with pytest.raises(ConflictingEntryError, match="funding"):
        store.add_funding(STRATEGY, FundingPayment("binance", PERP, T0, 2.0))
    with pytest.raises(ConflictingEntryError, match="for other"):
        store.add_fill("other", fill("1"))  # one fill belongs to one strategy
    ledger = store.ledger(STRATEGY)
    assert ledger.fills == [fill("1")] and ledger.funding[0].amount_usdt == 1.0
    assert store.ledger("other").fills == []


def test_a_new_engine_finds_everything_a_previous_one_wrote(database_url: str) -> None:
    with LiveStore(database_url) as first:
        seq = first.next_seq(STRATEGY)
        placed = [order(seq, 0), order(seq, 1)]
        first.add_orders(placed)
        sent = apply(placed[0], SendAcked("v-1"), T0)
        first.save_order(sent)
        first.add_fill(STRATEGY, fill("1", client_id=sent.client_order_id))
        first.add_funding(STRATEGY, FundingPayment("binance", PERP, T0, -0.4))
        before = (first.orders(STRATEGY), first.ledger(STRATEGY).positions())
    with LiveStore(database_url) as restarted:
        assert (restarted.orders(STRATEGY), restarted.ledger(STRATEGY).positions()) == before
        assert restarted.orders(STRATEGY)[0].state is OrderState.SUBMITTED
        assert restarted.next_seq(STRATEGY) == seq + 1
        assert restarted.add_fill(STRATEGY, fill("1", client_id=sent.client_order_id)) is False


KILLED_AFTER_INTENT = """
import os, signal, sys
from datetime import UTC, datetime
from basis_strategy.live.ledger import Fill
from basis_strategy.live.orders import Side, new_order
from basis_strategy.live.store import LiveStore

store = LiveStore(sys.argv[1])
at = datetime(2025, 3, 1, 12, tzinfo=UTC)
seq = store.next_seq("live-btc-basis-1")
intent = new_order("live-btc-basis-1", seq, 0, "bybit", "BTC/USDT:USDT", Side.BUY, 0.5, None, at)
store.add_orders([intent])
store.add_fill("live-btc-basis-1", Fill("bybit", "BTC/USDT:USDT", "t-1", intent.client_order_id,
                                        Side.BUY, 0.2, 65000.0, 0.1, at))
print(intent.client_order_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # before the create call answers: no cleanup at all
"""


def test_an_intent_survives_kill_9_and_restarts_as_ambiguous(database_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    child = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_INTENT, database_url],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    client_id = child.stdout.strip()
    with LiveStore(database_url) as restarted:
        [found] = restarted.orders(STRATEGY, open_only=True)
        assert found.client_order_id == client_id and found.state is OrderState.INTENDED
        assert restarted.ledger(STRATEGY).filled_qty_base(client_id) == pytest.approx(0.2)
        assert restarted.next_seq(STRATEGY) == 1  # sequence 0 is never handed out again
        recovered = apply(found, Restarted(), T0)
        restarted.save_order(recovered)
        assert restarted.order(client_id) == recovered
        assert recovered.state is OrderState.AMBIGUOUS


def in_threads(count: int, work: Callable[[int], T]) -> list[T]:
    """Run work(0..count-1) in threads started together; re-raise the first error."""
    barrier = threading.Barrier(count)
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = work(n)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return [results[n] for n in range(count)]


def test_concurrent_duplicate_fills_from_separate_engines_are_booked_once(
    database_url: str,
) -> None:
    fills = [fill(str(n), minute=n) for n in range(40)]
    stores = [LiveStore(database_url) for _ in range(4)]  # one engine each, like processes
    try:
        booked = in_threads(4, lambda n: [stores[n].add_fill(STRATEGY, f) for f in fills])
        assert sum(sum(flags) for flags in booked) == len(fills)
        with stores[0].engine.connect() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(live_fills)).scalar_one()
        assert rows == len(fills) and stores[0].ledger(STRATEGY).fills == fills
    finally:
        for opened in stores:
            opened.close()


def test_concurrent_sequence_reservations_never_hand_out_a_number_twice(
    database_url: str,
) -> None:
    stores = [LiveStore(database_url) for _ in range(4)]
    try:
        got = in_threads(4, lambda n: [stores[n].next_seq(STRATEGY) for _ in range(25)])
        numbers = [seq for batch in got for seq in batch]
        assert sorted(numbers) == list(range(100))
    finally:
        for opened in stores:
            opened.close()
