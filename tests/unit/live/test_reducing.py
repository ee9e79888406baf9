"""What counts as risk-reducing: toward zero without crossing, per position; collateral only
without debt; exit bundles only when they repay; every other type (and subclasses) refused."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from basis_strategy.core.instructions import (
    ApproveToken,
    Borrow,
    FlashBundle,
    Instruction,
    PayWithdrawal,
    Repay,
    RequestUnstake,
    SellSpot,
    Stake,
    SupplyToAave,
    SwapOnDex,
    TradePerp,
    Transfer,
    WithdrawFromAave,
    Wrap,
)
from basis_strategy.live.reducing import (
    debt_key,
    perp_key,
    reduction,
    spot_key,
    supply_key,
)

C = {"action": "exit_partial", "trigger": "test"}
LONG = {perp_key("okx", "BTC"): 2.0}
AAVE = {debt_key("aave_v3", "WETH"): 50.0, supply_key("aave_v3", "weETH"): 60.0}
NO_DEBT = {supply_key("aave_v3", "weETH"): 60.0}


def perp(delta: float) -> TradePerp:
    return TradePerp(venue="okx", base="BTC", size_delta=delta, **C)  # type: ignore[arg-type]


def repay(amount: float) -> Repay:
    return Repay(venue="aave_v3", asset="WETH", amount=amount, **C)  # type: ignore[arg-type]


def withdraw(amount: float) -> WithdrawFromAave:
    return WithdrawFromAave(venue="aave_v3", asset="weETH", amount=amount, **C)  # type: ignore[arg-type]


def swap() -> SwapOnDex:
    return SwapOnDex(venue="uniswap", sell="weETH", buy="WETH", sell_amount=10.0, **C)  # type: ignore[arg-type]


def bundle(kind: str, *steps: Instruction) -> FlashBundle:
    return FlashBundle(
        venue="morpho",
        kind=kind,
        asset="WETH",
        amount=10.0,
        steps=steps,
        gas_op="x",
        **C,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("delta", "ok", "after"),
    [
        (-0.5, True, 1.5),
        (-2.0, True, 0.0),
        (-2.0 - 1e-12, True, 0.0),
        (-2.1, False, None),
        (0.1, False, None),
        (0.0, False, None),
    ],
)
def test_long_perp_reduced_toward_zero_never_across(
    delta: float, ok: bool, after: float | None
) -> None:
    verdict = reduction(perp(delta), LONG)
    assert verdict.reduces is ok
    if after is not None:
        assert verdict.applied(LONG)[perp_key("okx", "BTC")] == pytest.approx(after)


def test_no_position_means_nothing_reduces() -> None:
    assert not reduction(perp(-1.0), {}).reduces
    sell = SellSpot(venue="okx", base="BTC", base_amount=1.0, **C)  # type: ignore[arg-type]
    assert not reduction(sell, {}).reduces
    assert not reduction(sell, {spot_key("binance", "BTC"): 5.0}).reduces  # another venue


@pytest.mark.parametrize(
    ("amount", "ok", "owed_after"),
    [(10.0, True, 40.0), (math.inf, True, 0.0), (80.0, True, 0.0), (0.0, False, None)],
)
def test_repay_of_a_debt_owed(amount: float, ok: bool, owed_after: float | None) -> None:
    verdict = reduction(repay(amount), AAVE)
    assert verdict.reduces is ok
    if owed_after is not None:
        assert verdict.applied(AAVE)[debt_key("aave_v3", "WETH")] == owed_after
    assert not reduction(repay(1.0), NO_DEBT).reduces


def test_withdrawing_collateral_reduces_only_without_debt() -> None:
    assert not reduction(withdraw(10.0), AAVE).reduces
    assert reduction(withdraw(10.0), NO_DEBT).reduces
    assert reduction(withdraw(math.inf), NO_DEBT).reduces
    assert not reduction(withdraw(61.0), NO_DEBT).reduces


def test_exit_bundles_reduce_only_when_they_repay_with_unwind_steps() -> None:
    unwind = (repay(10.0), withdraw(12.0), swap())
    for kind in ("deleverage", "partial_exit", "full_exit"):
        verdict = reduction(bundle(kind, *unwind), AAVE)
        assert verdict.reduces, verdict.reason
        assert verdict.applied(AAVE)[supply_key("aave_v3", "weETH")] == 48.0
    assert not reduction(bundle("relever", *unwind), AAVE).reduces
    assert not reduction(bundle("entry", *unwind), AAVE).reduces
    borrow = Borrow(venue="aave_v3", asset="WETH", amount=1.0, **C)  # type: ignore[arg-type]
    assert not reduction(bundle("deleverage", *unwind, borrow), AAVE).reduces
    assert not reduction(bundle("deleverage", withdraw(1.0), swap()), AAVE).reduces  # no repay
    assert not reduction(bundle("deleverage", *unwind), NO_DEBT).reduces  # nothing owed
    assert not reduction(bundle("full_exit", repay(1.0), withdraw(70.0)), AAVE).reduces


@pytest.mark.parametrize(
    "instruction",
    [
        Borrow(venue="aave_v3", asset="WETH", amount=1.0, **C),  # type: ignore[arg-type]
        SupplyToAave(venue="aave_v3", asset="weETH", amount=1.0, **C),  # type: ignore[arg-type]
        Stake(venue="etherfi", amount=1.0, **C),  # type: ignore[arg-type]
        RequestUnstake(venue="etherfi", amount=1.0, **C),  # type: ignore[arg-type]
        Wrap(venue="wallet", amount=1.0, **C),  # type: ignore[arg-type]
        swap(),
        Transfer(venue="wallet", destination="okx", asset="USDT", amount=1.0, **C),  # type: ignore[arg-type]
        ApproveToken(venue="wallet", token="weETH", spender="aave", **C),  # type: ignore[arg-type]
        PayWithdrawal(venue="wallet", asset="USDT", amount=1.0, **C),  # type: ignore[arg-type]
    ],
)
def test_other_types_are_not_reducing(instruction: Instruction) -> None:
    positions = {**AAVE, **LONG, spot_key("wallet", "USDT"): 1e6}
    assert not reduction(instruction, positions).reduces


def test_an_unknown_subclass_of_a_reducing_type_is_not_reducing() -> None:
    @dataclass(frozen=True, slots=True, kw_only=True)
    class LeveredPerp(TradePerp):
        leverage: float

    order = LeveredPerp(venue="okx", base="BTC", size_delta=-1.0, leverage=5.0, **C)  # type: ignore[arg-type]
    assert not reduction(order, LONG).reduces
    assert "not a risk-reducing" in reduction(order, LONG).reason
