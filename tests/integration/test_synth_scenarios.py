"""Each stress scenario drives the risk path it is named for when a suitable mode runs on it
(issue 6 scope 3). The events start 40 % into the window (data/synth/scenarios.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from basis_strategy.data.synth import write_scenario
from basis_strategy.services.backtest import run_backtest

START, END = datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 9, 1, tzinfo=UTC)
WINDOW = ["start=2024-06-01T00:00:00Z", "end=2024-09-01T00:00:00Z"]
TWO_VENUES = ["hedge.venues=[binance, bybit]", "hedge.allocation={binance: 0.5, bybit: 0.5}"]


def run_on(scenario: str, mode: str, sets: list[str], tmp_path: Path) -> pd.DataFrame:
    data = write_scenario(scenario, 11, START, END, tmp_path / scenario)
    outcome = run_backtest(mode, [*WINDOW, *sets], data, tmp_path / "out", env={})
    assert outcome.summary["data_origin"]["synthetic"] is True
    assert outcome.summary["rejected_instructions"] == []
    return pd.read_csv(outcome.path / "event_log.csv", keep_default_na=False)


@pytest.mark.parametrize(
    ("scenario", "mode", "sets", "path"),
    [
        ("lst_depeg", "eth_leveraged", [], "ltv_critical"),
        # two weeks of ~75 % WETH borrow APR push LTV past the warning: deleverage to target
        ("rate_spike", "eth_leveraged", [], "ltv_warning"),
        ("bull_squeeze", "usdt_market_neutral_no_leverage", TWO_VENUES, "margin_"),
    ],
)
def test_stress_scenario_triggers_its_risk_action(scenario, mode, sets, path, tmp_path):
    stressed = run_on(scenario, mode, sets, tmp_path)
    assert stressed["note"].str.contains(path).any()
    calm = run_on("base", mode, sets, tmp_path)
    assert not calm["note"].str.contains(path).any()


def test_bear_negative_funding_makes_the_shorts_pay(tmp_path):
    def funding(scenario: str) -> float:
        events = run_on(scenario, "eth_basis", TWO_VENUES, tmp_path)
        settled = events[events["event_type"] == "FundingSettled"]
        return float(pd.to_numeric(settled["pnl_amount"]).sum())

    assert funding("bear_negative_funding") < 0 < funding("base")
