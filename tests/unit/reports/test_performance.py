"""Return and risk figures of NAV per share (issue 11 item 4) against hand-worked values.

Total return and APY run end to end from the 1.0 issue price; risk figures use end-of-day NAV
per share (00:00 UTC, after that hour's trades; 365 periods a year); hourly figures are detail.
The frames have the hourly_pnl columns the figures read: 1000 shares unless given.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from basis_strategy.components.results_store import EVENT_COLUMNS, PNL_COLUMNS
from basis_strategy.config.loader import load_run_config
from basis_strategy.core.errors import DataError
from basis_strategy.reports.metrics import run_metrics
from basis_strategy.reports.nav import nav_points
from basis_strategy.reports.performance import NO_FALL

MIDNIGHT = datetime(2024, 6, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
SQRT_365 = math.sqrt(365)
NO_BALANCE = pd.DataFrame()
NO_EVENTS = pd.DataFrame(columns=list(EVENT_COLUMNS))
DAILY = (
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


def frame(nav: list[float], start: datetime = MIDNIGHT, **columns: list[float]) -> pd.DataFrame:
    """An hourly_pnl frame from `start`: 1000 shares at `nav` after a deposit of 1000 at the
    first hour, pnl the change in equity, a benchmark rising 0.001 % an hour."""
    n = len(nav)
    hourly = pd.DataFrame(
        0.0, index=pd.DatetimeIndex([start + i * HOUR for i in range(n)]), columns=PNL_COLUMNS
    )
    hourly["shares"] = 1000.0
    hourly["nav_per_share"] = nav
    hourly["equity"] = [1000.0 * v for v in nav]
    hourly["pnl"] = np.diff(np.concatenate(([1000.0], hourly["equity"].to_numpy())))
    hourly["net_flow"] = [1000.0] + [0.0] * (n - 1)
    hourly["benchmark_index"] = 1.0 + 1e-5 * np.arange(n)
    for name, values in columns.items():
        hourly[name] = values
    return hourly


def figures(hourly: pd.DataFrame, *sets: str) -> tuple[dict[str, object], dict[str, str]]:
    result = run_metrics(hourly, NO_BALANCE, NO_EVENTS, load_run_config("pure_lending", [*sets]))
    json.dumps(result.values, allow_nan=False)
    return result.values, result.undefined


def at(hours: int, start: datetime = MIDNIGHT) -> str:
    return (start + hours * HOUR).isoformat()


def four_days() -> list[float]:
    """97 hours from 00:00: 0.99 after the entry costs, 1.01 on day 1 with an intraday dip to
    0.90 at 06:00, 0.98 on day 2, 1.00 on day 3, 1.02 at the last hour (day 4, 00:00)."""
    nav = [0.99] * 24 + [1.01] * 24 + [0.98] * 24 + [1.0] * 24 + [1.02]
    nav[30] = 0.90
    return nav


# end-of-day points: issue 1.0 (day 0), 1.01, 0.98, 1.00, 1.02; the first hour's 0.99 is not one
RETURNS = [0.01, 0.98 / 1.01 - 1, 1.0 / 0.98 - 1, 0.02]
MEAN = sum(RETURNS) / 4
STD = math.sqrt(sum((r - MEAN) ** 2 for r in RETURNS) / 3)


def test_risk_figures_use_end_of_day_nav() -> None:
    values, undefined = figures(frame(four_days()))
    assert values["total_return"] == pytest.approx(0.02, rel=1e-12)
    assert values["apy"] == pytest.approx(1.02 ** (8760 / 96) - 1, rel=1e-12)
    assert values["annualised_volatility"] == pytest.approx(STD * SQRT_365, rel=1e-12)
    assert values["sharpe"] == pytest.approx(MEAN / STD * SQRT_365, rel=1e-12)
    downside = math.sqrt((0.98 / 1.01 - 1) ** 2 / 4)  # one shortfall over all four days
    assert values["sortino"] == pytest.approx(MEAN / downside * SQRT_365, rel=1e-12)
    # the 0.90 dip at 06:00 of day 1 is not an end of day: the daily drawdown is 1.01 -> 0.98
    assert values["max_drawdown"] == pytest.approx(1 - 0.98 / 1.01, rel=1e-12)
    assert values["max_drawdown_peak"] == at(24)
    assert values["max_drawdown_trough"] == at(48)
    assert values["max_drawdown_recovery"] == at(96)
    assert values["share_of_days_under_water"] == 0.5  # days 2 and 3 of 4
    assert values["longest_under_water_days"] == 2
    assert values["worst_day"] == {
        "start": at(24),
        "end": at(48),
        "return": pytest.approx(0.98 / 1.01 - 1, rel=1e-12),
        "pnl": pytest.approx(-30.0, rel=1e-9),  # 1000 shares × (0.98 − 1.01), hours 25..48
    }
    # hourly detail: under water in hours 0-23 (0.99), 30 (0.90) and 48-95: 73 of 97
    assert values["share_of_hours_under_water"] == pytest.approx(73 / 97, rel=1e-15)
    assert values["longest_under_water_hours"] == 48
    assert values["worst_hour"] == {
        "timestamp": at(30),
        "pnl": pytest.approx(-110.0, rel=1e-9),
        "return": pytest.approx(-110.0 / 1010.0, rel=1e-12),
    }
    assert values["nav_end"] == {"timestamp": at(96), "value": 1.02, "full_redemption": False}
    assert undefined == {}


def test_a_window_off_midnight_has_short_first_and_last_periods() -> None:
    start = MIDNIGHT + 13 * HOUR  # 13:00; 00:00 falls at rows 11 and 35; the last row is 54
    nav = [1.0] * 11 + [1.03] * 24 + [1.0] * 19 + [1.01]
    values, _ = figures(frame(nav, start))
    daily = [1.0, 1.03, 1.0, 1.01]  # issue at 13:00, 00:00, 00:00, the final hour (19:00)
    returns = np.diff(daily) / daily[:-1]
    assert values["annualised_volatility"] == pytest.approx(
        float(np.std(returns, ddof=1)) * SQRT_365, rel=1e-12
    )
    assert values["max_drawdown"] == pytest.approx(1 - 1.0 / 1.03, rel=1e-12)
    assert values["max_drawdown_peak"] == at(11, start) == "2024-06-02T00:00:00+00:00"
    assert values["max_drawdown_trough"] == at(35, start)
    assert values["max_drawdown_recovery"] is None
    assert values["worst_day"]["end"] == at(35, start)  # type: ignore[index]
    assert values["share_of_days_under_water"] == pytest.approx(2 / 3, rel=1e-15)
    assert values["apy"] == pytest.approx(1.01 ** (8760 / 54) - 1, rel=1e-12)


def test_risk_free_rate_is_compounded_per_day() -> None:
    values, _ = figures(frame(four_days()), "report.risk_free_rate=0.05")
    rf_day = 1.05 ** (1 / 365) - 1
    assert values["sharpe"] == pytest.approx((MEAN - rf_day) / STD * SQRT_365, rel=1e-12)
    shortfalls = [min(r - rf_day, 0.0) for r in RETURNS]
    downside = math.sqrt(sum(x * x for x in shortfalls) / 4)
    assert values["sortino"] == pytest.approx((MEAN - rf_day) / downside * SQRT_365, rel=1e-12)


@pytest.mark.parametrize(("rows", "defined"), [(48, False), (49, True)])
def test_daily_figures_need_two_days(rows: int, defined: bool) -> None:
    nav = [1.0 - 0.0001 * (i % 5) for i in range(rows)]
    values, undefined = figures(frame(nav))
    assert values["apy"] is not None and values["share_of_hours_under_water"] is not None
    if defined:  # 00:00 to 00:00 two days later: two daily returns
        assert all(values[k] is not None for k in DAILY if k != "max_drawdown_recovery")
        return
    reason = "NAV per share covers 47 hours, less than 2 days: daily figures need 2 days"
    assert {k: values[k] for k in DAILY} == dict.fromkeys(DAILY)
    assert undefined == dict.fromkeys(DAILY, reason)


def test_a_flat_path_has_no_deviation_and_no_drawdown() -> None:
    values, undefined = figures(frame([1.0] * 73))
    assert values["annualised_volatility"] == 0.0 and values["max_drawdown"] == 0.0
    assert undefined == {
        "sharpe": "every daily return is the same: no deviation",
        "sortino": "no daily return below the risk-free rate: no downside",
        "max_drawdown_peak": NO_FALL,
        "max_drawdown_trough": NO_FALL,
        "max_drawdown_recovery": NO_FALL,
    }


def test_one_hour_has_a_total_return_but_no_apy() -> None:
    values, undefined = figures(frame([0.998]))
    assert values["total_return"] == pytest.approx(-0.002, rel=1e-12)
    assert values["apy"] is None
    assert undefined["apy"] == "one hour of NAV per share: no time to annualise over"


def redeemed_on_day_three() -> pd.DataFrame:
    """1000 shares; at 2024-06-03 12:00 (row 60) the unwind costs 5 and the last shares are
    redeemed: 1000 × 1.015 paid out. Nothing is outstanding after it."""
    nav = [1.0] * 24 + [1.01] * 24 + [1.02] * 12 + [math.nan] * 30
    shares = [1000.0] * 60 + [0.0] * 30
    equity = [1000.0 * v for v in nav[:60]] + [0.0] * 30
    net_flow = [1000.0] + [0.0] * 59 + [-1015.0] + [0.0] * 29
    pnl = list(np.diff(np.concatenate(([1000.0], equity[:60])))) + [-5.0] + [0.0] * 29
    return frame(nav, shares=shares, equity=equity, net_flow=net_flow, pnl=pnl)


def test_a_full_redemption_ends_the_figures_at_the_redemption_price() -> None:
    values, undefined = figures(redeemed_on_day_three())
    price = 1015.0 / 1000.0  # equity before the payout (after the 5 of costs) / shares
    assert values["nav_end"] == {"timestamp": at(60), "value": price, "full_redemption": True}
    assert values["total_return"] == pytest.approx(0.015, rel=1e-12)
    assert values["apy"] == pytest.approx(1.015 ** (8760 / 60) - 1, rel=1e-12)
    # end of day: 1.0 (issue), 1.01 (day 1), 1.02 (day 2), then the redemption price
    assert values["max_drawdown"] == pytest.approx(1 - 1.015 / 1.02, rel=1e-12)
    assert values["max_drawdown_trough"] == at(60)
    assert values["worst_day"] == {
        "start": at(48),
        "end": at(60),
        "return": pytest.approx(1.015 / 1.02 - 1, rel=1e-12),
        "pnl": pytest.approx(-5.0, rel=1e-12),
    }
    assert values["share_of_hours_under_water"] == pytest.approx(1 / 61, rel=1e-15)
    assert undefined == {
        "max_drawdown_recovery": "not recovered: NAV per share stayed below the peak to the "
        "last point"
    }


def test_a_full_redemption_before_two_days_says_so() -> None:
    hourly = redeemed_on_day_three().iloc[:50].copy()
    hourly.iloc[40, hourly.columns.get_loc("shares")] = 0.0
    hourly.iloc[40, hourly.columns.get_loc("nav_per_share")] = math.nan
    _, undefined = figures(hourly)
    assert undefined["sharpe"] == (
        f"NAV per share covers 40 hours (to the full redemption at {at(40)}), less than 2 "
        "days: daily figures need 2 days"
    )


def test_nav_points_of_a_redeemed_run() -> None:
    points = nav_points(redeemed_on_day_three())
    assert points.rows.tolist() == list(range(-1, 61))
    assert points.nav[0] == 1.0 and points.nav[-1] == 1.015 and points.redeemed
    daily = points.daily()
    assert daily.rows.tolist() == [-1, 24, 48, 60]
    assert [daily.stamp(i) for i in range(4)] == [at(0), at(24), at(48), at(60)]


def test_no_shares_after_the_first_hour_is_a_data_error() -> None:
    hourly = frame([1.0, 1.0], shares=[0.0, 0.0])
    with pytest.raises(DataError, match=r"hourly_pnl: no shares outstanding after the first"):
        nav_points(hourly)
