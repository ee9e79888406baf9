"""SimulatedAave with LST collateral and WETH debt: e-mode, borrow / repay, the max-LTV and HF
checks, and liquidation (domain 4.1)."""

from __future__ import annotations

import math
import pickle

import pytest
from venue_book import COSTS_OFF, COSTS_ON, VALUES, aave_config, chain, market, order, seed

from basis_strategy.core.errors import ConfigError, OperationalError
from basis_strategy.core.instructions import (
    Borrow,
    Repay,
    SetEmode,
    SupplyToAave,
    WithdrawFromAave,
)
from basis_strategy.venues.interface import ExecutionRejected, Ledger
from basis_strategy.venues.simulated.chain import SimulatedAave

GWEI = VALUES["gas_gwei"]
LI, BI, RHO, P = (
    VALUES[k] for k in ("aave_li:weETH", "aave_bi:WETH", "lst_rate:weETH", "price:ETH")
)
A_WEETH = "aave_v3:aToken:aweETH"
DEBT = "aave_v3:debtToken:debtWETH"
WETH = "wallet:BaseToken:WETH"


def frozen(ledger: Ledger) -> bytes:
    return pickle.dumps((ledger.quantities, ledger.entries))


def test_set_emode_pays_gas_and_switches_the_risk_category() -> None:
    system = chain(COSTS_ON, {A_WEETH: 100.0}, emode=False)
    # standard: max LTV 0.80 -> 0.85 × 106.05 ETH cannot be borrowed
    too_much = order(Borrow, "aave_v3", asset="WETH", amount=0.85 * 100 * LI * RHO)
    with pytest.raises(ExecutionRejected, match="borrowing power"):
        system.aave.execute(too_much, market())
    (gas,) = system.aave.execute(order(SetEmode, "aave_v3"), market()).legs
    assert gas.pnl_component == "gas"
    assert gas.amount == pytest.approx(-55_000 * GWEI * 1e-9, rel=1e-12)
    assert system.aave.emode
    system.aave.execute(too_much, market())  # e-mode: max LTV 0.93
    assert system.ledger.qty(DEBT) == pytest.approx(0.85 * 100 * LI * RHO / BI, rel=1e-15)


def test_supply_and_withdraw_an_lst_in_scaled_units() -> None:
    system = chain(COSTS_ON, {"etherfi:LST:weETH": 10.0})
    supplied = system.aave.execute(
        order(SupplyToAave, "aave_v3", asset="weETH", amount=4.0), market()
    )
    assert [(leg.instrument, leg.amount) for leg in supplied.legs[:2]] == [
        ("etherfi:LST:weETH", -4.0),
        (A_WEETH, pytest.approx(4.0 / LI, rel=1e-15)),
    ]
    assert supplied.legs[2].amount == pytest.approx(-250_000 * GWEI * 1e-9, rel=1e-12)
    later = market(**{"aave_li:weETH": 1.02})
    withdrawn = system.aave.execute(
        order(WithdrawFromAave, "aave_v3", asset="weETH", amount=math.inf), later
    )
    assert system.ledger.qty(A_WEETH) == 0.0
    # 4 weETH supplied at LI 1.01 come back as 4 × 1.02 / 1.01
    assert system.ledger.qty("etherfi:LST:weETH") == pytest.approx(6.0 + 4.0 * 1.02 / LI, rel=1e-15)
    assert withdrawn.legs[2].amount == pytest.approx(-220_000 * GWEI * 1e-9, rel=1e-12)


def test_borrow_and_repay_in_scaled_units_with_gas() -> None:
    system = chain(COSTS_ON, {A_WEETH: 100.0, WETH: 10.0})
    borrowed = system.aave.execute(order(Borrow, "aave_v3", asset="WETH", amount=50.0), market())
    debt, cash, gas = borrowed.legs
    assert (debt.instrument, debt.amount) == (DEBT, pytest.approx(50.0 / BI, rel=1e-15))
    assert (cash.instrument, cash.amount) == (WETH, 50.0)
    assert gas.amount == pytest.approx(-300_000 * GWEI * 1e-9, rel=1e-12)
    later = market(**{"aave_bi:WETH": 1.04})
    repaid = system.aave.execute(order(Repay, "aave_v3", asset="WETH", amount=20.0), later)
    assert [leg.amount for leg in repaid.legs[:2]] == [-20.0, pytest.approx(-20.0 / 1.04)]
    assert repaid.legs[2].amount == pytest.approx(-280_000 * GWEI * 1e-9, rel=1e-12)
    owed = system.ledger.qty(DEBT) * 1.04
    system.aave.execute(order(Repay, "aave_v3", asset="WETH", amount=math.inf), later)
    assert system.ledger.qty(DEBT) == 0.0
    assert system.ledger.qty(WETH) == pytest.approx(40.0 - owed, abs=1e-12)


def test_repaying_more_than_owed_repays_only_the_debt() -> None:
    system = chain(COSTS_OFF, {A_WEETH: 100.0, DEBT: 10.0, WETH: 20.0})
    system.aave.execute(order(Repay, "aave_v3", asset="WETH", amount=15.0), market())
    assert system.ledger.qty(DEBT) == 0.0
    assert system.ledger.qty(WETH) == pytest.approx(20.0 - 10.0 * BI)


