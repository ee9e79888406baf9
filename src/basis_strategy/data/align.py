"""Vectorised, causal alignment of observations onto the hourly grid.

Every function here reads, for a grid hour t, only observations stamped at or before t.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from basis_strategy.math.aave import project_borrow_index, project_liquidity_index

NS_PER_HOUR = 3_600_000_000_000
NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR


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


def project_aave_daily(
    daily: pd.DataFrame, grid_ns: np.ndarray, max_age_hours: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hourly liquidity and borrow indices projected from the last daily snapshot (domain 4.1 (a)).

    LI(t) = LI(d0) (1 + R_L Δt / SPY); BI(t) = BI(d0) (1 + R_B / SPY)^Δt, Δt in seconds.
    Also returns the snapshot's supply and borrow APRs. NaN where the last snapshot is older
    than `max_age_hours`.
    """
    obs_ns = ns(pd.DatetimeIndex(daily.index))
    pos = last_at_or_before(obs_ns, grid_ns)
    found = pos >= 0
    safe = np.where(found, pos, 0)
    dt_seconds = (grid_ns - obs_ns[safe]) / NS_PER_SECOND
    li0 = daily["liquidity_index"].to_numpy(dtype=np.float64)[safe]
    rl = daily["liquidity_rate"].to_numpy(dtype=np.float64)[safe]
    bi0 = daily["borrow_index"].to_numpy(dtype=np.float64)[safe]
    rb = daily["borrow_rate"].to_numpy(dtype=np.float64)[safe]
    li = project_liquidity_index(li0, rl, dt_seconds)
    bi = project_borrow_index(bi0, rb, dt_seconds)
    stale = ~found | (dt_seconds > max_age_hours * 3600)
    for column in (li, bi, rl, rb):
        column[stale] = np.nan
    return li, bi, rl, rb


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (first, last) index pairs of each run of True in a boolean array."""
    if not mask.any():
        return []
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]
