"""A paper session killed with SIGKILL in the middle of a cycle resumes as if it had never
stopped: the files of the day are the uninterrupted backtest's, byte for byte (issue 13,
ADR-043). Warm (checkpoint) and cold (re-step the journal) restarts are tested separately.

The first life runs in a child process that kills itself (SIGKILL, no cleanup, no flush) at
the 08:00 cycle's `EquityMarked`, after the hour's funding settlement and P&L but before the
cycle is committed; the second life is another fresh process that resumes from the store.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from tests.integration.conftest import DATA_DIR
from tests.integration.test_paper_replay import DAY, FILES, START, SleptWall

from basis_strategy.components.execution import EventLogger
from basis_strategy.config.loader import load_run_config
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.data.store import FolderData
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live import checkpoint
from basis_strategy.live.heartbeat import HeartbeatRegistry
from basis_strategy.live.limits import RiskLimits
from basis_strategy.live.replay import AcceleratedClock, ReplaySource
from basis_strategy.live.restart import Build, resume, start
from basis_strategy.live.session import MarketSource, PaperSession
from basis_strategy.live.session_store import SessionRequest, SessionStore, paper_sessions
from basis_strategy.live.trading_state import TradingState
from basis_strategy.venues.simulated.build import build_simulated_venues

REQUEST = SessionRequest("eth_basis", tuple(DAY))
KILL_AT = START + timedelta(hours=8)
SID = "paper-eth-basis-1"
SPEED = 3600 / 0.01  # one replayed hour per 10 ms of (slept) wall time


@pytest.fixture(scope="module")
def backtest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[datetime]]:
    """The uninterrupted backtest of the day: its files and hours."""
    engine = _engine(REQUEST)
    engine.run()
    return engine.write(tmp_path_factory.mktemp("backtest"), "run"), engine.data.times


def _engine(request: SessionRequest) -> EventDrivenStrategyEngine:
    config = load_run_config(request.mode, list(request.overrides), env={})
    data = HistoricalDataProvider(config, FolderData(DATA_DIR))
    return EventDrivenStrategyEngine(config, data, build_simulated_venues(config, data.aave_risk))


def _life(store: SessionStore, begin: datetime, first: bool, **options: Any) -> PaperSession:
    """A session (new, or resumed) whose replayed clock starts at `begin`."""
    wall = SleptWall()
    clock = AcceleratedClock(begin, SPEED, wall, wall.sleep)

    def build(request: SessionRequest) -> tuple[EventDrivenStrategyEngine, MarketSource]:
        engine = _engine(request)
        return engine, ReplaySource(engine.data, clock.now)

    how: Build = build
    beats = HeartbeatRegistry(clock.now)
    if first:
        return start(store, SID, REQUEST, how, clock.now, clock.sleep_until, beats, **options)
    return resume(store, SID, how, clock.now, clock.sleep_until, beats, **options)


def _killed_mid_cycle(url: str) -> None:
    """First life (child process): SIGKILL inside the 08:00 cycle, before its commit."""
    marked = EventLogger.log_mark

    def log_mark(self: EventLogger, t: datetime, *args: Any) -> None:
        if t == KILL_AT:
            os.kill(os.getpid(), signal.SIGKILL)
        marked(self, t, *args)

    EventLogger.log_mark = log_mark  # type: ignore[method-assign]
    _life(SessionStore(url), START - timedelta(minutes=1), first=True).run(max_cycles=25)


def _resumed(url: str, cold: bool, out: str) -> None:
    """Second life (another process): resume after the last committed cycle, finish the day."""
    store = SessionStore(url)
    last = store.load(SID).last_cycle_at
    assert last is not None
    session = _life(store, last + timedelta(minutes=1), first=False, cold=cold)
    session.run(max_cycles=25)
    session.write(Path(out), "run")


def _in_child(target: Any, *args: Any) -> int | None:
    """Run `target` in a fresh process: forked from a fork server that has only imported
    this module (no state of the test process), so each life starts in a second, not three."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    process = context.Process(target=target, args=args)
    process.start()
    process.join(timeout=120)
    return process.exitcode


@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
def test_a_session_killed_mid_cycle_resumes_to_the_backtest(
    cold: bool, database_url: str, tmp_path: Path, backtest: tuple[Path, list[datetime]]
) -> None:
    assert _in_child(_killed_mid_cycle, database_url) == -signal.SIGKILL
    with SessionStore(database_url) as store:
        saved = store.load(SID)
    # the 08:00 cycle was under way (its funding booked in memory), nothing of it committed
    assert saved.cycles == 8 and saved.last_cycle_at == KILL_AT - timedelta(hours=1)
    assert [r.t for r in saved.journal] == [START + timedelta(hours=h) for h in range(8)]
    assert _in_child(_resumed, database_url, cold, str(tmp_path / "paper")) == 0
    a, hours = backtest
    b = tmp_path / "paper" / "run"
    for name in FILES:  # no duplicate event or fill, no missing or repeated hour
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    facts = json.loads((b / "session.json").read_text())
    assert facts["cycles"] == 25 and facts["stepped"] == 25 and facts["missed"] == 0
    with SessionStore(database_url) as store:
        journal = store.load(SID).journal
    assert [r.t for r in journal] == hours  # each cycle committed once


