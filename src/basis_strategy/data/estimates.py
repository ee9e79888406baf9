"""Causal carry estimates for cost-aware rebalancing (issue 11): what a yield is expected to
be, from what was observed up to t.

- `lst_apr:{LST}`: the annualised growth of ρ over the trailing week (staking yield).
- `funding_apr:{venue}:{BASE}`: the mean of the last 21 funding settlements (a week), per 8 h,
  × 3 × 365, held until the next settlement.
- `reward_apr`: restaking rewards per ETH of eETH-equivalent held, annualised: per reward kind,
  the rate of its latest payout × the token's ETH price then, for 35 days after it; summed.

They use only values at or before each hour, so they add no look-ahead; they are columns of the
hour's `MarketState` like any series, 0 where there is no history yet (no benefit counted);
`reward_apr` is absent from a run whose mode earns no restaking rewards.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from basis_strategy.data.market import FundingRate, RewardPayout
from basis_strategy.math.metrics import FUNDING_INTERVALS_PER_YEAR, HOURS_PER_YEAR

WEEK_HOURS = 168
WEEK_SETTLEMENTS = 21
REWARD_RATE_VALID_HOURS = 35 * 24


def trailing_growth_apr(values: np.ndarray, window_hours: int = WEEK_HOURS) -> np.ndarray:
    """`(v_t / v_{t−w} − 1) × 8760 / w` with w = min(window, hours of history); NaN at t = 0."""
    positions = np.arange(len(values))
    lag = np.minimum(positions, window_hours)
    past = values[positions - lag]
    apr = np.full(len(values), np.nan)
    has_history = lag > 0
    apr[has_history] = (values[has_history] / past[has_history] - 1.0) * (
        HOURS_PER_YEAR / lag[has_history]
    )
    return apr


def trailing_funding_apr(
    schedule: Mapping[int, tuple[FundingRate, ...]],
    hours: int,
    settlements: int = WEEK_SETTLEMENTS,
) -> dict[str, np.ndarray]:
    """Per venue and base: the mean of the last `settlements` rates, annualised, at every hour
    from its first settlement on (NaN before)."""
    rates: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for position in sorted(schedule):
        for rate in schedule[position]:
            rates.setdefault((rate.venue, rate.base), []).append((position, rate.rate_per_8h))
    columns: dict[str, np.ndarray] = {}
    for (venue, base), observed in rates.items():
        positions = np.array([p for p, _ in observed], dtype=np.int64)
        values = np.array([r for _, r in observed], dtype=np.float64)
        sums = np.concatenate(([0.0], np.cumsum(values)))
        count = np.arange(1, len(values) + 1)
        first = np.maximum(count - settlements, 0)
        means = (sums[count] - sums[first]) / (count - first)
        latest = np.searchsorted(positions, np.arange(hours), side="right") - 1
        column = np.where(latest >= 0, means[np.maximum(latest, 0)], np.nan)
        columns[f"funding_apr:{venue}:{base}"] = column * FUNDING_INTERVALS_PER_YEAR
    return columns


def trailing_reward_apr(
    schedule: Mapping[int, tuple[RewardPayout, ...]],
    columns: Mapping[str, np.ndarray],
    hours: int,
) -> np.ndarray:
    """ETH of rewards per ETH of eETH-equivalent a year, from the payouts up to each hour."""
    total = np.zeros(hours)
    kinds: dict[str, list[tuple[int, float]]] = {}
    for position in sorted(schedule):
        for payout in schedule[position]:
            price_eth = columns[f"price:{payout.token}"][position] / columns["price:ETH"][position]
            rate = payout.per_eeth_hour * HOURS_PER_YEAR * price_eth
            kinds.setdefault(payout.kind, []).append((position, rate))
    for paid in kinds.values():
        for (position, rate), nxt in zip(paid, [*paid[1:], (hours, 0.0)], strict=True):
            until = min(nxt[0], position + REWARD_RATE_VALID_HOURS, hours)
            total[position:until] += rate
    return total


def estimate_columns(
    columns: Mapping[str, np.ndarray],
    funding: Mapping[int, tuple[FundingRate, ...]],
    rewards: Mapping[int, tuple[RewardPayout, ...]],
    hours: int,
    with_rewards: bool,
) -> dict[str, np.ndarray]:
    """The estimate columns for a run's aligned (and shocked) series, funding and rewards;
    `reward_apr` only for a run that reads reward files (`with_rewards`)."""
    estimates = {
        "lst_apr:" + name.split(":", 1)[1]: trailing_growth_apr(values)
        for name, values in columns.items()
        if name.startswith("lst_rate:")
    }
    estimates.update(trailing_funding_apr(funding, hours))
    if with_rewards:  # no column for a run without restaking rewards: `reward_apr` reads as 0
        estimates["reward_apr"] = trailing_reward_apr(rewards, columns, hours)
    return {name: np.nan_to_num(values, nan=0.0) for name, values in estimates.items()}
