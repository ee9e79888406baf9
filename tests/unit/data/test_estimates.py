"""Causal carry estimates for cost-aware rebalancing (issue 11): hand-worked values, and
nothing after t changes an estimate at t."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from basis_strategy.data.estimates import (
    estimate_columns,
    trailing_funding_apr,
    trailing_growth_apr,
    trailing_reward_apr,
)
from basis_strategy.data.market import FundingRate, RewardPayout

T = datetime(2024, 6, 1, tzinfo=UTC)


def test_growth_over_the_trailing_week_or_what_history_there_is() -> None:
    rho = 1.05 * (1 + 0.03 / 8760) ** np.arange(400.0)  # 3 % a year, compounded hourly
    apr = trailing_growth_apr(rho)
    assert np.isnan(apr[0])
    assert apr[1] == pytest.approx(0.03, rel=1e-4)  # one hour of history
    assert apr[399] == pytest.approx(((1 + 0.03 / 8760) ** 168 - 1) * 8760 / 168, rel=1e-12)


def test_funding_is_the_mean_of_the_last_21_settlements_held_between_them() -> None:
    schedule = {
        8 * i: (FundingRate("okx", "ETH", 0.0001 * i), FundingRate("bybit", "ETH", 0.0002))
        for i in range(1, 31)
    }
    columns = trailing_funding_apr(schedule, hours=250)
    okx = columns["funding_apr:okx:ETH"]
    assert np.isnan(okx[:8]).all()  # nothing settled yet
    assert okx[8] == okx[15] == pytest.approx(0.0001 * 1095)
    assert okx[16] == pytest.approx(0.00015 * 1095)
    last = np.mean([0.0001 * i for i in range(10, 31)])  # the last 21 of 30
    assert okx[249] == pytest.approx(last * 1095)
    assert columns["funding_apr:bybit:ETH"][100] == pytest.approx(0.0002 * 1095)


def payout(kind: str, per_eeth_hour: float, token: str = "EIGEN") -> RewardPayout:
    return RewardPayout(token, kind, T, T, per_eeth_hour, False)


def test_rewards_take_each_kind_latest_rate_for_35_days() -> None:
    hours = 2000
    prices = {"price:EIGEN": np.full(hours, 3.0), "price:ETHFI": np.full(hours, 1.5)}
    prices["price:ETH"] = np.full(hours, 3000.0)
    schedule = {
        100: (payout("eigen_weekly", 1e-4),),
        268: (payout("eigen_weekly", 2e-4), payout("ethfi_topup", 4e-4, "ETHFI")),
    }
    apr = trailing_reward_apr(schedule, prices, hours)
    eigen_1, eigen_2 = 1e-4 * 8760 * 0.001, 2e-4 * 8760 * 0.001
    ethfi = 4e-4 * 8760 * 0.0005
    assert (apr[:100] == 0).all()
    assert apr[100] == pytest.approx(eigen_1)
    assert apr[268] == pytest.approx(eigen_2 + ethfi)
    assert apr[268 + 35 * 24 - 1] == pytest.approx(eigen_2 + ethfi)
    assert apr[268 + 35 * 24] == 0.0  # both stale after 35 days


def test_no_estimate_reads_after_its_hour() -> None:
    """Cutting everything after hour 150 changes nothing at or before it."""
    rng = np.random.default_rng(7)
    hours = 300
    columns = {
        "lst_rate:weETH": np.cumprod(1 + rng.uniform(0, 1e-5, hours)),
        "price:ETH": 3000 + rng.normal(0, 10, hours),
        "price:EIGEN": 3 + rng.normal(0, 0.01, hours),
    }
    funding = {8 * i: (FundingRate("binance", "ETH", rng.normal(1e-4, 1e-4)),) for i in range(37)}
    rewards = {24 * i: (payout("eigen_weekly", rng.uniform(1e-5, 1e-4)),) for i in range(1, 12)}
    full = estimate_columns(columns, funding, rewards, hours, with_rewards=True)
    cut = 151
    short = estimate_columns(
        {name: values[:cut] for name, values in columns.items()},
        {p: r for p, r in funding.items() if p < cut},
        {p: r for p, r in rewards.items() if p < cut},
        cut,
        with_rewards=True,
    )
    assert set(full) == {"lst_apr:weETH", "funding_apr:binance:ETH", "reward_apr"}
    assert "reward_apr" not in estimate_columns(columns, funding, {}, hours, with_rewards=False)
    for name, values in short.items():
        np.testing.assert_array_equal(values, full[name][:cut])
        assert np.isfinite(values).all()  # 0 where there is no history yet
