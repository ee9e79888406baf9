"""Vectorised, causal alignment of observations onto the hourly grid.

Every function here reads, for a grid hour t, only observations stamped at or before t.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from basis_strategy.math.aave import SECONDS_PER_YEAR

NS_PER_HOUR = 3_600_000_000_000
NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR
# Growth rates carrying a daily observation to the next, measured on the data (README "Data"):
# ρ at its growth over its last 7 daily observations (smooth, ~2.7 %/yr); an AAVE index at its
# growth over the last day (the day's average rate: the 00:00 snapshot's own APR is a single
# intraday print, with spikes such as WETH's 22.6 % borrow rate of 2024-07-05).
# Between daily observations a yield (ρ, the AAVE liquidity index) accrues at the 40th
# percentile, a cost (the variable borrow index) at the 60th, of the last 30 daily growths:
# robust to a single day's jump and a little prudent, so the correction the next observation
# brings is more often a gain than a loss (on the data this keeps eth_leveraged's hourly NAV
# under water about as often as its daily NAV).
TRAILING_DAYS = 30
YIELD_QUANTILE = 0.4
COST_QUANTILE = 0.6


@dataclass(frozen=True)
class Bridge:
    """A stretch of hours filled by something other than the series' own observation there."""

    series: str
    kind: str  # "forward_fill" or "proxy"
    source: str
    start: datetime
    end: datetime
    hours: int  # hours from start to end, inclusive
    values: int  # values bridged: hours for a price series, settlements for funding

    def as_dict(self) -> dict[str, object]:
        return {
            "series": self.series,
            "kind": self.kind,
            "source": self.source,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "hours": self.hours,
            "values": self.values,
        }


def ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Nanoseconds since the epoch, int64, whatever the index's unit."""
    return np.asarray(index.as_unit("ns").asi8, dtype=np.int64)


def midnight_rows(series: pd.Series) -> pd.Series:
    """The observations stamped exactly 00:00 UTC (the daily snapshots of an interpolated file)."""
    return series[ns(pd.DatetimeIndex(series.index)) % NS_PER_DAY == 0]


def first_ns(series: pd.Series | pd.DataFrame) -> int:
    """The first observation's time in ns (the largest int64 when there is none)."""
    stamps = ns(pd.DatetimeIndex(series.index))
    return int(stamps[0]) if len(stamps) else int(np.iinfo(np.int64).max)


def last_at_or_before(obs_ns: np.ndarray, grid_ns: np.ndarray) -> np.ndarray:
    """Position of the last observation stamped <= each grid time (-1 where none)."""
    return np.searchsorted(obs_ns, grid_ns, side="right") - 1


