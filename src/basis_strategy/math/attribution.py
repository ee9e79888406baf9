"""Exact hourly P&L attribution by sequential decomposition (domain 12.2).

Each term holds the start-of-hour quantity fixed and changes one factor at a time, in the
order index -> rate -> price, so the terms add up to the value change exactly (up to float
rounding). Prices are in share-class units.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HoldingTerms:
    """Value change of a holding split into index, rate and price terms (share-class units),
    with the index and rate terms' re-anchoring parts apart (`*_correction`, else 0)."""

    index: float
    rate: float
    price: float
    index_correction: float = 0.0
    rate_correction: float = 0.0

    @property
    def total(self) -> float:
        """Sum of the terms: the holding's value change."""
        return self.index + self.index_correction + self.rate + self.rate_correction + self.price


def holding_terms(
    quantity: float,
    index0: float,
    index1: float,
    rate0: float,
    rate1: float,
    price0: float,
    price1: float,
    index1_accrued: float | None = None,
    rate1_accrued: float | None = None,
) -> HoldingTerms:
    """Decompose the change of `q * index * rate * price` over one hour (domain 12.2).

    index term `q (I1 − I0) R0 π0` (supply yield / borrow cost), rate term
    `q I1 (R1 − R0) π0` (staking yield), price term `q I1 R1 (π1 − π0)` (delta P&L).
    They sum to `q I1 R1 π1 − q I0 R0 π0`. Use index 1 for a plain token, rate 1 for a
    non-LST, and a negative quantity (scaled debt) for debt: the index term is then
    `−d (BI1 − BI0) π0`.

    `index1_accrued` / `rate1_accrued`: where an observation re-anchored the index or rate
    at this hour, the value accrual alone gave (Î1, R̂1). The term then splits into the
    accrual `q (Î1 − I0) R0 π0` and the correction `q (I1 − Î1) R0 π0` (likewise
    `q I1 (R̂1 − R0) π0` and `q I1 (R1 − R̂1) π0`); the sum is unchanged.
    """
    index_mid = index1 if index1_accrued is None else index1_accrued
    rate_mid = rate1 if rate1_accrued is None else rate1_accrued
    index_term = quantity * (index_mid - index0) * rate0 * price0
    index_correction = quantity * (index1 - index_mid) * rate0 * price0
    rate_term = quantity * index1 * (rate_mid - rate0) * price0
    rate_correction = quantity * index1 * (rate1 - rate_mid) * price0
    price_term = quantity * index1 * rate1 * (price1 - price0)
    return HoldingTerms(index_term, rate_term, price_term, index_correction, rate_correction)


@dataclass(frozen=True, slots=True)
class PerpTerms:
    """Value change of a perp split into delta, basis and quote-FX terms (share-class units)."""

    delta: float
    basis: float
    fx: float

    @property
    def total(self) -> float:
        """Sum of the three terms: the perp's value change."""
        return self.delta + self.basis + self.fx


def perp_terms(
    size: float,
    entry: float,
    mark0: float,
    mark1: float,
    spot0: float,
    spot1: float,
    quote_price0: float,
    quote_price1: float,
) -> PerpTerms:
    """Decompose the change of a perp's value `q (mark − entry) qp` over one hour (domain 12.2).

    `qp` is the price of one USDT in share-class units (1 for the USDT class, `1/P` for the
    ETH class). delta `q (S1 − S0) qp0`, basis `q ((mark1 − S1) − (mark0 − S0)) qp0`,
    fx `q (mark1 − entry)(qp1 − qp0)`; they sum to the value change. Funding is separate.
    """
    delta = size * (spot1 - spot0) * quote_price0
    basis = size * ((mark1 - spot1) - (mark0 - spot0)) * quote_price0
    fx = size * (mark1 - entry) * (quote_price1 - quote_price0)
    return PerpTerms(delta=delta, basis=basis, fx=fx)
