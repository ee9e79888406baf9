"""Paper trading a replayed real day gives the backtest of that day (issue 13, ADR-043).

The paper run is `PaperSession` (engine stepped by a clock) on `ReplaySource` (the stored
hours as live observations) at an accelerated wall clock (one replayed hour per 0.05 s), with
the simulated venues; the backtest is `EventDrivenStrategyEngine.run` on the same data. Both
write their files with the same writer; parity is byte-identical files, so no tolerance: the
same code steps the same market states in the same order (floats are deterministic).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tests.integration.conftest import DATA_DIR

from basis_strategy.config.loader import load_run_config
from basis_strategy.core.errors import LookAheadError
from basis_strategy.data.live_reads import CycleSkipped, ReadFailed
from basis_strategy.data.market import MarketState
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.data.store import FolderData
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live import replay
from basis_strategy.live.heartbeat import HeartbeatRegistry
from basis_strategy.live.limits import RiskLimits
from basis_strategy.live.replay import AcceleratedClock, ReplaySource
from basis_strategy.live.session import PRE_POLL_S, PaperSession
from basis_strategy.live.trading_state import Control, TradingState
from basis_strategy.venues.simulated.build import build_simulated_venues

START = datetime(2024, 6, 3, tzinfo=UTC)
DAY = ["start=2024-06-03T00:00:00Z", "end=2024-06-04T00:00:00Z"]
WALL_S_PER_HOUR = 0.05
SPEED = 3600 / WALL_S_PER_HOUR  # replayed seconds per wall second
FILES = ("hourly_pnl.csv", "balance_sheet.csv", "event_log.csv")


def _engine(mode: str) -> EventDrivenStrategyEngine:
    """A fresh config, provider, venues and engine (ADR-005: nothing shared but the files)."""
    config = load_run_config(mode, DAY, env={})
    data = HistoricalDataProvider(config, FolderData(DATA_DIR))
    return EventDrivenStrategyEngine(config, data, build_simulated_venues(config, data.aave_risk))


class SleptWall(replay.SleptWall):
    """The replay's wall (replayed time moves only while the loop sleeps), plus `stall`: wall
    time passing without a sleep, as a stalled host would make it pass."""

    def stall(self, seconds: float) -> None:
        self.slept_s += seconds


def _session(
    mode: str, source_type: type[ReplaySource] = ReplaySource, wall: SleptWall | None = None
) -> PaperSession:
    """A paper session started one replayed minute before the day's first hour (as a service
    started at 23:59 would be), so its first aligned cycle is 00:00."""
    engine = _engine(mode)
    wall = SleptWall() if wall is None else wall
    clock = AcceleratedClock(START - timedelta(minutes=1), SPEED, wall, wall.sleep)
    source = source_type(engine.data, clock.now)
    return PaperSession(engine, source, clock.now, clock.sleep_until, HeartbeatRegistry(clock.now))


def _hourly(path: Path) -> pd.DataFrame:
    return pd.read_csv(path / "hourly_pnl.csv", index_col="timestamp", parse_dates=True)


@pytest.mark.parametrize("mode", ["eth_basis", "eth_leveraged"])
def test_paper_replay_of_a_day_is_the_backtest_of_that_day(mode: str, tmp_path: Path) -> None:
    backtest = _engine(mode)
    backtest.run()
    hours = len(backtest.data.times)
    assert hours == 25  # 00:00 .. 00:00 next day, both ends on the grid
    session = _session(mode)
    began_s = time.monotonic()
    session.run(max_cycles=hours)
    elapsed_s = time.monotonic() - began_s
    # the loop really waited on the clock: 24 replayed hours after the first cycle
    assert elapsed_s >= 0.9 * (hours - 1) * WALL_S_PER_HOUR
    assert session.stepped == backtest.data.times  # no cycle skipped, missed or repeated
    assert session.missed == 0
    assert not session.skipped and not session.halted
    assert session.control.state is TradingState.ACTIVE
    beat = session.heartbeats.get("paper")
    assert beat.cycles == hours and beat.data_age_s == 0.0
    a = backtest.write(tmp_path / "backtest", "run")
    b = session.write(tmp_path / "paper", "run")
    for name in FILES:  # positions each hour, every event with its amounts, hourly P&L
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    summary_a = json.loads((a / "summary.json").read_text())
    summary_b = json.loads((b / "summary.json").read_text())
    assert summary_a == summary_b
    events = pd.read_csv(b / "event_log.csv")
    assert (events.event_type == "EquityMarked").sum() == hours
    assert json.loads((b / "session.json").read_text())["stepped"] == hours


class FailsAtEight(ReplaySource):
    """A replay whose read of 08:00 (a funding settlement hour) fails, as a venue call may."""

    def get_data(self, t: datetime) -> MarketState:
        if t == START + timedelta(hours=8):
            raise ReadFailed("binance: 503 Service Unavailable")
        return super().get_data(t)


def test_a_skipped_cycle_is_counted_not_traded_and_the_run_reconciles(tmp_path: Path) -> None:
    backtest = _engine("eth_basis")
    backtest.run()
    session = _session("eth_basis", FailsAtEight)
    session.run(max_cycles=25)
    eight = START + timedelta(hours=8)
    assert [t for t, _ in session.skipped] == [eight]
    assert "503" in session.skipped[0][1]
    assert session.cycles == 25 and len(session.stepped) == 24 and eight not in session.stepped
    path = session.write(tmp_path, "skip")
    hourly = _hourly(path)
    assert eight not in hourly.index and len(hourly) == 24
    # every hour's equity change is its flows plus its P&L, across the gap too
    change = hourly.equity.diff().iloc[1:]
    explained = (hourly.net_flow + hourly.pnl).iloc[1:]
    assert (change - explained).abs().max() < 1e-6
    summary = json.loads((path / "summary.json").read_text())
    assert abs(summary["reconciliation_residual"]) < 1e-6
    # the 08:00 funding settlements were carried into the 09:00 state, not lost
    events = pd.read_csv(path / "event_log.csv")
    backtest_events = pd.read_csv(backtest.write(tmp_path, "backtest") / "event_log.csv")
    funded = events[events.event_type == "FundingSettled"]
    assert len(funded) == (backtest_events.event_type == "FundingSettled").sum()
    assert json.loads((path / "session.json").read_text())["skipped"][0]["t"].startswith(
        "2024-06-03T08:00"
    )


class PollLog(ReplaySource):
    """A replay source that records the replayed time of each poll."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.polls: list[datetime] = []

    def refresh(self) -> datetime:
        at = super().refresh()
        self.polls.append(at)
        return at


