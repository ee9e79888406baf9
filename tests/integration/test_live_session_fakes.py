"""A live session (the paper session's loop on live venues) on the three venue fakes: an
emergency stop halts within one cycle and leaves the books reconciled, in both variants, and a
persistent book/venue mismatch halts it (issue 13 acceptance).

The session is `PaperSession` (the loop the service runs) on `build_live_venues` over the
fakes, its market a replayed day (`ReplaySource` at an accelerated clock whose wall moves only
while the loop sleeps), each hour also set on the fakes (`ReplayMarket`), and every venue read
against the book at the end of each cycle (`confirm_all`), as the live runner does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from tests.fakes.replay_market import LiveDay, live_day
from tests.fakes.sleeps import Sleeps
from tests.integration.conftest import DATA_DIR

from basis_strategy.config.loader import load_run_config
from basis_strategy.data.market import MarketState
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live.heartbeat import HeartbeatRegistry
from basis_strategy.live.replay import AcceleratedClock, ReplaySource, SleptWall
from basis_strategy.live.session import PaperSession
from basis_strategy.live.store import LiveStore
from basis_strategy.live.trading_state import StopMode, TradingState
from basis_strategy.venues.live.account import confirm_all
from basis_strategy.venues.live.cex import LiveCexSettings

DAY = "2025-03-01T00:00:00+00:00"
STOP_AFTER = 6  # cycles: entry at 00:00, then five quiet hours


class FakesReplay(ReplaySource):
    """The replayed hour, also set on the fakes before the engine sees it."""

    def __init__(self, day: LiveDay, clock: AcceleratedClock) -> None:
        super().__init__(day.engine.data, clock.now)
        self.day = day

    def get_data(self, t):  # type: ignore[no-untyped-def]
        market: MarketState = super().get_data(t)
        self.day.replay.apply(market)
        return market


@pytest.fixture
def day(tmp_path: Path) -> Iterator[LiveDay]:
    config = load_run_config("btc_basis", [f"start={DAY}", "end=2025-03-02T00:00:00Z"], env={})
    with (
        LiveStore(f"sqlite:///{tmp_path / 'live.db'}") as store,
        live_day(config, DATA_DIR, store, "session-btc", Sleeps(),
                 LiveCexSettings(poll_interval_s=0.0), 1800.0) as live,
    ):  # fmt: skip
        yield live


def session_on(day: LiveDay) -> PaperSession:
    wall = SleptWall()
    start = day.engine.data.times[0] - timedelta(minutes=1)
    clock = AcceleratedClock(start, 3600 / 0.01, wall, wall.sleep)
    engine = day.engine

    def reconcile(e: EngineType) -> None:
        confirm_all(e.parts.execution.venues.venues, e.parts.positions.quantities)

    return PaperSession(
        engine, FakesReplay(day, clock), clock.now, clock.sleep_until,
        HeartbeatRegistry(clock.now), name="live-btc", reconcile=reconcile,
    )  # fmt: skip


EngineType = EventDrivenStrategyEngine


def orders_sent(day: LiveDay) -> int:
    perps = sum(len(state.orders_by_client_id) for state in day.fakes.states.values())
    return perps + len(day.fakes.spot.orders_by_client_id)


def venue_perps(day: LiveDay) -> dict[str, Decimal]:
    return {
        name: sum((p.size_base for p in state.positions.values()), Decimal(0))
        for name, state in day.fakes.states.items()
    }


@pytest.mark.parametrize("mode", [StopMode.FREEZE, StopMode.FLATTEN])
def test_emergency_stop_halts_within_one_cycle_with_the_books_reconciled(
    day: LiveDay, mode: StopMode
) -> None:
    session = session_on(day)
    sent: list[int] = []

    def operator(s: PaperSession) -> None:
        if s.cycles == STOP_AFTER:
            sent.append(orders_sent(day))
            s.emergency_stop("operator", mode)

    session.run(max_cycles=STOP_AFTER + 4, on_cycle_done=operator)
    assert session.control.state is TradingState.HALTED
    assert all(v != 0 for v in venue_perps(day).values()) or mode is StopMode.FLATTEN
    if mode is StopMode.FREEZE:
        assert len(session.stepped) == STOP_AFTER  # nothing stepped after the stop
        assert orders_sent(day) == sent[0]  # and nothing sent
    else:
        assert len(session.stepped) == STOP_AFTER + 1  # one flatten cycle, then frozen
        assert session.control.stop_mode is StopMode.FREEZE
        assert {a.code for a in session.alerts} >= {"LT-005", "LT-010"}
        assert all(size == 0 for size in venue_perps(day).values())  # flat on every venue
        assert orders_sent(day) > sent[0]
    # the books are reconciled: every venue's own read equals the book now
    engine = session.engine
    assert confirm_all(engine.parts.execution.venues.venues, engine.parts.positions.quantities) == 3


def test_a_persistent_mismatch_halts_the_session(day: LiveDay) -> None:
    session = session_on(day)

    def hand_trade(s: PaperSession) -> None:
        if s.cycles == 3:  # someone trades the Bybit account by hand
            day.fakes.states["bybit"].place_market_order("BTCUSDT", "BUY", Decimal("0.01"), "hand")

    session.run(max_cycles=6, on_cycle_done=hand_trade)
    assert session.control.state is TradingState.HALTED
    assert session.control.reason.startswith("REC-002")
    assert len(session.stepped) == 3 and session.halted  # the 4th cycle halted, nothing after
