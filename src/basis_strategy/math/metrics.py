"""Performance metrics of a NAV-per-share series and funding rates (domain 1, 5, 16)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

HOURS_PER_YEAR = 8760
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
