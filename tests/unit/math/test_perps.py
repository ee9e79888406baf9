"""Perpetuals maths (domain 4.3): hand-worked tables plus Hypothesis properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basis_strategy.math.perps import (
    PerpFill,
    apply_fill,
    distance_to_liquidation,
    funding_cash_flow,
    liquidation_price_short,
    margin_ratio,
    unrealised_pnl,
)

sizes = st.floats(allow_subnormal=False, min_value=-1e4, max_value=1e4)
prices = st.floats(allow_subnormal=False, min_value=1.0, max_value=1e5)
rates = st.floats(allow_subnormal=False, min_value=-0.01, max_value=0.01)


@pytest.mark.parametrize(
    ("size_base", "mark", "rate_per_8h", "expected_usdt"),
    [
        (-10.0, 3000.0, 0.0001, 3.0),  # short receives 10 * 3000 * 0.0001
        (-10.0, 3000.0, -0.0001, -3.0),  # short pays when funding is negative
        (10.0, 3000.0, 0.0001, -3.0),  # long pays when funding is positive
        (-0.5, 60_000.0, 0.000118, 3.54),  # BTC short: 0.5 * 60000 * 0.000118
        (0.0, 3000.0, 0.001, 0.0),
    ],
)
def test_funding_cash_flow_table(
    size_base: float, mark: float, rate_per_8h: float, expected_usdt: float
) -> None:
    assert funding_cash_flow(size_base, mark, rate_per_8h) == pytest.approx(
        expected_usdt, rel=1e-12
    )


@given(size=sizes, mark=prices, rate=rates)
def test_funding_antisymmetric_long_short(size: float, mark: float, rate: float) -> None:
    long_flow = funding_cash_flow(abs(size), mark, rate)
    short_flow = funding_cash_flow(-abs(size), mark, rate)
    assert long_flow == -short_flow
    # Shorts receive positive funding.
    if rate > 1e-12 and abs(size) > 1e-9:  # (away from float underflow)
        assert short_flow > 0


@pytest.mark.parametrize(
    ("size_base", "mark", "entry", "expected"),
    [
        (-2.0, 3300.0, 3000.0, -600.0),  # short loses 2 * 300
        (-2.0, 2700.0, 3000.0, 600.0),  # short gains 2 * 300
        (0.5, 62_000.0, 60_000.0, 1000.0),  # long gains 0.5 * 2000
    ],
)
def test_unrealised_pnl_table(size_base: float, mark: float, entry: float, expected: float) -> None:
    assert unrealised_pnl(size_base, mark, entry) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("size", "entry", "delta", "price", "expected"),
    [
        # Open a short from flat: entry = fill price.
        (0.0, 0.0, -1.0, 3000.0, PerpFill(-1.0, 3000.0, 0.0)),
        # Add 3 to a 1 short: entry (1*3000 + 3*3400)/4 = 13200/4 = 3300.
        (-1.0, 3000.0, -3.0, 3400.0, PerpFill(-4.0, 3300.0, 0.0)),
        # Reduce the short by 1 at 3100: realise 1 * (3300 − 3100) = 200; entry unchanged.
        (-4.0, 3300.0, 1.0, 3100.0, PerpFill(-3.0, 3300.0, 200.0)),
        # Close the short at 3500: realise 3 * (3300 − 3500) = −600; flat -> entry 0.
        (-3.0, 3300.0, 3.0, 3500.0, PerpFill(0.0, 0.0, -600.0)),
        # Flip short 2 -> long 3 at 2800: realise 2 * (3000 − 2800) = 400; new entry 2800.
        (-2.0, 3000.0, 5.0, 2800.0, PerpFill(3.0, 2800.0, 400.0)),
        # Reduce a long 4 by 1 at 2500: realise 1 * (2500 − 2000) = 500.
        (4.0, 2000.0, -1.0, 2500.0, PerpFill(3.0, 2000.0, 500.0)),
        # Flip long 2 -> short 1 at 90: realise 2 * (90 − 100) = −20; new entry 90.
        (2.0, 100.0, -3.0, 90.0, PerpFill(-1.0, 90.0, -20.0)),
        # Add to a long: (2*100 + 2*110)/4 = 105.
        (2.0, 100.0, 2.0, 110.0, PerpFill(4.0, 105.0, 0.0)),
        # No fill: nothing changes.
        (-2.0, 3000.0, 0.0, 5000.0, PerpFill(-2.0, 3000.0, 0.0)),
    ],
)
def test_apply_fill_table(
    size: float, entry: float, delta: float, price: float, expected: PerpFill
) -> None:
    fill = apply_fill(size, entry, delta, price)
    assert fill.size_base == pytest.approx(expected.size_base, abs=1e-12)
    assert fill.entry_price == pytest.approx(expected.entry_price, rel=1e-12)
    assert fill.realised_pnl == pytest.approx(expected.realised_pnl, rel=1e-12, abs=1e-12)


def test_apply_fill_flat_position_has_zero_entry() -> None:
    assert apply_fill(0.0, 0.0, 0.0, 3000.0) == PerpFill(0.0, 0.0, 0.0)
    assert apply_fill(-1.5, 3000.0, 1.5, 2900.0).entry_price == 0.0


@given(size=sizes, entry=prices, delta=sizes, fill_price=prices)
def test_apply_fill_conserves_value_at_fill_price(
    size: float, entry: float, delta: float, fill_price: float
) -> None:
    # A fill at the reference price moves no value: uPnL before == uPnL after + realised.
    entry = entry if size != 0.0 else 0.0
    fill = apply_fill(size, entry, delta, fill_price)
    before = unrealised_pnl(size, fill_price, entry)
    after = unrealised_pnl(fill.size_base, fill_price, fill.entry_price) + fill.realised_pnl
    scale = (abs(size) + abs(delta)) * max(entry, fill_price)
    assert math.isclose(before, after, rel_tol=1e-9, abs_tol=1e-12 * scale + 1e-12)
    assert fill.size_base == size + delta
    if fill.size_base == 0.0:
        assert fill.entry_price == 0.0


@given(size=sizes, entry=prices, delta=sizes, fill_price=prices, later_mark=prices)
def test_apply_fill_realises_only_the_closed_part(
    size: float, entry: float, delta: float, fill_price: float, later_mark: float
) -> None:
    # At any later mark, value after the fill equals the old position's value at that mark
    # plus the fill's own P&L, delta * (later_mark − fill_price). Checks entry bookkeeping.
    entry = entry if size != 0.0 else 0.0
    fill = apply_fill(size, entry, delta, fill_price)
    old_value = unrealised_pnl(size, later_mark, entry)
    fill_value = delta * (later_mark - fill_price)
    new_value = unrealised_pnl(fill.size_base, later_mark, fill.entry_price) + fill.realised_pnl
    scale = (abs(size) + abs(delta)) * max(entry, fill_price, later_mark)
    assert math.isclose(old_value + fill_value, new_value, rel_tol=1e-9, abs_tol=1e-12 * scale)


def test_margin_ratio() -> None:
    assert margin_ratio(5000.0, 10_000.0) == 0.5  # equity / notional
    assert margin_ratio(100.0, 0.0) == math.inf


@pytest.mark.parametrize(
    ("margin_at_open", "expected_liq_price", "expected_move"),
    [
        # P_liq = entry (1 + m)/(1 + mmr) = 3000 * 2.0/1.01 = 5940.59 -> survives +98.0%
        (1.0, 5940.594059, 0.980198),
        # 3000 * 1.5/1.01 = 4455.45 -> survives +48.5%
        (0.5, 4455.445545, 0.485149),
    ],
)
def test_liquidation_price_short_domain_examples(
    margin_at_open: float, expected_liq_price: float, expected_move: float
) -> None:
    size_abs, entry, mmr = 10.0, 3000.0, 0.01
    wallet = margin_at_open * size_abs * entry
    price = liquidation_price_short(wallet, size_abs, entry, mmr)
    assert price == pytest.approx(expected_liq_price, rel=1e-9)
    assert price == pytest.approx(entry * (1 + margin_at_open) / (1 + mmr), rel=1e-12)
    assert price / entry - 1 == pytest.approx(expected_move, abs=1e-6)
    assert distance_to_liquidation(margin_at_open, mmr) == pytest.approx(expected_move, abs=1e-6)


def test_liquidation_price_short_rejects_zero_size() -> None:
    with pytest.raises(ValueError, match=r"size_abs must be > 0, was 0.0"):
        liquidation_price_short(1000.0, 0.0, 3000.0, 0.01)


@given(
    wallet=st.floats(allow_subnormal=False, min_value=0.0, max_value=1e7),
    size_abs=st.floats(allow_subnormal=False, min_value=1e-3, max_value=1e4),
    entry=prices,
    mmr=st.floats(allow_subnormal=False, min_value=0.0, max_value=0.1),
)
def test_liquidation_price_short_puts_equity_at_maintenance(
    wallet: float, size_abs: float, entry: float, mmr: float
) -> None:
    # At P_liq: W + uPnL == mmr * notional (domain 4.3 liquidation condition).
    price = liquidation_price_short(wallet, size_abs, entry, mmr)
    equity = wallet + unrealised_pnl(-size_abs, price, entry)
    scale = wallet + size_abs * entry
    assert math.isclose(equity, mmr * size_abs * price, rel_tol=1e-9, abs_tol=1e-12 * scale)


@given(
    margin=st.floats(allow_subnormal=False, min_value=0.02, max_value=5.0),
    mmr=st.floats(allow_subnormal=False, min_value=0.0, max_value=0.02),
)
def test_distance_to_liquidation_is_the_liquidation_move(margin: float, mmr: float) -> None:
    # Surviving a move x needs m >= x + mmr(1 + x): at x = distance the two sides are equal,
    # and it matches the liquidation price of a short opened at margin ratio m.
    x = distance_to_liquidation(margin, mmr)
    assert math.isclose(margin, x + mmr * (1 + x), rel_tol=1e-12)
    entry = 2500.0
    p_liq = liquidation_price_short(margin * entry, 1.0, entry, mmr)
    assert math.isclose(p_liq / entry - 1, x, rel_tol=1e-9, abs_tol=1e-12)
