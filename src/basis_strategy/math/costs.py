"""Transaction costs: gas, size-dependent slippage, taker cost (domain 4.5)."""

from __future__ import annotations

import math

GWEI_IN_ETH = 1e-9


def gas_cost_eth(gas_units: float, gas_price_gwei: float) -> float:
    """Gas cost in ETH (domain 4.5): `gas_units * gas_price_gwei * 1e-9`."""
    return gas_units * gas_price_gwei * GWEI_IN_ETH


def slippage_bps(
    size_usd: float,
    base_bps: float,
    max_bps: float,
    small_usd: float = 10_000,
    large_usd: float = 1_000_000,
) -> float:
    """Slippage in bps for a trade of `|size_usd|` (domain 4.5).

    `base_bps` at or below `small_usd`, `max_bps` at or above `large_usd`, and linear in
    `log10(size)` in between (so with the default buckets $100k gets the midpoint).
    The sign of `size_usd` is ignored (buys and sells cost the same).
    Raises ValueError unless `0 < small_usd < large_usd`.
    """
    if not 0.0 < small_usd < large_usd:
        raise ValueError(
            f"need 0 < small_usd < large_usd, was small_usd={small_usd!r}, large_usd={large_usd!r}"
        )
    size = abs(size_usd)
    if size <= small_usd:
        return base_bps
    if size >= large_usd:
        return max_bps
    weight = math.log10(size / small_usd) / math.log10(large_usd / small_usd)
    return base_bps + (max_bps - base_bps) * weight


def taker_cost(notional: float, fee_rate: float, slippage_rate: float) -> float:
    """Cost of a taker trade (domain 4.5): `|notional| * (fee_rate + slippage_rate)`.

    Rates are decimals (5 bps = 0.0005); the result is in the notional's unit.
    """
    return abs(notional) * (fee_rate + slippage_rate)
