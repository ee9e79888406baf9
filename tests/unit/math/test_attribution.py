"""Exact P&L attribution (domain 12.2): hand-worked tables plus sum-to-change properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basis_strategy.math.attribution import holding_terms, perp_terms, reanchoring_corrections
from basis_strategy.math.perps import unrealised_pnl

quantities = st.floats(allow_subnormal=False, min_value=-1e6, max_value=1e6)
indices = st.floats(allow_subnormal=False, min_value=0.5, max_value=2.0)
prices = st.floats(allow_subnormal=False, min_value=1e-4, max_value=1e5)


def test_holding_terms_supplied_lst_usd_class() -> None:
    # 100 scaled aweETH; LI 1.0 -> 1.001, ρ 1.05 -> 1.0501, P 3000 -> 3030 (USD class, π = P).
    # supply_yield  = 100 * 0.001 * 1.05 * 3000           = 315
    # staking_yield = 100 * 1.001 * 0.0001 * 3000          = 30.03
    # price (delta) = 100 * 1.001 * 1.0501 * 30            = 3153.4503
    # change = 100*1.001*1.0501*3030 − 100*1*1.05*3000 = 318498.4803 − 315000 = 3498.4803
    terms = holding_terms(100.0, 1.0, 1.001, 1.05, 1.0501, 3000.0, 3030.0)
    assert terms.index == pytest.approx(315.0, rel=1e-12)
    assert terms.rate == pytest.approx(30.03, rel=1e-9)
    assert terms.price == pytest.approx(3153.4503, rel=1e-12)
    assert terms.total == pytest.approx(3498.4803, rel=1e-12)


def test_holding_terms_debt_is_borrow_cost() -> None:
    # Scaled debt 50 WETH (quantity −50), BI 1.0 -> 1.0001, rate 1, ETH class (π = 1):
    # borrow_cost = −50 * 0.0001 * 1 = −0.005 ETH; no rate or price term.
    terms = holding_terms(-50.0, 1.0, 1.0001, 1.0, 1.0, 1.0, 1.0)
    assert terms.index == pytest.approx(-0.005, rel=1e-9)
    assert terms.rate == 0.0
    assert terms.price == 0.0


def test_holding_terms_wallet_lst_is_staking_yield_only() -> None:
    # 10 weETH in the wallet (index 1), ρ 1.05 -> 1.06, ETH class: staking yield 10 * 0.01 = 0.1.
    terms = holding_terms(10.0, 1.0, 1.0, 1.05, 1.06, 1.0, 1.0)
    assert terms.index == 0.0
    assert terms.rate == pytest.approx(0.1, rel=1e-12)
    assert terms.price == 0.0


def test_holding_terms_usdt_in_eth_class_is_price_only() -> None:
    # 3000 USDT held in the ETH class: π_USDT = 1/P, P 3000 -> 2500:
    # 3000 * (1/2500 − 1/3000) = 1.2 − 1.0 = 0.2 ETH.
    terms = holding_terms(3000.0, 1.0, 1.0, 1.0, 1.0, 1 / 3000, 1 / 2500)
    assert terms.price == pytest.approx(0.2, rel=1e-12)
    assert terms.index == terms.rate == 0.0


@given(
    quantity=quantities,
    index0=indices,
    index1=indices,
    rate0=indices,
    rate1=indices,
    price0=prices,
    price1=prices,
)
def test_holding_terms_sum_to_value_change(
    quantity: float,
    index0: float,
    index1: float,
    rate0: float,
    rate1: float,
    price0: float,
    price1: float,
) -> None:
    terms = holding_terms(quantity, index0, index1, rate0, rate1, price0, price1)
    change = quantity * index1 * rate1 * price1 - quantity * index0 * rate0 * price0
    scale = abs(quantity) * 4.0 * max(price0, price1)
    assert math.isclose(terms.total, change, rel_tol=1e-9, abs_tol=1e-12 * scale)
    assert math.isclose(
        terms.index + terms.rate + terms.price, change, rel_tol=1e-9, abs_tol=1e-12 * scale
    )


def test_reanchoring_corrections_of_an_index_and_a_rate() -> None:
    # 100 scaled aweETH, USD class. LI 1.0 -> 1.001 observed, 1.0008 by accrual alone;
    # ρ 1.05 -> 1.0501 observed, 1.05008 by accrual alone; P 3000 -> 3030.
    # supply correction  = 100 * 0.0002 * 1.05 * 3000    = 63   (of the index term 315)
    # staking correction = 100 * 1.001 * 0.00002 * 3000  = 6.006 (of the rate term 30.03)
    index_correction, rate_correction = reanchoring_corrections(
        100.0, 1.001, 1.0008, 1.05, 1.0501, 1.05008, 3000.0
    )
    assert index_correction == pytest.approx(63.0, rel=1e-9)
    assert rate_correction == pytest.approx(6.006, rel=1e-9)
    # a series not re-anchored this hour (accrued value = observed) has no correction
    assert reanchoring_corrections(100.0, 1.001, 1.001, 1.05, 1.0501, 1.0501, 3000.0) == (0, 0)


def test_a_debt_correction_has_the_debts_sign() -> None:
    # Scaled debt 50 WETH, BI 1.0 -> 1.0001 observed but 1.0003 accrued (the projection ran
    # ahead): borrow cost −50 * 0.0001 = −0.005 in all, of which the correction is
    # −50 * (−0.0002) = +0.01 ETH and the accrual −0.015.
    index_correction, _ = reanchoring_corrections(-50.0, 1.0001, 1.0003, 1.0, 1.0, 1.0, 1.0)
    assert index_correction == pytest.approx(0.01, rel=1e-9)
    whole = holding_terms(-50.0, 1.0, 1.0001, 1.0, 1.0, 1.0, 1.0)
    assert whole.index - index_correction == pytest.approx(-0.015, rel=1e-9)


@given(
    quantity=quantities,
    index0=indices,
    index1=indices,
    index1_accrued=indices,
    rate0=indices,
    rate1=indices,
    rate1_accrued=indices,
    price0=prices,
)
def test_accrual_and_correction_add_up_to_the_term(
    quantity: float,
    index0: float,
    index1: float,
    index1_accrued: float,
    rate0: float,
    rate1: float,
    rate1_accrued: float,
    price0: float,
) -> None:
    """Accrual to the accrued value (the term computed with Î1, R̂1) + correction = term."""
    whole = holding_terms(quantity, index0, index1, rate0, rate1, price0, price0)
    index_correction, rate_correction = reanchoring_corrections(
        quantity, index1, index1_accrued, rate0, rate1, rate1_accrued, price0
    )
    index_accrual = quantity * (index1_accrued - index0) * rate0 * price0
    rate_accrual = quantity * index1 * (rate1_accrued - rate0) * price0
    scale = abs(quantity) * 4.0 * price0
    assert math.isclose(
        index_accrual + index_correction, whole.index, rel_tol=1e-9, abs_tol=1e-12 * scale
    )
    assert math.isclose(
        rate_accrual + rate_correction, whole.rate, rel_tol=1e-9, abs_tol=1e-12 * scale
    )


def test_perp_terms_usdt_class() -> None:
    # Short 10 ETH, entry 3000; mark 3010 -> 3040, spot 3012 -> 3039, USDT class (qp = 1).
    # delta = −10 * (3039 − 3012) = −270
    # basis = −10 * ((3040 − 3039) − (3010 − 3012)) = −10 * (1 + 2) = −30
    # fx = 0; total −300 = −10 * (3040 − 3010)
    terms = perp_terms(-10.0, 3000.0, 3010.0, 3040.0, 3012.0, 3039.0, 1.0, 1.0)
    assert terms.delta == pytest.approx(-270.0, rel=1e-12)
    assert terms.basis == pytest.approx(-30.0, rel=1e-12)
    assert terms.fx == 0.0
    assert terms.total == pytest.approx(-300.0, rel=1e-12)


def test_perp_terms_quote_fx() -> None:
    # Long 1 BTC perp, entry 60000, mark = spot 60000 -> 62000, class where one USDT is worth
    # 0.5 -> 0.4 units: delta = 1 * 2000 * 0.5 = 1000; basis 0;
    # fx = 1 * (62000 − 60000) * (0.4 − 0.5) = −200. Value 0 -> 2000 * 0.4 = 800 = 1000 − 200.
    terms = perp_terms(1.0, 60_000.0, 60_000.0, 62_000.0, 60_000.0, 62_000.0, 0.5, 0.4)
    assert terms.delta == pytest.approx(1000.0, rel=1e-12)
    assert terms.basis == 0.0
    assert terms.fx == pytest.approx(-200.0, rel=1e-12)
    assert terms.total == pytest.approx(800.0, rel=1e-12)


@given(
    size=st.floats(allow_subnormal=False, min_value=-1e4, max_value=1e4),
    entry=prices,
    mark0=prices,
    mark1=prices,
    spot0=prices,
    spot1=prices,
    qp0=st.floats(allow_subnormal=False, min_value=1e-6, max_value=2.0),
    qp1=st.floats(allow_subnormal=False, min_value=1e-6, max_value=2.0),
)
def test_perp_terms_sum_to_value_change(
    size: float,
    entry: float,
    mark0: float,
    mark1: float,
    spot0: float,
    spot1: float,
    qp0: float,
    qp1: float,
) -> None:
    terms = perp_terms(size, entry, mark0, mark1, spot0, spot1, qp0, qp1)
    change = unrealised_pnl(size, mark1, entry) * qp1 - unrealised_pnl(size, mark0, entry) * qp0
    scale = abs(size) * max(entry, mark0, mark1, spot0, spot1) * 4.0
    assert math.isclose(terms.total, change, rel_tol=1e-9, abs_tol=1e-12 * scale)
