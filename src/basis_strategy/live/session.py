"""A minimal paper-trading session: the engine stepped by a clock (issue 13, ADR-043).

Why: the promise is one code path from backtest to paper to live. A session runs the same
`EventDrivenStrategyEngine.step` as the backtest loop, once per cycle of a wall clock (aligned
to the hour by default, `cycle_clock.next_cycle_at`), on market states from a live source
(`LiveDataProvider`, or `ReplaySource` for a replayed day) instead of the historical grid, with
the simulated venues (paper = live data + simulated venues + wall time, ADR-043).

One cycle at time t (the next cycle time after the clock's now, waited for). The source is
polled first, `PRE_POLL_S` (at most half the interval) before t: a value read at t is stamped
after t and refused (no look-ahead), so the cycle at t uses the newest poll at or before it.
A first aligned cycle too close to poll first is the next one; a cycle off the grid (not
aligned) that is due runs at the end of its poll.
1. HALTED-freeze (emergency stop, `trading_state`): nothing is read or stepped; the cycle is
   counted. HALTED-flatten: the cycle runs with the strategy's `flatten` (close everything
   into wallet cash) in place of its decision, through the reducing gate, until `is_flat`,
   then the state becomes HALTED-freeze (LT-010).
2. `source.refresh()`, `set_clock(t)`, `get_data(t)`; a `CycleSkipped` (stale, failed or
   missing data, ADR-011) is counted and the cycle skipped: the engine never sees it.
3. `engine.step(t, market, gate)`: in REDUCING the gate lets through only risk-reducing
   instructions (`trading_state.gate_batch`, per segment, judged on the positions held then).
   Live: then every venue is read against the book (`reconcile`); one that still differs
   after its re-reads (ReconciliationHalt, here or after an instruction) halts the session.
4. A heartbeat (`HeartbeatRegistry.beat`, cycle_done when stepped).
5. Risk checks on the stepped hour: `limits.check_cycle` on NAV per share (`NavMarks`) and
   position values in USD, then `on_cycle` moves the trading state (REDUCING) with alerts.
A loop that overslept (a slow cycle, a stalled process) skips the grid points it missed, as
`next_cycle_at` specifies, and counts them in `missed`.
The loop ends after `max_cycles` cycles or at the first cycle after `stop()` or
`emergency_stop()`: a stop is honoured within one cycle and no step follows it.

Persistence (`store`, `session_store.py`): when a store is given, each completed cycle is
committed with the trading state, NAV marks, counts and, after a step, the engine checkpoint
in one transaction, and an operator's stop is stored at once; `restart.resume` continues a
session after a crash (warm from the checkpoint, or cold by re-stepping the journal). Alerts,
and the stepped / skipped / halted lists, are the process's own (the journal has the cycles).
Results are written once at the end (`write`), or appended per cycle by the service
(`run_folder.RunFolder`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from basis_strategy.config.outputs import write_text_atomic
from basis_strategy.core.errors import ReconciliationHalt
from basis_strategy.core.instructions import (
    BuySpot,
    EndGroup,
    Instruction,
    SellSpot,
    StartFlow,
    StartRebalance,
    TradePerp,
)
from basis_strategy.core.instruments import WALLET_ETH, instrument
from basis_strategy.data.live_reads import CycleSkipped
from basis_strategy.data.market import MarketState
from basis_strategy.engine import EventDrivenStrategyEngine, Gate
from basis_strategy.live import checkpoint
from basis_strategy.live.alerts import Alert
from basis_strategy.live.cycle_clock import HOUR_S, next_cycle_at
from basis_strategy.live.heartbeat import HeartbeatRegistry
from basis_strategy.live.limits import Breach, NavMarks, RiskLimits, check_cycle, check_order
from basis_strategy.live.reducing import debt_key, perp_key, spot_key, supply_key
from basis_strategy.live.session_store import (
    HALTED,
    SKIPPED,
    STEPPED,
    CycleRecord,
    SessionStore,
)
from basis_strategy.live.trading_state import (
    Control,
    StopMode,
    TradingState,
    emergency_stop,
    gate_batch,
    on_cycle,
    resume,
)


class MarketSource(Protocol):
    """What a session reads from: `LiveDataProvider` and `ReplaySource` both fit."""

    def refresh(self) -> datetime: ...
    def set_clock(self, t: datetime) -> None: ...
    def get_data(self, t: datetime) -> MarketState: ...


@dataclass
class PaperSession:
    """One strategy's paper loop. `now` and `sleep_until` are the (injected) wall clock."""

    engine: EventDrivenStrategyEngine
    source: MarketSource
    now: Callable[[], datetime]
    sleep_until: Callable[[datetime], None]
    heartbeats: HeartbeatRegistry
    limits: RiskLimits = field(default_factory=RiskLimits)
    interval_s: float = HOUR_S
    aligned: bool = True
    auto_recover: bool = False
    name: str = "paper"
    control: Control = field(default_factory=Control)
    marks: NavMarks | None = None
    cycles: int = 0
    missed: int = 0  # grid points passed while the loop overslept (not run, not in `cycles`)
    stepped: list[datetime] = field(default_factory=list)
    skipped: list[tuple[datetime, str]] = field(default_factory=list)
    halted: list[datetime] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    store: SessionStore | None = None  # None: in memory only (a test, a throwaway run)
    session_id: str = ""
    status_of: Callable[[PaperSession], dict[str, Any]] | None = None  # stored per cycle
    # live: every venue read against the book at the end of a stepped cycle (`confirm_all`)
    reconcile: Callable[[EventDrivenStrategyEngine], None] | None = None
    _stop: bool = False
    _last_cycle_at: datetime | None = None
    _sent_at: list[datetime] = field(default_factory=list)  # CEX orders in the last 60 s
    _order_breaches: list[Breach] = field(default_factory=list)  # this cycle's refusals

    def __post_init__(self) -> None:
        self.heartbeats.register(self.name, self.limits.heartbeat_limit_s)

    def stop(self) -> None:
        """End the loop before its next cycle (positions stay as they are)."""
        self._stop = True

    @property
    def stopping(self) -> bool:
        """`stop()` was called: the loop ends before its next cycle."""
        return self._stop

    def emergency_stop(self, reason: str, mode: StopMode = StopMode.FREEZE) -> None:
        """HALTED now: the next cycle steps nothing (ADR-043 kill switch)."""
        self.control, alerts = emergency_stop(self.control, mode, reason, self.now(), self.name)
        self.alerts += alerts
        if self.store is not None:
            self.store.save_control(self.session_id, self.control)

    def activate(self, operator: str) -> None:
        """An operator's explicit return to ACTIVE from REDUCING or HALTED (LT-008): the only
        way out of either. Already ACTIVE: nothing to do."""
        if self.control.state is TradingState.ACTIVE:
            return
        self.control, alerts = resume(self.control, operator, self.now(), strategy=self.name)
        self.alerts += alerts
        if self.store is not None:
            self.store.save_control(self.session_id, self.control)

    def run(
        self, max_cycles: int, on_cycle_done: Callable[[PaperSession], None] | None = None
    ) -> None:
        """Run up to `max_cycles` cycles; `on_cycle_done` is called after each (an operator's
        hook: tests stop the session from it)."""
        while self.cycles < max_cycles and not self._stop:
            at = next_cycle_at(self.now(), self.interval_s, self.aligned, self._last_cycle_at)
            lead = timedelta(seconds=min(PRE_POLL_S, self.interval_s / 2))
            if self.aligned and self._last_cycle_at is None and self.now() > at - lead:
                at += timedelta(seconds=self.interval_s)  # a first cycle with time to poll
            self.sleep_until(at - lead)
            if self._stop:
                break
            if not self._frozen():  # nothing is read while frozen
                self.source.refresh()  # the newest values known at the cycle's time (doc)
            if not self.aligned:  # a cycle off the grid that is due runs after its poll
                at = max(at, self.now())
            self.sleep_until(at)
            if self._stop:
                break
            self.cycle(at)
            if on_cycle_done is not None:
                on_cycle_done(self)

    def _frozen(self) -> bool:
        """HALTED-freeze: a cycle reads and steps nothing."""
        control = self.control
        return control.state is TradingState.HALTED and control.stop_mode is not StopMode.FLATTEN

    def cycle(self, t: datetime) -> None:
        """One cycle at `t` (see the module docstring)."""
        self.cycles += 1
        if self._last_cycle_at is not None:
            gap_s = (t - self._last_cycle_at).total_seconds()
            self.missed += max(0, round(gap_s / self.interval_s) - 1)
        self._last_cycle_at = t
        used = self.control  # the trading state this cycle's gate uses (journaled)
        flatten = used.state is TradingState.HALTED and used.stop_mode is StopMode.FLATTEN
        if self._frozen():
            self.halted.append(t)
            self.heartbeats.beat(self.name, state=self.control.state)
            self._commit(CycleRecord(self.cycles, t, HALTED, used))
            return
        self.source.set_clock(t)  # first: a reader may read as of it
        self.source.refresh()
        try:
            market = self.source.get_data(t)
        except CycleSkipped as skip:
            self.skipped.append((t, str(skip)))
            self.heartbeats.beat(self.name, state=self.control.state)
            self._commit(CycleRecord(self.cycles, t, SKIPPED, used, str(skip)))
            return
        gate = self._gate(t, used, market)
        decide = self.engine.parts.strategy.flatten if flatten else None
        journaled = checkpoint.dump_market(market)  # as stepped on: a cold restart's input
        try:
            self.engine.step(t, market, gate, decide)
            if self.reconcile is not None:
                self.reconcile(self.engine)
        except ReconciliationHalt as halt:
            self._halt_unreconciled(t, used, halt)
            return
        self.stepped.append(t)
        age_s = (t - market.t).total_seconds()
        self.heartbeats.beat(self.name, cycle_done=True, data_age_s=age_s, state=self.control.state)
        self._check_risk(t, market, age_s)
        self._commit(CycleRecord(self.cycles, t, STEPPED, used, market=journaled), stepped=True)

    def _halt_unreconciled(self, t: datetime, used: Control, halt: ReconciliationHalt) -> None:
        """A venue still differs from the book after its re-reads (REC-002, logged CRITICAL
        where found): HALTED-freeze now. The cycle stopped mid-way, so no checkpoint is
        stored: a restart starts from the last reconciled one, and its start-up
        reconciliation refuses until the account is fixed or its state adopted."""
        reason = " ".join(f"REC-002: {halt}".split())
        self.emergency_stop(reason, StopMode.FREEZE)
        self.halted.append(t)
        self.heartbeats.beat(self.name, state=self.control.state)
        self._commit(CycleRecord(self.cycles, t, HALTED, used, reason))

    def _commit(self, record: CycleRecord, stepped: bool = False) -> None:
        """The completed cycle, in one transaction (nothing of a cycle is stored before)."""
        if self.store is None:
            return
        blob = checkpoint.dump(self.engine) if stepped else None
        status = None if self.status_of is None else self.status_of(self)
        self.store.commit_cycle(
            self.session_id, record, self.control, self.marks, self.missed, blob, status
        )

    def _check_risk(self, t: datetime, market: MarketState, age_s: float) -> None:
        nav = self.engine.parts.results.pnl_rows[-1][2]
        if math.isfinite(nav) and nav > 0:  # no shares yet: no NAV per share to mark
            marks = self.marks
            self.marks = NavMarks.start(t, nav) if marks is None else marks.advance(t, nav)
        if self.marks is None:
            return
        breaches = check_cycle(self.limits, self.marks, positions_usd(self.engine, market), age_s)
        breaches = (*breaches, *self._order_breaches)
        self._order_breaches = []
        values = self.engine.parts.exposure.compute(market).values
        usd = market.usd(self.engine.parts.results.currency)
        cash, allowance = flat_rules(self.engine)
        quantities = self.engine.parts.positions.quantities
        flat = is_flat(quantities, lambda key: values[key] * usd, cash, allowance)
        self.control, alerts = on_cycle(
            self.control, breaches, t, auto_recover=self.auto_recover, flat=flat, strategy=self.name
        )
        self.alerts += alerts

    def _gate(self, t: datetime, control: Control, market: MarketState) -> Gate:
        """The gate over the strategy's lazy instructions. ACTIVE: each CEX order is checked
        against the order limits as it comes (`check_order`), and after a refusal no further
        order of the cycle is sent; the strategy's later decisions still see the earlier
        orders executed, as in the backtest. REDUCING and HALTED-flatten:
        each lone instruction, or whole flow / rebalance group, is judged on the positions
        held when it is reached, then its orders against the order limits; a group is
        buffered until its EndGroup and passes whole or not at all. A refused order's breach
        joins the cycle's risk check, which alerts it and puts the strategy in REDUCING."""
        positions = self.engine.parts.positions

        def active(instructions: Iterator[Instruction]) -> Iterable[Instruction]:
            refused = False  # after one refused order, no order of this cycle is sent: the
            # legs decided after it (a hedge sized for the refused long) would be half a trade
            for instruction in instructions:
                is_order = order_notional_usd(instruction, market) is not None
                if is_order and (refused or not self._orders_allowed([instruction], t, market)):
                    refused = True
                    continue
                yield instruction

        def reducing(instructions: Iterator[Instruction]) -> Iterable[Instruction]:
            for segment in _segments(instructions):
                passed, alerts = gate_batch(
                    control, segment, reducing_positions(positions.quantities), t, self.name
                )
                self.alerts += alerts
                if passed and self._orders_allowed(list(passed), t, market):
                    yield from passed

        return active if control.state is TradingState.ACTIVE else reducing

    def _orders_allowed(self, batch: list[Instruction], t: datetime, market: MarketState) -> bool:
        """Whether every CEX order of `batch` fits the order limits (notional, and the number
        sent in the last 60 s); if so they count as sent. Orders are stamped with the cycle
        time, so the check is the same when a cold restart re-steps the cycle."""
        now, sent = t, list(self._sent_at)
        for instruction in batch:
            notional = order_notional_usd(instruction, market)
            if notional is None:
                continue
            breaches = check_order(self.limits, notional, sent, now)
            if breaches:  # alerted by the cycle's risk check (`on_cycle`): once per limit
                seen = {b.code for b in self._order_breaches}
                self._order_breaches += [b for b in breaches if b.code not in seen]
                return False
            sent.append(now)
        self._sent_at = [at for at in sent if (now - at).total_seconds() < 60.0]
        return True

    def write(self, out_dir: Path, request_id: str) -> Path:
        """The backtest's files for the stepped hours (the engine's `write`) and
        `session.json`: cycles, stepped, skipped and halted cycles, trading state, alerts."""
        path = self.engine.write(out_dir, request_id)
        facts = {
            "cycles": self.cycles,
            "missed": self.missed,
            "stepped": len(self.stepped),
            "skipped": [{"t": t.isoformat(), "reason": why} for t, why in self.skipped],
            "halted": [t.isoformat() for t in self.halted],
            "state": self.control.state.value,
            "alerts": [{"code": a.code, "message": a.message} for a in self.alerts],
        }
        write_text_atomic(path / "session.json", json.dumps(facts, indent=2) + "\n")
        return path


