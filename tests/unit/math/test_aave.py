"""AAVE v3 maths (domain 4.1): hand-worked tables plus Hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from basis_strategy.math.aave import (
    SECONDS_PER_YEAR,
    LiquidationResult,
    amount_from_scaled,
    borrowing_power,
    health_factor,
    liquidate,
    liquidate_until_healthy,
    loan_to_value,
    project_borrow_index,
    project_liquidity_index,
    scaled_from_amount,
)

positive = st.floats(
    allow_subnormal=False, min_value=1e-3, max_value=1e9, allow_nan=False, allow_infinity=False
)
index_values = st.floats(allow_subnormal=False, min_value=0.5, max_value=2.0)
fractions = st.floats(allow_subnormal=False, min_value=0.01, max_value=0.99)


def test_seconds_per_year() -> None:
    assert SECONDS_PER_YEAR == 365 * 24 * 3600 == 31_536_000


@pytest.mark.parametrize(
    ("amount", "index", "scaled"),
    [
        (1000.0, 1.0, 1000.0),
        (1000.0, 1.25, 800.0),  # 1000 / 1.25
        (105.0, 1.05, 100.0),  # 105 / 1.05
        (0.0, 1.1, 0.0),
    ],
)
def test_scaled_amount_table(amount: float, index: float, scaled: float) -> None:
    assert scaled_from_amount(amount, index) == pytest.approx(scaled, rel=1e-12)
    assert amount_from_scaled(scaled, index) == pytest.approx(amount, rel=1e-12)


@pytest.mark.parametrize("index", [0.0, -1.0])
def test_scaled_from_amount_rejects_non_positive_index(index: float) -> None:
    with pytest.raises(ValueError, match=r"index must be > 0, was"):
        scaled_from_amount(1.0, index)


@given(amount=positive, index0=index_values, index1=index_values)
def test_scaled_balance_grows_with_index(amount: float, index0: float, index1: float) -> None:
    # Supply at index0, read at index1: underlying = amount * index1 / index0.
    scaled = scaled_from_amount(amount, index0)
    assert math.isclose(amount_from_scaled(scaled, index1), amount * index1 / index0, rel_tol=1e-12)


@pytest.mark.parametrize(
    ("index0", "rate_apr", "dt_seconds", "expected"),
    [
        (1.0, 0.0642, SECONDS_PER_YEAR, 1.0642),  # one year simple: 1 + 0.0642
        (1.0, 0.0642, 3600, 1.0 + 0.0642 * 3600 / 31_536_000),  # 1 + 7.3288e-6
        (1.1, 0.05, SECONDS_PER_YEAR / 2, 1.1 * 1.025),  # half a year: 1.1 * (1 + 0.025)
        (1.07, 0.3, 0, 1.07),  # no time, no change
    ],
)
def test_project_liquidity_index_table(
    index0: float, rate_apr: float, dt_seconds: float, expected: float
) -> None:
    assert project_liquidity_index(index0, rate_apr, dt_seconds) == pytest.approx(
        expected, rel=1e-14
    )


@pytest.mark.parametrize(
    ("index0", "rate_apr", "dt_seconds", "expected"),
    [
        # (1 + r/SPY)^SPY ~ exp(r): exp(0.0265) = 1.0268542...
        (1.0, 0.0265, SECONDS_PER_YEAR, math.exp(0.0265)),
        # 22.6% spike for one day on index 1.05: 1.05 * exp(0.226 / 365) = 1.0506505...
        (1.05, 0.226, 86_400, 1.05 * math.exp(0.226 / 365)),
        (1.02, 0.03, 0, 1.02),
    ],
)
def test_project_borrow_index_table(
    index0: float, rate_apr: float, dt_seconds: float, expected: float
) -> None:
    # (1 + x)^n vs exp(nx) differ by n x^2 / 2 = 31.5e6 * (8.4e-10)^2 / 2 ~ 1.1e-11 relative.
    # (A naive float64 `(1 + r/SPY) ** n` is off by ~4e-9 here and fails this tolerance.)
    assert project_borrow_index(index0, rate_apr, dt_seconds) == pytest.approx(expected, rel=1e-10)


def test_borrow_index_compounds_per_second_not_continuously() -> None:
    # Ten seconds at 1e6 APR (x = 1e6/SPY = 0.0317): (1 + x)^10 = 1.36640..., whereas
    # continuous compounding would give exp(0.317) = 1.37312...
    x = 1e6 / SECONDS_PER_YEAR
    assert project_borrow_index(1.0, 1e6, 10) == pytest.approx((1 + x) ** 10, rel=1e-14)
    assert project_borrow_index(1.0, 1e6, 10) < math.exp(10 * x) * (1 - 1e-3)


@given(
    index0=index_values,
    rate_apr=st.floats(allow_subnormal=False, min_value=1e-4, max_value=1.0),
    dt_seconds=st.floats(allow_subnormal=False, min_value=1.0, max_value=10 * SECONDS_PER_YEAR),
)
def test_compound_borrow_index_at_least_simple_liquidity_index(
    index0: float, rate_apr: float, dt_seconds: float
) -> None:
    # (1 + x)^n >= 1 + n x (Bernoulli); the gap n(n−1)x^2/2 can be below float resolution.
    simple = project_liquidity_index(index0, rate_apr, dt_seconds)
    compound = project_borrow_index(index0, rate_apr, dt_seconds)
    assert compound >= simple > index0


@given(
    rate_apr=st.floats(allow_subnormal=False, min_value=0.01, max_value=1.0),
    dt_seconds=st.floats(
        allow_subnormal=False, min_value=86_400.0, max_value=10 * SECONDS_PER_YEAR
    ),
)
def test_compound_borrow_index_strictly_beats_simple_over_a_day(
    rate_apr: float, dt_seconds: float
) -> None:
    # Gap >= (0.01 * 86400 / SPY)^2 / 2 ~ 3.7e-10, far above float resolution.
    assert project_borrow_index(1.0, rate_apr, dt_seconds) > project_liquidity_index(
        1.0, rate_apr, dt_seconds
    )


def test_projections_work_element_wise_on_arrays() -> None:
    index0 = np.array([1.0, 1.05, 1.1])
    rates = np.array([0.03, 0.05, 0.0])
    dt = np.array([3600.0, 86_400.0, 7200.0])
    liquidity = project_liquidity_index(index0, rates, dt)
    borrow = project_borrow_index(index0, rates, dt)
    assert isinstance(liquidity, np.ndarray)
    assert isinstance(borrow, np.ndarray)
    assert liquidity.shape == borrow.shape == (3,)
    for i in range(3):
        scalar_args = (float(index0[i]), float(rates[i]), float(dt[i]))
        assert liquidity[i] == pytest.approx(project_liquidity_index(*scalar_args), rel=1e-15)
        assert borrow[i] == pytest.approx(project_borrow_index(*scalar_args), rel=1e-15)
    # Broadcasting a scalar dt over array indices.
    hourly = project_liquidity_index(index0, 0.0876, 3600.0)
    np.testing.assert_allclose(hourly, index0 * (1 + 0.0876 / 8760), rtol=1e-14)


@pytest.mark.parametrize(
    ("collateral_value", "lt", "debt_value", "expected"),
    [
        (111.111111, 0.95, 101.111111, 1.043956),  # 10.1 example: 0.95 * 111.11 / 101.11
        (100.0, 0.95, 95.0, 1.0),  # exactly at liquidation
        (3000.0, 0.80, 1200.0, 2.0),  # 3000 * 0.8 / 1200
        (100.0, 0.95, 0.0, math.inf),  # no debt
    ],
)
def test_health_factor_table(
    collateral_value: float, lt: float, debt_value: float, expected: float
) -> None:
    assert health_factor(collateral_value, lt, debt_value) == pytest.approx(expected, rel=1e-6)


def test_health_factor_rejects_negative_debt() -> None:
    with pytest.raises(ValueError, match=r"debt_value must be >= 0, was -1.0"):
        health_factor(100.0, 0.95, -1.0)


@given(c1=positive, c2=positive, lt=fractions, debt=positive)
def test_health_factor_monotone_increasing_in_collateral(
    c1: float, c2: float, lt: float, debt: float
) -> None:
    low, high = sorted((c1, c2))
    hf_low = health_factor(low, lt, debt)
    hf_high = health_factor(high, lt, debt)
    assert hf_low <= hf_high
    if high > low * (1 + 1e-9):
        assert hf_low < hf_high


@given(collateral=positive, debt=positive, lt=fractions)
def test_health_factor_is_lt_over_ltv(collateral: float, debt: float, lt: float) -> None:
    # HF = LT * C / D = LT / LTV (domain 4.1: liquidation when LTV > LT <=> HF < 1).
    assert math.isclose(
        health_factor(collateral, lt, debt), lt / loan_to_value(collateral, debt), rel_tol=1e-12
    )


@pytest.mark.parametrize(
    ("collateral_value", "debt_value", "expected"),
    [
        (100.0, 91.0, 0.91),
        (111.111111, 101.111111, 0.91),  # 10.1 example, (λE/(1−λ)) / (E/(1−λ))
        (100.0, 0.0, 0.0),
        (0.0, 1.0, math.inf),
    ],
)
def test_loan_to_value_table(collateral_value: float, debt_value: float, expected: float) -> None:
    assert loan_to_value(collateral_value, debt_value) == pytest.approx(expected, rel=1e-6)


def test_borrowing_power() -> None:
    assert borrowing_power(111.11, 0.93) == pytest.approx(103.3323, rel=1e-12)  # 111.11 * 0.93
    assert borrowing_power(0.0, 0.93) == 0.0


@pytest.mark.parametrize(
    ("collateral_units", "debt_units"),
    [
        (100.0, 95.0),  # HF = 100 * 0.95 / 95 = 1.0 exactly: not liquidatable
        (120.0, 100.0),  # HF 1.14
        (100.0, 0.0),  # no debt
        (0.0, 10.0),  # bad debt: nothing left to seize
    ],
)
def test_liquidate_healthy_or_empty_is_none(collateral_units: float, debt_units: float) -> None:
    assert liquidate(collateral_units, 1.0, debt_units, 1.0, 0.95, 0.01, 0.0) is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # HF = 200*2*0.95/390 = 0.9744 >= 0.95 -> CF 0.5: repay 195, seize 195*1.01/2 = 98.475,
        # penalty 195 * 0.01 = 1.95.
        ((200.0, 2.0, 390.0, 1.0, 0.95, 0.01, 0.0), LiquidationResult(195.0, 98.475, 1.95, 0.5)),
        # Non e-mode weETH: HF = 100*0.8/90 = 0.889 < 0.95 -> CF 1: repay 90, seize 90*1.07 = 96.3,
        # penalty 90 * 0.07 = 6.3.
        ((100.0, 1.0, 90.0, 1.0, 0.80, 0.07, 0.0), LiquidationResult(90.0, 96.3, 6.3, 1.0)),
        # HF = 100*0.95/102 = 0.931 -> CF 1: seize 102*1.01 = 103.02 > 100 -> cap: seize 100,
        # repay 100/1.01 = 99.0099, penalty 99.0099 * 0.01 = 0.990099.
        (
            (100.0, 1.0, 102.0, 1.0, 0.95, 0.01, 0.0),
            LiquidationResult(100 / 1.01, 100.0, 1 / 1.01, 1.0),
        ),
        # Small position: HF = 1000*0.95/990 = 0.9596 would give CF 0.5, but debt $990 and
        # collateral $1000 are below $2000 -> CF 1: repay 0.99, seize 0.99*1.01 = 0.9999,
        # penalty 0.99 * 1000 * 0.01 = 9.9 USD.
        (
            (1.0, 1000.0, 0.99, 1000.0, 0.95, 0.01, 2000.0),
            LiquidationResult(0.99, 0.9999, 9.9, 1.0),
        ),
        # Same position, threshold $500: CF 0.5 -> repay 0.495, seize 0.49995, penalty 4.95.
        (
            (1.0, 1000.0, 0.99, 1000.0, 0.95, 0.01, 500.0),
            LiquidationResult(0.495, 0.49995, 4.95, 0.5),
        ),
    ],
)
def test_liquidate_table(
    args: tuple[float, float, float, float, float, float, float], expected: LiquidationResult
) -> None:
    result = liquidate(*args)
    assert result is not None
    assert result.close_factor == expected.close_factor
    assert result.debt_repaid == pytest.approx(expected.debt_repaid, rel=1e-12)
    assert result.collateral_seized == pytest.approx(expected.collateral_seized, rel=1e-12)
    assert result.penalty_value == pytest.approx(expected.penalty_value, rel=1e-12)


@pytest.mark.parametrize("hf", [0.999, 0.99, 0.97, 0.95])
def test_half_liquidation_near_one_gives_two_hf_minus_lt_one_plus_bonus(hf: float) -> None:
    # Domain 4.1 step 6: CF 0.5 -> D' = D/2, C' = C − (D/2)(1+b), so
    # HF' = LT(C − D(1+b)/2)/(D/2) = 2 HF − LT(1+b). At HF 0.999: 1.998 − 0.9595 = 1.0385.
    lt, bonus = 0.95, 0.01
    collateral_units, rho = 100.0, 1.05  # collateral value 105 ETH at the oracle rate
    debt_units = collateral_units * rho * lt / hf
    result = liquidate(collateral_units, rho, debt_units, 1.0, lt, bonus, 0.0)
    assert result is not None
    assert result.close_factor == 0.5
    hf_after = health_factor(
        (collateral_units - result.collateral_seized) * rho, lt, debt_units - result.debt_repaid
    )
    assert hf_after == pytest.approx(2 * hf - lt * (1 + bonus), rel=1e-12)
    if hf == 0.999:
        assert hf_after == pytest.approx(1.0385, abs=1e-12)


def test_liquidate_until_healthy_repeats_until_hf_at_least_one() -> None:
    # Start HF 0.9744 -> 2*0.97436 − 0.9595 = 0.98921 (still < 1) -> 2*0.98921 − 0.9595 = 1.01893.
    # Call 1: repay 195, seize 98.475 (left 101.525 units, debt 195).
    # Call 2: repay 97.5, seize 97.5*1.01/2 = 49.2375, penalty 0.975.
    results = liquidate_until_healthy(200.0, 2.0, 390.0, 1.0, 0.95, 0.01, 0.0)
    assert len(results) == 2
    assert results[1].debt_repaid == pytest.approx(97.5, rel=1e-12)
    assert results[1].collateral_seized == pytest.approx(49.2375, rel=1e-12)
    assert results[1].penalty_value == pytest.approx(0.975, rel=1e-12)
    collateral = 200.0 - sum(r.collateral_seized for r in results)
    debt = 390.0 - sum(r.debt_repaid for r in results)
    assert health_factor(collateral * 2.0, 0.95, debt) == pytest.approx(1.018936, rel=1e-6)


def test_liquidate_until_healthy_stops_when_collateral_is_gone() -> None:
    # HF 0.931, capped seizure takes all 100 units; debt 102 − 99.0099 = 2.99 is left unbacked.
    results = liquidate_until_healthy(100.0, 1.0, 102.0, 1.0, 0.95, 0.01, 0.0)
    assert len(results) == 1
    assert results[0].collateral_seized == 100.0


def test_liquidate_until_healthy_is_bounded_without_full_liquidation_threshold() -> None:
    # bonus 0, HF 0.95 = LT: HF' = 2*0.95 − 0.95 = 0.95, a fixed point; the loop stops at 20.
    results = liquidate_until_healthy(1.0, 1.0, 1.0, 1.0, 0.95, 0.0, 0.0)
    assert len(results) == 20
    assert all(r.close_factor == 0.5 for r in results)
    assert results[-1].debt_repaid == pytest.approx(0.5**20, rel=1e-9)


def test_liquidate_until_healthy_empty_when_healthy() -> None:
    assert liquidate_until_healthy(120.0, 1.0, 100.0, 1.0, 0.95, 0.01, 0.0) == []


@given(
    collateral_units=positive,
    collateral_price=st.floats(allow_subnormal=False, min_value=0.01, max_value=1e5),
    hf=st.floats(allow_subnormal=False, min_value=0.05, max_value=0.9999),
    debt_price=st.floats(allow_subnormal=False, min_value=0.01, max_value=1e5),
    lt=st.floats(allow_subnormal=False, min_value=0.5, max_value=0.97),
    bonus=st.floats(allow_subnormal=False, min_value=0.0, max_value=0.15),
    threshold=st.sampled_from([0.0, 2000.0]),
)
def test_liquidation_invariants(
    collateral_units: float,
    collateral_price: float,
    hf: float,
    debt_price: float,
    lt: float,
    bonus: float,
    threshold: float,
) -> None:
    debt_units = collateral_units * collateral_price * lt / (hf * debt_price)
    # Stay off the close-factor boundaries, where rounding may legitimately flip CF.
    assume(abs(hf - 0.95) > 1e-6)
    assume(abs(collateral_units * collateral_price - threshold) > 1e-6 * threshold)
    assume(abs(debt_units * debt_price - threshold) > 1e-6 * threshold)
    result = liquidate(
        collateral_units, collateral_price, debt_units, debt_price, lt, bonus, threshold
    )
    assert result is not None
    assert result.collateral_seized <= collateral_units
    assert result.debt_repaid <= debt_units * (1 + 1e-12)
    # The user's loss is what the liquidator takes beyond the debt it repays.
    seized_value = result.collateral_seized * collateral_price
    repaid_value = result.debt_repaid * debt_price
    assert math.isclose(
        result.penalty_value, seized_value - repaid_value, rel_tol=1e-9, abs_tol=1e-9 * seized_value
    )
    # Unit-agnostic: quoting both prices in another unit (and the threshold with them) changes
    # nothing in units and scales the penalty.
    scaled = liquidate(
        collateral_units,
        collateral_price * 7.0,
        debt_units,
        debt_price * 7.0,
        lt,
        bonus,
        threshold * 7,
    )
    assert scaled is not None
    assert scaled.close_factor == result.close_factor
    assert math.isclose(scaled.debt_repaid, result.debt_repaid, rel_tol=1e-9)
    assert math.isclose(
        scaled.penalty_value, 7.0 * result.penalty_value, rel_tol=1e-9, abs_tol=1e-12 * seized_value
    )


@given(
    collateral_units=positive,
    hf=st.floats(allow_subnormal=False, min_value=0.05, max_value=0.9999),
    bonus=st.floats(allow_subnormal=False, min_value=0.0, max_value=0.1),
)
def test_liquidate_until_healthy_ends_healthy_or_empty(
    collateral_units: float, hf: float, bonus: float
) -> None:
    # Below HF = LT(1+bonus) a 50% call lowers HF (HF' = 2HF − LT(1+b)); what ends the spiral is
    # the full-liquidation threshold: debt halves each call until it is below it, then CF = 1.
    # Threshold 1e-3 of the position -> at most ~11 calls.
    lt, rho = 0.95, 1.05
    debt_units = collateral_units * rho * lt / hf
    threshold = 1e-3 * debt_units
    results = liquidate_until_healthy(collateral_units, rho, debt_units, 1.0, lt, bonus, threshold)
    assert 1 <= len(results) <= 12
    collateral = collateral_units - sum(r.collateral_seized for r in results)
    debt = debt_units - sum(r.debt_repaid for r in results)
    emptied = collateral <= 1e-9 * collateral_units
    assert emptied or health_factor(collateral * rho, lt, max(debt, 0.0)) >= 1.0 - 1e-9
