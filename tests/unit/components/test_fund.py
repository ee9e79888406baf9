"""The fund books (domain 5, issue 11): shares at NAV per share, and who pays a flow's costs.

Hand-worked: a fund of 100,000 shares at NAV 1.1 (equity 110,000). A deposit of 11,000 whose
entry costs 55 mints (11,000 − 55) / 1.1 shares with `investor`, 11,000 / NAV at the deposit
with `pool`; a withdrawal of 22,000 whose exit costs 110 burns (22,000 + 110) / 1.1 shares
with `investor`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from basis_strategy.components.fund import FundBooks, ShareRegister
from basis_strategy.core.instructions import (
    EndGroup,
    PayWithdrawal,
    ReceiveDeposit,
    RefuseFlow,
    StartFlow,
    StartRebalance,
)

T = datetime(2024, 6, 1, tzinfo=UTC)
DEPOSIT = ReceiveDeposit(venue="wallet", action="flow", trigger="deposit", asset="USDT", amount=1)
PAYOUT = PayWithdrawal(venue="wallet", action="flow", trigger="withdrawal", asset="USDT", amount=1)


def start(kind: str, amount: float, shares: float = 0.0) -> StartFlow:
    return StartFlow(action="flow", trigger=kind, kind=kind, amount=amount, shares=shares)  # type: ignore[arg-type]


def seeded(allocation: str) -> FundBooks:
    """100,000 shares issued at 1.0; the book has since grown to 110,000 (NAV 1.1)."""
    books = FundBooks(allocation)
    books.open(start("deposit", 100_000.0), T, 0.0)
    books.cash_flow(DEPOSIT, 100_000.0, 0.0)
    books.close(100_000.0)
    return books


def test_share_register_mints_burns_and_keeps_the_average_cost() -> None:
    register = ShareRegister()
    assert register.nav_per_share(0.0) == 1.0
    register.mint(100_000.0, 100_000.0)
    register.mint(10_000.0, 11_000.0)  # bought at 1.1
    assert register.nav_per_share(121_000.0) == pytest.approx(1.1)
    basis = register.burn(11_000.0, 1.1)
    assert basis == pytest.approx(111_000.0 * 11_000.0 / 110_000.0)
    assert register.shares == pytest.approx(99_000.0)
    basis = register.burn(99_000.0 * (1 - 1e-14), 1.2)  # nearly all: all of them
    assert (register.shares, register.cost_basis) == (0.0, 0.0)
    assert register.nav_per_share(0.0) == 1.2  # new shares continue at the last NAV


def test_the_first_deposit_pays_its_entry_costs_through_the_nav() -> None:
    """No other holder exists: shares at the issue price, costs lower the NAV (domain 5)."""
    books = FundBooks("investor")
    books.open(start("deposit", 100_000.0), T, 0.0)
    books.cash_flow(DEPOSIT, 100_000.0, 0.0)
    books.close(99_900.0)  # 100 of entry costs
    (record,) = books.flows
    assert books.shares == 100_000.0
    assert record.costs == pytest.approx(100.0)
    assert record.costs_charged_to == "pool"
    assert record.nav_after == pytest.approx(0.999)


def test_investor_deposit_leaves_nav_per_share_unchanged() -> None:
    books = seeded("investor")
    books.open(start("deposit", 11_000.0), T, 110_000.0)
    books.cash_flow(DEPOSIT, 11_000.0, 110_000.0)
    assert books.shares == 100_000.0  # settled when the group ends
    books.close(110_000.0 + 11_000.0 - 55.0)
    record = books.flows[-1]
    assert books.shares == pytest.approx(100_000.0 + (11_000.0 - 55.0) / 1.1, rel=1e-15)
    assert record.nav_after == pytest.approx(1.1, rel=1e-15)
    assert (record.costs, record.costs_charged_to) == (pytest.approx(55.0), "investor")


def test_pool_deposit_spreads_its_costs_over_every_holder() -> None:
    books = seeded("pool")
    books.open(start("deposit", 11_000.0), T, 110_000.0)
    books.cash_flow(DEPOSIT, 11_000.0, 110_000.0)
    assert books.shares == pytest.approx(110_000.0)  # at the deposit's NAV, at once
    books.close(121_000.0 - 55.0)
    assert books.flows[-1].nav_after == pytest.approx((121_000.0 - 55.0) / 110_000.0)
    assert books.flows[-1].costs_charged_to == "pool"


def test_investor_withdrawal_burns_its_costs_and_reports_the_realised_return() -> None:
    books = seeded("investor")
    books.open(start("withdrawal", -22_000.0), T, 110_000.0)
    books.cash_flow(PAYOUT, -22_000.0, 110_000.0 - 110.0)
    books.close(110_000.0 - 110.0 - 22_000.0)
    record = books.flows[-1]
    burned = (22_000.0 + 110.0) / 1.1
    assert books.shares == pytest.approx(100_000.0 - burned, rel=1e-15)
    assert record.nav_after == pytest.approx(1.1, rel=1e-15)
    assert record.cost_basis == pytest.approx(burned)  # shares bought at 1.0
    assert record.realised_return == pytest.approx(22_000.0 / burned - 1.0)


def test_a_full_redemption_burns_every_share_and_pays_everything() -> None:
    books = seeded("investor")
    books.open(start("full_redemption", math.nan, math.inf), T, 110_000.0)
    books.cash_flow(PAYOUT, -109_000.0, 110_000.0 - 1_000.0)
    books.cash_flow(PAYOUT, -50.0, 50.0)  # the gas buffer, in kind
    books.close(0.0)
    record = books.flows[-1]
    assert books.shares == 0.0
    assert (record.kind, record.requested_shares, record.nav_after) == (
        "full_redemption",
        "all",
        None,
    )
    assert record.amount == pytest.approx(-109_050.0)
    assert (record.costs, record.costs_charged_to) == (pytest.approx(950.0), "investor")
    assert record.realised_return == pytest.approx(109_050.0 / 100_000.0 - 1.0)
    assert books.register.nav_per_share(0.0) == pytest.approx(1.1)  # a new deposit's price


def test_a_payout_that_failed_is_recorded_and_burns_nothing() -> None:
    books = seeded("investor")
    books.open(start("withdrawal", -22_000.0), T, 110_000.0)
    books.close(110_000.0 - 30.0)  # the unwind ran, the payout was refused
    assert books.shares == 100_000.0
    assert books.flows[-1].kind == "failed"


def test_refusals_are_recorded() -> None:
    books = seeded("investor")
    refusal = RefuseFlow(action="flow", trigger="withdrawal", amount=-1e6, reason="above equity")
    books.refuse(refusal, T)
    assert (books.flows[-1].kind, books.flows[-1].reason) == ("rejected", "above equity")
    assert books.shares == 100_000.0


def test_rebalance_groups_record_expected_and_actual_costs() -> None:
    books = seeded("investor")
    plan = StartRebalance(
        action="entry_partial",
        trigger="margin_excess",
        amount=5_000.0,
        expected_cost=12.0,
        expected_benefit=60.0,
        horizon_days=60,
    )
    note = books.open(plan, T, 110_000.0)
    assert "expected_cost=12" in note and "expected_benefit=60" in note
    assert books.group_note() == ";plan=2"
    assert books.close(110_000.0 - 11.5) == "plan=2;actual_cost=11.5"
    tally = books.rebalancing.as_dict()
    assert tally["taken"] == {"margin_excess": 1}
    assert (tally["amount_moved"], tally["expected_cost"], tally["actual_cost"]) == (
        5_000.0,
        12.0,
        pytest.approx(11.5),
    )
    assert books.shares == 100_000.0  # no flow: no shares move


def test_groups_cannot_nest_or_close_twice() -> None:
    books = seeded("pool")
    books.open(start("deposit", 1.0), T, 110_000.0)
    with pytest.raises(RuntimeError):
        books.open(start("deposit", 1.0), T, 110_000.0)
    books.close(110_000.0)
    with pytest.raises(RuntimeError):
        books.close(110_000.0)
    assert EndGroup(action="flow", trigger="x").venue == "fund"
