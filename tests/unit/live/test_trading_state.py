"""Trading state: a breach -> REDUCING with an alert; emergency stop -> HALTED in one call from
any state; only an operator leaves HALTED; REDUCING lets through only reductions; HALTED
freeze lets through nothing and flatten only closing orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from basis_strategy.core.instructions import (
    BuySpot,
    EndGroup,
    Instruction,
    PayWithdrawal,
    SellSpot,
    StartFlow,
    TradePerp,
)
from basis_strategy.live.limits import Breach
from basis_strategy.live.reducing import perp_key, spot_key
from basis_strategy.live.trading_state import (
    Control,
    StopMode,
    TradingState,
    allowed,
    emergency_stop,
    gate_batch,
    on_cycle,
    resume,
)

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
S = TradingState
DD = Breach("RISK-002", "max_drawdown", 0.12, 0.10)
LOSS = Breach("RISK-003", "max_daily_loss", 0.05, 0.04)
SHORT = {perp_key("binance", "ETH"): -10.0, spot_key("binance", "ETH"): 10.0}
C = {"action": "exit_partial", "trigger": "test"}

ACTIVE = Control()
REDUCING = on_cycle(ACTIVE, [DD], T0)[0]
FROZEN = emergency_stop(ACTIVE, StopMode.FREEZE, "venue down", T0)[0]
FLATTENING = emergency_stop(ACTIVE, StopMode.FLATTEN, "operator", T0)[0]


def perp(delta: float) -> TradePerp:
    return TradePerp(venue="binance", base="ETH", size_delta=delta, **C)  # type: ignore[arg-type]


def sell(amount: float) -> SellSpot:
    return SellSpot(venue="binance", base="ETH", base_amount=amount, **C)  # type: ignore[arg-type]


def buy(usdt: float) -> BuySpot:
    return BuySpot(venue="binance", base="ETH", quote_amount=usdt, **C)  # type: ignore[arg-type]


# --- transitions -------------------------------------------------------------------------------


def test_a_breach_puts_active_in_reducing_with_alerts() -> None:
    control, alerts = on_cycle(ACTIVE, [DD], T0, strategy="eth_basis")
    assert control.state is S.REDUCING and control.since == T0
    assert [a.code for a in alerts] == ["RISK-001", "RISK-002"]
    assert all(a.strategy == "eth_basis" for a in alerts)


def test_no_breach_keeps_active_quiet() -> None:
    assert on_cycle(ACTIVE, [], T0) == (ACTIVE, ())
    assert on_cycle(ACTIVE, [], T0, auto_recover=True) == (ACTIVE, ())  # nothing to recover


def test_reducing_alerts_again_only_for_a_new_kind_of_breach() -> None:
    assert on_cycle(REDUCING, [DD], T1) == (REDUCING, ())
    control, alerts = on_cycle(REDUCING, [DD, LOSS], T1)
    assert control.state is S.REDUCING and control.since == T0
    assert [a.code for a in alerts] == ["RISK-001", "RISK-003"]


def test_reducing_stays_without_breach_unless_auto_recover() -> None:
    assert on_cycle(REDUCING, [], T1) == (REDUCING, ())
    control, alerts = on_cycle(REDUCING, [], T1, auto_recover=True)
    assert control.state is S.ACTIVE and [a.code for a in alerts] == ["LT-009"]
    # auto-recovery needs no breach at all
    assert on_cycle(REDUCING, [DD], T1, auto_recover=True)[0].state is S.REDUCING


@pytest.mark.parametrize("start", [ACTIVE, REDUCING, FROZEN, FLATTENING])
@pytest.mark.parametrize("mode", list(StopMode))
def test_emergency_stop_from_any_state_halts_in_one_call(start: Control, mode: StopMode) -> None:
    control, alerts = emergency_stop(start, mode, "kill switch", T1)
    assert control.state is S.HALTED and control.stop_mode is mode
    assert [(a.code, a.level.value) for a in alerts] == [("LT-005", "CRITICAL")]


def test_emergency_stop_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        emergency_stop(ACTIVE, StopMode.FREEZE, " ", T0)


@pytest.mark.parametrize("halted", [FROZEN, FLATTENING])
def test_halted_is_not_left_by_cycles_breaches_or_auto_recover(halted: Control) -> None:
    for breaches in ([], [DD]):
        control, alerts = on_cycle(halted, breaches, T1, auto_recover=True)
        assert control == halted and alerts == ()


def test_only_an_operator_resume_leaves_halted() -> None:
    control, alerts = resume(FROZEN, "alice", T1)
    assert control.state is S.ACTIVE and control.stop_mode is None
    assert [a.code for a in alerts] == ["LT-008"] and "alice" in alerts[0].message
    assert resume(FLATTENING, "bob", T1, to=S.REDUCING)[0].state is S.REDUCING
    with pytest.raises(ValueError, match="operator"):
        resume(FROZEN, "", T1)


def test_operator_resumes_reducing_and_a_remaining_breach_reduces_again() -> None:
    control, _ = resume(REDUCING, "alice", T1)
    assert control.state is S.ACTIVE and control.breach_codes == frozenset()
    again, alerts = on_cycle(control, [DD], T1)
    assert again.state is S.REDUCING and [a.code for a in alerts] == ["RISK-001", "RISK-002"]


@pytest.mark.parametrize(
    ("start", "to"),
    [(ACTIVE, S.ACTIVE), (ACTIVE, S.REDUCING), (REDUCING, S.REDUCING), (FROZEN, S.HALTED)],
)
def test_resume_refuses_moves_that_are_not_resumes(start: Control, to: TradingState) -> None:
    with pytest.raises(ValueError, match="cannot go"):
        resume(start, "alice", T1, to=to)


def test_flatten_becomes_freeze_once_flat() -> None:
    assert on_cycle(FLATTENING, [], T1, flat=False) == (FLATTENING, ())
    control, alerts = on_cycle(FLATTENING, [], T1, flat=True)
    assert control.state is S.HALTED and control.stop_mode is StopMode.FREEZE
    assert [a.code for a in alerts] == ["LT-010"]
    assert on_cycle(FROZEN, [], T1, flat=True) == (FROZEN, ())


# --- the gate ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instruction", "ok"),
    [
        (perp(4.0), True),  # a short of 10 bought back by 4
        (perp(10.0), True),  # closed
        (perp(-1.0), False),  # more short
        (perp(11.0), False),  # flips to long 1
        (perp(0.0), False),
        (sell(10.0), True),
        (sell(10.5), False),
        (buy(100.0), False),
    ],
)
def test_reducing_lets_through_only_reductions(instruction: Instruction, ok: bool) -> None:
    assert allowed(REDUCING, instruction, SHORT).allowed is ok
    assert allowed(FLATTENING, instruction, SHORT).allowed is ok  # flatten: the same rule
    assert allowed(ACTIVE, instruction, SHORT).allowed  # active: everything
    assert not allowed(FROZEN, instruction, SHORT).allowed  # freeze: nothing


def test_batch_judges_each_on_the_positions_left_by_the_previous() -> None:
    # two buy-backs of 6 on a short of 10: the second would flip it
    passed, alerts = gate_batch(REDUCING, [perp(6.0), perp(6.0), perp(4.0)], SHORT, T0, "x")
    assert passed == (perp(6.0), perp(4.0))
    assert [a.code for a in alerts] == ["LT-007"] and "TradePerp" in alerts[0].message


def test_batch_active_passes_everything_frozen_nothing() -> None:
    batch = [buy(1.0), perp(-1.0), perp(1.0)]
    assert gate_batch(ACTIVE, batch, SHORT) == (tuple(batch), ())
    passed, alerts = gate_batch(FROZEN, batch, SHORT)
    assert passed == () and len(alerts) == 3


def flow(*inner: Instruction) -> list[Instruction]:
    start = StartFlow(action="flow", trigger="withdrawal", kind="withdrawal", amount=-5.0)
    return [start, *inner, EndGroup(action="flow", trigger="withdrawal")]


def test_a_group_passes_whole_or_not_at_all() -> None:
    good = flow(perp(5.0), sell(5.0))
    passed, alerts = gate_batch(REDUCING, good, SHORT)
    assert passed == tuple(good) and alerts == ()
    pay = PayWithdrawal(venue="wallet", asset="USDT", amount=5.0, action="flow", trigger="w")
    bad = flow(perp(5.0), pay)
    passed, alerts = gate_batch(REDUCING, [*bad, perp(5.0)], SHORT)
    assert passed == (perp(5.0),)  # the refused group did not use up the reduction
    assert [a.code for a in alerts] == ["LT-007"] and "StartFlow" in alerts[0].message


def test_an_unclosed_group_or_a_lone_end_is_refused_when_not_active() -> None:
    unclosed = flow(perp(5.0))[:-1]
    assert gate_batch(REDUCING, unclosed, SHORT)[0] == ()
    assert gate_batch(REDUCING, [EndGroup(action="flow", trigger="x")], SHORT)[0] == ()
