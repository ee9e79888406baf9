"""Performance metrics: returns, volatility, Sharpe / Sortino, drawdown episodes, funding APR."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from basis_strategy.math.metrics import (
    Drawdown,
    annualised_funding_apr,
    annualised_return,
    annualised_volatility,
    drawdown_episode,
    longest_run,
    max_drawdown,
    per_period_rate,
    period_end_positions,
    period_returns,
    sharpe_ratio,
    sortino_ratio,
    total_return,
    under_water,
)

SQRT_YEAR = math.sqrt(8760)  # 93.5949...


@pytest.mark.parametrize(
    ("nav_start", "nav_end", "expected"),
    [(100.0, 106.42, 0.0642), (1.0, 0.9, -0.1), (2.0, 2.0, 0.0)],
)
def test_total_return_table(nav_start: float, nav_end: float, expected: float) -> None:
    assert total_return(nav_start, nav_end) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_total_return_rejects_non_positive_start() -> None:
    with pytest.raises(ValueError, match=r"nav_start must be > 0, was 0.0"):
        total_return(0.0, 1.0)


@pytest.mark.parametrize(
    ("nav_start", "nav_end", "hours", "expected"),
    [
        (1.0, 1.05, 8760.0, 0.05),  # one year: the plain return
        (1.0, 1.01, 876.0, 1.01**10 - 1),  # a tenth of a year compounds 10 times: 0.104622
        (1.0, 1.1025, 17_520.0, 0.05),  # two years: sqrt(1.1025) − 1
        (100.0, 98.0, 4380.0, 0.98**2 - 1),  # half a year: −3.96%
    ],
)
def test_annualised_return_table(
    nav_start: float, nav_end: float, hours: float, expected: float
) -> None:
    assert annualised_return(nav_start, nav_end, hours) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0.0, 1.0, 10.0), r"nav_start must be > 0, was 0.0"),
        ((1.0, 1.0, 0.0), r"hours must be > 0, was 0.0"),
        ((1.0, -0.5, 10.0), r"nav_end must be >= 0, was -0.5"),
    ],
)
def test_annualised_return_rejects_bad_inputs(
    args: tuple[float, float, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        annualised_return(*args)


@pytest.mark.parametrize(
    ("nav", "expected"),
    [
        ([1.0, 1.2, 0.9, 1.1, 0.6, 1.3], 0.5),  # peak 1.2, trough 0.6: 1 − 0.6/1.2
        ([1.0, 0.8, 1.5, 1.2], 0.2),  # 1 − 0.8/1.0 = 0.2 vs 1 − 1.2/1.5 = 0.2
        ([1.0, 0.9, 2.0, 1.0], 0.5),  # later, larger: 1 − 1.0/2.0
        ([1.0, 1.0, 1.1, 1.2], 0.0),  # monotone
        ([5.0], 0.0),
    ],
)
def test_max_drawdown_table(nav: list[float], expected: float) -> None:
    assert max_drawdown(np.array(nav)) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_max_drawdown_rejects_empty() -> None:
    with pytest.raises(ValueError, match=r"nav must not be empty"):
        max_drawdown(np.array([]))


@given(
    arrays(
        np.float64,
        st.integers(1, 50),
        elements=st.floats(allow_subnormal=False, min_value=0.01, max_value=1e3),
    )
)
def test_max_drawdown_bounds(nav: np.ndarray) -> None:
    drawdown = max_drawdown(nav)
    assert 0.0 <= drawdown < 1.0
    assert max_drawdown(np.sort(nav)) == 0.0
    # The last value's drawdown from the running peak never exceeds the maximum.
    assert 1.0 - nav[-1] / nav.max() <= drawdown + 1e-12


@pytest.mark.parametrize(
    ("rates", "expected_apr"),
    [
        ([0.0001, 0.0001, 0.0001], 0.1095),  # 1 bp per 8h = 0.0001 * 1095 = 10.95%
        ([0.0002, -0.0001, 0.0002], 0.1095),  # mean 1 bp
        ([0.000118], 0.12921),  # Binance ETH 2024 mean: 0.0118% -> 12.92%
        ([-0.0001], -0.1095),
    ],
)
def test_annualised_funding_apr_table(rates: list[float], expected_apr: float) -> None:
    assert annualised_funding_apr(np.array(rates)) == pytest.approx(expected_apr, rel=1e-9)


def test_annualised_funding_apr_rejects_empty() -> None:
    with pytest.raises(ValueError, match=r"rates_per_8h must not be empty"):
        annualised_funding_apr(np.array([]))


@given(
    rate=st.floats(allow_subnormal=False, min_value=-0.01, max_value=0.01), n=st.integers(1, 100)
)
def test_annualised_funding_apr_of_constant_rate(rate: float, n: int) -> None:
    assert math.isclose(annualised_funding_apr(np.full(n, rate)), rate * 1095, rel_tol=1e-12)


# --- per-period rate and returns ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("annual", "periods", "expected"),
    [
        (0.0, 8760, 0.0),
        (0.21, 2, 0.1),  # 1.1² = 1.21
        (0.05, 8760, 5.5696689545e-06),  # expm1(ln(1.05) / 8760)
        (-0.19, 2, -0.1),  # 0.9² = 0.81
    ],
)
def test_per_period_rate_table(annual: float, periods: float, expected: float) -> None:
    assert per_period_rate(annual, periods) == pytest.approx(expected, rel=1e-9, abs=1e-18)


@given(st.floats(min_value=-0.5, max_value=0.5))
def test_per_period_rate_compounds_back_to_the_annual_rate(annual: float) -> None:
    assert (1 + per_period_rate(annual)) ** 8760 - 1 == pytest.approx(annual, abs=1e-11)


def test_per_period_rate_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"annual_rate must be > -1, was -1.0"):
        per_period_rate(-1.0)
    with pytest.raises(ValueError, match=r"periods_per_year must be > 0, was 0"):
        per_period_rate(0.05, 0)


def test_period_returns() -> None:
    returns = period_returns([1.0, 1.1, 0.99, 0.0])
    np.testing.assert_allclose(returns, [0.1, -0.1, -1.0], rtol=1e-14)
    assert period_returns([2.0]).size == 0
    with pytest.raises(ValueError, match=r"nav must be > 0 before its last value, was 0.0"):
        period_returns([1.0, 0.0, 1.0])


# --- volatility, Sharpe, Sortino: four returns by hand -------------------------------------------

FOUR = [0.01, -0.02, 0.03, 0.00]
# mean 0.005; deviations 0.005, −0.025, 0.025, −0.005; Σ squares 0.0013; sample variance /3
FOUR_STD = math.sqrt(0.0013 / 3)  # 0.0208167


def test_annualised_volatility_of_four_returns() -> None:
    assert annualised_volatility(FOUR) == pytest.approx(FOUR_STD * SQRT_YEAR, rel=1e-12)
    assert annualised_volatility(FOUR) == pytest.approx(1.948331, rel=1e-6)
    assert annualised_volatility(FOUR, periods_per_year=365) == pytest.approx(
        FOUR_STD * math.sqrt(365), rel=1e-12
    )


def test_sharpe_of_four_returns() -> None:
    assert sharpe_ratio(FOUR) == pytest.approx(0.005 / FOUR_STD * SQRT_YEAR, rel=1e-12)
    assert sharpe_ratio(FOUR) == pytest.approx(22.48077, rel=1e-6)
    # a risk-free 0.1 % per period leaves 0.4 % of excess
    assert sharpe_ratio(FOUR, 0.001) == pytest.approx(0.004 / FOUR_STD * SQRT_YEAR, rel=1e-12)


def test_sortino_with_one_negative_return() -> None:
    returns = [0.02, -0.01, 0.03, 0.0]  # mean 0.01; shortfalls 0, −0.01, 0, 0
    downside = math.sqrt(0.01**2 / 4)  # 0.005: over all four returns
    assert sortino_ratio(returns) == pytest.approx(0.01 / downside * SQRT_YEAR, rel=1e-12)
    assert sortino_ratio(returns) == pytest.approx(2 * SQRT_YEAR, rel=1e-12)
    # against 0.5 % a period: shortfalls 0, −0.015, 0, −0.005; excess mean 0.005
    downside_rf = math.sqrt((0.015**2 + 0.005**2) / 4)
    assert sortino_ratio(returns, 0.005) == pytest.approx(
        0.005 / downside_rf * SQRT_YEAR, rel=1e-12
    )


@pytest.mark.parametrize(
    ("returns", "rf"),
    [([0.01, 0.02], 0.0), ([0.01, 0.01, 0.03], 0.01), ([], 0.0)],
)
def test_sortino_is_none_without_a_shortfall(returns: list[float], rf: float) -> None:
    assert sortino_ratio(returns, rf) is None


def test_sharpe_and_volatility_need_two_distinct_returns() -> None:
    assert sharpe_ratio([0.001, 0.001, 0.001]) is None  # no deviation
    assert sharpe_ratio([0.001]) is None
    assert annualised_volatility([0.001]) is None
    assert annualised_volatility([0.001, 0.001]) == 0.0


# --- drawdown episodes and time under water ---------------------------------------------------

SIX = [1.0, 1.02, 0.99, 0.97, 1.01, 1.03]  # peak 1.02 (1), trough 0.97 (3), back above at 5


@pytest.mark.parametrize(
    ("nav", "expected"),
    [
        (SIX, Drawdown(1 - 0.97 / 1.02, 1, 3, 5)),
        ([1.0, 1.1, 1.0, 1.05], Drawdown(1 - 1.0 / 1.1, 1, 2, None)),  # never recovered
        ([1.0, 1.0, 0.9, 1.0], Drawdown(0.1, 1, 2, 3)),  # last hour at the peak; equal = back
        ([1.0, 0.5, 2.0, 1.0, 3.0], Drawdown(0.5, 0, 1, 2)),  # a tie: the first trough
        ([1.0, 1.0, 1.2], Drawdown(0.0, None, None, None)),
        ([3.0], Drawdown(0.0, None, None, None)),
    ],
)
def test_drawdown_episode_table(nav: list[float], expected: Drawdown) -> None:
    episode = drawdown_episode(nav)
    assert episode.depth == pytest.approx(expected.depth, rel=1e-12, abs=1e-15)
    assert (episode.peak, episode.trough, episode.recovery) == (
        expected.peak,
        expected.trough,
        expected.recovery,
    )


def test_drawdown_episode_rejects_empty() -> None:
    with pytest.raises(ValueError, match=r"nav must not be empty"):
        drawdown_episode([])


@given(
    arrays(
        np.float64,
        st.integers(1, 60),
        elements=st.floats(allow_subnormal=False, min_value=0.01, max_value=1e3),
    )
)
def test_drawdown_episode_agrees_with_max_drawdown(nav: np.ndarray) -> None:
    episode = drawdown_episode(nav)
    assert episode.depth == max_drawdown(nav)
    if episode.depth > 0:
        assert episode.peak is not None and episode.trough is not None
        assert episode.peak < episode.trough
        assert nav[episode.peak] == nav[: episode.trough + 1].max()
        assert 1 - nav[episode.trough] / nav[episode.peak] == episode.depth
        if episode.recovery is not None:
            assert nav[episode.recovery] >= nav[episode.peak]
            assert (nav[episode.trough + 1 : episode.recovery] < nav[episode.peak]).all()
        else:
            assert (nav[episode.trough + 1 :] < nav[episode.peak]).all()


def test_under_water_and_longest_run() -> None:
    assert under_water(SIX).tolist() == [False, False, True, True, True, False]
    assert longest_run(under_water(SIX)) == 3
    assert longest_run([True, False, True, True, False, True, True, True]) == 3
    assert longest_run([True, True, False]) == 2
    assert longest_run([False, False]) == 0
    assert longest_run([]) == 0
    assert under_water([]).size == 0


# --- end-of-period sampling (daily NAV at 00:00 UTC) -------------------------------------------

DAY_ONE = 19_875 * 24  # 2024-06-01T00:00Z in hours since 1970-01-01


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [
        (list(range(49)), [24, 48]),  # 00:00 to 00:00: the first hour starts, never ends
        (list(range(13, 68)), [11, 35, 54]),  # 13:00 to 19:00 two days on: short ends
        (list(range(25)), [24]),
        (list(range(5)), [4]),  # no 00:00 after the start: the last point ends the period
        ([0, 0, 1, 24], [3]),  # a second point at the first hour (the issue price's) is no end
        ([3], []),
    ],
)
def test_period_end_positions_table(offsets: list[int], expected: list[int]) -> None:
    hours = np.array(offsets) + DAY_ONE
    assert period_end_positions(hours).tolist() == expected


def test_period_end_positions_rejects_a_period_below_one_hour() -> None:
    with pytest.raises(ValueError, match=r"period_hours must be >= 1, was 0"):
        period_end_positions([DAY_ONE, DAY_ONE + 1], 0)


hourly_paths = st.tuples(
    st.integers(0, 23),
    arrays(
        np.float64,
        st.integers(2, 24 * 6),
        elements=st.floats(allow_subnormal=False, min_value=0.5, max_value=2.0),
    ),
)


@given(hourly_paths)
def test_daily_points_cover_the_series_a_day_at_most_apart(path: tuple[int, np.ndarray]) -> None:
    start, nav = path
    hours = DAY_ONE + start + np.arange(nav.size)
    ends = period_end_positions(hours)
    points = np.concatenate(([0], ends))
    assert ends[-1] == nav.size - 1
    assert np.all(np.diff(points) > 0)
    assert np.all(np.diff(hours[points]) <= 24)
    assert np.all(hours[ends[:-1]] % 24 == 0)
    # every 00:00 after the start is a point
    assert set(np.flatnonzero((hours % 24 == 0) & (hours > hours[0]))) <= set(ends.tolist())


@given(hourly_paths)
def test_daily_sampling_keeps_the_return_and_never_deepens_the_drawdown(
    path: tuple[int, np.ndarray],
) -> None:
    start, nav = path
    points = np.concatenate(([0], period_end_positions(DAY_ONE + start + np.arange(nav.size))))
    daily = nav[points]
    growth = float(np.prod(1.0 + period_returns(daily)))
    assert growth == pytest.approx(nav[-1] / nav[0], rel=1e-9)
    assert max_drawdown(daily) <= max_drawdown(nav) + 1e-15
    # a point under water among the daily points is under water among the hourly ones
    assert not np.any(under_water(daily) & ~under_water(nav)[points])
