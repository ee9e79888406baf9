"""P&L attribution and reconciliation (domain 5, 12): exact by construction, flows are not P&L.

hourly_pnl.csv is written with 10 significant digits, so identities between its columns are
checked to 1e-9 of the magnitudes involved; engine residuals must stay within 1e-6 × equity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

COMPONENTS = (
    "supply_yield",
    "staking_yield",
    "borrow_cost",
    "supply_correction",
    "staking_correction",
    "borrow_correction",
    "funding",
    "delta",
    "basis",
    "rewards",
    "dust_pnl",
    "gas",
    "execution_costs",
    "liquidation_penalty",
)
RESIDUAL_LIMIT = 1e-6
RUNS = ["pure_lending_full", "btc_basis_full", "eth_basis_full", "eth_basis_flows"]
DEPOSIT_AT = pd.Timestamp("2024-06-01T00:00:00Z")
WITHDRAWAL_AT = pd.Timestamp("2024-07-15T00:00:00Z")


@pytest.mark.parametrize("fixture", RUNS)
def test_hourly_residual_within_limit(fixture, request):
    run = request.getfixturevalue(fixture)
    hourly = run.hourly
    assert len(hourly) == run.summary["hours"]
    expected_grid = pd.date_range(run.summary["start"], run.summary["end"], freq="h")
    assert hourly.index.equals(expected_grid)
    ratio = (hourly["residual"].abs() / hourly["equity"].abs()).to_numpy()
    assert ratio.max() <= RESIDUAL_LIMIT, hourly.index[ratio.argmax()]
    assert run.summary["max_hourly_residual_to_equity"] <= RESIDUAL_LIMIT
    assert run.summary["max_hourly_residual_to_equity"] == pytest.approx(
        ratio.max(), rel=1e-6, abs=1e-15
    )


@pytest.mark.parametrize("fixture", RUNS)
def test_components_plus_residual_equal_balance_pnl(fixture, request):
    run = request.getfixturevalue(fixture)
    hourly = run.hourly
    components = hourly[list(COMPONENTS)]
    explained = components.sum(axis=1) + hourly["residual"]
    scale = components.abs().sum(axis=1) + hourly["pnl"].abs() + hourly["residual"].abs()
    assert (np.abs(explained - hourly["pnl"]) <= 1e-9 * scale + 1e-12).all()

    # pnl is balance based: equity change minus the hour's net flow (first hour: from zero)
    previous = hourly["equity"].shift(1, fill_value=0.0)
    balance_pnl = hourly["equity"] - previous - hourly["net_flow"]
    tolerance = 1e-9 * (hourly["equity"].abs() + previous.abs() + hourly["net_flow"].abs())
    assert (np.abs(balance_pnl - hourly["pnl"]) <= tolerance).all()

    cumulative = hourly["pnl"].cumsum()
    assert (np.abs(cumulative - hourly["cumulative_pnl"]) <= 1e-9 * hourly["equity"].abs()).all()


@pytest.mark.parametrize("fixture", RUNS)
def test_summary_totals_agree_with_hourly_file(fixture, request):
    run = request.getfixturevalue(fixture)
    summary, hourly = run.summary, run.hourly
    assert summary["final_equity"] == pytest.approx(hourly["equity"].iloc[-1], rel=1e-9)
    assert summary["net_flows"] == pytest.approx(hourly["net_flow"].sum(), rel=1e-12)
    # the initial capital is a flow: cumulative P&L = final equity − net flows
    assert summary["cumulative_pnl"] == pytest.approx(
        summary["final_equity"] - summary["net_flows"], rel=1e-9
    )
    assert summary["cumulative_pnl"] == pytest.approx(
        hourly["cumulative_pnl"].iloc[-1], rel=1e-9, abs=1e-6
    )
    attribution = summary["pnl_attribution"]
    assert set(attribution) == set(COMPONENTS)
    for name in COMPONENTS:
        column = hourly[name]
        assert attribution[name] == pytest.approx(
            column.sum(), rel=1e-9, abs=1e-9 * column.abs().sum() + 1e-9
        )
    total = sum(attribution.values()) + summary["reconciliation_residual"]
    assert total == pytest.approx(summary["cumulative_pnl"], rel=1e-9)
    assert abs(summary["reconciliation_residual"]) <= RESIDUAL_LIMIT * summary["final_equity"]


def test_flows_are_logged_with_their_amounts(eth_basis_flows):
    events = eth_basis_flows.events
    flows = events[events["pnl_component"] == "flow"]
    assert list(flows["event_type"]) == ["Deposited", "Deposited", "WithdrawalPaid"]
    assert list(flows["time"]) == [pd.Timestamp("2024-05-01T00:00:00Z"), DEPOSIT_AT, WITHDRAWAL_AT]
    assert list(flows["amount"]) == pytest.approx([100_000.0, 50_000.0, -30_000.0], rel=1e-12)
    assert list(flows["pnl_amount"]) == pytest.approx([100_000.0, 50_000.0, -30_000.0], rel=1e-12)
    assert (flows["instrument"] == "wallet:BaseToken:USDT").all()

    hourly = eth_basis_flows.hourly
    assert hourly.loc[DEPOSIT_AT, "net_flow"] == pytest.approx(50_000.0, rel=1e-12)
    assert hourly.loc[WITHDRAWAL_AT, "net_flow"] == pytest.approx(-30_000.0, rel=1e-12)
    assert (hourly["net_flow"] != 0).sum() == 3
    assert eth_basis_flows.summary["net_flows"] == pytest.approx(120_000.0, rel=1e-12)


def test_flows_do_not_move_nav_per_share(eth_basis_flows):
    """Shares move at the pre-flow NAV per share, net of the flow's own costs, which its
    investor pays (`flows.cost_allocation: investor`, the default)."""
    hourly = eth_basis_flows.hourly
    nav, shares, equity = hourly["nav_per_share"], hourly["shares"], hourly["equity"]
    np.testing.assert_allclose(nav, equity / shares, rtol=1e-9)
    records = eth_basis_flows.summary["flows"][1:]
    assert [r["kind"] for r in records] == ["deposit", "withdrawal"]
    flows = ((DEPOSIT_AT, 50_000.0), (WITHDRAWAL_AT, -30_000.0))
    for (t, amount), record in zip(flows, records, strict=True):
        before = hourly.index[hourly.index.get_loc(t) - 1]
        assert abs(nav[t] / nav[before] - 1.0) < 0.002, (t, nav[before], nav[t])
        # the flow is not P&L: the hour's pnl is small next to the flow and equity
        assert abs(hourly.loc[t, "pnl"]) < 0.002 * equity[before]
        # shares are minted / burned at the NAV per share before the flow, net of its costs
        assert record["amount"] == pytest.approx(amount, rel=1e-12)
        assert 0 < record["costs"] < 0.005 * abs(amount)
        minted = shares[t] - shares[before]
        assert minted * record["nav_before"] == pytest.approx(amount - record["costs"], rel=1e-9)
        assert record["nav_after"] == pytest.approx(record["nav_before"], rel=1e-12)
    # shares change only on flow hours
    changed = hourly.index[shares.diff().fillna(shares.iloc[0]) != 0]
    assert list(changed) == [hourly.index[0], DEPOSIT_AT, WITHDRAWAL_AT]


def test_returns_are_measured_from_the_issue_price(btc_basis_full):
    """Domain 5/16: shares are issued at NAV 1.0, so entry costs are part of the return.

    With no flows after the initial deposit, total return must be final equity / capital − 1.
    Measuring from the end of the first hour (after entry costs) would hide those costs.
    """
    summary, hourly = btc_basis_full.summary, btc_basis_full.hourly
    assert hourly["shares"].iloc[0] == pytest.approx(summary["initial_capital"], rel=1e-12)
    assert hourly["pnl"].iloc[0] < 0  # entry costs were paid in the first hour
    expected = summary["final_equity"] / summary["initial_capital"] - 1.0
    assert summary["total_return"] == pytest.approx(expected, rel=1e-9)
