"""SimulatedFlashLender: atomic FlashBundles, all or nothing (ADR-020, domain 10)."""

from __future__ import annotations

import math
import pickle

import pytest
from venue_book import (
    COSTS_OFF,
    COSTS_ON,
    VALUES,
    Chain,
    book_value,
    booked_pnl,
    chain,
    flash_config,
    market,
    order,
)

from basis_strategy.core.instructions import (
    Borrow,
    FlashBundle,
    Instruction,
    Leg,
    Repay,
    RequestUnstake,
    SetEmode,
    Stake,
    SupplyToAave,
    SwapOnDex,
    WithdrawFromAave,
    Wrap,
)
from basis_strategy.data.market import MarketState
from basis_strategy.math.costs import slippage_bps
from basis_strategy.math.leverage import deleverage_sale, flash_entry, partial_exit, relever_flash
from basis_strategy.venues.interface import CostSwitches, ExecutionRejected, Ledger

ETH, WETH = "wallet:BaseToken:ETH", "wallet:BaseToken:WETH"
WEETH, A_WEETH, DEBT = "etherfi:LST:weETH", "aave_v3:aToken:aweETH", "aave_v3:debtToken:debtWETH"
GWEI = VALUES["gas_gwei"]
# domain 10.1's example: ρ 1.05, LI = BI = 1
PLAIN = {"aave_li:weETH": 1.0, "aave_bi:WETH": 1.0, "lst_rate:weETH": 1.05}
EXECUTION_ONLY = CostSwitches(gas=False, execution=True)
GAS_ONLY = CostSwitches(gas=True, execution=False)


def plain(**changes: float) -> MarketState:
    return market(**{**PLAIN, **changes})


def frozen(ledger: Ledger) -> bytes:
    return pickle.dumps((ledger.quantities, ledger.entries))


def lever_steps(
    stake_eth: float, flash: float, rho: float, fee: float = 0.0
) -> tuple[Instruction, ...]:
    return (
        order(Wrap, "wallet", amount=-flash),
        order(Stake, "etherfi", amount=stake_eth),
        order(SupplyToAave, "aave_v3", asset="weETH", amount=stake_eth / rho),
        order(Borrow, "aave_v3", asset="WETH", amount=flash * (1 + fee)),
    )


def bundle(kind: str, amount: float, steps: tuple[Instruction, ...], gas_op: str) -> FlashBundle:
    made = order(
        FlashBundle, "morpho", kind=kind, asset="WETH", amount=amount, steps=steps, gas_op=gas_op
    )
    assert isinstance(made, FlashBundle)
    return made


def entered(equity: float, ltv: float, costs: CostSwitches = COSTS_OFF) -> Chain:
    """A chain after the domain 10.1 entry with `equity` ETH at `ltv` (no costs)."""
    system = chain(costs, {ETH: equity})
    sized = flash_entry(equity, ltv, 1.05, 0.95)
    steps = lever_steps(equity + sized.flash_weth, sized.flash_weth, 1.05)
    system.morpho.execute(bundle("entry", sized.flash_weth, steps, "atomic_entry"), plain())
    return system


def collateral_debt(system: Chain, at: MarketState) -> tuple[float, float]:
    collateral = system.ledger.qty(A_WEETH) * at["aave_li:weETH"] * at["lst_rate:weETH"]
    return collateral, system.ledger.qty(DEBT) * at["aave_bi:WETH"]


