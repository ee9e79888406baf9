"""Fair flows (issue 11, domain 5 and 8.4), in every mode, on the real data.

- A full redemption (of every share, or of an amount equal to the equity) closes every
  position (gas buffer and dust included) and burns every share; nothing trades afterwards,
  nothing is liquidated, and the summary is strict JSON with the redeemer's realised return.
- A withdrawal above equity is refused and recorded; nothing moves.
- With `cost_allocation: investor` a deposit's and a withdrawal's costs leave the other
  holders' NAV per share unchanged to 1e-9, checked against runs without that flow (the books
  are identical up to it); with `pool` shares move at the NAV of the deposit / payout
  instruction and the costs lower every holder's NAV per share.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from basis_strategy.config.models import MODE_NAMES
from basis_strategy.services.backtest import run_backtest

WINDOW = ["start=2024-08-15T00:00:00Z", "end=2024-09-15T00:00:00Z"]
DEPOSIT_AT = "2024-08-25T05:00:00Z"
REDEEM_AT = "2024-09-01T00:00:00Z"
ETH_CLASS = ("eth_staking_only", "eth_leveraged")


@dataclass(frozen=True)
class Run:
    summary: dict[str, Any]
    hourly: pd.DataFrame
    balance: pd.DataFrame
    events: pd.DataFrame


def strict_json(path: Path) -> dict[str, Any]:
    def refuse(token: str) -> None:
        raise AssertionError(f"{path}: {token} is not JSON")

    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)
    return loaded


def run(tmp: Path, data_dir: Path, mode: str, *sets: str) -> Run:
    capital = 40 if mode in ETH_CLASS else 100_000
    sets = (*WINDOW, f"initial_capital={capital}", *sets)
    outcome = run_backtest(mode, sets, data_dir, tmp, env={})
    read = {"index_col": 0, "parse_dates": True}
    return Run(
        strict_json(outcome.path / "summary.json"),
        pd.read_csv(outcome.path / "hourly_pnl.csv", **read),
        pd.read_csv(outcome.path / "balance_sheet.csv", **read),
        pd.read_csv(outcome.path / "event_log.csv", parse_dates=["timestamp"]),
    )


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Run]:
    """Each mode without flows: the books every flow run shares up to its flow."""
    tmp = tmp_path_factory.mktemp("plain")
    return {mode: run(tmp, data_dir, mode) for mode in MODE_NAMES}


def flows(*items: str, allocation: str = "investor") -> str:
    return f"flows={{cost_allocation: {allocation}, schedule: [{', '.join(items)}]}}"


def assert_emptied(result: Run) -> None:
    after = result.balance.loc[REDEEM_AT:]
    quantities = [c for c in result.balance.columns if c.startswith("qty:")]
    assert (after[quantities] == 0.0).all().all(), after[quantities].abs().max()
    assert (result.hourly.loc[REDEEM_AT:, ["shares", "equity"]] == 0.0).all().all()
    events = result.events
    later = events[(events["timestamp"] > pd.Timestamp(REDEEM_AT))]
    assert set(later["event_type"]) == {"EquityMarked"}  # nothing trades, nothing is liquidated
    assert result.summary["liquidations"] == 0
    assert result.summary["final_equity"] == 0.0
    assert result.summary["max_hourly_residual_to_equity"] <= 1e-6
    (record,) = [f for f in result.summary["flows"] if f["kind"] == "full_redemption"]
    assert record["amount"] < 0 and record["shares"] < 0
    assert record["realised_return"] == pytest.approx(-record["amount"] / record["cost_basis"] - 1)


@pytest.mark.parametrize("mode", MODE_NAMES)
def test_redeeming_every_share_leaves_nothing(tmp_path: Path, data_dir: Path, mode: str) -> None:
    result = run(tmp_path, data_dir, mode, flows(f"{{at: {REDEEM_AT}, shares: all}}"))
    assert_emptied(result)


@pytest.mark.parametrize("mode", MODE_NAMES)
def test_withdrawing_the_equity_is_a_full_redemption(
    tmp_path: Path, data_dir: Path, mode: str, plain: dict[str, Run]
) -> None:
    equity = plain[mode].hourly.loc[REDEEM_AT, "equity"]  # the same book until the flow
    result = run(tmp_path, data_dir, mode, flows(f"{{at: {REDEEM_AT}, amount: {-equity:.10f}}}"))
    assert_emptied(result)


@pytest.mark.parametrize("mode", ["pure_lending", "eth_leveraged", "usdt_market_neutral"])
def test_a_withdrawal_above_equity_is_refused_and_recorded(
    tmp_path: Path, data_dir: Path, mode: str, plain: dict[str, Run]
) -> None:
    equity = plain[mode].hourly.loc[REDEEM_AT, "equity"]
    result = run(
        tmp_path, data_dir, mode, flows(f"{{at: {REDEEM_AT}, amount: {-1.5 * equity:.6f}}}")
    )
    (refused,) = result.summary["rejected_instructions"]
    assert "above the fund's equity" in refused
    record = result.summary["flows"][-1]
    assert record["kind"] == "rejected" and record["amount"] == 0.0
    # nothing moved: the run is the plain run
    pd.testing.assert_series_equal(result.hourly["equity"], plain[mode].hourly["equity"])
    assert result.hourly["shares"].iloc[-1] == plain[mode].hourly["shares"].iloc[-1]


@pytest.mark.parametrize("mode", MODE_NAMES)
def test_investors_pay_their_own_flow_costs(
    tmp_path: Path, data_dir: Path, mode: str, plain: dict[str, Run]
) -> None:
    capital = 40 if mode in ETH_CLASS else 100_000
    deposit = f"{{at: {DEPOSIT_AT}, amount: {0.3 * capital}}}"
    withdrawal = f"{{at: {REDEEM_AT}, amount: {-0.4 * capital}}}"
    deposited = run(tmp_path, data_dir, mode, flows(deposit))
    both = run(tmp_path, data_dir, mode, flows(deposit, withdrawal))
    # the deposit hour: the same NAV per share as without the deposit
    nav = plain[mode].hourly.loc[DEPOSIT_AT, "nav_per_share"]
    assert deposited.hourly.loc[DEPOSIT_AT, "nav_per_share"] == pytest.approx(nav, rel=1e-9)
    # the withdrawal hour: the same NAV per share as with the deposit only
    nav = deposited.hourly.loc[REDEEM_AT, "nav_per_share"]
    assert both.hourly.loc[REDEEM_AT, "nav_per_share"] == pytest.approx(nav, rel=1e-9)
    records = both.summary["flows"][1:]
    assert [r["kind"] for r in records] == ["deposit", "withdrawal"]
    for record in records:
        assert record["costs_charged_to"] == "investor"
        assert record["costs"] > 0
        assert record["nav_after"] == pytest.approx(record["nav_before"], rel=1e-12)
        shares = (record["amount"] - record["costs"]) / record["nav_before"]
        assert record["shares"] == pytest.approx(shares, rel=1e-12)


@pytest.mark.parametrize("mode", ["btc_basis", "eth_leveraged", "usdt_market_neutral"])
def test_pool_allocation_spreads_flow_costs_over_every_holder(
    tmp_path: Path, data_dir: Path, mode: str, plain: dict[str, Run]
) -> None:
    capital = 40 if mode in ETH_CLASS else 100_000
    deposit = f"{{at: {DEPOSIT_AT}, amount: {0.3 * capital}}}"
    result = run(tmp_path, data_dir, mode, flows(deposit, allocation="pool"))
    (record,) = result.summary["flows"][1:]
    assert record["costs_charged_to"] == "pool" and record["costs"] > 0
    # shares at the NAV per share before the deposit (today's rule), costs on everyone
    assert record["shares"] == pytest.approx(record["amount"] / record["nav_before"], rel=1e-12)
    nav = plain[mode].hourly.loc[DEPOSIT_AT, "nav_per_share"]
    shares = result.hourly.loc[DEPOSIT_AT, "shares"]
    assert result.hourly.loc[DEPOSIT_AT, "nav_per_share"] == pytest.approx(
        nav - record["costs"] / shares, rel=1e-9
    )
