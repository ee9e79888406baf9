"""Flash-loan leverage and hedged split maths (domain 10, 11)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basis_strategy.math.leverage import (
    basis_split,
    deleverage_sale,
    flash_entry,
    margin_target_to_stake_allocation,
    margin_topup_units,
    partial_exit,
    relever_flash,
    stake_allocation_to_margin_target,
)

equities = st.floats(allow_subnormal=False, min_value=1e-3, max_value=1e6)
ltvs = st.floats(allow_subnormal=False, min_value=0.05, max_value=0.93)
lst_rates = st.floats(allow_subnormal=False, min_value=1.0, max_value=1.3)
thresholds = st.floats(allow_subnormal=False, min_value=0.8, max_value=0.97)


def test_flash_entry_domain_example() -> None:
    # Domain 10.1: E 10, λ 0.91, ρ 1.05, LT 0.95, no costs.
    # F = λE/(1−λ) = 9.1/0.09 = 101.11; D = F; C = E + F = 10/0.09 = 111.11;
    # u = C/ρ = 111.11/1.05 = 105.82; HF = LT/λ = 0.95/0.91 = 1.0440.
    entry = flash_entry(10.0, 0.91, 1.05, 0.95)
    assert entry.flash_weth == pytest.approx(101.11, abs=0.005)
    assert entry.debt_weth == pytest.approx(101.11, abs=0.005)
    assert entry.collateral_eth == pytest.approx(111.11, abs=0.005)
    assert entry.lst_units == pytest.approx(105.82, abs=0.005)
    assert entry.health_factor == pytest.approx(1.044, abs=0.0005)
    # Exact closed forms.
    assert entry.flash_weth == pytest.approx(9.1 / 0.09, rel=1e-12)
    assert entry.collateral_eth == pytest.approx(10 / 0.09, rel=1e-12)
    assert entry.health_factor == pytest.approx(0.95 / 0.91, rel=1e-12)


def test_flash_entry_with_costs() -> None:
    # E 10, G 0.01, κ 0.001, f 0.0005, λ 0.91 (10.1 general formula):
    # λ(1−κ) = 0.91 * 0.999 = 0.90909; F = 0.90909 * 9.99 / (1.0005 − 0.90909) = 99.35247
    # D = F * 1.0005 = 99.40214; C = (9.99 + 99.35247) * 0.999 = 109.23313; u = C/1.05 = 104.03155
    entry = flash_entry(
        10.0, 0.91, 1.05, 0.95, flash_fee=0.0005, acquisition_cost=0.001, gas_eth=0.01
    )
    assert entry.flash_weth == pytest.approx(99.35247, abs=1e-5)
    assert entry.debt_weth == pytest.approx(99.40214, abs=1e-5)
    assert entry.collateral_eth == pytest.approx(109.23313, abs=1e-5)
    assert entry.lst_units == pytest.approx(104.03155, abs=1e-5)
    assert entry.debt_weth / entry.collateral_eth == pytest.approx(0.91, rel=1e-12)
    # Equity left C − D = 9.83098 < 10: gas, flash fee and acquisition cost are lost.
    assert entry.collateral_eth - entry.debt_weth == pytest.approx(9.83098, abs=1e-5)


def test_flash_entry_without_leverage() -> None:
    # λ = 0: no flash, no debt, HF infinite, all equity (less gas) staked.
    entry = flash_entry(5.0, 0.0, 1.2, 0.95, gas_eth=0.02)
    assert entry.flash_weth == 0.0
    assert entry.debt_weth == 0.0
    assert entry.health_factor == math.inf
    assert entry.collateral_eth == pytest.approx(4.98, rel=1e-12)
    assert entry.lst_units == pytest.approx(4.98 / 1.2, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_ltv": 1.0}, r"target_ltv must be in \[0, 1\), was 1.0"),
        ({"target_ltv": -0.1}, r"target_ltv must be in \[0, 1\), was -0.1"),
        ({"lst_rate": 0.0}, r"lst_rate must be > 0, was 0.0"),
        ({"acquisition_cost": 1.0}, r"acquisition_cost must be in \[0, 1\), was 1.0"),
        ({"flash_fee": -0.001}, r"flash_fee must be >= 0, was -0.001"),
        ({"gas_eth": 11.0}, r"gas_eth must not exceed equity_eth=10.0, was 11.0"),
    ],
)
def test_flash_entry_rejects_bad_inputs(kwargs: dict[str, float], message: str) -> None:
    args: dict[str, float] = {
        "equity_eth": 10.0,
        "target_ltv": 0.91,
        "lst_rate": 1.05,
        "liquidation_threshold": 0.95,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        flash_entry(**args)


@given(
    equity=equities,
    ltv=ltvs,
    rho=lst_rates,
    lt=thresholds,
    fee=st.floats(allow_subnormal=False, min_value=0.0, max_value=0.001),
    kappa=st.floats(allow_subnormal=False, min_value=0.0, max_value=0.01),
    gas_share=st.floats(allow_subnormal=False, min_value=0.0, max_value=0.01),
)
def test_flash_entry_hits_target_ltv_and_hf(
    equity: float, ltv: float, rho: float, lt: float, fee: float, kappa: float, gas_share: float
) -> None:
    entry = flash_entry(equity, ltv, rho, lt, fee, kappa, gas_share * equity)
    assert math.isclose(entry.debt_weth / entry.collateral_eth, ltv, rel_tol=1e-9)
    assert math.isclose(entry.health_factor, lt / ltv, rel_tol=1e-9)
    assert math.isclose(entry.lst_units * rho, entry.collateral_eth, rel_tol=1e-12)
    assert math.isclose(entry.debt_weth, entry.flash_weth * (1 + fee), rel_tol=1e-12)
    if fee == kappa == gas_share == 0.0:
        # Gross leverage C/E = 1/(1−λ) (domain 10.1; not λ/(1−λ), see 14.1).
        assert math.isclose(entry.collateral_eth / equity, 1 / (1 - ltv), rel_tol=1e-9)


@given(equity=equities, extra=equities, ltv=ltvs, rho=lst_rates)
def test_flash_entry_is_linear_in_equity(
    equity: float, extra: float, ltv: float, rho: float
) -> None:
    # Domain 10.2: an incremental entry with ΔE keeps λ because the sizing is linear.
    whole = flash_entry(equity + extra, ltv, rho, 0.95)
    first = flash_entry(equity, ltv, rho, 0.95)
    second = flash_entry(extra, ltv, rho, 0.95)
    assert math.isclose(whole.debt_weth, first.debt_weth + second.debt_weth, rel_tol=1e-9)
    assert math.isclose(
        whole.collateral_eth, first.collateral_eth + second.collateral_eth, rel_tol=1e-9
    )


def test_deleverage_sale_hand_worked() -> None:
    # From the 10.1 position (C = 111.111, D = 101.111, λ 0.91) down to λ' 0.85, ρ 1.05,
    # p' = 1.04: w = (101.111 − 0.85 * 111.111)/(1.04 − 0.85 * 1.05)
    #            = (101.111 − 94.444)/(1.04 − 0.8925) = 6.6667/0.1475 = 45.198 LST.
    # After: C = 111.111 − 45.198 * 1.05 = 63.653, D = 101.111 − 45.198 * 1.04 = 54.105 -> 0.85.
    collateral, debt = 10 / 0.09, 9.1 / 0.09
    w = deleverage_sale(collateral, debt, 0.85, 1.05, 1.04)
    assert w == pytest.approx(45.198, abs=5e-4)
    assert collateral - w * 1.05 == pytest.approx(63.653, abs=5e-4)
    assert debt - w * 1.04 == pytest.approx(54.105, abs=5e-4)
    assert (debt - w * 1.04) / (collateral - w * 1.05) == pytest.approx(0.85, rel=1e-12)


def test_deleverage_sale_rejects_unprofitable_sale_price() -> None:
    # p' = 0.85 <= λ'ρ = 0.85 * 1.05 = 0.8925: selling cannot lower the LTV.
    with pytest.raises(ValueError, match=r"sale_price must exceed .*, was 0.85"):
        deleverage_sale(100.0, 91.0, 0.85, 1.05, 0.85)


@given(
    collateral=equities,
    ltv0=st.floats(allow_subnormal=False, min_value=0.5, max_value=0.95),
    drop=st.floats(allow_subnormal=False, min_value=0.01, max_value=0.45),
    rho=lst_rates,
    discount=st.floats(allow_subnormal=False, min_value=0.0, max_value=0.02),
)
def test_deleverage_sale_lands_on_target_ltv(
    collateral: float, ltv0: float, drop: float, rho: float, discount: float
) -> None:
    debt = ltv0 * collateral
    target = ltv0 - drop
    sale_price = rho * (1 - discount)
    w = deleverage_sale(collateral, debt, target, rho, sale_price)
    assert 0.0 < w * rho < collateral
    new_collateral = collateral - w * rho
    new_debt = debt - w * sale_price
    assert math.isclose(new_debt / new_collateral, target, rel_tol=1e-9)
    # Equity falls by exactly the sale discount w(ρ − p') (domain 10.3).
    equity_change = (new_collateral - new_debt) - (collateral - debt)
    assert math.isclose(
        equity_change, -w * (rho - sale_price), rel_tol=1e-6, abs_tol=1e-9 * collateral
    )


def test_relever_flash_hand_worked() -> None:
    # C 100, D 80 (λ0 0.8) up to λ 0.91, no costs: F = (91 − 80)/(1 − 0.91) = 122.22;
    # after: C = 222.22, D = 202.22 -> 0.91.
    flash = relever_flash(100.0, 80.0, 0.91)
    assert flash == pytest.approx(11 / 0.09, rel=1e-12)
    assert (80.0 + flash) / (100.0 + flash) == pytest.approx(0.91, rel=1e-12)


@given(
    collateral=equities,
    ltv0=st.floats(allow_subnormal=False, min_value=0.0, max_value=0.9),
    rise=st.floats(allow_subnormal=False, min_value=0.001, max_value=0.3),
    fee=st.floats(allow_subnormal=False, min_value=0.0, max_value=0.001),
    kappa=st.floats(allow_subnormal=False, min_value=0.0, max_value=0.01),
)
def test_relever_flash_lands_on_target_ltv(
    collateral: float, ltv0: float, rise: float, fee: float, kappa: float
) -> None:
    target = min(ltv0 + rise, 0.93)
    debt = ltv0 * collateral
    flash = relever_flash(collateral, debt, target, fee, kappa)
    assert flash > 0.0
    new_ltv = (debt + flash * (1 + fee)) / (collateral + flash * (1 - kappa))
    assert math.isclose(new_ltv, target, rel_tol=1e-9)


def test_partial_exit_hand_worked() -> None:
    # Release ΔE = 1 ETH at λ 0.91, ρ = p' = 1.05: w = 1/(1.05 − 0.91*1.05) = 1/0.0945 = 10.582;
    # wρ = 11.111 = ΔE/(1 − λ) (domain check); ΔD = 0.91 * 10.582 * 1.05 = 10.111.
    w, repaid = partial_exit(1.0, 0.91, 1.05, 1.05)
    assert w == pytest.approx(10.582, abs=5e-4)
    assert w * 1.05 == pytest.approx(1 / 0.09, rel=1e-12)
    assert repaid == pytest.approx(10.111, abs=5e-4)


def test_partial_exit_rejects_bad_sale_price() -> None:
    with pytest.raises(ValueError, match=r"sale_price must exceed"):
        partial_exit(1.0, 0.91, 1.05, 0.9)


@given(
    collateral=equities,
    ltv=ltvs,
    share=st.floats(allow_subnormal=False, min_value=0.0, max_value=0.5),
    rho=lst_rates,
    discount=st.floats(allow_subnormal=False, min_value=0.0, max_value=0.02),
)
def test_partial_exit_releases_equity_at_constant_ltv(
    collateral: float, ltv: float, share: float, rho: float, discount: float
) -> None:
    debt = ltv * collateral
    sale_price = rho * (1 - discount)
    release_eth = share * (collateral - debt) * (sale_price - ltv * rho) / (rho * (1 - ltv))
    w, repaid = partial_exit(release_eth, ltv, rho, sale_price)
    # Cash from the sale minus the debt repaid is the released equity.
    assert math.isclose(w * sale_price - repaid, release_eth, rel_tol=1e-9, abs_tol=1e-12)
    new_collateral = collateral - w * rho
    assert new_collateral > 0.0
    assert math.isclose((debt - repaid) / new_collateral, ltv, rel_tol=1e-9)


@pytest.mark.parametrize(
    ("deployable", "margin_target", "expected"),
    [
        (100.0, 0.5, (66.666667, 33.333333)),  # basis: L = 100/1.5, M = 0.5 L
        (100.0, 1.0, (50.0, 50.0)),  # hedged staking s = 0.5
        (1000.0, 0.0, (1000.0, 0.0)),
    ],
)
def test_basis_split_table(
    deployable: float, margin_target: float, expected: tuple[float, float]
) -> None:
    long_leg, margin = basis_split(deployable, margin_target)
    assert long_leg == pytest.approx(expected[0], rel=1e-6)
    assert margin == pytest.approx(expected[1], rel=1e-6, abs=1e-12)
    assert long_leg + margin == pytest.approx(deployable, rel=1e-12)


@pytest.mark.parametrize(
    ("venue_equity", "expected_units"),
    [
        # m* 0.5, Q 10, P 3000 (notional 30000). M 9000 (MR 0.3):
        # x = (0.5*30000 − 9000)/(3000 * 1.5) = 6000/4500 = 1.3333;
        # after: M = 13000, notional 8.6667 * 3000 = 26000 -> MR 0.5.
        (9000.0, 4 / 3),
        # Excess M 21000 (MR 0.7): x = (15000 − 21000)/4500 = −1.3333;
        # after: M = 17000, notional 11.3333 * 3000 = 34000 -> MR 0.5.
        (21000.0, -4 / 3),
        (15000.0, 0.0),  # already on target
    ],
)
def test_margin_topup_units_table(venue_equity: float, expected_units: float) -> None:
    x = margin_topup_units(0.5, 10.0, 3000.0, venue_equity)
    assert x == pytest.approx(expected_units, rel=1e-12, abs=1e-12)
    assert (venue_equity + x * 3000.0) / ((10.0 - x) * 3000.0) == pytest.approx(0.5, rel=1e-12)


@given(
    target=st.floats(allow_subnormal=False, min_value=0.05, max_value=3.0),
    size_abs=st.floats(allow_subnormal=False, min_value=1e-3, max_value=1e4),
    price=st.floats(allow_subnormal=False, min_value=1.0, max_value=1e5),
    current_ratio=st.floats(allow_subnormal=False, min_value=0.0, max_value=5.0),
)
def test_margin_topup_restores_target_ratio_exactly(
    target: float, size_abs: float, price: float, current_ratio: float
) -> None:
    equity = current_ratio * size_abs * price
    x = margin_topup_units(target, size_abs, price, equity)
    assert x < size_abs
    restored = (equity + x * price) / ((size_abs - x) * price)
    assert math.isclose(restored, target, rel_tol=1e-9)


@pytest.mark.parametrize(
    ("stake_allocation", "margin_target"),
    [(0.5, 1.0), (2 / 3, 0.5), (0.8, 0.25), (1.0, 0.0)],  # m* = (1 − s)/s
)
def test_stake_allocation_margin_target_table(
    stake_allocation: float, margin_target: float
) -> None:
    assert stake_allocation_to_margin_target(stake_allocation) == pytest.approx(margin_target)
    assert margin_target_to_stake_allocation(margin_target) == pytest.approx(stake_allocation)


@given(s=st.floats(allow_subnormal=False, min_value=0.01, max_value=1.0))
def test_stake_allocation_round_trip(s: float) -> None:
    m = stake_allocation_to_margin_target(s)
    assert math.isclose(margin_target_to_stake_allocation(m), s, rel_tol=1e-12)
    # Consistent with the split: L/(L + M) == s.
    long_leg, margin = basis_split(1.0, m)
    assert math.isclose(long_leg / (long_leg + margin), s, rel_tol=1e-12)


def test_stake_allocation_conversions_reject_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"stake_allocation must be in \(0, 1\], was 0.0"):
        stake_allocation_to_margin_target(0.0)
    with pytest.raises(ValueError, match=r"margin_ratio_target must be >= 0, was -0.5"):
        margin_target_to_stake_allocation(-0.5)
