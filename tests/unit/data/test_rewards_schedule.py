"""Reward payouts per grid hour (domain 4.4): EIGEN weekly, ETHFI top-ups, seasons, gap fill.

Expected amounts are read from the raw CSVs with the csv module; the schedule is built from the
project's readers (tested in test_sources_rewards.py) on the real files or on small frames.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from basis_strategy.config.loader import load_run_config
from basis_strategy.core.errors import ConfigError, DataError
from basis_strategy.data.market import RewardPayout
from basis_strategy.data.provider import HistoricalDataProvider
from basis_strategy.data.rewards_schedule import (
    RewardInputs,
    ScheduledPayout,
    reward_payouts,
    reward_schedule,
)
from basis_strategy.data.sources.rewards import (
    read_eeth_reward_apy,
    read_eigen_distributions,
    read_ethfi_topups,
    read_seasonal_drops,
)

DATA_DIR = Path(
    os.environ.get("BASIS_DATA_DIR")
    or Path(__file__).resolve().parents[3].parent / "shared" / "data"
)
ETHERFI = DATA_DIR / "manual_sources/etherfi_distributions"
APY_FILE = "bar-chart-supply-apy-2025-09-29-eeth.csv"
TOKENS = "market_data/spot_prices/protocol_tokens"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def hourly(start: str, end: str) -> list[datetime]:
    index = pd.date_range(pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"), freq="h")
    return list(index.to_pydatetime())


def raw_rows(name: str) -> list[dict[str, str]]:
    with (ETHERFI / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def real_inputs() -> RewardInputs:
    return RewardInputs(
        eigen=read_eigen_distributions(ETHERFI / "eigen_distributions_raw.csv"),
        topups=read_ethfi_topups(ETHERFI / "ethfi_topups_raw.csv"),
        seasonal=read_seasonal_drops(ETHERFI / "seasonal_drops.csv"),
        reward_apy=read_eeth_reward_apy(ETHERFI / APY_FILE),
    )


WIDE = hourly("2024-01-01", "2025-08-03")  # every file's payouts, before any gap fill


def by_kind(payouts: list[ScheduledPayout], kind: str) -> list[RewardPayout]:
    return [s.payout for s in payouts if s.payout.kind == kind]


# --- EIGEN weekly -------------------------------------------------------------------------------


@pytest.mark.parametrize("row", [0, 1, 40, 43])
def test_eigen_payout_of_a_known_row(real_inputs: RewardInputs, row: int) -> None:
    raw = raw_rows("eigen_distributions_raw.csv")[row]
    start = utc(raw["staking_period_start"])
    end = utc(raw["staking_period_end"]) + DAY  # the end date is inclusive
    schedule = reward_schedule("base_eigen", WIDE, real_inputs)
    paid = WIDE.index(end)
    eigen = [p for p in schedule[paid] if p.token == "EIGEN"]
    assert eigen == [
        RewardPayout(
            "EIGEN",
            "eigen_weekly",
            start,
            end,
            float(raw["eigen_per_eeth_weekly"]) / 168,
            False,
        )
    ]


def test_first_eigen_row_is_the_52_day_backfill(real_inputs: RewardInputs) -> None:
    payouts = reward_payouts("base_eigen", WIDE, real_inputs)
    first = by_kind(payouts, "eigen_weekly")[0]
    assert (first.period_start, first.period_end) == (utc("2024-08-15"), utc("2024-10-06"))
    # 7.4 weeks of holding at 0.205 per week
    assert first.per_eeth_hour * 52 * 24 == pytest.approx(0.205 * 52 / 7, rel=1e-15)
    assert len(by_kind(payouts, "eigen_weekly")) == 44


# --- ETHFI top-ups and seasons ------------------------------------------------------------------


def test_topup_spread_over_its_period_and_paid_on_its_date(real_inputs: RewardInputs) -> None:
    payouts = reward_payouts("base_eigen", WIDE, real_inputs)
    topups = by_kind(payouts, "ethfi_topup")
    raw = raw_rows("ethfi_topups_raw.csv")
    assert len(topups) == len(raw) == 7
    for payout, row in zip(topups, raw, strict=True):
        start, end = utc(row["staking_period_start"]), utc(row["staking_period_end"]) + DAY
        hours = (end - start) / HOUR
        assert (payout.token, payout.period_start, payout.period_end) == ("ETHFI", start, end)
        assert payout.per_eeth_hour == float(row["ethfi_per_eeth_distributed"]) / hours
        assert not payout.estimate
    schedule = reward_schedule("base_eigen", WIDE, real_inputs)
    paid = {WIDE[i] for i, ps in schedule.items() for p in ps if p.kind == "ethfi_topup"}
    assert paid == {utc(row["top_up_date"]) for row in raw}


def test_topup_dated_before_its_period_end_is_paid_at_the_period_end() -> None:
    topups = pd.DataFrame(
        {
            "payout_date": [pd.Timestamp("2024-06-03", tz="UTC")],
            "period_start": [pd.Timestamp("2024-06-01", tz="UTC")],
            "period_end": [pd.Timestamp("2024-06-07", tz="UTC")],
            "ethfi_per_eeth": [0.3],
        }
    )
    grid = hourly("2024-06-01", "2024-06-10")
    schedule = reward_schedule("base_eigen", grid, RewardInputs(topups=topups))
    assert list(schedule) == [grid.index(utc("2024-06-08"))]
    (payout,) = schedule[grid.index(utc("2024-06-08"))]
    assert payout.per_eeth_hour == 0.3 / (7 * 24)


def test_seasonal_rows_are_not_counted_twice_with_the_topups(real_inputs: RewardInputs) -> None:
    payouts = reward_payouts("base_eigen_seasonal", WIDE, real_inputs)
    seasonal, topups = by_kind(payouts, "seasonal"), by_kind(payouts, "ethfi_topup")
    assert len(raw_rows("seasonal_drops.csv")) == 10  # seasons 1-5 and top-ups #1-#5
    assert len(topups) == 7
    assert len(seasonal) == 5  # the five seasons only
    assert {(p.period_start, p.period_end) for p in seasonal}.isdisjoint(
        {(p.period_start, p.period_end) for p in topups}
    )
    assert all(p.estimate and p.token == "ETHFI" for p in seasonal)
    season4 = next(p for p in seasonal if p.period_start == utc("2024-09-15"))
    assert season4.period_end == utc("2025-02-01")  # end date 2025-01-31 inclusive
    assert season4.per_eeth_hour == 2.0 / ((utc("2025-02-01") - utc("2024-09-15")) / HOUR)
    schedule = reward_schedule("base_eigen_seasonal", WIDE, real_inputs)
    assert season4 in schedule[WIDE.index(utc("2025-02-15"))]  # paid on payout_date


def test_payouts_outside_the_grid_are_dropped(real_inputs: RewardInputs) -> None:
    grid = hourly("2024-10-13 01:00", "2024-10-20")
    payouts = reward_payouts("base_eigen_seasonal", grid, real_inputs)
    # the EIGEN payout at 2024-10-13 00:00 is an hour before the grid; the last hour counts
    assert [(s.paid_at, s.payout.kind, s.payout.period_start) for s in payouts] == [
        (utc("2024-10-18"), "ethfi_topup", utc("2024-08-15")),  # its period began before
        (utc("2024-10-20"), "eigen_weekly", utc("2024-10-13")),
    ]
    assert reward_payouts("base_only", WIDE, real_inputs) == []
    with pytest.raises(ConfigError, match=r"staking\.rewards_mode: must be one of"):
        reward_payouts("eigen", WIDE, real_inputs)


# --- gap fill -------------------------------------------------------------------------------------


def test_gap_fill_weekly_from_the_reward_apy(real_inputs: RewardInputs) -> None:
    grid = hourly("2025-07-01", "2025-08-25 12:00")
    price = np.full(len(grid), 4e-4)
    price[grid.index(utc("2025-08-17"))] = 5e-4
    inputs = RewardInputs(
        eigen=real_inputs.eigen, reward_apy=real_inputs.reward_apy, eigen_price_eth=price
    )
    gap = by_kind(reward_payouts("base_eigen_seasonal", grid, inputs), "eeth_apy_gapfill")
    # the last EIGEN period ends 2025-08-02 (inclusive); complete weeks ending within the run
    assert [(p.period_start, p.period_end) for p in gap] == [
        (utc("2025-08-03"), utc("2025-08-10")),
        (utc("2025-08-10"), utc("2025-08-17")),
        (utc("2025-08-17"), utc("2025-08-24")),
    ]
    apy = {
        utc(row["Date"]): float(row["Reward"]) / 100
        for row in raw_rows(APY_FILE)
        if row["Reward"].strip()
    }
    week = [apy[utc("2025-08-10") + i * DAY] for i in range(7)]
    expected = (math.fsum(week) / 7) / 8760 / 5e-4
    assert gap[1].per_eeth_hour == pytest.approx(expected, rel=1e-14)
    assert all(p.token == "EIGEN" and p.estimate for p in gap)
    assert not by_kind(reward_payouts("base_eigen", grid, inputs), "eeth_apy_gapfill")


def test_gap_fill_at_a_nan_price_raises(real_inputs: RewardInputs) -> None:
    grid = hourly("2025-08-01", "2025-08-12")
    price = np.full(len(grid), 4e-4)
    price[grid.index(utc("2025-08-10"))] = np.nan
    inputs = RewardInputs(
        eigen=real_inputs.eigen,
        reward_apy=real_inputs.reward_apy,
        eigen_price_eth=price,
        sources={"eigen_price": "pool.csv"},
    )
    with pytest.raises(DataError, match=r"pool\.csv: no EIGEN price at 2025-08-10"):
        reward_payouts("base_eigen_seasonal", grid, inputs)


# --- through the provider -----------------------------------------------------------------------


def test_provider_pays_rewards_at_their_hour_only() -> None:
    config = load_run_config("eth_staking_only", env={})
    provider = HistoricalDataProvider(config, DATA_DIR)
    paid = utc("2024-10-13")
    provider.set_clock(paid + HOUR)
    (payout,) = provider.get_data(paid).rewards
    assert (payout.token, payout.kind) == ("EIGEN", "eigen_weekly")
    assert payout.per_eeth_hour == 0.179 / 168
    assert provider.get_data(paid + HOUR).rewards == ()
    assert provider.get_data(paid - HOUR).rewards == ()
    count = sum(len(p) for p in provider.rewards.values())
    assert count == 44 + 7


def test_a_payout_at_an_hour_without_a_token_price_raises(tmp_path: Path) -> None:
    """The EIGEN pool cut to start after the first EIGEN payout (2024-10-06 00:00)."""
    pool = f"{TOKENS}/uniswapv3_EIGENWETH_1h_2024-10-05_2025-09-27.csv"
    for pattern in (
        "market_data/spot_prices/eth_usd/*",
        "blockchain_data/gas_prices/*",
        "protocol_data/aave/oracle/weETH_ETH_oracle_*.csv",
        "protocol_data/staking/peg_analysis/weETH_*",
        "market_data/spot_prices/protocol_tokens/*",
        "manual_sources/etherfi_distributions/*",
    ):
        for path in DATA_DIR.glob(pattern):
            target = tmp_path / path.relative_to(DATA_DIR)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    lines = (tmp_path / pool).read_text(encoding="utf-8").splitlines(keepends=True)
    first_kept = int(utc("2024-10-07").timestamp())
    kept = [lines[0], *(line for line in lines[1:] if int(line.split(",")[0]) >= first_kept)]
    (tmp_path / pool).write_text("".join(kept), encoding="utf-8")
    sets = ["start=2024-09-01T00:00:00Z", "end=2024-10-20T00:00:00Z"]
    config = load_run_config("eth_staking_only", sets, env={})
    with pytest.raises(DataError) as raised:
        HistoricalDataProvider(config, tmp_path)
    message = str(raised.value)
    assert pool in message
    assert "no EIGEN price at 2024-10-06 00:00 UTC" in message
