"""Causal carrying of daily observations between their days (data.align): hand-worked values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from basis_strategy.data.align import accrue, ns, trailing_growth

DAY_S = 86_400


def stamps(*hours: int) -> np.ndarray:
    start = pd.Timestamp("2024-06-01T00:00:00Z")
    return ns(pd.DatetimeIndex([start + pd.Timedelta(hours=h) for h in hours]))


def test_trailing_growth_over_the_last_intervals() -> None:
    obs = stamps(0, 24, 48, 72)
    levels = np.array([1.0, 1.01, 1.0302, 1.04])
    one = trailing_growth(obs, levels, 1)
    assert one[0] == 0.0  # nothing before the first observation
    assert one[1] == pytest.approx(math.log(1.01) / DAY_S, rel=1e-12)
    assert one[3] == pytest.approx(math.log(1.04 / 1.0302) / DAY_S, rel=1e-12)
    two = trailing_growth(obs, levels, 2)
    assert two[1] == pytest.approx(math.log(1.01) / DAY_S, rel=1e-12)  # only one interval yet
    assert two[3] == pytest.approx(math.log(1.04 / 1.01) / (2 * DAY_S), rel=1e-12)


def test_trailing_growth_takes_a_quantile_of_the_daily_growths() -> None:
    """A single day's jump moves the median not at all; the 40th percentile is prudent."""
    obs = stamps(*range(0, 24 * 7, 24))
    rates = [0.01, 0.01, 0.01, 0.05, 0.01, 0.02]  # daily log growth, a jump on day 4
    levels = np.exp(np.concatenate(([0.0], np.cumsum(rates))))
    median = trailing_growth(obs, levels, 5, 0.5)
    assert median[5] == pytest.approx(0.01 / DAY_S, rel=1e-12)  # days 1-5: the jump ignored
    assert median[6] == pytest.approx(0.01 / DAY_S, rel=1e-12)
    low = trailing_growth(obs, levels, 5, 0.4)
    high = trailing_growth(obs, levels, 5, 0.6)
    assert low[6] == pytest.approx(np.quantile(rates[1:6], 0.4) / DAY_S, rel=1e-12)
    assert low[6] <= median[6] <= high[6]
    assert high[6] == pytest.approx(np.quantile(rates[1:6], 0.6) / DAY_S, rel=1e-12)
    # the start: fewer intervals than asked; growth never reads a later observation
    assert low[2] == pytest.approx(np.quantile(rates[:2], 0.4) / DAY_S, rel=1e-12)
    cut = trailing_growth(obs[:4], levels[:4], 5, 0.4)
    np.testing.assert_array_equal(cut, low[:4])


def test_accrue_grows_each_observation_at_its_rate_and_keeps_the_reanchoring_ratio() -> None:
    obs = stamps(0, 24, 48)
    levels = np.array([1.0, 1.01, 1.0302])
    growth = trailing_growth(obs, levels, 1)
    grid = stamps(*range(51))
    accrual = accrue(obs, levels, growth, grid, max_age_hours=24)
    values = accrual.values
    assert values[12] == 1.0  # the first observation has no growth yet
    assert values[24] == 1.01  # exactly the observation at its hour
    assert values[36] == pytest.approx(1.01 * 1.01**0.5, rel=1e-15)
    assert values[48] == 1.0302
    assert accrual.age_hours[36] == 12


def test_accrue_bounds_the_age_and_reanchors_only_after_a_known_hour() -> None:
    obs = stamps(0, 24, 48)
    levels = np.array([1.0, 1.01, 1.0302])
    growth = trailing_growth(obs, levels, 1)
    grid = stamps(*range(51))
    accrual = accrue(obs, levels, growth, grid, max_age_hours=30)
    assert not np.isnan(accrual.values[:50]).any()
    assert accrual.reanchored.tolist() == [24, 48]
    day1 = math.log(1.01) / DAY_S
    day2 = math.log(1.0302 / 1.01) / DAY_S
    accrued_24 = 1.0 * math.exp(day1 * 3600)  # 23 h at no growth, then 1 h at the new rate
    accrued_48 = 1.01 * math.exp(day1 * 23 * 3600) * math.exp(day2 * 3600)
    assert accrual.ratio.tolist() == pytest.approx([1.01 / accrued_24, 1.0302 / accrued_48])
    short = accrue(obs, levels, growth, grid, max_age_hours=20)
    assert np.isnan(short.values[21:24]).all() and np.isnan(short.values[45:48]).all()
    assert short.reanchored.tolist() == []  # the hour before each observation was unknown
    assert short.age_hours[50] == 2