def test_repay_without_enough_weth_or_without_debt_is_rejected() -> None:
    system = chain(COSTS_ON, {A_WEETH: 100.0, DEBT: 10.0, WETH: 5.0})
    before = frozen(system.ledger)
    with pytest.raises(ExecutionRejected):
        system.aave.execute(order(Repay, "aave_v3", asset="WETH", amount=math.inf), market())
    empty = chain(COSTS_ON, {WETH: 5.0})
    with pytest.raises(ExecutionRejected, match="no WETH debt"):
        empty.aave.execute(order(Repay, "aave_v3", asset="WETH", amount=1.0), market())
    assert frozen(system.ledger) == before


def test_borrow_above_max_ltv_is_refused_and_nothing_applied() -> None:
    collateral_eth = 100.0 * LI * RHO
    system = chain(COSTS_ON, {A_WEETH: 100.0, DEBT: 0.5 * collateral_eth / BI})
    before = frozen(system.ledger)
    over = order(Borrow, "aave_v3", asset="WETH", amount=(0.93 - 0.5) * collateral_eth * 1.0001)
    with pytest.raises(ExecutionRejected, match="borrowing power"):
        system.aave.execute(over, market())
    assert frozen(system.ledger) == before
    # exactly up to max LTV is allowed
    system.aave.execute(
        order(Borrow, "aave_v3", asset="WETH", amount=0.43 * collateral_eth), market()
    )
    assert system.aave.account(system.ledger, market()).ltv == pytest.approx(0.93, rel=1e-12)


def test_withdraw_leaving_hf_below_one_is_refused() -> None:
    # HF = 0.95 × 106.05 / 95 = 1.0605: up to 5.5 % of the collateral can go
    system = chain(COSTS_ON, {A_WEETH: 100.0, "etherfi:LST:weETH": 0.0, DEBT: 95.0 / BI})
    before = frozen(system.ledger)
    hf = system.aave.health_factor(market())
    assert hf == pytest.approx(0.95 * 100 * LI * RHO / 95.0, rel=1e-12)
    limit = 100.0 * LI * (1.0 - 1.0 / hf)  # underlying weETH that leaves HF = 1
    with pytest.raises(ExecutionRejected, match="HF"):
        system.aave.execute(
            order(WithdrawFromAave, "aave_v3", asset="weETH", amount=limit * 1.001), market()
        )
    with pytest.raises(ExecutionRejected, match="HF"):
        system.aave.execute(
            order(WithdrawFromAave, "aave_v3", asset="weETH", amount=math.inf), market()
        )
    assert frozen(system.ledger) == before
    system.aave.execute(
        order(WithdrawFromAave, "aave_v3", asset="weETH", amount=limit * 0.999), market()
    )
    assert 1.0 < system.aave.health_factor(market()) < 1.001


def test_health_factor_ignores_the_eth_price() -> None:
    system = chain(COSTS_OFF, {A_WEETH: 100.0, DEBT: 80.0})
    hf = system.aave.health_factor(market())
    assert hf == pytest.approx(0.95 * 100 * LI * RHO / (80 * BI), rel=1e-12)
    assert system.aave.health_factor(market(**{"price:ETH": 1234.0})) == pytest.approx(
        hf, rel=1e-12
    )


def test_risk_parameters_are_required_only_with_debt() -> None:
    """Without a risk lookup (pure lending) supply and withdraw work; a borrow fails fast."""
    ledger = Ledger()
    seed(ledger, {"wallet:BaseToken:USDT": 1_000.0, "etherfi:LST:weETH": 1.0})
    venue = SimulatedAave(ledger, COSTS_OFF, aave_config())
    venue.execute(order(SupplyToAave, "aave_v3", asset="USDT", amount=500.0), market())
    venue.execute(order(SupplyToAave, "aave_v3", asset="weETH", amount=1.0), market())
    venue.execute(order(WithdrawFromAave, "aave_v3", asset="USDT", amount=math.inf), market())
    assert venue.health_factor(market()) == math.inf
    before = frozen(ledger)
    with pytest.raises(ConfigError, match=r"aave_v3\.risk"):
        venue.execute(order(Borrow, "aave_v3", asset="WETH", amount=0.1), market())
    assert frozen(ledger) == before


def test_configured_close_factor_and_threshold_are_used() -> None:
    """close_factor 0.4 at HF 0.98: the first call covers 40 % of the debt (HF 0.994 after
    it, so a second call follows); with the full-close threshold at HF 0.99 the same account
    is closed in one call."""
    system = chain(COSTS_ON, account_at_hf(0.98, 100.0))
    system.aave.config = aave_config().model_copy(update={"close_factor": 0.4})
    legs = system.aave.settle(market()).legs
    assert legs[0].amount == pytest.approx(-40.0 / BI, rel=1e-12)
    assert len(legs) == 4
    system = chain(COSTS_ON, account_at_hf(0.98, 100.0))
    system.aave.config = aave_config().model_copy(update={"close_factor_hf_below": 0.99})
    _, collateral_leg = system.aave.settle(market()).legs
    assert "close_factor=1" in collateral_leg.detail