def _halted_then_killed(url: str) -> None:
    """First life: an operator's stop after the 04:00 cycle, SIGKILL after a halted cycle."""

    def hook(s: PaperSession) -> None:
        if s.cycles == 5:
            s.emergency_stop("operator: venue suspect")
        if s.cycles == 6:
            os.kill(os.getpid(), signal.SIGKILL)

    _life(SessionStore(url), START - timedelta(minutes=1), first=True).run(25, hook)


@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
def test_a_halted_session_stays_halted_after_a_restart(cold: bool, tmp_path: Path) -> None:
    url = sa.URL.create("sqlite", database=str(tmp_path / "s.sqlite")).render_as_string()
    assert _in_child(_halted_then_killed, url) == -signal.SIGKILL
    with SessionStore(url) as store:
        last = store.load(SID).last_cycle_at
        assert last is not None
        session = _life(store, last + timedelta(minutes=1), first=False, cold=cold)
        assert session.control.state is TradingState.HALTED
        assert session.control.reason == "operator: venue suspect"
        session.run(max_cycles=9)
        first_five = [START + timedelta(hours=h) for h in range(5)]
        assert session.stepped == first_five  # nothing stepped after the stop, ever
        assert session.engine.parts.results.times == first_five
        assert session.halted == [START + timedelta(hours=h) for h in range(5, 9)]
        assert store.load(SID).control.state is TradingState.HALTED


def test_a_reducing_session_stays_reducing_with_its_marks(tmp_path: Path) -> None:
    url = sa.URL.create("sqlite", database=str(tmp_path / "s.sqlite")).render_as_string()
    limits = RiskLimits(max_position_usd={"ETH": 100_000.0})
    with SessionStore(url) as store:
        first = _life(store, START - timedelta(minutes=1), first=True, limits=limits)
        first.run(max_cycles=3)
        assert first.control.state is TradingState.REDUCING
        again = _life(store, START + timedelta(hours=2, minutes=1), first=False)
        assert again.control == first.control and again.marks == first.marks
        assert again.cycles == 3 and again.stepped == first.stepped
        assert again.engine.parts.positions.quantities == first.engine.parts.positions.quantities


@pytest.mark.parametrize(
    "blob, says",
    [
        (checkpoint.MAGIC + (99).to_bytes(2, "big") + b"\x80\x05.", "version 99 is unknown"),
        (checkpoint.MAGIC + checkpoint.VERSION.to_bytes(2, "big") + b"garbage", "corrupted"),
        (b"\x00\x01", "not readable"),
    ],
    ids=["unknown-version", "corrupted", "no-header"],
)
def test_an_unusable_checkpoint_is_refused_and_cold_still_works(
    blob: bytes, says: str, tmp_path: Path
) -> None:
    url = sa.URL.create("sqlite", database=str(tmp_path / "s.sqlite")).render_as_string()
    with SessionStore(url) as store:
        first = _life(store, START - timedelta(minutes=1), first=True)
        first.run(max_cycles=3)
        with store.engine.begin() as conn:
            conn.execute(paper_sessions.update().values(checkpoint=blob))
        later = START + timedelta(hours=2, minutes=1)
        with pytest.raises(checkpoint.CheckpointError) as refused:
            _life(store, later, first=False)
        message = str(refused.value)
        assert says in message and SID in message and "\n" not in message
        cold = _life(store, later, first=False, cold=True)
        rebuilt, kept = cold.engine.parts, first.engine.parts
        assert repr(rebuilt.results.pnl_rows) == repr(kept.results.pnl_rows)  # NaN-safe
        assert repr(rebuilt.logger.events) == repr(kept.logger.events)


def test_hours_missed_while_down_are_counted_and_their_funding_carried(
    tmp_path: Path, backtest: tuple[Path, list[datetime]]
) -> None:
    """Down from 07:00 to 10:30: 08, 09 and 10 are missed (not traded after the fact), and
    the 08:00 funding settlement is carried into the 11:00 read, not lost."""
    url = sa.URL.create("sqlite", database=str(tmp_path / "s.sqlite")).render_as_string()
    with SessionStore(url) as store:
        _life(store, START - timedelta(minutes=1), first=True).run(max_cycles=8)
        again = _life(store, START + timedelta(hours=10, minutes=30), first=False)
        again.run(max_cycles=22)
        assert again.missed == 3 and again.cycles == 22
        assert again.stepped == [
            START + timedelta(hours=h) for h in range(25) if h not in (8, 9, 10)
        ]
        path = again.write(tmp_path / "paper", "run")
    funded = pd.read_csv(path / "event_log.csv").event_type == "FundingSettled"
    expected = pd.read_csv(backtest[0] / "event_log.csv").event_type == "FundingSettled"
    assert funded.sum() == expected.sum() > 0