def _segments(instructions: Iterator[Instruction]) -> Iterator[list[Instruction]]:
    """Lazily: a lone instruction, or a group from its start marker to its EndGroup."""
    group: list[Instruction] | None = None
    for instruction in instructions:
        if isinstance(instruction, StartFlow | StartRebalance):
            if group is not None:
                yield group
            group = [instruction]
        elif group is not None:
            group.append(instruction)
            if isinstance(instruction, EndGroup):
                yield group
                group = None
        else:
            yield [instruction]
    if group is not None:
        yield group


PRE_POLL_S = 5.0  # the source's poll before each cycle's time, in the session clock's seconds
FLAT_DUST_USD = 10.0  # below the venues' minimum order value (Binance spot: 5-10 USDT)


def is_flat(
    quantities: dict[str, float],
    value_usd: Callable[[str], float],
    cash: frozenset[str],
    allowance: Mapping[str, float],
) -> bool:
    """No risk left for a flatten to close: no perp, no AAVE supply or debt, no LST, and no
    token but cash beyond dust (`value_usd` under FLAT_DUST_USD: a remainder below the
    venue's lot and minimum order cannot be sold). `cash`: the share class's cash tokens
    (USDT; ETH and WETH in the ETH class); `allowance`: what may stay held on purpose (the
    wallet's ETH gas buffer in the USDT class). Money on its way (`Pending`) is cash."""
    for key, qty in quantities.items():
        if qty == 0.0:
            continue
        inst = instrument(key)
        if inst.is_perp or inst.kind in ("aToken", "debtToken", "LST"):
            return False
        if inst.kind != "BaseToken" or inst.symbol in cash:
            continue
        kept = allowance.get(key, 0.0)
        if qty > kept and abs(value_usd(key)) * (qty - kept) / qty >= FLAT_DUST_USD:
            return False
    return True