def test_entry_matches_the_closed_form() -> None:
    """E = 10 ETH, λ 0.91, ρ 1.05, LT 0.95: F = D = 10·0.91/0.09 = 101.11 WETH, C = 10/0.09 =
    111.11 ETH = 105.82 weETH, HF = 0.95/0.91 = 1.044."""
    system = chain(COSTS_OFF, {ETH: 10.0})
    sized = flash_entry(10.0, 0.91, 1.05, 0.95)
    flash, collateral = 10 * 0.91 / 0.09, 10 / 0.09
    assert sized.flash_weth == pytest.approx(flash, rel=1e-12)
    steps = lever_steps(10.0 + sized.flash_weth, sized.flash_weth, 1.05)
    result = system.morpho.execute(
        bundle("entry", sized.flash_weth, steps, "atomic_entry"), plain()
    )
    events = [leg.event_type for leg in result.legs]
    assert events[0] == "FlashBorrowed" and events[-1] == "FlashRepaid"  # no gas leg: gas off
    assert result.legs[-1].pnl_component == ""  # no fee
    assert system.ledger.qty(DEBT) == pytest.approx(flash, rel=1e-9)
    assert system.ledger.qty(A_WEETH) == pytest.approx(collateral / 1.05, rel=1e-9)
    assert system.ledger.qty(A_WEETH) == pytest.approx(105.82, abs=0.005)
    assert system.ledger.qty(DEBT) == pytest.approx(101.11, abs=0.005)
    assert system.aave.health_factor(plain()) == pytest.approx(0.95 / 0.91, rel=1e-9)
    assert system.aave.health_factor(plain()) == pytest.approx(1.044, abs=5e-4)
    assert system.ledger.qty(ETH) == pytest.approx(0.0, abs=1e-12)
    assert system.ledger.qty(WETH) == pytest.approx(0.0, abs=1e-12)
    assert system.ledger.qty(WEETH) == pytest.approx(0.0, abs=1e-12)


def test_bundle_pays_one_gas_leg_and_the_flash_fee() -> None:
    fee = 0.0005
    morpho = flash_config().model_copy(update={"flash_loan_fee": fee})
    system = chain(COSTS_ON, {ETH: 10.0}, flash=morpho)
    gas_eth = 1_250_000 * GWEI * 1e-9
    sized = flash_entry(10.0, 0.91, 1.05, 0.95, flash_fee=fee, gas_eth=gas_eth)
    steps = lever_steps(10.0 - gas_eth + sized.flash_weth, sized.flash_weth, 1.05, fee)
    before = book_value([system.ledger], plain(), "ETH")
    result = system.morpho.execute(
        bundle("entry", sized.flash_weth, steps, "atomic_entry"), plain()
    )
    gas = [leg for leg in result.legs if leg.pnl_component == "gas"]
    assert len(gas) == 1 and gas[0] is result.legs[-1]
    assert gas[0].amount == pytest.approx(-gas_eth, rel=1e-12)
    assert gas[0].event_type == "GasPaid:atomic_entry"
    repaid = result.legs[-2]
    assert repaid.event_type == "FlashRepaid"
    assert repaid.amount == pytest.approx(-sized.flash_weth * (1 + fee), rel=1e-15)
    assert (repaid.pnl_component, repaid.pnl_asset) == ("execution_costs", "WETH")
    assert repaid.pnl_native == pytest.approx(-sized.flash_weth * fee, rel=1e-12)
    assert system.ledger.qty(DEBT) == pytest.approx(sized.debt_weth, rel=1e-12)
    assert system.ledger.qty(ETH) == pytest.approx(0.0, abs=1e-12)  # E − G − stake
    after = book_value([system.ledger], plain(), "ETH")
    assert after - before == pytest.approx(-gas_eth - sized.flash_weth * fee, rel=1e-9)
    assert after - before == pytest.approx(booked_pnl(result.legs, plain(), "ETH"), rel=1e-9)


def test_bundle_above_max_ltv_is_rejected_and_the_ledger_untouched() -> None:
    system = chain(COSTS_ON, {ETH: 10.0})
    sized = flash_entry(10.0, 0.95, 1.05, 0.95)  # λ 0.95 > max LTV 0.93
    steps = lever_steps(10.0 + sized.flash_weth, sized.flash_weth, 1.05)
    before = frozen(system.ledger)
    with pytest.raises(
        ExecutionRejected, match=r"entry bundle rejected at step 4 \(Borrow at aave_v3\)"
    ):
        system.morpho.execute(bundle("entry", sized.flash_weth, steps, "atomic_entry"), plain())
    assert frozen(system.ledger) == before


