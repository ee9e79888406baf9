"""Results are written atomically: a failed write leaves no run folder, complete or not."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from basis_strategy.components.results_store import ResultsStore
from basis_strategy.config.loader import load_run_config
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.venues.simulated.build import build_simulated_venues

DATA = Path(
    os.environ.get("BASIS_DATA_DIR") or Path(__file__).resolve().parents[4] / "shared" / "data"
)
FILES = {
    "summary.json",
    "hourly_pnl.csv",
    "event_log.csv",
    "balance_sheet.csv",
    "index.html",
    "plots",
}


@pytest.fixture(scope="module")
def engine() -> EventDrivenStrategyEngine:
    config = load_run_config("btc_basis", ["end=2024-05-03T00:00:00Z"], env={})
    engine = EventDrivenStrategyEngine(
        config, HistoricalDataProvider(config, DATA), build_simulated_venues(config)
    )
    engine.run()
    return engine


def test_write_creates_exactly_the_run_folder(
    engine: EventDrivenStrategyEngine, tmp_path: Path
) -> None:
    path = engine.write(tmp_path, "run-1")
    assert [p.name for p in tmp_path.iterdir()] == ["run-1"]
    assert {p.name for p in path.iterdir()} == FILES
    summary = json.loads((path / "summary.json").read_text())
    assert summary["request_id"] == "run-1"
    assert summary["hours"] == 49
    assert summary["events"] == len(engine.parts.logger.events)


def test_a_failed_write_leaves_nothing(
    engine: EventDrivenStrategyEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ResultsStore, "event_frame", broken)
    with pytest.raises(OSError, match="disk full"):
        engine.write(tmp_path, "run-2")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_run_folder_is_never_overwritten(
    engine: EventDrivenStrategyEngine, tmp_path: Path
) -> None:
    engine.write(tmp_path, "run-3")
    before = (tmp_path / "run-3" / "summary.json").read_text()
    with pytest.raises(OSError):
        engine.write(tmp_path, "run-3")
    assert (tmp_path / "run-3" / "summary.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run-3"]


SUMMARY_KEYS = {
    "request_id",
    "mode",
    "share_class",
    "start",
    "end",
    "initial_capital",
    "final_equity",
    "total_return",
    "apy",
    "max_drawdown",
    "pnl_attribution",
    "reconciliation_residual",
    "hours",
    "events",
    "data_bridges",
    "config",
    "metrics",
    "benchmark",
    "liquidations",
    "rejected_instructions",
    "shocks_applied",
}


def test_summary_holds_what_the_issue_lists(
    engine: EventDrivenStrategyEngine, tmp_path: Path
) -> None:
    summary = json.loads((engine.write(tmp_path, "run-4") / "summary.json").read_text())
    assert set(summary) >= SUMMARY_KEYS
    assert summary["config"]["mode"]["hedge"]["margin_ratio_target"] == 0.5
    assert set(summary["pnl_attribution"]) >= {"funding", "basis", "delta", "execution_costs"}
    assert all(
        {"series", "kind", "source", "start", "end"} <= set(b) for b in summary["data_bridges"]
    )
    # returns are measured from the 1.0 issue price, so entry costs count
    nav_end = summary["final_equity"] / summary["initial_capital"]
    assert summary["total_return"] == pytest.approx(nav_end - 1, rel=1e-9)


def test_progress_is_reported_to_the_last_hour() -> None:
    config = load_run_config("pure_lending", ["end=2024-01-03T00:00:00Z"], env={})
    engine = EventDrivenStrategyEngine(
        config, HistoricalDataProvider(config, DATA), build_simulated_venues(config)
    )
    calls: list[tuple[int, int]] = []
    engine.run(progress=lambda done, total: calls.append((done, total)), every=10)
    assert calls[0] == (1, 49)
    assert calls[-1] == (49, 49)
    assert [done for done, _ in calls] == [1, 11, 21, 31, 41, 49]
