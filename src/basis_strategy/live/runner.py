"""Run one paper or live session in this process: what `basis live start` and `basis live
resume` do, and what the service's session processes run (issue 13, ADR-043).

Why here and not in the CLI: the CLI parses, the service spawns, and this builds and drives
the session the same way for both. The session process is the only writer of its session:
each cycle is committed to the store (`PaperSession._commit`) and appended to the results
folder (`RunFolder.sync`); while it waits for the next cycle it beats and takes operator
commands from the store (`CommandPoll`), so a `basis live stop` or an API emergency stop in
another process is honoured within one cycle. SIGTERM and Ctrl-C stop it the same way
(the current cycle finishes; nothing is left half-written).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from basis_strategy.core.logs import HEALTH, log_event
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live import restart
from basis_strategy.live.heartbeat import HeartbeatRegistry
from basis_strategy.live.replay import AcceleratedClock, ReplaySource, SleptWall
from basis_strategy.live.run_folder import RunFolder
from basis_strategy.live.service import LiveStartRequest, replay_sets
from basis_strategy.live.session import MarketSource, PaperSession
from basis_strategy.live.session_store import (
    ACTIVATE,
    HALT_FLATTEN,
    HALT_FREEZE,
    STOP,
    SessionRequest,
    SessionStore,
)
from basis_strategy.live.status import session_status
from basis_strategy.live.store import LiveStore
from basis_strategy.live.trading_state import StopMode, TradingState
from basis_strategy.services.backtest import prepare
from basis_strategy.venues.simulated.build import build_simulated_venues

log = logging.getLogger(__name__)
POLL_WALL_S = 0.2  # how often a waiting session looks for a command
BEAT_WALL_S = 5.0  # how often it says it is alive while it waits
FOREVER = 10**12  # cycles of a session with no max_cycles


class WallClock:
    """The clock of a session on live feeds: UTC now, and real sleeps."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class CommandPoll:
    """Takes an operator's command from the store and applies it to the session; beats."""

    store: SessionStore
    session_id: str
    session: PaperSession | None = None
    wall_s: Callable[[], float] = time.monotonic
    _last_beat_s: float = field(default=-1e18)

    def __call__(self) -> None:
        if self.wall_s() - self._last_beat_s >= BEAT_WALL_S:
            self.store.beat(self.session_id, os.getpid())
            self._last_beat_s = self.wall_s()
        if self.session is None:  # not built yet: the command waits in the store
            return
        command = self.store.take_command(self.session_id)
        if command is None:
            return
        if command == STOP:
            self.session.stop()
        elif command in (HALT_FREEZE, HALT_FLATTEN):
            mode = StopMode.FREEZE if command == HALT_FREEZE else StopMode.FLATTEN
            self.session.emergency_stop("operator emergency stop", mode)
        elif command.startswith(ACTIVATE):
            self.session.activate(command.removeprefix(ACTIVATE))


def polling_sleep_until(
    now: Callable[[], datetime],
    speed: float,
    poll: Callable[[], None],
    stopped: Callable[[], bool],
    wall_sleep: Callable[[float], None] = time.sleep,
) -> Callable[[datetime], None]:
    """A `sleep_until` that wakes at least every POLL_WALL_S wall seconds to poll, and
    returns early once the session is stopped."""

    def sleep_until(at: datetime) -> None:
        poll()
        while not stopped() and (ahead_s := (at - now()).total_seconds()) > 0:
            wall_sleep(min(ahead_s / speed, POLL_WALL_S))
            poll()

    return sleep_until


def run_session(
    store: SessionStore,
    session_id: str,
    request: LiveStartRequest,
    results_dir: Path,
    data_dir: str | Path | None,
    env: Mapping[str, str],
    *,
    resume: bool = False,
    cold: bool = False,
    adopt_venue_state: bool = False,
    on_started: Callable[[PaperSession], None] | None = None,
) -> PaperSession:
    """Start (or resume) the session and run it until stopped or its cycles are done."""
    runner = SessionRunner(store, session_id, request, results_dir, data_dir, env)
    try:
        session = runner.open(resume, cold, adopt_venue_state)
        if on_started is not None:
            on_started(session)
        return runner.run()
    finally:
        runner.close()