# --- liquidation ----------------------------------------------------------------------------


def account_at_hf(hf: float, debt_weth: float) -> dict[str, float]:
    """aweETH scaled so that LT × C / D = hf with D = debt_weth (e-mode LT 0.95)."""
    collateral_weeth = hf * debt_weth / (0.95 * RHO)
    return {A_WEETH: collateral_weeth / LI, DEBT: debt_weth / BI}


def test_hf_098_one_half_call_restores_health() -> None:
    system = chain(COSTS_ON, account_at_hf(0.98, 100.0))
    result = system.aave.settle(market())
    debt_leg, collateral_leg = result.legs
    assert debt_leg.instrument == DEBT and debt_leg.event_type == "Liquidated"
    assert debt_leg.amount == pytest.approx(-50.0 / BI, rel=1e-12)
    seized_weeth = 50.0 * 1.01 / RHO
    assert collateral_leg.amount == pytest.approx(-seized_weeth / LI, rel=1e-12)
    assert collateral_leg.pnl_component == "liquidation_penalty"
    assert collateral_leg.pnl_asset == "ETH"
    assert collateral_leg.pnl_native == pytest.approx(-50.0 * 0.01, rel=1e-12)
    hf_after = system.aave.health_factor(market())
    assert hf_after == pytest.approx(2 * 0.98 - 0.95 * 1.01, rel=1e-12)
    assert collateral_leg.detail == (
        f"hf_before={0.98:.6g};hf_after={hf_after:.6g};close_factor=0.5;bonus=0.01"
    )
    assert system.aave.settle(market()).legs == ()  # healthy now


def test_hf_09_close_factor_one_seizes_all_collateral() -> None:
    """At HF 0.9 the close factor is 1; C × 1 < D × 1.01, so everything is seized and the debt
    covered scales down to C / 1.01."""
    system = chain(COSTS_ON, account_at_hf(0.9, 100.0))
    collateral_eth = 0.9 * 100.0 / 0.95
    debt_leg, collateral_leg = system.aave.settle(market()).legs
    assert "close_factor=1" in collateral_leg.detail
    assert system.ledger.qty(A_WEETH) == 0.0
    covered = collateral_eth / 1.01
    assert debt_leg.amount == pytest.approx(-covered / BI, rel=1e-12)
    assert collateral_leg.pnl_native == pytest.approx(-covered * 0.01, rel=1e-12)
    assert system.ledger.qty(DEBT) * BI == pytest.approx(100.0 - covered, rel=1e-12)
    assert system.aave.settle(market()).legs == ()  # nothing left to seize


def test_small_position_is_liquidated_in_full() -> None:
    """Debt 0.5 WETH = $1,500 < full_liquidation_below_usd ($2,000): close factor 1 at HF 0.98."""
    system = chain(COSTS_ON, account_at_hf(0.98, 0.5))
    _, collateral_leg = system.aave.settle(market()).legs
    assert system.ledger.qty(DEBT) == pytest.approx(0.0, abs=1e-15)
    assert collateral_leg.pnl_native == pytest.approx(-0.5 * 0.01, rel=1e-12)
    assert "close_factor=1" in collateral_leg.detail
    assert system.aave.health_factor(market()) == math.inf


def test_liquidation_follows_an_oracle_rate_drop_and_repeats_while_hf_below_one() -> None:
    system = chain(COSTS_ON, account_at_hf(1.03, 100.0))
    assert system.aave.settle(market()).legs == ()
    # a 5 % fall in ρ: HF 1.03 × 0.95 = 0.9785; one half call gives 2 HF − 0.9595 = 0.9975,
    # still < 1, so a second call follows in the same hour
    dropped = market(**{"lst_rate:weETH": RHO * 0.95})
    result = system.aave.settle(dropped)
    assert [leg.instrument for leg in result.legs] == [DEBT, A_WEETH, DEBT, A_WEETH]
    first_hf = 2 * 1.03 * 0.95 - 0.95 * 1.01
    assert system.aave.health_factor(dropped) == pytest.approx(
        2 * first_hf - 0.95 * 1.01, rel=1e-12
    )
    assert [leg.pnl_native for leg in result.legs[1::2]] == [
        pytest.approx(-0.5),
        pytest.approx(-0.25),
    ]


def test_liquidation_of_two_collaterals_is_not_modelled() -> None:
    holdings = {**account_at_hf(0.98, 100.0), "aave_v3:aToken:awstETH": 1.0}
    holdings[A_WEETH] -= 1.2 / (LI * RHO) * 1.002
    system = chain(COSTS_ON, holdings)
    with pytest.raises(OperationalError, match="one collateral"):
        system.aave.settle(market())


def test_settle_without_debt_books_nothing() -> None:
    system = chain(COSTS_ON, {A_WEETH: 5.0})
    assert system.aave.settle(market()).legs == ()
