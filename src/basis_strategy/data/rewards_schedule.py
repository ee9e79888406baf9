"""Restaking reward payouts per grid hour (domain 4.4), built from the ether.fi reward files.

A payout says: at this hour the venue pays `per_eeth_hour × Σ_h eETH-equivalent held` over the
hours h of [`period_start`, `period_end`). Everything here is a pure function of the tables the
readers in `sources/rewards.py` return, the run's hourly grid and (for the gap fill) the EIGEN
pool price on that grid.

- EIGEN weekly (`eigen_weekly`): `eigen_per_eeth_weekly / 168` per eETH-hour over
  [start 00:00, inclusive end + 1 day 00:00), paid at that period end.
- ETHFI top-ups (`ethfi_topup`): `ethfi_per_eeth_distributed / hours of the period`, paid at
  `top_up_date` 00:00, or at the period end if the top-up date came before it.
- Seasonal drops (`seasonal`, estimate): rows of `seasonal_drops.csv` that are not the top-ups
  again (same window, payout date and token), at the range midpoint / hours of the window,
  paid at `payout_date` (or the window end, as for the top-ups).
- Gap fill (`eeth_apy_gapfill`, estimate): complete 7-day periods after the last EIGEN
  period, ending within the run; EIGEN per eETH-hour = (mean DefiLlama eETH `Reward` APY of the
  period's days / 8760) / (EIGEN price in ETH at the payout hour).

Payouts whose payout hour is outside the grid are dropped; periods may start before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from basis_strategy.core.errors import ConfigError, DataError
from basis_strategy.data.market import RewardPayout

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
HOURS_PER_WEEK = 168
HOURS_PER_YEAR = 8760
REWARDS_MODES = ("base_only", "base_eigen", "base_eigen_seasonal")


@dataclass(frozen=True)
class RewardInputs:
    """The reader outputs a rewards mode needs (None where the mode does not use them).

    `eigen_price_eth`: WETH per EIGEN on the run grid (NaN before the pool's first bar), for
    the gap fill. `sources`: file names for error messages, keyed `reward_apy` and `eigen_price`.
    """

    eigen: pd.DataFrame | None = None
    topups: pd.DataFrame | None = None
    seasonal: pd.DataFrame | None = None
    reward_apy: pd.Series | None = None
    eigen_price_eth: np.ndarray | None = None
    sources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScheduledPayout:
    """A payout and the hour it is paid."""

    paid_at: datetime
    payout: RewardPayout


def _utc(value: object) -> datetime:
    stamp: datetime = pd.Timestamp(value).to_pydatetime()
    return stamp


def _period_hours(start: datetime, end: datetime) -> float:
    return (end - start) / HOUR


def eigen_payouts(eigen: pd.DataFrame) -> list[ScheduledPayout]:
    """EIGEN weekly distributions, paid at the 00:00 after each inclusive end date."""
    payouts = []
    for row in eigen.itertuples(index=False):
        start, end = _utc(row.period_start), _utc(row.period_end) + DAY
        per_hour = float(row.eigen_per_eeth) / HOURS_PER_WEEK
        payouts.append(
            ScheduledPayout(end, RewardPayout("EIGEN", "eigen_weekly", start, end, per_hour, False))
        )
    return payouts


def topup_payouts(topups: pd.DataFrame) -> list[ScheduledPayout]:
    """ETHFI top-ups: the per-period amount spread over the period's hours."""
    payouts = []
    for row in topups.itertuples(index=False):
        start, end = _utc(row.period_start), _utc(row.period_end) + DAY
        per_hour = float(row.ethfi_per_eeth) / _period_hours(start, end)
        paid_at = max(_utc(row.payout_date), end)  # never before the period has ended
        payouts.append(
            ScheduledPayout(
                paid_at, RewardPayout("ETHFI", "ethfi_topup", start, end, per_hour, False)
            )
        )
    return payouts


def seasonal_payouts(seasonal: pd.DataFrame, topups: pd.DataFrame | None) -> list[ScheduledPayout]:
    """Season drops at the range midpoint; rows repeating a top-up are left to the top-up."""
    known = set()
    if topups is not None:
        for row in topups.itertuples(index=False):
            known.add((_utc(row.period_start), _utc(row.period_end), _utc(row.payout_date)))
    payouts = []
    for row in seasonal.itertuples(index=False):
        start, end_date, payout = _utc(row.start), _utc(row.end), _utc(row.payout)
        if row.token == "ETHFI" and (start, end_date, payout) in known:
            continue
        end = end_date + DAY
        per_hour = float(row.reward_per_eeth_mid) / _period_hours(start, end)
        payouts.append(
            ScheduledPayout(
                max(payout, end),
                RewardPayout(str(row.token), "seasonal", start, end, per_hour, True),
            )
        )
    return payouts


def gapfill_payouts(
    after: datetime, grid: Sequence[datetime], inputs: RewardInputs
) -> list[ScheduledPayout]:
    """Weekly EIGEN estimates from the eETH reward APY for complete weeks after `after`."""
    payouts = []
    start = after
    while start + WEEK <= grid[-1]:
        end = start + WEEK
        if end >= grid[0]:
            apy, price = inputs.reward_apy, inputs.eigen_price_eth
            if apy is None or price is None:
                raise DataError(
                    f"the EIGEN gap fill paid at {end.isoformat()} needs the eETH reward APY "
                    "and the EIGEN price"
                )
            in_eth = float(price[grid_position(grid, end)])
            if np.isnan(in_eth):
                raise DataError(
                    f"{inputs.sources.get('eigen_price', 'EIGEN price')}: no EIGEN price at "
                    f"{end.isoformat()} for the eETH reward APY gap-fill payout"
                )
            per_hour = _mean_apy(apy, start, end, inputs) / HOURS_PER_YEAR / in_eth
            payouts.append(
                ScheduledPayout(
                    end, RewardPayout("EIGEN", "eeth_apy_gapfill", start, end, per_hour, True)
                )
            )
        start = end
    return payouts


def _mean_apy(apy: pd.Series, start: datetime, end: datetime, inputs: RewardInputs) -> float:
    stamps = pd.DatetimeIndex(apy.index)
    days = apy[(stamps >= pd.Timestamp(start)) & (stamps < pd.Timestamp(end))]
    if days.empty:
        raise DataError(
            f"{inputs.sources.get('reward_apy', 'eETH reward APY')}: no Reward APY row in "
            f"{start.isoformat()} -> {end.isoformat()} for the EIGEN gap fill"
        )
    return float(days.mean())


def grid_position(grid: Sequence[datetime], t: datetime) -> int:
    """Index of hour `t` on an hourly grid (-1 when `t` is off it)."""
    offset = t - grid[0]
    i = int(offset // HOUR)
    if offset % HOUR or not 0 <= i < len(grid):
        return -1
    return i


def reward_payouts(
    rewards_mode: str, grid: Sequence[datetime], inputs: RewardInputs
) -> list[ScheduledPayout]:
    """Every payout of `rewards_mode` paid at an hour of `grid`, in payout order.

    A table given as None has no rows (yet): it adds no payouts, and without an EIGEN period
    there is no gap fill.
    """
    if rewards_mode not in REWARDS_MODES:
        raise ConfigError(
            "staking.rewards_mode", f"must be one of {REWARDS_MODES}, was {rewards_mode!r}"
        )
    if rewards_mode == "base_only":
        return []
    eigen = [] if inputs.eigen is None else eigen_payouts(inputs.eigen)
    payouts = eigen + ([] if inputs.topups is None else topup_payouts(inputs.topups))
    if rewards_mode == "base_eigen_seasonal":
        if inputs.seasonal is not None:
            payouts += seasonal_payouts(inputs.seasonal, inputs.topups)
        if eigen:
            payouts += gapfill_payouts(max(p.payout.period_end for p in eigen), grid, inputs)
    on_grid = [p for p in payouts if grid_position(grid, p.paid_at) >= 0]
    return sorted(on_grid, key=lambda p: (p.paid_at, p.payout.token, p.payout.kind))


def reward_schedule(
    rewards_mode: str, grid: Sequence[datetime], inputs: RewardInputs
) -> dict[int, tuple[RewardPayout, ...]]:
    """Grid position -> the payouts of that hour (only hours with a payout appear)."""
    by_hour: dict[int, list[RewardPayout]] = {}
    for scheduled in reward_payouts(rewards_mode, grid, inputs):
        by_hour.setdefault(grid_position(grid, scheduled.paid_at), []).append(scheduled.payout)
    return {i: tuple(payouts) for i, payouts in by_hour.items()}
