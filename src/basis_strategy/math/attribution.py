"""Exact hourly P&L attribution by sequential decomposition (domain 12.2).

Each term holds the start-of-hour quantity fixed and changes one factor at a time, in the
order index -> rate -> price, so the terms add up to the value change exactly (up to float
rounding). Prices are in share-class units.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HoldingTerms:
    """Value change of a holding split into index, rate and price terms (share-class units)."""

    index: float
    rate: float
    price: float

    @property
    def total(self) -> float:
        """Sum of the three terms: the holding's value change."""
        return self.index + self.rate + self.price


def holding_terms(
    quantity: float,
    index0: float,
    index1: float,
    rate0: float,
    rate1: float,
    price0: float,
    price1: float,
) -> HoldingTerms:
    """Decompose the change of `q * index * rate * price` over one hour (domain 12.2).

    index term `q (I1 − I0) R0 π0` (supply yield / borrow cost), rate term
    `q I1 (R1 − R0) π0` (staking yield), price term `q I1 R1 (π1 − π0)` (delta P&L).
    They sum to `q I1 R1 π1 − q I0 R0 π0`. Use index 1 for a plain token, rate 1 for a
    non-LST, and a negative quantity (scaled debt) for debt: the index term is then
    `−d (BI1 − BI0) π0`.
    """
    index_term = quantity * (index1 - index0) * rate0 * price0
    rate_term = quantity * index1 * (rate1 - rate0) * price0
    price_term = quantity * index1 * rate1 * (price1 - price0)
    return HoldingTerms(index=index_term, rate=rate_term, price=price_term)


def reanchoring_corrections(
    quantity: float,
    index1: float,
    index1_accrued: float,
    rate0: float,
    rate1: float,
    rate1_accrued: float,
    price0: float,
) -> tuple[float, float]:
    """The parts of `holding_terms`' index and rate terms that a new observation brought.

    Where a daily observation re-anchors the index to I1 (or the rate to R1) at this hour, the
    value accrual alone gave was Î1 (R̂1). The index term `q (I1 − I0) R0 π0` then splits into
    the accrual `q (Î1 − I0) R0 π0` and the correction `q (I1 − Î1) R0 π0`; the rate term
    `q I1 (R1 − R0) π0` into `q I1 (R̂1 − R0) π0` and `q I1 (R1 − R̂1) π0`. Returns the two
    corrections (index, rate); each is 0 for a series not re-anchored (Î1 = I1, R̂1 = R1).
    """
    index_correction = quantity * (index1 - index1_accrued) * rate0 * price0
    rate_correction = quantity * index1 * (rate1 - rate1_accrued) * price0
    return index_correction, rate_correction


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
