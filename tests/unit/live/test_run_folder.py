"""A session's folder rewrites its balance sheet and summary within a wall-time budget: a
rewrite that took d seconds is next done once 20 d have passed, and the folder's start, resume
and end always rewrite them (live/run_folder.py). Appended files are never throttled."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from basis_strategy.config.loader import load_run_config
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live.run_folder import BALANCE, HOURLY, SUMMARY, RunFolder
from basis_strategy.venues.simulated.build import build_simulated_venues

DATA_DIR = Path(
    os.environ.get("BASIS_DATA_DIR")
    or Path(__file__).resolve().parents[3].parent / "shared" / "data"
)


class StepClock:
    """A monotonic clock moved by hand; each reading adds 0.5 s."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        self.now_s += 0.5  # what writing takes between the two readings of one rewrite
        return self.now_s


def test_rewrites_wait_twenty_times_their_duration_appends_do_not(tmp_path: Path) -> None:
    config = load_run_config(
        "btc_basis", ["start=2024-05-01T00:00:00Z", "end=2024-05-01T05:00:00Z"], env={}
    )
    data = HistoricalDataProvider(config, DATA_DIR)
    engine = EventDrivenStrategyEngine(config, data, build_simulated_venues(config, data.aave_risk))
    clock = StepClock()
    folder = RunFolder(tmp_path, "s", engine, clock=clock)
    times = list(data.times)
    engine.step(times[0])
    folder.rewrite()  # forced: written; it took 0.5 s, so none before 10.5 s on
    assert len(pd.read_csv(tmp_path / BALANCE)) == 1
    engine.step(times[1])
    folder.sync()
    assert len(pd.read_csv(tmp_path / HOURLY)) == 2  # appended every cycle
    assert len(pd.read_csv(tmp_path / BALANCE)) == 1  # too soon
    summary = (tmp_path / SUMMARY).read_text()
    clock.now_s += 10.0
    engine.step(times[2])
    folder.sync()
    assert len(pd.read_csv(tmp_path / BALANCE)) == 3  # the budget allows it again
    assert (tmp_path / SUMMARY).read_text() != summary
    engine.step(times[3])
    folder.sync()
    assert len(pd.read_csv(tmp_path / BALANCE)) == 3
    folder.finish()  # forced
    assert len(pd.read_csv(tmp_path / BALANCE)) == 4
