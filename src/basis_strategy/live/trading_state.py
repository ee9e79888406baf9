"""Trading state of a live strategy: ACTIVE / REDUCING / HALTED, and the gate on its orders.

Why: Nautilus's trading states (docs/live.md section 1). A breach must stop a strategy from
adding risk without forcing a panic exit (REDUCING); an operator must be able to stop
everything within one cycle (HALTED), either sending nothing more (`freeze`, when the venue
or the data is suspect) or closing positions until flat (`flatten`). Leaving HALTED takes an
operator: a machine that decided to stop must not decide on its own to start again.

Transitions (functions return the new `Control` and the alerts; any other move is a no-op)::

    ACTIVE   --breach (on_cycle)-------------------------------> REDUCING   RISK-001 + RISK-*
    REDUCING --new kind of breach (on_cycle)--------------------> REDUCING  RISK-001 + RISK-*
    REDUCING --no breach, auto_recover=True (on_cycle)----------> ACTIVE    LT-009
    REDUCING | HALTED --resume(operator)------------------------> ACTIVE    LT-008
    HALTED   --resume(operator, to=REDUCING)--------------------> REDUCING  LT-008
    ACTIVE | REDUCING | HALTED --emergency_stop(mode)-----------> HALTED    LT-005
    HALTED(flatten) --flat (on_cycle)---------------------------> HALTED(freeze) LT-010

Auto-recovery is off by default: REDUCING is left only by an operator unless the request
opts in. Breaches do not move a HALTED strategy. A resume while a breach remains is allowed;
the next cycle's breach puts the strategy back in REDUCING (with its alert).

The gate (`allowed`, `gate_batch`): ACTIVE lets everything through; REDUCING only what
`reducing.reduction` calls risk-reducing; HALTED-flatten that and the exit recipe's
conversions to cash (`FLATTEN_CONVERSIONS`); HALTED-freeze nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from basis_strategy.core.instructions import (
    EndGroup,
    Instruction,
    StartFlow,
    StartRebalance,
    SwapOnDex,
    Transfer,
    Wrap,
)
from basis_strategy.live.alerts import Alert
from basis_strategy.live.limits import Breach
from basis_strategy.live.reducing import Positions, reduction


class TradingState(StrEnum):
    ACTIVE = "active"  # every order the strategy emits may be sent (within the order checks)
    REDUCING = "reducing"  # only risk-reducing orders
    HALTED = "halted"  # kill switch: nothing (freeze) or only closing orders (flatten)


class StopMode(StrEnum):
    FREEZE = "freeze"  # send nothing more; positions stay as they are
    FLATTEN = "flatten"  # send only closing orders until flat, then freeze


@dataclass(frozen=True, slots=True)
class Control:
    """The trading state of one strategy (persist it: a restart must not resume trading).

    `stop_mode` is set only in HALTED; `breach_codes` are the breaches that put it in
    REDUCING (a new code alerts again); `reason` and `since` say why and when it last moved."""

    state: TradingState = TradingState.ACTIVE
    stop_mode: StopMode | None = None
    reason: str = ""
    since: datetime | None = None
    breach_codes: frozenset[str] = frozenset()


Step = tuple[Control, tuple[Alert, ...]]
# In HALTED-flatten the session runs the strategy's own exit recipe (`flatten`), whose swaps,
# wraps and transfers turn what the closing trades left (LST, WETH, ETH, cash on a CEX) into
# the share class's cash: they open nothing, so the flatten gate lets them through (REDUCING
# still refuses them: there the strategy decides as usual and a swap may buy risk).
FLATTEN_CONVERSIONS = (SwapOnDex, Wrap, Transfer)


def on_cycle(
    control: Control,
    breaches: Sequence[Breach],
    now: datetime,
    *,
    auto_recover: bool = False,
    flat: bool = False,
    strategy: str = "",
) -> Step:
    """Apply one cycle's breaches from `limits.check_cycle`. (A `check_order` breach refuses
    that order only; pass it here too if it should restrict the strategy.) `flat`: every
    position is flat (only read in HALTED-flatten, which then becomes HALTED-freeze)."""
    if control.state is TradingState.HALTED:
        if control.stop_mode is StopMode.FLATTEN and flat:
            alert = Alert("LT-010", "flatten complete: frozen", strategy, now)
            return replace(control, stop_mode=StopMode.FREEZE, since=now), (alert,)
        return control, ()
    codes = frozenset(breach.code for breach in breaches)
    if breaches:
        new = codes - control.breach_codes if control.state is TradingState.REDUCING else codes
        if not new:
            return control, ()
        reason = "; ".join(breach.message for breach in breaches)
        alerts = [Alert("RISK-001", f"REDUCING: {reason}", strategy, now)]
        alerts += [breach.alert(strategy, now) for breach in breaches if breach.code in new]
        seen = codes | control.breach_codes
        moved = control.state is not TradingState.REDUCING
        return Control(
            TradingState.REDUCING,
            None,
            reason,
            now if moved else control.since,
            seen,
        ), tuple(alerts)
    if control.state is TradingState.REDUCING and auto_recover:
        alert = Alert("LT-009", "no breach remains: ACTIVE", strategy, now)
        return Control(TradingState.ACTIVE, None, "auto-recovered", now), (alert,)
    return control, ()


def emergency_stop(
    control: Control, mode: StopMode, reason: str, now: datetime, strategy: str = ""
) -> Step:
    """HALTED at once, from any state (a HALTED strategy takes the new mode)."""
    if not reason.strip():
        raise ValueError("emergency stop: a reason is required")
    message = f"emergency stop ({mode.value}): {reason}"
    alert = Alert("LT-005", message, strategy, now)
    return Control(TradingState.HALTED, mode, reason, now, control.breach_codes), (alert,)


def resume(
    control: Control,
    operator: str,
    now: datetime,
    to: TradingState = TradingState.ACTIVE,
    strategy: str = "",
) -> Step:
    """An operator's explicit resume: HALTED -> ACTIVE or REDUCING; REDUCING -> ACTIVE.
    The only way out of HALTED; forgets the breaches (the next cycle re-checks them)."""
    if not operator.strip():
        raise ValueError("resume: the operator's name is required")
    if to is TradingState.HALTED or to is control.state:
        raise ValueError(f"resume: cannot go from {control.state.value} to {to.value}")
    if control.state is TradingState.ACTIVE or (
        control.state is TradingState.REDUCING and to is not TradingState.ACTIVE
    ):
        raise ValueError(f"resume: cannot go from {control.state.value} to {to.value}")
    message = f"resumed by {operator}: {control.state.value} -> {to.value}"
    alert = Alert("LT-008", message, strategy, now)
    return Control(to, None, f"resumed by {operator}", now), (alert,)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str


def allowed(control: Control, instruction: Instruction, positions: Positions) -> Verdict:
    """Whether `instruction` may be sent now, judged against the positions held now."""
    if control.state is TradingState.ACTIVE:
        return Verdict(True, "active")
    if control.state is TradingState.HALTED and control.stop_mode is not StopMode.FLATTEN:
        return Verdict(False, "halted (freeze): nothing is sent")
    if control.state is TradingState.HALTED and isinstance(instruction, FLATTEN_CONVERSIONS):
        return Verdict(True, "halted (flatten): converting what is left into cash")
    verdict = reduction(instruction, positions)
    return Verdict(verdict.reduces, f"{control.state.value}: {verdict.reason}")


def gate_batch(
    control: Control,
    instructions: Iterable[Instruction],
    positions: Positions,
    now: datetime | None = None,
    strategy: str = "",
) -> tuple[tuple[Instruction, ...], tuple[Alert, ...]]:
    """The instructions of one cycle that may be sent, in order, and an LT-007 alert for each
    refused one. Each is judged on the positions left by those before it (two reductions of
    60 % are not both let through). A flow or rebalance group (StartFlow / StartRebalance ...
    EndGroup) goes through whole or not at all, so the books never see half a group; a group
    marker alone is bookkeeping and is not judged."""
    if control.state is TradingState.ACTIVE:
        return tuple(instructions), ()
    passed: list[Instruction] = []
    alerts: list[Alert] = []
    held = dict(positions)
    for segment in _segments(instructions):
        after, why = _judge(control, segment, held)
        if after is None:
            message = f"{type(segment[0]).__name__} refused: {why}"
            alerts.append(Alert("LT-007", message, strategy, now))
            continue
        passed += segment
        held = after
    return tuple(passed), tuple(alerts)


_GROUP_MARKERS = (StartFlow, StartRebalance, EndGroup)


def _segments(instructions: Iterable[Instruction]) -> list[list[Instruction]]:
    """A lone instruction is a segment of one; a group, from its start to its EndGroup, is one
    segment (a group not closed in the batch too: `_judge` refuses it)."""
    segments: list[list[Instruction]] = []
    group: list[Instruction] | None = None
    for instruction in instructions:
        if isinstance(instruction, StartFlow | StartRebalance):
            if group is not None:
                segments.append(group)
            group = [instruction]
        elif group is not None:
            group.append(instruction)
            if isinstance(instruction, EndGroup):
                segments.append(group)
                group = None
        else:
            segments.append([instruction])
    if group is not None:
        segments.append(group)
    return segments


def _judge(
    control: Control, segment: list[Instruction], held: dict[str, float]
) -> tuple[dict[str, float] | None, str]:
    """The positions after the whole segment, or None and why it is refused."""
    is_group = isinstance(segment[0], StartFlow | StartRebalance)
    if is_group and not isinstance(segment[-1], EndGroup):
        return None, "group not closed in this batch"
    for instruction in segment:
        if is_group and isinstance(instruction, _GROUP_MARKERS):
            continue
        verdict = allowed(control, instruction, held)
        if not verdict.allowed:
            return None, f"{type(instruction).__name__}: {verdict.reason}"
        held = reduction(instruction, held).applied(held)
    return held, ""
