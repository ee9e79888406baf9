"""Performance metrics of a NAV-per-share series and funding rates (domain 1, 5, 16).

Returns, annualised volatility, Sharpe and Sortino ratios, drawdown episodes, time under
water and the end-of-period sampling of an hourly series: plain functions of numpy arrays
(positions and whole hours since 1970-01-01 UTC, not timestamps; the report maps them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

HOURS_PER_YEAR = 8760
HOURS_PER_DAY = 24
DAYS_PER_YEAR = 365
FUNDING_INTERVALS_PER_YEAR = 3 * 365


def total_return(nav_start: float, nav_end: float) -> float:
    """Total return `nav_end / nav_start − 1` (use NAV per share, domain 5).

    Raises ValueError when `nav_start` is not positive.
    """
    if nav_start <= 0.0:
        raise ValueError(f"nav_start must be > 0, was {nav_start!r}")
    return nav_end / nav_start - 1.0


def annualised_return(nav_start: float, nav_end: float, hours: float) -> float:
    """Compounded annual return `(nav_end / nav_start) ** (8760 / hours) − 1` (domain 16).

    Raises ValueError when `nav_start` or `hours` is not positive or `nav_end` is negative.
    """
    if nav_start <= 0.0:
        raise ValueError(f"nav_start must be > 0, was {nav_start!r}")
    if nav_end < 0.0:
        raise ValueError(f"nav_end must be >= 0, was {nav_end!r}")
    if hours <= 0.0:
        raise ValueError(f"hours must be > 0, was {hours!r}")
    return float((nav_end / nav_start) ** (HOURS_PER_YEAR / hours)) - 1.0


def max_drawdown(nav: npt.ArrayLike) -> float:
    """Largest peak-to-trough fall `max(1 − nav / running_peak)` as a positive fraction.

    0 for a non-decreasing series. Raises ValueError for an empty series.
    """
    values = np.asarray(nav, dtype=np.float64)
    if values.size == 0:
        raise ValueError("nav must not be empty, was an empty array")
    peaks = np.maximum.accumulate(values)
    return float(np.max(1.0 - values / peaks))


def annualised_funding_apr(rates_per_8h: npt.ArrayLike) -> float:
    """Annualised funding APR `mean(f) × 3 × 365` (domain 1).

    Raises ValueError for an empty series.
    """
    rates = np.asarray(rates_per_8h, dtype=np.float64)
    if rates.size == 0:
        raise ValueError("rates_per_8h must not be empty, was an empty array")
    return float(np.mean(rates)) * FUNDING_INTERVALS_PER_YEAR


def per_period_rate(annual_rate: float, periods_per_year: float = HOURS_PER_YEAR) -> float:
    """The per-period rate that compounds to `annual_rate` over a year: `(1 + r)^(1/n) − 1`.

    Raises ValueError when `annual_rate <= −1` or `periods_per_year` is not positive.
    """
    if annual_rate <= -1.0:
        raise ValueError(f"annual_rate must be > -1, was {annual_rate!r}")
    if periods_per_year <= 0.0:
        raise ValueError(f"periods_per_year must be > 0, was {periods_per_year!r}")
    return float((1.0 + annual_rate) ** (1.0 / periods_per_year)) - 1.0


def period_returns(nav: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Simple returns `nav[i] / nav[i − 1] − 1` (one fewer than the values).

    Raises ValueError when a value before the last is not positive.
    """
    values = np.asarray(nav, dtype=np.float64)
    if values.size and not np.all(values[:-1] > 0.0):
        bad = float(values[:-1][~(values[:-1] > 0.0)][0])
        raise ValueError(f"nav must be > 0 before its last value, was {bad!r}")
    return values[1:] / values[:-1] - 1.0


def annualised_volatility(
    returns: npt.ArrayLike, periods_per_year: float = HOURS_PER_YEAR
) -> float | None:
    """Sample standard deviation (ddof 1) of per-period returns × `sqrt(periods_per_year)`.

    None with fewer than two returns.
    """
    values = np.asarray(returns, dtype=np.float64)
    if values.size < 2:
        return None
    return float(np.std(values, ddof=1)) * math.sqrt(periods_per_year)


