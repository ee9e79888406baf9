"""Return and risk figures of a run's NAV per share, each with its convention (issue 4, 11).

`total_return` and `apy` run end to end, from the 1.0 issue price to the last NAV point (see
`reports.nav`): they need no sampling. Volatility, Sharpe, Sortino, max drawdown with its
dates, time under water and the worst period use end-of-day NAV per share (00:00 UTC), as
funds report them: daily returns, annualised with 365. Hourly NAV marks jump once a day when
daily data arrives, so hourly figures stay only as detail, under hourly names. A figure that
cannot be computed is None and `Figures.undefined` says why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from basis_strategy.math.metrics import (
    DAYS_PER_YEAR,
    HOURS_PER_DAY,
    annualised_return,
    annualised_volatility,
    drawdown_episode,
    longest_run,
    per_period_rate,
    period_returns,
    sharpe_ratio,
    sortino_ratio,
    total_return,
    under_water,
)
from basis_strategy.reports.nav import NavPoints

MIN_DAILY_SPAN_HOURS = 2 * HOURS_PER_DAY
DAILY = "daily NAV per share at 00:00 UTC"
DAILY_ANNUAL = f"{DAILY}, {DAYS_PER_YEAR} periods/yr"
HOURLY = "hourly NAV per share (detail)"
CONVENTIONS: dict[str, str] = {
    "end_of_day": (
        "the NAV per share recorded at the 00:00 UTC hour, after that hour's trades; the first "
        "point is the 1.0 issue price at the start, before the first hour's trades; the last "
        "is the final NAV per share when it is not at 00:00; daily figures need 2 days (48 "
        "hours) of NAV per share, else they are null"
    ),
    "total_return": "end to end: last NAV per share / 1.0 issue price − 1 (no sampling)",
    "apy": "end to end: the total return compounded to 8760 hours (no sampling)",
    "nav_end": (
        "the last NAV per share: the final hour's, or after a full redemption the redemption "
        "price (the NAV per share just before the payout, after the unwind costs)"
    ),
    "risk_free_rate": "annual, compounded per day in the Sharpe and Sortino ratios",
    "annualised_volatility": f"{DAILY_ANNUAL}: sample standard deviation × √365",
    "sharpe": f"{DAILY_ANNUAL}: mean excess return / sample standard deviation × √365",
    "sortino": f"{DAILY_ANNUAL}: mean excess return / downside deviation × √365",
    "max_drawdown": f"{DAILY}: largest fall from the running peak (issue price included)",
    "max_drawdown_peak": DAILY,
    "max_drawdown_trough": DAILY,
    "max_drawdown_recovery": f"{DAILY}: first point back at the peak",
    "share_of_days_under_water": f"{DAILY}: share of the points after the start below the peak",
    "longest_under_water_days": f"{DAILY}: most consecutive points below the peak",
    "worst_day": f"{DAILY}: the period with the lowest return; pnl: its hours' balance P&L",
    "share_of_hours_under_water": f"{HOURLY}: share of the hours below the running peak",
    "longest_under_water_hours": f"{HOURLY}: most consecutive hours below the running peak",
    "worst_hour": "hourly (detail): the lowest pnl / previous hour's equity",
}
NO_FALL = "no drawdown: NAV per share never fell below its running peak"


@dataclass
class Figures:
    """Figures by name, and why each figure that is None could not be computed.

    `undefined` keys are figure names, dotted for a field of a figure (`worst_hour.return`).
    """

    values: dict[str, object] = field(default_factory=dict)
    undefined: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: object, why_none: str = "") -> None:
        """Set a figure; when it is None, record `why_none` as the reason."""
        self.values[name] = value
        if value is None:
            if not why_none:
                raise ValueError(f"{name}: a None figure needs a reason")
            self.undefined[name] = why_none

    def none(self, names: Iterable[str], reason: str) -> None:
        for name in names:
            self.add(name, None, reason)


def nav_figures(hourly: pd.DataFrame, points: NavPoints, risk_free_rate: float) -> Figures:
    """End-to-end returns, daily risk figures and hourly detail of an hourly_pnl frame whose
    NAV points (`reports.nav.nav_points`) are `points`."""
    figures = Figures()
    end_to_end(points, figures)
    figures.add("risk_free_rate", risk_free_rate)
    daily_figures(points.daily(), hourly["pnl"].to_numpy(dtype=np.float64), risk_free_rate, figures)
    wet = under_water(points.nav)[1:]
    figures.add("share_of_hours_under_water", float(np.mean(wet)))
    figures.add("longest_under_water_hours", longest_run(wet))
    worst_hour(hourly, figures)
    return figures


def end_to_end(points: NavPoints, figures: Figures) -> None:
    """Total return and APY from the issue price to the last point, and that point."""
    start, end, hours = float(points.nav[0]), float(points.nav[-1]), points.span_hours
    figures.add("total_return", total_return(start, end))
    if hours <= 0:
        figures.add("apy", None, "one hour of NAV per share: no time to annualise over")
    elif end < 0.0:
        figures.add("apy", None, "NAV per share ended below 0: no compounded rate")
    else:
        figures.add("apy", annualised_return(start, end, hours))
    last = {"timestamp": points.stamp(-1), "value": end, "full_redemption": points.redeemed}
    figures.add("nav_end", last)


DAILY_FIGURES = (
    "annualised_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_peak",
    "max_drawdown_trough",
    "max_drawdown_recovery",
    "share_of_days_under_water",
    "longest_under_water_days",
    "worst_day",
)


def daily_figures(daily: NavPoints, pnl: np.ndarray, rf: float, figures: Figures) -> None:
    """Risk figures of the end-of-day points; all None (with the reason) when undefined.

    `pnl`: the hourly balance P&L, by hourly_pnl row.
    """
    reason = daily_undefined(daily)
    if reason is not None:
        figures.none(DAILY_FIGURES, reason)
        return
    returns = period_returns(daily.nav)
    rf_day = per_period_rate(rf, DAYS_PER_YEAR)
    vol = annualised_volatility(returns, DAYS_PER_YEAR)
    figures.add("annualised_volatility", vol, "fewer than 2 daily returns")
    sharpe = sharpe_ratio(returns, rf_day, DAYS_PER_YEAR)
    figures.add("sharpe", sharpe, "every daily return is the same: no deviation")
    sortino = sortino_ratio(returns, rf_day, DAYS_PER_YEAR)
    figures.add("sortino", sortino, "no daily return below the risk-free rate: no downside")
    episode = drawdown_episode(daily.nav)
    figures.add("max_drawdown", episode.depth)
    figures.add("max_drawdown_peak", daily.stamp(episode.peak), NO_FALL)
    figures.add("max_drawdown_trough", daily.stamp(episode.trough), NO_FALL)
    not_back = "not recovered: NAV per share stayed below the peak to the last point"
    recovery = daily.stamp(episode.recovery)
    figures.add("max_drawdown_recovery", recovery, NO_FALL if episode.peak is None else not_back)
    wet = under_water(daily.nav)[1:]
    figures.add("share_of_days_under_water", float(np.mean(wet)))
    figures.add("longest_under_water_days", longest_run(wet))
    figures.add("worst_day", worst_day(daily, returns, pnl))


def daily_undefined(daily: NavPoints) -> str | None:
    """Why the daily figures cannot be computed, or None when they can."""
    if daily.span_hours < MIN_DAILY_SPAN_HOURS:
        to = f" (to the full redemption at {daily.stamp(-1)})" if daily.redeemed else ""
        return (
            f"NAV per share covers {daily.span_hours} hours{to}, less than 2 days: "
            "daily figures need 2 days"
        )
    low = np.flatnonzero(daily.nav[:-1] <= 0.0)
    if low.size:
        return f"NAV per share at or below 0 at {daily.stamp(int(low[0]))}: no returns after it"
    return None


def worst_day(daily: NavPoints, returns: np.ndarray, pnl: np.ndarray) -> dict[str, object]:
    """The period between two end-of-day points with the lowest return (the first on a tie),
    with the balance P&L of its hours (after the start point's hour, through the end's)."""
    j = int(np.argmin(returns))
    cumulative = np.concatenate(([0.0], np.cumsum(pnl)))  # [row + 1]: P&L through that row
    start, end = int(daily.rows[j]) + 1, int(daily.rows[j + 1]) + 1
    return {
        "start": daily.stamp(j),
        "end": daily.stamp(j + 1),
        "return": float(returns[j]),
        "pnl": float(cumulative[end] - cumulative[start]),
    }


def worst_hour(hourly: pd.DataFrame, figures: Figures) -> None:
    """The hour with the lowest return `pnl / previous hour's equity` (the first hour: its
    net flow, the capital that arrived). Hours without a positive base rank by pnl after
    them; `return` is None for such an hour."""
    pnl = hourly["pnl"].to_numpy(dtype=np.float64)
    equity = hourly["equity"].to_numpy(dtype=np.float64)
    base = np.concatenate((hourly["net_flow"].to_numpy(dtype=np.float64)[:1], equity[:-1]))
    ok = base > 0.0
    ratios = np.divide(pnl, base, out=np.full(len(pnl), np.nan), where=ok)
    i = int(np.nanargmin(ratios)) if ok.any() else int(np.argmin(pnl))
    stamp = pd.to_datetime(hourly.index, utc=True)[i].isoformat()
    value = float(ratios[i]) if ok[i] else None
    figures.add("worst_hour", {"timestamp": stamp, "pnl": float(pnl[i]), "return": value})
    if value is None:
        figures.undefined["worst_hour.return"] = "no hour has a positive equity before it"