def asof_hours(
    series: pd.Series, grid_ns: np.ndarray, max_age_hours: int
) -> tuple[np.ndarray, np.ndarray]:
    """Value at each grid hour = the last observation at or before it, if at most
    `max_age_hours` old; else NaN. Returns (values, age in hours; -1 where none)."""
    if series.empty:
        return np.full(len(grid_ns), np.nan), np.full(len(grid_ns), -1, dtype=np.int64)
    obs_ns = ns(pd.DatetimeIndex(series.index))
    pos = last_at_or_before(obs_ns, grid_ns)
    found = pos >= 0
    safe = np.where(found, pos, 0)
    age_hours = np.where(found, (grid_ns - obs_ns[safe]) // NS_PER_HOUR, -1)
    ok = found & (age_hours <= max_age_hours)
    values = np.where(ok, series.to_numpy(dtype=np.float64)[safe], np.nan)
    return values, age_hours


def trailing_growth(
    obs_ns: np.ndarray, values: np.ndarray, intervals: int, quantile: float = 0.5
) -> np.ndarray:
    """For each observation, the `quantile` of the log growth per second of the `intervals`
    observation intervals up to it (fewer at the start, 0 for the first). Known at t_k: it uses
    no observation stamped after it. The median is robust to a single day's jump; a quantile
    below it accrues a yield prudently (above it, a cost)."""
    rates = np.zeros(len(values))
    rates[1:] = np.diff(np.log(values)) / (np.diff(obs_ns) / NS_PER_SECOND)
    growth = np.zeros(len(values))
    for k in range(1, min(intervals, len(values))):  # the start: fewer intervals than asked
        growth[k] = np.quantile(rates[1 : k + 1], quantile)
    if len(values) > intervals:
        windows = np.lib.stride_tricks.sliding_window_view(rates[1:], intervals)
        growth[intervals:] = np.quantile(windows, quantile, axis=1)
    return growth


@dataclass(frozen=True)
class Accrual:
    """An observed level carried between its observations at a growth rate known at each one.

    `values[h]`: the last observation at or before hour h grown at its rate, NaN where that
    observation is older than the bound (or there is none); `age_hours` as `asof_hours`.
    `reanchored`: the hours at which a new observation replaced the accrued level, and `ratio`
    there: observation / (last hour's value grown one hour at the new observation's rate).
    """

    values: np.ndarray
    age_hours: np.ndarray
    reanchored: np.ndarray
    ratio: np.ndarray


def accrue(
    obs_ns: np.ndarray,
    levels: np.ndarray,
    growth_per_second: np.ndarray,
    grid_ns: np.ndarray,
    max_age_hours: int,
) -> Accrual:
    """`value(t) = level_k × exp(g_k (t − t_k))` with k the last observation at or before t
    (exactly the observation at its own hour): causal, smooth between observations, and equal
    to each observation when it arrives. The difference found then is kept as `ratio`."""
    pos = last_at_or_before(obs_ns, grid_ns)
    found = pos >= 0
    safe = np.where(found, pos, 0)
    growth = growth_per_second[safe]
    values = levels[safe] * np.exp(growth * ((grid_ns - obs_ns[safe]) / NS_PER_SECOND))
    age_hours = np.where(found, (grid_ns - obs_ns[safe]) // NS_PER_HOUR, -1)
    values[~found | (age_hours > max_age_hours)] = np.nan
    known = ~np.isnan(values)
    at = np.flatnonzero((pos[1:] != pos[:-1]) & known[1:] & known[:-1]) + 1
    step_seconds = (grid_ns[at] - grid_ns[at - 1]) / NS_PER_SECOND
    accrued = values[at - 1] * np.exp(growth[at] * step_seconds)
    return Accrual(values, age_hours, at, values[at] / accrued)


def carry_rho_daily(observed: pd.Series, grid_ns: np.ndarray, max_age_hours: int) -> Accrual:
    """LST ρ from its daily observations, each carried at the `YIELD_QUANTILE` of ρ's daily
    growths over the last `TRAILING_DAYS` observations."""
    obs_ns = ns(pd.DatetimeIndex(observed.index))
    levels = observed.to_numpy(dtype=np.float64)
    growth = trailing_growth(obs_ns, levels, TRAILING_DAYS, YIELD_QUANTILE)
    return accrue(obs_ns, levels, growth, grid_ns, max_age_hours)


def carry_aave_daily(
    daily: pd.DataFrame, grid_ns: np.ndarray, max_age_hours: int
) -> tuple[Accrual, Accrual, np.ndarray, np.ndarray]:
    """Liquidity and borrow index of daily AAVE snapshots carried to each hour (domain 4.1),
    each at a quantile of its daily growths over the last `TRAILING_DAYS` (`YIELD_QUANTILE`
    for the liquidity index, `COST_QUANTILE` for the borrow index; the first snapshot at its APR,
    compounded per second), and the last snapshot's supply and borrow APRs. NaN where the last
    snapshot is older than `max_age_hours`."""
    obs_ns = ns(pd.DatetimeIndex(daily.index))
    accruals = []
    for index, rate, quantile in (
        ("liquidity_index", "liquidity_rate", YIELD_QUANTILE),
        ("borrow_index", "borrow_rate", COST_QUANTILE),
    ):
        levels = daily[index].to_numpy(dtype=np.float64)
        growth = trailing_growth(obs_ns, levels, TRAILING_DAYS, quantile)
        growth[0] = math.log1p(float(daily[rate].iloc[0]) / SECONDS_PER_YEAR)
        accruals.append(accrue(obs_ns, levels, growth, grid_ns, max_age_hours))
    supply_apr, borrow_apr = (
        asof_hours(daily[rate], grid_ns, max_age_hours)[0]
        for rate in ("liquidity_rate", "borrow_rate")
    )
    return accruals[0], accruals[1], supply_apr, borrow_apr


def accrued_by_hour(
    columns: Mapping[str, np.ndarray], reanchored: Mapping[str, Accrual]
) -> dict[int, dict[str, float]]:
    """Grid position -> {series: its value at that hour by accrual alone} for the series a new
    observation re-anchored then. Taken from `columns` (after any shock) by each
    re-anchoring's ratio, so a shock moves the accrued value and the observation alike."""
    by_hour: dict[int, dict[str, float]] = {}
    for name, accrual in reanchored.items():
        accrued = columns[name][accrual.reanchored] / accrual.ratio
        for i, value in zip(accrual.reanchored.tolist(), accrued.tolist(), strict=True):
            by_hour.setdefault(i, {})[name] = value
    return by_hour


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (first, last) index pairs of each run of True in a boolean array."""
    if not mask.any():
        return []
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]
