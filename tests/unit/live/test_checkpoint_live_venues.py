"""A live venue is not in the checkpoint: it is referred to by name and the restarted
engine's own live venue takes its place (its state is on the venue and in the live store).
A live venue holds sockets, locks and a database engine, so copying it could not work, and
restoring an old copy would be wrong: the venue is the source of truth (ADR-008)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from tests.unit.components.ticket_venues import TicketVenue, deposit

from basis_strategy.config.loader import load_run_config
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live import checkpoint
from basis_strategy.venues.simulated.build import build_simulated_venues

DATA_DIR = Path(
    os.environ.get("BASIS_DATA_DIR")
    or Path(__file__).resolve().parents[3].parent / "shared" / "data"
)


class LiveLike(TicketVenue):
    """A venue that is not checkpointed and could not be (it holds a lock)."""

    checkpointed = False

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.lock = threading.Lock()


def engine(live: tuple[str, ...]) -> EventDrivenStrategyEngine:
    config = load_run_config(
        "btc_basis", ["start=2024-05-01T00:00:00Z", "end=2024-05-01T03:00:00Z"], env={}
    )
    data = HistoricalDataProvider(config, DATA_DIR)
    venues = build_simulated_venues(config, data.aave_risk)
    venues.update({name: LiveLike(name) for name in live})
    return EventDrivenStrategyEngine(config, data, venues)


def test_live_venues_are_referred_to_and_rebound_by_name() -> None:
    first = engine(("binance", "bybit"))
    first.step(first.data.times[0])
    first.parts.execution.run(deposit("bybit", 500.0), first.data.get_data(first.data.times[0]))
    book = dict(first.parts.positions.quantities)
    restarted = engine(("binance", "bybit"))
    fresh = restarted.parts.execution.venues.venues["bybit"]
    checkpoint.restore(restarted, checkpoint.dump(first), "test")
    venues = restarted.parts.execution.venues
    assert venues.venues["bybit"] is fresh  # the new process's venue, not a copy of the old
    assert (
        fresh in venues.settling
        and first.parts.execution.venues.venues["bybit"] not in venues.settling
    )
    assert restarted.parts.positions.quantities == book  # the book is the checkpoint's
    assert (
        venues.venues["okx"] is not first.parts.execution.venues.venues["okx"]
    )  # simulated: copied


def test_a_checkpoint_naming_a_live_venue_the_new_engine_lacks_is_refused() -> None:
    first = engine(("binance", "bybit"))
    blob = checkpoint.dump(first)
    with pytest.raises(checkpoint.CheckpointError, match="restart --cold"):
        checkpoint.restore(engine(("binance",)), blob, "test")
