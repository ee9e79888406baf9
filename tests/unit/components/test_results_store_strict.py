"""No file a run writes holds NaN or Infinity (issue 11 item 5), for every mode and after a
full redemption: summary.json is strict JSON (null plus a stated reason for an undefined
figure), the CSVs leave a value that is not a finite number empty, the event log's marks are
strict JSON, and the report embeds no NaN/Infinity token. `plots/plotly.min.js` is Plotly's
own library, copied as it is, and is not checked.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from basis_strategy.config.loader import load_run_config
from basis_strategy.config.models import MODE_NAMES
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.reports import strict_json
from basis_strategy.services.backtest import run_backtest
from basis_strategy.venues.simulated.build import build_simulated_venues

DATA = Path(
    os.environ.get("BASIS_DATA_DIR") or Path(__file__).resolve().parents[4] / "shared" / "data"
)
NON_FINITE = re.compile(r"(?<![\w.])[-+]?(?:nan|inf|infinity)(?!\w)", re.IGNORECASE)
VENDORED = {"plotly.min.js"}
THREE_DAYS = 72
# the issue's example: 40 ETH, every share redeemed at 2024-09-01T00:00Z
ETH_REDEEMED = [
    "start=2024-08-15T00:00:00Z",
    "end=2024-09-15T00:00:00Z",
    "initial_capital=40",
    "staking.rewards_mode=base_only",
    "flows=[{at: 2024-09-01T00:00:00Z, amount: -40}]",
]
HEDGED_REDEEMED = [
    "start=2024-08-15T00:00:00Z",
    "end=2024-09-15T00:00:00Z",
    "flows=[{at: 2024-09-01T00:00:00Z, shares: all}]",
]
STAKING_REDEEMED = [
    "start=2024-06-01T00:00:00Z",
    "end=2024-06-06T00:00:00Z",
    "initial_capital=100",
    "flows=[{at: 2024-06-03T12:00:00Z, amount: -100}]",
]


def refuse(token: str) -> None:
    raise AssertionError(f"not strict JSON: {token}")


def strict_loads(text: str) -> Any:
    return json.loads(text, parse_constant=refuse)


def non_finite_tokens(run_dir: Path) -> list[str]:
    """Each NaN/Infinity token in the folder's files, with where it is."""
    found = []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        if path.name in VENDORED:
            continue
        text = path.read_text(encoding="utf-8")
        for match in NON_FINITE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(run_dir)}:{line}: {match.group()}")
    return found


def nulls(value: object, path: str) -> set[str]:
    if value is None:
        return {path}
    if isinstance(value, dict):
        return set().union(set(), *(nulls(v, f"{path}.{k}") for k, v in value.items()))
    return set()


def assert_strict_run(run_dir: Path) -> dict[str, Any]:
    assert non_finite_tokens(run_dir) == []
    summary = strict_loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    with (run_dir / "event_log.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["marks"]:
                strict_loads(row["marks"])
    figures = {k: summary[k] for k in ("total_return", "apy", "max_drawdown")}
    expected = set().union(*(nulls(v, k) for k, v in figures.items()))
    expected |= nulls(summary["metrics"], "metrics")
    assert set(summary["undefined"]) == expected  # every null figure says why
    return summary


@pytest.mark.parametrize("mode", MODE_NAMES)
def test_every_file_of_a_run_of_each_mode_is_finite(mode: str, tmp_path: Path) -> None:
    start = load_run_config(mode, [], env={}).mode.start
    end = start.fromtimestamp(start.timestamp() + THREE_DAYS * 3600, start.tzinfo)
    sets = [f"start={start.isoformat()}", f"end={end.isoformat()}"]
    run_dir = run_backtest(mode, sets, DATA, tmp_path, env={}).path
    summary = assert_strict_run(run_dir)
    assert isinstance(summary["max_drawdown"], float)


def test_a_run_shorter_than_two_days_writes_null_daily_figures_with_the_reason(
    tmp_path: Path,
) -> None:
    sets = ["start=2024-03-01T00:00:00Z", "end=2024-03-02T00:00:00Z"]
    summary = assert_strict_run(run_backtest("pure_lending", sets, DATA, tmp_path, env={}).path)
    reason = "NAV per share covers 24 hours, less than 2 days: daily figures need 2 days"
    assert summary["max_drawdown"] is None and summary["metrics"]["sharpe"] is None
    assert summary["undefined"]["max_drawdown"] == reason
    assert summary["undefined"]["metrics.sharpe"] == reason
    assert isinstance(summary["apy"], float)


@pytest.mark.parametrize(
    ("mode", "sets", "redeemed_at"),
    [
        ("eth_leveraged", ETH_REDEEMED, "2024-09-01T00:00:00+00:00"),
        ("eth_staking_only", STAKING_REDEEMED, "2024-06-03T12:00:00+00:00"),
        ("usdt_market_neutral", HEDGED_REDEEMED, "2024-09-01T00:00:00+00:00"),
    ],
)
def test_a_full_redemption_run_is_finite_and_measured_to_the_redemption(
    mode: str, sets: list[str], redeemed_at: str, tmp_path: Path
) -> None:
    run_dir = run_backtest(mode, sets, DATA, tmp_path, env={}).path
    summary = assert_strict_run(run_dir)
    nav_end = summary["metrics"]["nav_end"]
    assert nav_end["timestamp"] == redeemed_at and nav_end["full_redemption"] is True
    assert summary["total_return"] == pytest.approx(nav_end["value"] - 1.0, rel=1e-12)
    for key in ("total_return", "apy", "max_drawdown"):
        assert isinstance(summary[key], float) and summary[key] == summary["metrics"][key]
    with (run_dir / "hourly_pnl.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    after = [r for r in rows if r["timestamp"] >= redeemed_at.replace("T", " ")]
    assert after and all(r["nav_per_share"] == "" for r in after)  # no shares: empty


def test_summary_json_is_written_by_json_dumps_with_allow_nan_false(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_run_config("btc_basis", ["end=2024-05-03T00:00:00Z"], env={})
    engine = EventDrivenStrategyEngine(
        config, HistoricalDataProvider(config, DATA), build_simulated_venues(config)
    )
    engine.run()
    texts: list[tuple[dict[str, Any], str]] = []

    def spy(value: Any, **kwargs: Any) -> str:
        text = json.dumps(value, **kwargs)
        texts.append((kwargs, text))
        return text

    monkeypatch.setattr(strict_json, "json", type("Json", (), {"dumps": staticmethod(spy)}))
    facts = {"probe": math.nan, "nested": [np.float32("inf"), {"x": -math.inf}]}
    run_dir = engine.parts.results.write(
        tmp_path, "run", events=engine.parts.logger.events, facts=facts
    )
    written = (run_dir / "summary.json").read_text(encoding="utf-8")
    assert (dict(indent=2, allow_nan=False), written) in [
        ({k: v for k, v in kw.items() if k != "default"}, text) for kw, text in texts
    ]
    summary = strict_loads(written)
    assert summary["probe"] is None and summary["nested"] == [None, {"x": None}]
    assert math.isfinite(summary["final_equity"])
