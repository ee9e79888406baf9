"""Performance metrics: returns, drawdown, funding APR."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from basis_strategy.math.metrics import (
    annualised_funding_apr,
    annualised_return,
    max_drawdown,
    total_return,
)


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