def flat_rules(engine: EventDrivenStrategyEngine) -> tuple[frozenset[str], dict[str, float]]:
    """`is_flat`'s cash tokens and allowance for the engine's share class and mode."""
    if engine.parts.results.currency == "ETH":
        return frozenset({"ETH", "WETH"}), {}
    return frozenset({"USDT"}), {WALLET_ETH: engine.config.mode.gas_buffer_eth}


def order_notional_usd(instruction: Instruction, market: MarketState) -> float | None:
    """A CEX order's notional in USD (what `max_order_notional_usd` and the order rate
    count); None for anything else (transfers, on-chain transactions, fund records)."""
    if isinstance(instruction, TradePerp):
        mark = market.values[f"perp:{instruction.venue}:{instruction.base}USDT"]
        return abs(instruction.size_delta) * mark * market.usd("USDT")
    if isinstance(instruction, BuySpot):
        return instruction.quote_amount * market.usd("USDT")
    if isinstance(instruction, SellSpot):
        return instruction.base_amount * market.usd(instruction.base)
    return None


def reducing_positions(quantities: dict[str, float]) -> dict[str, float]:
    """The engine's position keys as `reducing` keys: perps, CEX spot, AAVE supply and debt
    (debt positive when owed). Other holdings (wallet tokens, LSTs) are not judged by it."""
    out: dict[str, float] = {}
    for key, qty in quantities.items():
        inst = instrument(key)
        if inst.is_perp:
            out[perp_key(inst.venue, inst.underlying)] = qty
        elif inst.kind == "BaseToken":
            out[spot_key(inst.venue, inst.symbol)] = qty
        elif inst.kind == "aToken":
            out[supply_key(inst.venue, inst.symbol.removeprefix("a"))] = qty
        elif inst.kind == "debtToken":
            out[debt_key(inst.venue, inst.symbol.removeprefix("debt"))] = abs(qty)
    return out


def positions_usd(engine: EventDrivenStrategyEngine, market: MarketState) -> dict[str, float]:
    """Gross USD per underlying asset: holdings at their value, perps at notional."""
    usd_per_unit = market.usd(engine.parts.results.currency)
    exposure = engine.parts.exposure.compute(market)
    out: dict[str, float] = {}
    for key, qty in engine.parts.positions.quantities.items():
        if qty == 0.0:
            continue
        inst = instrument(key)
        if inst.is_perp:
            size_usd = abs(qty) * market.values[inst.mark_series] * market.usd("USDT")
        else:
            size_usd = abs(exposure.values[key]) * usd_per_unit
        out[inst.underlying] = out.get(inst.underlying, 0.0) + size_usd
    return out