def test_bundle_whose_flash_cannot_be_repaid_is_rejected() -> None:
    system = chain(COSTS_ON, {ETH: 10.0})
    sized = flash_entry(10.0, 0.91, 1.05, 0.95)
    short = (
        *lever_steps(10.0 + sized.flash_weth, sized.flash_weth, 1.05)[:3],
        order(Borrow, "aave_v3", asset="WETH", amount=sized.flash_weth * 0.9),
    )
    before = frozen(system.ledger)
    with pytest.raises(ExecutionRejected, match="entry bundle rejected at flash repayment"):
        system.morpho.execute(bundle("entry", sized.flash_weth, short, "atomic_entry"), plain())
    assert frozen(system.ledger) == before


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        (order(SetEmode, "aave_v3"), "not allowed inside a bundle"),
        (order(Wrap, "binance", amount=1.0), "no on-chain venue 'binance'"),
        (order(Stake, "etherfi", amount=1e6), "wallet:BaseToken:ETH: needs"),
    ],
    ids=["set-emode", "cex-step", "overdraw"],
)
def test_invalid_steps_reject_the_bundle(step: Instruction, reason: str) -> None:
    system = chain(COSTS_ON, {ETH: 10.0})
    before = frozen(system.ledger)
    with pytest.raises(ExecutionRejected, match=reason):
        system.morpho.execute(bundle("entry", 1.0, (step,), "atomic_entry"), plain())
    assert frozen(system.ledger) == before
    assert system.aave.emode  # untouched too


def test_unknown_gas_op_and_non_bundles_are_rejected() -> None:
    system = chain(COSTS_ON, {ETH: 10.0})
    with pytest.raises(ExecutionRejected, match="unknown gas_op"):
        system.morpho.execute(bundle("entry", 1.0, (), "atomic_teleport"), plain())
    with pytest.raises(ExecutionRejected, match="morpho cannot execute Wrap"):
        system.morpho.execute(order(Wrap, "morpho", amount=1.0), plain())
    assert system.ledger.quantities == {ETH: 10.0}


def test_positions_are_the_shared_wallet_ledger() -> None:
    system = entered(10.0, 0.91)
    assert system.morpho.positions() == system.ledger.quantities
    assert system.morpho.positions() is not system.ledger.quantities


def test_incremental_entry_keeps_the_ltv() -> None:
    system = entered(10.0, 0.91)
    system.ledger.apply((Leg(ETH, 5.0, "Deposited"),))
    sized = flash_entry(5.0, 0.91, 1.05, 0.95)
    steps = lever_steps(5.0 + sized.flash_weth, sized.flash_weth, 1.05)
    system.morpho.execute(
        bundle("incremental_entry", sized.flash_weth, steps, "atomic_entry"), plain()
    )
    collateral, debt = collateral_debt(system, plain())
    assert debt / collateral == pytest.approx(0.91, rel=1e-12)
    assert collateral == pytest.approx(15.0 / 0.09, rel=1e-12)


def test_relever_from_a_lower_ltv() -> None:
    system = entered(10.0, 0.85)
    collateral, debt = collateral_debt(system, plain())
    flash = relever_flash(collateral, debt, 0.91)
    system.morpho.execute(
        bundle("relever", flash, lever_steps(flash, flash, 1.05), "atomic_entry"), plain()
    )
    collateral_after, debt_after = collateral_debt(system, plain())
    assert debt_after / collateral_after == pytest.approx(0.91, rel=1e-12)
    assert collateral_after - debt_after == pytest.approx(10.0, rel=1e-12)  # equity unchanged


def test_deleverage_sells_at_the_dex_rate_and_loses_the_discount() -> None:
    """λ 0.91 -> 0.85 selling w weETH at p' = ρ_mkt (execution costs off): equity falls by
    w (ρ − ρ_mkt) plus the bundle's gas (domain 10.3)."""
    system = entered(10.0, 0.91, GAS_ONLY)
    at = plain()
    collateral, debt = collateral_debt(system, at)
    rho_mkt = at["lst_market:weETH"]
    w = deleverage_sale(collateral, debt, 0.85, 1.05, rho_mkt)
    repay = w * rho_mkt
    steps = (
        order(Repay, "aave_v3", asset="WETH", amount=repay),
        order(WithdrawFromAave, "aave_v3", asset="weETH", amount=w),
        order(SwapOnDex, "uniswap", sell="weETH", buy="WETH", sell_amount=w),
    )
    before = book_value([system.ledger], at, "ETH")
    result = system.morpho.execute(
        bundle("deleverage", repay, steps, "atomic_deleverage_one_swap"), at
    )
    collateral_after, debt_after = collateral_debt(system, at)
    assert debt_after / collateral_after == pytest.approx(0.85, rel=1e-12)
    assert system.ledger.qty(WETH) == pytest.approx(0.0, abs=1e-12)
    gas_eth = 850_000 * GWEI * 1e-9
    change = book_value([system.ledger], at, "ETH") - before
    assert change == pytest.approx(-w * (1.05 - rho_mkt) - gas_eth, rel=1e-9)
    (cost,) = [
        leg for leg in result.legs if leg.pnl_component == "execution_costs" and leg.pnl_native
    ]
    assert cost.pnl_asset == "weETH"
    assert cost.pnl_native * 1.05 == pytest.approx(-w * (1.05 - rho_mkt), rel=1e-9)