def test_each_cycle_polls_its_source_before_its_time_and_a_frozen_one_reads_nothing() -> None:
    """A live value read at the cycle's time would be stamped after it and refused: the
    source is polled PRE_POLL_S before, then again at the cycle. HALTED-freeze reads nothing."""
    session = _session("eth_basis", PollLog)
    session.run(max_cycles=4, on_cycle_done=lambda s: s.cycles == 2 and s.emergency_stop("x"))
    assert isinstance(session.source, PollLog)
    polls = session.source.polls
    lead = timedelta(seconds=PRE_POLL_S)
    for hour in range(2):  # stepped: a poll at least 5 s before, then one at the cycle
        at = START + timedelta(hours=hour)
        before = [p for p in polls if at - timedelta(minutes=1) <= p <= at - lead]
        assert before and any(p >= at for p in polls if p < at + timedelta(minutes=1))
    assert not [p for p in polls if p > START + timedelta(hours=1, minutes=1)]  # frozen


def test_emergency_stop_halts_within_one_cycle() -> None:
    session = _session("eth_basis")

    def stop_after_five(s: PaperSession) -> None:
        if s.cycles == 5:
            s.emergency_stop("operator: venue suspect")

    session.run(max_cycles=8, on_cycle_done=stop_after_five)
    first_five = [START + timedelta(hours=h) for h in range(5)]
    assert session.stepped == first_five  # no step after the stop
    assert session.engine.parts.results.times == first_five
    assert session.halted == [START + timedelta(hours=h) for h in range(5, 8)]
    assert session.control.state is TradingState.HALTED
    assert [a.code for a in session.alerts] == ["LT-005"]


