"""Flash-loan leverage sizing and hedged capital split (domain 10 and 11).

Notation: λ target LTV, ρ LST exchange rate (ETH per LST), f flash-loan fee, κ LST-acquisition
cost fraction, G gas in ETH, p' LST sale price in ETH after fees, m* target CEX margin ratio.
Collateral `C` and debt `D` are ETH values (collateral valued at the oracle rate ρ).
"""

from __future__ import annotations

from dataclasses import dataclass


def _require_fraction(name: str, value: float) -> None:
    """Raise ValueError unless `0 <= value < 1`."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), was {value!r}")


def _require_positive(name: str, value: float) -> None:
    """Raise ValueError unless `value > 0`."""
    if not value > 0.0:
        raise ValueError(f"{name} must be > 0, was {value!r}")


@dataclass(frozen=True, slots=True)
class FlashEntry:
    """Result of an atomic leveraged entry (domain 10.1).

    `flash_weth` borrowed and repaid in the same transaction, `debt_weth` left on AAVE,
    `collateral_eth` the ETH value of the LST supplied, `lst_units` that LST amount.
    """

    flash_weth: float
    debt_weth: float
    collateral_eth: float
    lst_units: float
    health_factor: float


def flash_entry(
    equity_eth: float,
    target_ltv: float,
    lst_rate: float,
    liquidation_threshold: float,
    flash_fee: float = 0.0,
    acquisition_cost: float = 0.0,
    gas_eth: float = 0.0,
) -> FlashEntry:
    """Size an atomic leveraged entry with equity E (domain 10.1, general formula).

    `F = λ(1−κ)(E−G) / (1 + f − λ(1−κ))`, `D = F(1+f)`, `C = (E−G+F)(1−κ)`, `u = C/ρ`,
    `HF = LT·C/D = LT/λ` (`inf` at λ = 0). Linear in E, so it also sizes an incremental
    deposit (10.2). Example: E 10, λ 0.91, ρ 1.05, LT 0.95 -> F = D = 101.11,
    C = 111.11, u = 105.82, HF = 1.044.
    Raises ValueError for λ or κ outside [0, 1), ρ <= 0, f < 0 or G > E.
    """
    _require_fraction("target_ltv", target_ltv)
    _require_fraction("acquisition_cost", acquisition_cost)
    _require_positive("lst_rate", lst_rate)
    if flash_fee < 0.0:
        raise ValueError(f"flash_fee must be >= 0, was {flash_fee!r}")
    if gas_eth > equity_eth:
        raise ValueError(f"gas_eth must not exceed equity_eth={equity_eth!r}, was {gas_eth!r}")
    kept = 1.0 - acquisition_cost
    net_equity = equity_eth - gas_eth
    flash = target_ltv * kept * net_equity / (1.0 + flash_fee - target_ltv * kept)
    debt = flash * (1.0 + flash_fee)
    collateral = (net_equity + flash) * kept
    hf = float("inf") if debt == 0.0 else liquidation_threshold * collateral / debt
    return FlashEntry(
        flash_weth=flash,
        debt_weth=debt,
        collateral_eth=collateral,
        lst_units=collateral / lst_rate,
        health_factor=hf,
    )


def deleverage_sale(
    collateral_eth: float, debt_eth: float, target_ltv: float, lst_rate: float, sale_price: float
) -> float:
    """LST units `w` to sell to bring LTV down to `target_ltv` λ' (domain 10.3).

    `w = (D − λ'C) / (p' − λ'ρ)`; the flash loan (and the repayment) is `w·p'`. After it,
    `(D − w p') / (C − w ρ) = λ'`. A negative result means LTV is already below λ'
    (use `relever_flash`). Raises ValueError when `p' <= λ'ρ` (selling cannot lower LTV).
    """
    denominator = sale_price - target_ltv * lst_rate
    if denominator <= 0.0:
        raise ValueError(
            f"sale_price must exceed target_ltv * lst_rate = {target_ltv * lst_rate!r}, "
            f"was {sale_price!r}"
        )
    return (debt_eth - target_ltv * collateral_eth) / denominator


def relever_flash(
    collateral_eth: float,
    debt_eth: float,
    target_ltv: float,
    flash_fee: float = 0.0,
    acquisition_cost: float = 0.0,
) -> float:
    """Flash amount `F` (WETH) to re-lever up to `target_ltv` λ (domain 10.4).

    `F = (λC − D) / ((1 + f) − λ(1 − κ))`; then stake, supply `F(1−κ)` ETH of LST, borrow
    `F(1+f)`, repay. After it, `(D + F(1+f)) / (C + F(1−κ)) = λ`. Negative means LTV is
    already above λ (use `deleverage_sale`).
    """
    return (target_ltv * collateral_eth - debt_eth) / (
        (1.0 + flash_fee) - target_ltv * (1.0 - acquisition_cost)
    )


def partial_exit(
    release_eth: float, target_ltv: float, lst_rate: float, sale_price: float
) -> tuple[float, float]:
    """Release `ΔE` ETH of equity at constant LTV λ (domain 10.5); returns `(w, ΔD)`.

    `w = ΔE / (p' − λρ)` LST units to withdraw and sell, `ΔD = λ w ρ` WETH debt to repay.
    Check: with `p' = ρ`, `w ρ = ΔE / (1 − λ)`. Raises ValueError when `p' <= λρ`.
    """
    denominator = sale_price - target_ltv * lst_rate
    if denominator <= 0.0:
        raise ValueError(
            f"sale_price must exceed target_ltv * lst_rate = {target_ltv * lst_rate!r}, "
            f"was {sale_price!r}"
        )
    lst_units = release_eth / denominator
    return lst_units, target_ltv * lst_units * lst_rate


def basis_split(deployable: float, margin_ratio_target: float) -> tuple[float, float]:
    """Split deployable equity `E'` into long leg `L` and CEX margin `M` (domain 11.1).

    `L = E' / (1 + m*)`, `M = m*·L`, so `L + M = E'` and `M / L = m*`.
    """
    long_leg = deployable / (1.0 + margin_ratio_target)
    return long_leg, margin_ratio_target * long_leg


def margin_topup_units(
    margin_target: float, size_abs: float, price: float, venue_equity: float
) -> float:
    """Asset units `x` to move from the long leg to a venue to restore its margin (domain 11.2).

    `x = (m*·Q·P − M) / (P(1 + m*))`: release x from the long leg, post `x·P` USDT, cut the
    short by x; then `(M + xP) / ((Q − x)P) = m*`. Negative `x` means excess margin: move
    `|x|·P` USDT to the long leg and raise the short by `|x|`.
    """
    return (margin_target * size_abs * price - venue_equity) / (price * (1.0 + margin_target))


def stake_allocation_to_margin_target(stake_allocation: float) -> float:
    """Target margin ratio implied by a stake allocation (domain 11.1): `m* = (1 − s) / s`."""
    if not 0.0 < stake_allocation <= 1.0:
        raise ValueError(f"stake_allocation must be in (0, 1], was {stake_allocation!r}")
    return (1.0 - stake_allocation) / stake_allocation


def margin_target_to_stake_allocation(margin_ratio_target: float) -> float:
    """Stake allocation implied by a target margin ratio (domain 11.1): `s = 1 / (1 + m*)`."""
    if margin_ratio_target < 0.0:
        raise ValueError(f"margin_ratio_target must be >= 0, was {margin_ratio_target!r}")
    return 1.0 / (1.0 + margin_ratio_target)
