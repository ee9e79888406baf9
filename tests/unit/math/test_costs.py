"""Cost maths (domain 4.5): gas, slippage by size, taker cost."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basis_strategy.math.costs import gas_cost_eth, slippage_bps, taker_cost


@pytest.mark.parametrize(
    ("gas_units", "gwei", "expected_eth"),
    [
        (1_250_000, 11.5, 0.014375),  # atomic entry, 2024 median: 1.25e6 * 11.5e-9 (~$47 at $3300)
        (1_250_000, 1.2, 0.0015),  # atomic entry, 2025 median: 1.25e6 * 1.2e-9
        (250_000, 20.0, 0.005),  # AAVE supply at 20 gwei
        (0, 50.0, 0.0),
    ],
)
def test_gas_cost_eth_table(gas_units: float, gwei: float, expected_eth: float) -> None:
    assert gas_cost_eth(gas_units, gwei) == pytest.approx(expected_eth, rel=1e-12, abs=0.0)


def test_atomic_entry_gas_in_usd_matches_domain_figure() -> None:
    # Domain 4.5: an atomic entry cost about $47 in 2024 (11.5 gwei, ETH ~ $3300).
    assert gas_cost_eth(1_250_000, 11.5) * 3300 == pytest.approx(47.4375, rel=1e-12)


@pytest.mark.parametrize(
    ("size_usd", "expected_bps"),
    [
        (0.0, 5.0),
        (5_000.0, 5.0),  # below the small bucket: base
        (10_000.0, 5.0),  # at the small bucket: base
        (10**4.5, 7.0),  # a quarter of the log range: 5 + 8 * 0.25
        (100_000.0, 9.0),  # log midpoint: 5 + (13 − 5) * (5 − 4)/(6 − 4)
        (-100_000.0, 9.0),  # a sale costs the same
        (10**5.5, 11.0),  # 5 + 8 * 0.75
        (1_000_000.0, 13.0),  # at the large bucket: max
        (50_000_000.0, 13.0),  # above: max
    ],
)
def test_slippage_bps_eth_usdt_table(size_usd: float, expected_bps: float) -> None:
    # ETH/USDT: 5 -> 13 bps over $10k..$1m.
    assert slippage_bps(size_usd, 5.0, 13.0) == pytest.approx(expected_bps, rel=1e-12)


def test_slippage_bps_custom_buckets() -> None:
    # ETH/weETH 20 -> 35 over $1k..$100k: $10k is the log midpoint, 27.5 bps.
    assert slippage_bps(10_000.0, 20.0, 35.0, small_usd=1_000, large_usd=100_000) == pytest.approx(
        27.5, rel=1e-12
    )


@pytest.mark.parametrize(("small", "large"), [(1e6, 1e4), (0.0, 1e6), (1e4, 1e4)])
def test_slippage_bps_rejects_bad_buckets(small: float, large: float) -> None:
    with pytest.raises(ValueError, match=r"small_usd=.*large_usd="):
        slippage_bps(1e5, 5.0, 13.0, small_usd=small, large_usd=large)


@given(
    a=st.floats(allow_subnormal=False, min_value=0.0, max_value=1e9),
    b=st.floats(allow_subnormal=False, min_value=0.0, max_value=1e9),
    base=st.floats(allow_subnormal=False, min_value=0.0, max_value=50.0),
    extra=st.floats(allow_subnormal=False, min_value=0.0, max_value=50.0),
)
def test_slippage_bps_monotone_and_bounded(a: float, b: float, base: float, extra: float) -> None:
    low, high = sorted((a, b))
    top = base + extra
    s_low = slippage_bps(low, base, top)
    s_high = slippage_bps(high, base, top)
    assert base - 1e-12 <= s_low <= s_high + 1e-12
    assert s_high <= top + 1e-12


@pytest.mark.parametrize(
    ("notional", "fee_rate", "slippage_rate", "expected"),
    [
        (100_000.0, 0.0005, 0.0009, 140.0),  # Binance perp 5 bps + 9 bps slippage
        (-100_000.0, 0.0005, 0.0009, 140.0),  # a sale pays the same
        (30_000.0, 0.001, 0.0005, 45.0),  # spot 10 bps + 5 bps
        (0.0, 0.001, 0.001, 0.0),
    ],
)
def test_taker_cost_table(
    notional: float, fee_rate: float, slippage_rate: float, expected: float
) -> None:
    assert taker_cost(notional, fee_rate, slippage_rate) == pytest.approx(expected, rel=1e-12)