def sharpe_ratio(
    returns: npt.ArrayLike,
    rf_per_period: float = 0.0,
    periods_per_year: float = HOURS_PER_YEAR,
) -> float | None:
    """Annualised Sharpe ratio `mean(r − rf) / std(r) × sqrt(periods_per_year)` (std ddof 1).

    None with fewer than two returns or when every return is the same (zero deviation).
    """
    values = np.asarray(returns, dtype=np.float64)
    if values.size < 2 or np.ptp(values) == 0.0:
        return None
    excess = float(np.mean(values)) - rf_per_period
    return excess / float(np.std(values, ddof=1)) * math.sqrt(periods_per_year)


def sortino_ratio(
    returns: npt.ArrayLike,
    rf_per_period: float = 0.0,
    periods_per_year: float = HOURS_PER_YEAR,
) -> float | None:
    """Annualised Sortino ratio `mean(r − rf) / DD × sqrt(periods_per_year)`.

    DD is the downside deviation against the risk-free rate over all N returns:
    `sqrt(Σ min(r − rf, 0)² / N)`. None when no return falls below `rf_per_period` (DD = 0)
    or there are no returns.
    """
    values = np.asarray(returns, dtype=np.float64)
    shortfall = np.minimum(values - rf_per_period, 0.0)
    if values.size == 0 or not np.any(shortfall < 0.0):
        return None
    downside = math.sqrt(float(np.mean(shortfall**2)))
    excess = float(np.mean(values)) - rf_per_period
    return excess / downside * math.sqrt(periods_per_year)


@dataclass(frozen=True)
class Drawdown:
    """The largest peak-to-trough fall of a series, as positions in it.

    `depth`: `1 − nav[trough] / nav[peak]` (0 and all positions None when the series never
    falls). `peak`: the last position at the running peak before the trough. `recovery`: the
    first position after the trough back at or above the peak value (None if never).
    """

    depth: float
    peak: int | None
    trough: int | None
    recovery: int | None


def drawdown_episode(nav: npt.ArrayLike) -> Drawdown:
    """The maximum drawdown of `nav` with its peak, trough and recovery positions.

    The first trough wins a tie. Raises ValueError for an empty series.
    """
    values = np.asarray(nav, dtype=np.float64)
    if values.size == 0:
        raise ValueError("nav must not be empty, was an empty array")
    peaks = np.maximum.accumulate(values)
    falls = 1.0 - values / peaks
    trough = int(np.argmax(falls))
    depth = float(falls[trough])
    if depth <= 0.0:
        return Drawdown(0.0, None, None, None)
    peak = int(np.flatnonzero(values[: trough + 1] == peaks[trough])[-1])
    back = np.flatnonzero(values[trough + 1 :] >= values[peak])
    recovery = trough + 1 + int(back[0]) if back.size else None
    return Drawdown(depth, peak, trough, recovery)


def under_water(nav: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """True where a value is below the running peak of the values up to it."""
    values = np.asarray(nav, dtype=np.float64)
    return values < np.maximum.accumulate(values) if values.size else np.zeros(0, dtype=bool)


def longest_run(mask: npt.ArrayLike) -> int:
    """Length of the longest run of consecutive True values (0 if none)."""
    flags = np.asarray(mask, dtype=bool)
    if not flags.any():
        return 0
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return int(np.max(edges[1::2] - edges[::2]))


def period_end_positions(
    hours: npt.ArrayLike, period_hours: int = HOURS_PER_DAY
) -> npt.NDArray[np.int64]:
    """Positions of the points that end a period of `period_hours` in a series stamped at
    `hours` (whole hours since 1970-01-01 UTC, not decreasing).

    A point ends a period when its hour is a multiple of `period_hours` (00:00 UTC for 24) and
    later than the first point's hour; the last point always ends the last period (shorter
    when it is not on the boundary). The first point starts the first period and is never an
    end. Empty for a series of one point. Raises ValueError when `period_hours` < 1.
    """
    if period_hours < 1:
        raise ValueError(f"period_hours must be >= 1, was {period_hours!r}")
    stamps = np.asarray(hours, dtype=np.int64)
    if stamps.size < 2:
        return np.zeros(0, dtype=np.int64)
    ends = (stamps % period_hours == 0) & (stamps > stamps[0])
    ends[-1] = True
    return np.flatnonzero(ends).astype(np.int64)
