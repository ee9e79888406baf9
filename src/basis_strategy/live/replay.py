"""A replayed history for paper trading (issue 13, ADR-043): a historical provider's hours
presented as live observations under an accelerated wall clock.

Why: paper trading is live market data + the simulated venues + wall-clock time. Replaying a
stored day through the paper loop, at e.g. one replayed hour per 0.05 s of wall time, checks
the live path (clock, cycle timing, skipped cycles, trading state) against the backtest of the
same day on the same data, without waiting a day and without a venue.

What is "known" at replayed time r is the state of the latest grid hour <= r, and nothing
after it (no look-ahead): `refresh()` reads the clock, like a poll of the venues, and
`get_data(t)` refuses a `t` past the clock (`LookAheadError`, as both other providers do) and
answers with the latest hour <= t that the last refresh could see. Before the first hour there
is nothing to read: `NoObservation`, a `CycleSkipped` (counted, never traded on), as the live
provider. A funding settlement or reward payout of an hour no cycle read (a skipped cycle) is
carried into the next state read, as `LiveDataProvider` does: a cash flow is never lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from basis_strategy.core.errors import LookAheadError
from basis_strategy.data.live import SkippedCycle
from basis_strategy.data.live_reads import CycleSkipped, NoObservation
from basis_strategy.data.market import FundingRate, MarketState, RewardPayout
from basis_strategy.data.provider import HistoricalDataProvider

Clock = Callable[[], datetime]
HOUR = timedelta(hours=1)


class AcceleratedClock:
    """Replayed UTC time: `start + (wall elapsed) × replayed_s_per_wall_s`.

    `wall_s` and `sleep_s` are injected (default: `time.monotonic`, `time.sleep`) so the loop
    really waits, as it would live, but a day passes in about a second."""

    def __init__(
        self,
        start: datetime,
        replayed_s_per_wall_s: float,
        wall_s: Callable[[], float] = time.monotonic,
        sleep_s: Callable[[float], None] = time.sleep,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError(f"start: must be a timezone-aware UTC datetime, was {start!r}")
        if not 0 < replayed_s_per_wall_s < float("inf"):
            raise ValueError(f"replayed_s_per_wall_s: must be > 0, was {replayed_s_per_wall_s}")
        self.start, self.speed = start, replayed_s_per_wall_s
        self._wall_s, self._sleep_s = wall_s, sleep_s
        self._wall_start_s = wall_s()

    def now(self) -> datetime:
        elapsed_s = (self._wall_s() - self._wall_start_s) * self.speed
        return self.start + timedelta(seconds=elapsed_s)

    def sleep_until(self, at: datetime) -> None:
        """Sleep the wall time until the replayed clock reads `at` (or later)."""
        while (ahead_s := (at - self.now()).total_seconds()) > 0:
            self._sleep_s(ahead_s / self.speed)


class SleptWall:
    """Wall seconds that pass only while the loop sleeps (and it really sleeps them): the
    wall of a replay's `AcceleratedClock`. Why: with a real wall, a host busy for longer than
    one replayed interval makes the loop skip that grid point, as a live loop must
    (`next_cycle_at`); a replay that drops hours because its machine was slow is no longer
    the history it replays. Replayed time then advances by what the loop waited, never by
    its work, so every grid point is stepped whatever the load."""

    def __init__(self, sleep_s: Callable[[float], None] = time.sleep) -> None:
        self.slept_s = 0.0
        self._sleep_s = sleep_s

    def __call__(self) -> float:
        return self.slept_s

    def sleep(self, seconds: float) -> None:
        self._sleep_s(seconds)
        self.slept_s += seconds


class ReplaySource:
    """The `refresh` / `set_clock` / `get_data` contract of `LiveDataProvider`, from a
    historical provider's grid as seen at `clock()` (replayed time)."""

    def __init__(self, history: HistoricalDataProvider, clock: Clock) -> None:
        self.history, self.clock = history, clock
        self._known: int = -1  # grid index of the latest hour the last refresh could see
        self._now: datetime | None = None
        self._emitted = -1  # grid index of the last state read (its cash flows are emitted)
        self.skipped: list[SkippedCycle] = []

    @property
    def skipped_cycles(self) -> int:
        return len(self.skipped)

    def refresh(self) -> datetime:
        """ "Poll": what is observable is every hour up to the replayed time now."""
        now = self.clock()
        self._known = self._index_at_or_before(now)
        return now

    def set_clock(self, t: datetime) -> None:
        """The engine's current time: nothing after it may be read."""
        self._now = t

    def get_data(self, t: datetime) -> MarketState:
        """The state of the latest hour <= t the last refresh saw; raises `CycleSkipped`
        (counted in `skipped`) when there is none."""
        if self._now is None or t > self._now:
            raise LookAheadError(f"read at {t.isoformat()} after the clock ({self._now})")
        try:
            i = min(self._index_at_or_before(t), self._known)
            if i < 0:
                raise NoObservation(f"no replayed hour observed at or before {t.isoformat()}")
            if i <= self._emitted:
                raise NoObservation(f"no hour after {self.history.times[self._emitted]} yet")
        except CycleSkipped as skip:
            self.skipped.append(SkippedCycle(t, str(skip)))
            raise
        hour = self.history.times[i]
        self.history.set_clock(hour)
        state = self.history.get_data(hour)
        if i > self._emitted + 1 and self._emitted >= 0:
            state = self._with_missed_flows(state, self._emitted + 1, i)
        self._emitted = i
        return state

    def resume_after(self, t: datetime) -> None:
        """A restarted session's source: the state of `t` (its last stepped cycle) was read
        before the restart, so the next read carries the cash flows of the hours after it."""
        self._emitted = self._index_at_or_before(t)

    def _index_at_or_before(self, at: datetime) -> int:
        times = self.history.times
        if not times or at < times[0]:
            return -1
        return min(int((at - times[0]) // HOUR), len(times) - 1)

    def _with_missed_flows(self, state: MarketState, first: int, last: int) -> MarketState:
        """`state` with the funding and reward payouts of hours first..last-1 (read by no
        cycle) in front of its own."""
        funding: list[FundingRate] = []
        rewards: list[RewardPayout] = []
        for j in range(first, last):
            self.history.set_clock(self.history.times[j])
            missed = self.history.get_data(self.history.times[j])
            funding += missed.funding
            rewards += missed.rewards
        self.history.set_clock(state.t)
        return MarketState(
            state.t,
            state.index,
            state.values,
            (*funding, *state.funding),
            (*rewards, *state.rewards),
            state.accrued,
            state.mark_sources,
        )