class SessionRunner:
    """One session process: builds the session, runs its loop, keeps its folder, logs its
    alerts (WARNING logged, ERROR counted, CRITICAL halts: `core/logs.py`)."""

    def __init__(
        self,
        store: SessionStore,
        session_id: str,
        request: LiveStartRequest,
        results_dir: Path,
        data_dir: str | Path | None,
        env: Mapping[str, str],
    ) -> None:
        self.store, self.session_id, self.request = store, session_id, request
        self.results_dir, self.data_dir, self.env = results_dir, data_dir, env
        self.live_feed = request.replay_start is None  # live market feeds, the wall clock
        self.resuming = False
        start = request.replay_start or datetime.now(UTC)
        self.begin = start - timedelta(minutes=1)  # a replay's first cycle: replay_start
        self.wall: SleptWall | WallClock = WallClock() if self.live_feed else SleptWall()
        self.clock = self._new_clock()
        self.session: PaperSession | None = None
        self._logged = 0
        # live execution: its orders, fills and transfers, in the session store's database
        self.live_store: LiveStore | None = None
        if self.live_feed and request.execution == "live":
            self.live_store = LiveStore(store.url)

    def close(self) -> None:
        if self.live_store is not None:
            self.live_store.close()

    def now(self) -> datetime:
        return self.clock.now()  # restarted when the loop starts (`run`)

    def _new_clock(self) -> AcceleratedClock | WallClock:
        if isinstance(self.wall, WallClock):
            return self.wall
        return AcceleratedClock(self.begin, self.request.speed, self.wall, self.wall.sleep)

    def build(self, saved: SessionRequest) -> tuple[EventDrivenStrategyEngine, MarketSource]:
        if self.live_feed:
            from basis_strategy.live.live_feed import build_live_feed  # web3: live feeds only

            return build_live_feed(saved, self.request, self.env, self.resuming,
                                   self.live_store, self.session_id)  # fmt: skip
        config, data = prepare(saved.mode, saved.overrides, self.data_dir, self.env)
        venues = build_simulated_venues(config, data.aave_risk)
        engine = EventDrivenStrategyEngine(config, data, venues)
        return engine, ReplaySource(engine.data, self.now)

    def open(self, resume: bool, cold: bool, adopt_venue_state: bool = False) -> PaperSession:
        """The new session (stored before its first cycle), or the stored one resumed."""
        store, sid, request = self.store, self.session_id, self.request
        poll = CommandPoll(store, sid)
        sleep = polling_sleep_until(
            self.now, request.speed, poll, self._stopping, wall_sleep=self.wall.sleep
        )
        beats = HeartbeatRegistry(self.now)
        options: dict[str, Any] = {"interval_s": request.interval_s, "aligned": request.aligned,
                                   "name": sid, "status_of": session_status,
                                   "limits": request.limits()}  # fmt: skip
        if resume:
            self.resuming = True
            last = store.load(sid).last_cycle_at
            self.begin = self.begin if last is None else last + timedelta(minutes=1)
            self.clock = self._new_clock()  # a cold restep reads up to it
            store.reopen(sid, os.getpid())
            session = restart.resume(store, sid, self.build, self.now, sleep, beats, cold=cold,
                                     **options)  # fmt: skip
            if self.live_store is not None:
                from basis_strategy.live.live_feed import reconcile_at_resume

                reconcile_at_resume(session.engine, self.live_store, adopt_venue_state)
        else:
            window = self._live_feed_sets() if self.live_feed else replay_sets(request)
            saved = SessionRequest(request.mode, (*request.overrides, *window))
            session = restart.start(store, sid, saved, self.build, self.now, sleep, beats,
                                    request.options(), **options)  # fmt: skip
            store.reopen(sid, os.getpid())
        if self.live_store is not None:
            from basis_strategy.live.live_feed import reconcile_live_cycle

            session.reconcile = reconcile_live_cycle
        poll.session = self.session = session
        self._logged = len(session.alerts)
        return session

    def _live_feed_sets(self) -> tuple[str, ...]:
        from basis_strategy.live.live_feed import live_feed_sets  # web3: live feeds only

        return live_feed_sets(self.request, self.env, self.live_store, self.session_id)

    def run(self) -> PaperSession:
        """The loop until stopped or its cycles are done; the folder finished either way."""
        session = self.session
        assert session is not None, "open() first"
        folder = RunFolder(self.results_dir / self.session_id, self.session_id, session.engine)
        folder.rewrite()
        _stop_on_signals(session)
        remove_hook = HEALTH.on_critical(self._halt)
        try:
            left = FOREVER if self.request.max_cycles is None else self.request.max_cycles
            self.clock = self._new_clock()  # replayed time starts with the loop
            session.run(left, lambda done: self._after_cycle(done, folder))
        finally:
            remove_hook()
            folder.finish()
            self.store.finish(self.session_id)
        return session

    def _stopping(self) -> bool:
        return self.session is not None and self.session.stopping

    def _after_cycle(self, session: PaperSession, folder: RunFolder) -> None:
        folder.sync()
        for alert in session.alerts[self._logged :]:
            log_event(log, alert.code, alert.message, strategy=self.session_id)
        self._logged = len(session.alerts)

    def _halt(self, code: str, message: str, fields: Mapping[str, Any]) -> None:
        """A CRITICAL log anywhere in the process halts the session (freeze)."""
        session = self.session
        if session is not None and session.control.state is not TradingState.HALTED:
            session.emergency_stop(f"{code}: {message}", StopMode.FREEZE)


def _stop_on_signals(session: PaperSession) -> None:
    """SIGTERM / SIGINT end the loop after the current cycle (main thread only)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        session.stop()

    try:
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread (a test): the caller stops it
        pass


def new_session_id(request: LiveStartRequest) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{request.execution}-{request.mode}-{os.urandom(4).hex()}"