def test_stop_ends_the_loop_before_the_next_cycle() -> None:
    session = _session("eth_basis")
    session.run(max_cycles=25, on_cycle_done=lambda s: s.stop() if s.cycles == 3 else None)
    assert session.cycles == 3 and len(session.stepped) == 3


class ManualClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_replay_shows_nothing_after_the_replayed_time() -> None:
    history = _engine("eth_basis").data
    clock = ManualClock(START - timedelta(seconds=1))
    source = ReplaySource(history, clock)
    source.refresh()
    source.set_clock(START)
    with pytest.raises(CycleSkipped):  # the clock has not reached the first hour
        source.get_data(START)
    clock.at = START + timedelta(hours=5, minutes=59, seconds=59)
    source.refresh()
    six = START + timedelta(hours=6)
    source.set_clock(clock.at)
    with pytest.raises(LookAheadError):  # past the engine's clock
        source.get_data(six)
    source.set_clock(six)
    state = source.get_data(six)  # 06:00 asked for, only 05:59:59 observed: 05:00 is known
    history.set_clock(six)
    at_five, at_six = history.get_data(six - timedelta(hours=1)), history.get_data(six)
    assert state.t == six - timedelta(hours=1)
    assert state.values == at_five.values and state.values != at_six.values
    clock.at = six
    source.refresh()
    assert source.get_data(six).values == at_six.values
    assert source.skipped_cycles == 1


def test_reducing_lets_through_no_instruction_that_adds_risk() -> None:
    session = _session("eth_basis")
    session.control = Control(TradingState.REDUCING, reason="test: a breach before the start")
    session.run(max_cycles=3)
    assert len(session.stepped) == 3  # REDUCING still steps: marks, settlements, P&L
    refused = [a for a in session.alerts if a.code == "LT-007"]
    assert refused and "StartFlow refused" in refused[0].message  # the deposit group, whole
    held = {k: q for k, q in session.engine.parts.positions.quantities.items() if q}
    assert held == {}  # no deposit, no spot bought, no perp sold


def test_a_position_limit_breach_moves_the_session_to_reducing() -> None:
    session = _session("eth_basis")
    session.limits = RiskLimits(max_position_usd={"ETH": 100_000.0})
    session.run(max_cycles=25)
    assert len(session.stepped) == 25
    assert session.control.state is TradingState.REDUCING
    codes = [a.code for a in session.alerts]
    assert codes[:2] == ["RISK-001", "RISK-004"]  # after the first hour: ~133k USD of ETH
    assert session.heartbeats.get("paper").state is TradingState.REDUCING


def test_hours_passed_while_the_loop_stalled_are_missed_and_counted(tmp_path: Path) -> None:
    wall = SleptWall()
    session = _session("eth_basis", wall=wall)
    stall_s = 2.4 * WALL_S_PER_HOUR  # after the 04:00 cycle the clock jumps to 06:24

    def stall_once(s: PaperSession) -> None:
        if s.cycles == 5:
            wall.stall(stall_s)

    session.run(max_cycles=23, on_cycle_done=stall_once)
    hours = [START + timedelta(hours=h) for h in range(25) if h not in (5, 6)]
    assert session.stepped == hours and session.missed == 2 and not session.skipped
    hourly = _hourly(session.write(tmp_path, "stalled"))
    change = hourly.equity.diff().iloc[1:]
    assert (change - (hourly.net_flow + hourly.pnl).iloc[1:]).abs().max() < 1e-6