def test_partial_exit_releases_equity_as_eth_at_constant_ltv() -> None:
    system = entered(10.0, 0.91, COSTS_OFF)
    at = plain()
    rho_mkt = at["lst_market:weETH"]
    w, repay = partial_exit(2.0, 0.91, 1.05, rho_mkt)
    steps = (
        order(Repay, "aave_v3", asset="WETH", amount=repay),
        order(WithdrawFromAave, "aave_v3", asset="weETH", amount=w),
        order(SwapOnDex, "uniswap", sell="weETH", buy="ETH", sell_amount=w),
        order(Wrap, "wallet", amount=repay),
    )
    system.morpho.execute(bundle("partial_exit", repay, steps, "atomic_deleverage_one_swap"), at)
    collateral, debt = collateral_debt(system, at)
    assert debt / collateral == pytest.approx(0.91, rel=1e-12)
    assert system.ledger.qty(ETH) == pytest.approx(2.0, rel=1e-12)
    assert system.ledger.qty(WETH) == pytest.approx(0.0, abs=1e-12)


def test_full_exit_closes_everything_and_leaves_eth() -> None:
    system = entered(10.0, 0.91, COSTS_OFF)
    for venue in (system.aave, system.dex, system.wallet, system.morpho):
        venue.costs = COSTS_ON  # the exit pays gas, fee and slippage
    at = plain()
    units = system.ledger.qty(A_WEETH)
    _, debt = collateral_debt(system, at)
    steps = (
        order(Repay, "aave_v3", asset="WETH", amount=math.inf),
        order(WithdrawFromAave, "aave_v3", asset="weETH", amount=math.inf),
        order(SwapOnDex, "uniswap", sell="weETH", buy="ETH", sell_amount=math.inf),
        order(Wrap, "wallet", amount=debt),
    )
    result = system.morpho.execute(
        bundle("full_exit", debt, steps, "atomic_deleverage_one_swap"), at
    )
    assert system.ledger.qty(A_WEETH) == 0.0
    assert system.ledger.qty(DEBT) == 0.0
    assert system.ledger.qty(WEETH) == pytest.approx(0.0, abs=1e-12)
    assert system.ledger.qty(WETH) == pytest.approx(0.0, abs=1e-12)
    rate = 0.0005 + slippage_bps(units * 1.05 * at["price:ETH"], 20, 35) * 1e-4
    gas_eth = 850_000 * GWEI * 1e-9
    expected = units * at["lst_market:weETH"] * (1 - rate) - debt - gas_eth
    assert system.ledger.qty(ETH) == pytest.approx(expected, rel=1e-12)
    assert sum(leg.pnl_component == "gas" for leg in result.legs) == 1


def test_a_bundle_step_remembers_venue_state_only_on_success() -> None:
    system = chain(COSTS_OFF, {WEETH: 5.0, WETH: 1.0})
    step = order(RequestUnstake, "etherfi", amount=2.0)
    system.morpho.execute(
        bundle("partial_exit", 1.0, (step,), "atomic_deleverage_one_swap"), plain()
    )
    assert [eth for _, eth in system.etherfi.claims] == [pytest.approx(2.1)]
    failing = (step, order(Stake, "etherfi", amount=100.0))
    with pytest.raises(ExecutionRejected, match="step 2"):
        system.morpho.execute(
            bundle("partial_exit", 1.0, failing, "atomic_deleverage_one_swap"), plain()
        )
    assert len(system.etherfi.claims) == 1
