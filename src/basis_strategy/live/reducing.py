"""Which instructions reduce risk: the predicate behind the REDUCING and HALTED-flatten gates.

Why: after a breach a strategy may only shrink what it holds (Nautilus's REDUCING state). The
test is per position, as in Nautilus: an instruction is risk-reducing only when it moves ONE
known position toward zero without crossing it, judged against the positions held now. Being
conservative, every instruction type not listed below is NOT risk-reducing (buying, borrowing,
supplying, staking, swaps, wraps, transfers, unstake requests, payouts, approvals, fund records).

Positions are signed amounts keyed by `perp_key`, `spot_key`, `supply_key` and `debt_key`
(base units; debt > 0 is owed), built by the caller from the fill ledger and on-chain reads:

- TradePerp: `size_delta` of the opposite sign to the perp position, |size_delta| <= |position|
  (a flip across zero or an increase is refused; a zero delta reduces nothing);
- SellSpot: 0 < base_amount <= spot held;
- Repay: debt owed > 0 and amount > 0 (`math.inf`: all of it);
- WithdrawFromAave: supplied > 0, 0 < amount <= supplied (or `math.inf`), and NO debt of any
  asset at that venue (withdrawing collateral against a debt lowers the health factor);
- FlashBundle: kind `deleverage`, `partial_exit` or `full_exit`, steps only Repay /
  WithdrawFromAave / SwapOnDex / Wrap, at least one Repay of a debt owed (the withdrawal inside
  is paid for by that repayment, so it is not judged on its own).

Caveat: per-position means unwinding a hedged pair leg by leg opens delta for a moment; the
strategy should emit both legs in one cycle (each one passes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from basis_strategy.core.instructions import (
    FlashBundle,
    Instruction,
    Repay,
    SellSpot,
    SwapOnDex,
    TradePerp,
    WithdrawFromAave,
    Wrap,
)
from basis_strategy.live.ledger import FLAT_QTY_BASE

Positions = Mapping[str, float]
EXIT_BUNDLE_KINDS = frozenset({"deleverage", "partial_exit", "full_exit"})
_BUNDLE_STEP_TYPES = (Repay, WithdrawFromAave, SwapOnDex, Wrap)


def perp_key(venue: str, base: str) -> str:
    return f"{venue}:perp:{base}"


def spot_key(venue: str, base: str) -> str:
    return f"{venue}:spot:{base}"


def supply_key(venue: str, asset: str) -> str:
    return f"{venue}:supply:{asset}"


def debt_key(venue: str, asset: str) -> str:
    return f"{venue}:debt:{asset}"


@dataclass(frozen=True, slots=True)
class Reduction:
    """The verdict: `reduces`, why (one line), and the positions changed if it is sent."""

    reduces: bool
    reason: str
    changes: tuple[tuple[str, float], ...] = ()

    def applied(self, positions: Positions) -> dict[str, float]:
        """`positions` after this instruction (to judge the next one of the same batch)."""
        after = dict(positions)
        after.update(self.changes)
        return after


def _no(reason: str) -> Reduction:
    return Reduction(False, reason)


def _amount_within(amount: float, held: float) -> bool:
    """0 < amount <= held (plus float residue), or `math.inf` for all of it."""
    return amount > 0 and (amount == math.inf or amount <= held + FLAT_QTY_BASE)


def _perp(instr: TradePerp, positions: Positions) -> Reduction:
    key = perp_key(instr.venue, instr.base)
    before, delta = positions.get(key, 0.0), instr.size_delta
    if before == 0 or delta == 0 or (before > 0) == (delta > 0):
        return _no(f"{key}: size_delta {delta:g} does not move position {before:g} toward 0")
    if abs(delta) > abs(before) + FLAT_QTY_BASE:
        return _no(f"{key}: size_delta {delta:g} flips position {before:g} across 0")
    after = 0.0 if abs(before + delta) <= FLAT_QTY_BASE else before + delta
    return Reduction(True, f"{key}: {before:g} -> {after:g}", ((key, after),))


def _sell(instr: SellSpot, positions: Positions) -> Reduction:
    key = spot_key(instr.venue, instr.base)
    held = positions.get(key, 0.0)
    if not (held > 0 and _amount_within(instr.base_amount, held)):
        return _no(f"{key}: selling {instr.base_amount:g} of {held:g} held")
    return Reduction(
        True, f"{key}: sell {instr.base_amount:g}", ((key, _less(held, instr.base_amount)),)
    )


def _less(held: float, amount: float) -> float:
    return max(0.0, held - amount) if amount != math.inf else 0.0


def _repay(instr: Repay, positions: Positions) -> Reduction:
    key = debt_key(instr.venue, instr.asset)
    owed = positions.get(key, 0.0)
    if not (owed > 0 and instr.amount > 0):
        return _no(f"{key}: repaying {instr.amount:g} of {owed:g} owed")
    return Reduction(True, f"{key}: repay {instr.amount:g}", ((key, _less(owed, instr.amount)),))


def _venue_debt(venue: str, positions: Positions) -> float:
    prefix = debt_key(venue, "")
    return sum(value for key, value in positions.items() if key.startswith(prefix) and value > 0)


def _withdraw(instr: WithdrawFromAave, positions: Positions) -> Reduction:
    key = supply_key(instr.venue, instr.asset)
    held = positions.get(key, 0.0)
    if not (held > 0 and _amount_within(instr.amount, held)):
        return _no(f"{key}: withdrawing {instr.amount:g} of {held:g} supplied")
    if _venue_debt(instr.venue, positions) > 0:
        return _no(f"{key}: withdrawing collateral while {instr.venue} has debt")
    return Reduction(True, f"{key}: withdraw {instr.amount:g}", ((key, _less(held, instr.amount)),))


def _bundle(instr: FlashBundle, positions: Positions) -> Reduction:
    if instr.kind not in EXIT_BUNDLE_KINDS:
        return _no(f"flash bundle kind {instr.kind!r} is not an exit")
    if not all(type(step) in _BUNDLE_STEP_TYPES for step in instr.steps):
        return _no(f"flash bundle {instr.kind!r} has a step that is not an unwind step")
    changes: dict[str, float] = {}
    repaid = False
    for step in instr.steps:
        if isinstance(step, Repay):
            verdict = _repay(step, {**positions, **changes})
            if not verdict.reduces:
                return _no(f"flash bundle {instr.kind!r}: {verdict.reason}")
            changes.update(verdict.changes)
            repaid = True
        elif isinstance(step, WithdrawFromAave):
            key = supply_key(step.venue, step.asset)
            held = changes.get(key, positions.get(key, 0.0))
            if not (held > 0 and _amount_within(step.amount, held)):
                return _no(f"flash bundle {instr.kind!r}: withdrawing more than {key} holds")
            changes[key] = _less(held, step.amount)
    if not repaid:
        return _no(f"flash bundle {instr.kind!r} repays no debt")
    return Reduction(True, f"flash bundle {instr.kind!r} repays debt", tuple(changes.items()))


def reduction(instr: Instruction, positions: Positions) -> Reduction:
    """Whether sending `instr` now only shrinks a position (see the module docstring)."""
    # exact types: a subclass may mean something else, and unknown types are not reducing
    if type(instr) is TradePerp:
        return _perp(instr, positions)
    if type(instr) is SellSpot:
        return _sell(instr, positions)
    if type(instr) is Repay:
        return _repay(instr, positions)
    if type(instr) is WithdrawFromAave:
        return _withdraw(instr, positions)
    if type(instr) is FlashBundle:
        return _bundle(instr, positions)
    return _no(f"{type(instr).__name__} is not a risk-reducing instruction type")
