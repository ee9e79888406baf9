"""Linear USDT-margined perpetuals: funding, P&L, average entry, margin (domain 4.3).

Sizes are signed base units (negative = short); prices and cash are in USDT.
"""

from __future__ import annotations

from dataclasses import dataclass


def funding_cash_flow(size_base: float, mark: float, rate_per_8h: float) -> float:
    """USDT credited to the account at a funding time (domain 4.3): `-q * mark * f`.

    A short (q < 0) receives when the rate is positive and pays when it is negative.
    """
    return -size_base * mark * rate_per_8h


def unrealised_pnl(size_base: float, mark: float, entry_price: float) -> float:
    """Unrealised P&L in USDT (domain 4.3): `q * (mark - entry)`."""
    return size_base * (mark - entry_price)


@dataclass(frozen=True, slots=True)
class PerpFill:
    """Position after a fill: signed size, average entry (0 when flat), USDT realised by it."""

    size_base: float
    entry_price: float
    realised_pnl: float


def apply_fill(
    size_base: float, entry_price: float, delta_size: float, fill_price: float
) -> PerpFill:
    """Apply a signed fill of `delta_size` at `fill_price` to a position (domain 4.3).

    - Opening or adding on the same side: `entry' = (|q| e + |dq| p) / (|q| + |dq|)`, nothing
      realised.
    - Reducing: the closed part realises `closed_signed * (p - entry)` (for a short reduced by
      `c`, `c * (entry - p)`); the entry price is unchanged.
    - Flipping through zero: close all at `p`, then open the remainder at `p`.
    - A position left at exactly 0 has entry 0.

    Value is conserved at the fill price: `q (p - e) == q' (p - e') + realised`.
    To close exactly, pass `delta_size == -size_base` (the sum is then exactly 0.0).
    """
    new_size = size_base + delta_size
    if delta_size == 0.0:
        return PerpFill(size_base, entry_price if size_base != 0.0 else 0.0, 0.0)
    if size_base == 0.0 or (size_base > 0.0) == (delta_size > 0.0):
        abs_q = abs(size_base)
        abs_dq = abs(delta_size)
        new_entry = (abs_q * entry_price + abs_dq * fill_price) / (abs_q + abs_dq)
        return PerpFill(new_size, new_entry, 0.0)
    if abs(delta_size) <= abs(size_base):
        # Reducing (or closing exactly): the closed part has the sign of the position.
        realised = -delta_size * (fill_price - entry_price)
        return PerpFill(new_size, entry_price if new_size != 0.0 else 0.0, realised)
    # Flipping: the whole position closes, the remainder opens at the fill price.
    realised = size_base * (fill_price - entry_price)
    return PerpFill(new_size, fill_price, realised)


def margin_ratio(equity_usdt: float, notional_usdt: float) -> float:
    """This project's margin ratio `MR = equity / notional` (domain 4.3); higher is safer.

    `inf` when there is no notional. Not Binance's UI "margin ratio" (the inverse idea).
    """
    if notional_usdt == 0.0:
        return float("inf")
    return equity_usdt / notional_usdt


def liquidation_price_short(
    wallet_usdt: float, size_abs: float, entry_price: float, maintenance_margin_rate: float
) -> float:
    """Liquidation price of a lone short (domain 4.3): `(W + Q * entry) / (Q * (1 + mmr))`.

    Solves `W + Q (entry - P) = mmr * Q * P`. Raises ValueError when `size_abs` is not positive.
    """
    if size_abs <= 0.0:
        raise ValueError(f"size_abs must be > 0, was {size_abs!r}")
    return (wallet_usdt + size_abs * entry_price) / (size_abs * (1.0 + maintenance_margin_rate))


def distance_to_liquidation(margin_ratio: float, maintenance_margin_rate: float) -> float:
    """Fractional adverse price move a short survives (domain 4.3): `(MR - mmr) / (1 + mmr)`.

    Inverse of `m >= x + mmr (1 + x)`; e.g. MR 1.0, mmr 0.01 -> 0.980 (+98%).
    """
    return (margin_ratio - maintenance_margin_rate) / (1.0 + maintenance_margin_rate)
