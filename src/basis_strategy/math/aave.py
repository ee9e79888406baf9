"""AAVE v3 mechanics: scaled balances, index accrual, health factor, liquidation (domain 4.1).

All functions are unit-agnostic where prices appear: pass collateral and debt prices in any
common unit (USD, ETH); ratios such as the health factor do not depend on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

SECONDS_PER_YEAR = 31_536_000
"""Seconds per (365-day) year, as AAVE uses to turn an APR into a per-second rate."""

FloatArray = npt.NDArray[np.float64]

CLOSE_FACTOR_DEFAULT = 0.5
_CLOSE_FACTOR_MAX = 1.0
CLOSE_FACTOR_HF_THRESHOLD = 0.95
_MAX_LIQUIDATION_CALLS = 20


def scaled_from_amount(amount: float, index: float) -> float:
    """Scaled balance for `amount` underlying units at `index` (domain 2, 4.1): `amount / index`.

    Raises ValueError when `index` is not positive.
    """
    if index <= 0.0:
        raise ValueError(f"index must be > 0, was {index!r}")
    return amount / index


def amount_from_scaled(scaled: float, index: float) -> float:
    """Underlying units of a scaled balance at `index` (domain 2, 4.1): `scaled * index`."""
    return scaled * index


# Floats in, float out; any array in, array out. The float overload also matches the array
# one (as in numpy's own stubs), hence the ignore.
@overload
def project_liquidity_index(  # type: ignore[overload-overlap]
    index0: float, rate_apr: float, dt_seconds: float
) -> float: ...
@overload
def project_liquidity_index(
    index0: float | FloatArray, rate_apr: float | FloatArray, dt_seconds: float | FloatArray
) -> FloatArray: ...
def project_liquidity_index(
    index0: float | FloatArray, rate_apr: float | FloatArray, dt_seconds: float | FloatArray
) -> float | FloatArray:
    """Liquidity index after `dt_seconds` at `rate_apr` (domain 4.1, simple interest).

    `LI(t) = LI(t0) * (1 + R_L * dt / SPY)`. Works element-wise on numpy arrays.
    """
    return index0 * (1.0 + rate_apr * dt_seconds / SECONDS_PER_YEAR)


# Floats in, float out; any array in, array out. The float overload also matches the array
# one (as in numpy's own stubs), hence the ignore.
@overload
def project_borrow_index(  # type: ignore[overload-overlap]
    index0: float, rate_apr: float, dt_seconds: float
) -> float: ...
@overload
def project_borrow_index(
    index0: float | FloatArray, rate_apr: float | FloatArray, dt_seconds: float | FloatArray
) -> FloatArray: ...
def project_borrow_index(
    index0: float | FloatArray, rate_apr: float | FloatArray, dt_seconds: float | FloatArray
) -> float | FloatArray:
    """Variable borrow index after `dt_seconds` at `rate_apr` (domain 4.1, compounded per second).

    `BI(t) = BI(t0) * (1 + R_B / SPY) ** dt`. Works element-wise on numpy arrays.
    Evaluated as `exp(dt * log1p(R_B / SPY))`: the same number, but `1 + R_B / SPY` rounded to
    float64 loses ~7 of the per-second rate's 16 digits (the growth over a year would be off
    by ~4e-9, and short projections could come out below simple interest).
    """
    if (
        isinstance(index0, int | float)
        and isinstance(rate_apr, int | float)
        and isinstance(dt_seconds, int | float)
    ):
        # Scalar fast path: math.exp/log1p are ~5x faster than numpy on Python floats.
        return index0 * math.exp(dt_seconds * math.log1p(rate_apr / SECONDS_PER_YEAR))
    per_second_log = np.log1p(np.divide(rate_apr, SECONDS_PER_YEAR))
    return index0 * np.exp(np.multiply(dt_seconds, per_second_log))


def health_factor(
    collateral_value: float, liquidation_threshold: float, debt_value: float
) -> float:
    """AAVE health factor `HF = C * LT / D` for one collateral (domain 4.1); `inf` when D is 0.

    Values in any common unit. Raises ValueError when `debt_value` is negative.
    """
    if debt_value <= 0.0:
        if debt_value < 0.0:
            raise ValueError(f"debt_value must be >= 0, was {debt_value!r}")
        return float("inf")
    return collateral_value * liquidation_threshold / debt_value


def loan_to_value(collateral_value: float, debt_value: float) -> float:
    """Current AAVE LTV `D / C` (domain 4.1); 0 when there is no debt, `inf` if debt without
    collateral."""
    if debt_value == 0.0:
        return 0.0
    if collateral_value == 0.0:
        return float("inf")
    return debt_value / collateral_value


def borrowing_power(collateral_value: float, max_ltv: float) -> float:
    """Maximum debt value the collateral supports, `C * max_ltv` (domain 4.1)."""
    return collateral_value * max_ltv


@dataclass(frozen=True, slots=True)
class LiquidationResult:
    """Outcome of one liquidation call (domain 4.1 steps 3-5).

    `debt_repaid` is in debt units, `collateral_seized` in collateral units, `penalty_value`
    (the user's loss, seized value minus repaid value) in the prices' unit.
    """

    debt_repaid: float
    collateral_seized: float
    penalty_value: float
    close_factor: float


def liquidate(
    collateral_units: float,
    collateral_price: float,
    debt_units: float,
    debt_price: float,
    liquidation_threshold: float,
    liquidation_bonus: float,
    full_liquidation_below_value: float,
    close_factor: float = CLOSE_FACTOR_DEFAULT,
    close_factor_hf_below: float = CLOSE_FACTOR_HF_THRESHOLD,
) -> LiquidationResult | None:
    """One AAVE v3 liquidation call (domain 4.1 "Liquidation simulation", steps 1-5).

    Returns None when there is no debt, nothing to seize, or `HF >= 1`. Close factor
    `close_factor` (0.5) when `HF >= close_factor_hf_below` (0.95), 1.0 below that, and 1.0
    whenever the debt or collateral value is below
    `full_liquidation_below_value` (AAVE v3.3). Seizure is
    `debt_to_cover * Pd * (1 + bonus) / Pc`, capped at the collateral held (the debt covered
    then scales down to `C * Pc / (Pd * (1 + bonus))`). The user's loss is
    `debt_to_cover * Pd * bonus`.
    """
    collateral_value = collateral_units * collateral_price
    debt_value = debt_units * debt_price
    if debt_value <= 0.0 or collateral_value <= 0.0:
        return None
    hf = collateral_value * liquidation_threshold / debt_value
    if hf >= 1.0:
        return None
    if (
        hf < close_factor_hf_below
        or min(debt_value, collateral_value) < full_liquidation_below_value
    ):
        close_factor = _CLOSE_FACTOR_MAX
    bonus_factor = 1.0 + liquidation_bonus
    debt_to_cover = close_factor * debt_units
    seized_units = debt_to_cover * debt_price * bonus_factor / collateral_price
    if seized_units > collateral_units:
        seized_units = collateral_units
        debt_to_cover = collateral_value / (debt_price * bonus_factor)
    return LiquidationResult(
        debt_repaid=debt_to_cover,
        collateral_seized=seized_units,
        penalty_value=debt_to_cover * debt_price * liquidation_bonus,
        close_factor=close_factor,
    )


def liquidate_until_healthy(
    collateral_units: float,
    collateral_price: float,
    debt_units: float,
    debt_price: float,
    liquidation_threshold: float,
    liquidation_bonus: float,
    full_liquidation_below_value: float,
    close_factor: float = CLOSE_FACTOR_DEFAULT,
    close_factor_hf_below: float = CLOSE_FACTOR_HF_THRESHOLD,
) -> list[LiquidationResult]:
    """Repeat `liquidate` while `HF < 1` and collateral remains (domain 4.1 step 6).

    A liquidator keeps calling within the same hour. Apply the results in order: each call's
    debt and collateral reductions feed the next. Below `HF = LT(1 + bonus)` a 50% call lowers
    HF further; the full-liquidation threshold is what ends that spiral, and the loop is
    bounded at 20 calls in any case.
    """
    results: list[LiquidationResult] = []
    for _ in range(_MAX_LIQUIDATION_CALLS):
        if collateral_units <= 0.0:
            break
        result = liquidate(
            collateral_units,
            collateral_price,
            debt_units,
            debt_price,
            liquidation_threshold,
            liquidation_bonus,
            full_liquidation_below_value,
            close_factor,
            close_factor_hf_below,
        )
        if result is None:
            break
        results.append(result)
        collateral_units -= result.collateral_seized
        debt_units -= result.debt_repaid
    return results
