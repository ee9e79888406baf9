"""Start a stored paper session, and resume one after a crash or `kill -9` (issue 13, ADR-043).

Why: a restart must continue the session it was, not a new one: same book, same trading
state (a HALTED or REDUCING session never comes back ACTIVE by itself: the stored `Control`
is restored as it was), same NAV marks (a drawdown is not forgotten), same cycle count, and
no cycle done twice or lost. What is stored and when: `session_store.py`.

Two ways back, chosen by the operator (`cold`), tested separately:

- warm (default): the engine is built from the stored request, then its parts are replaced by
  the checkpoint of the last completed cycle (`checkpoint.py`). For paper the simulated
  venues are inside the checkpoint, so nothing held by a venue can be booked twice (the
  nautilus #4736 failure: a cached position met by an opposite synthetic fill cannot happen,
  there is no second copy of the position to reconcile). The loop continues with the next
  cycle after the last completed one; a cycle killed mid-way committed nothing and is redone
  from its start. A checkpoint that cannot be read is refused (`CheckpointError`, one line),
  never silently replaced by an empty book: the operator restarts cold.
- cold: the checkpoint is not used. A fresh engine from the request re-steps every STEPPED
  cycle of the journal, at its recorded time, with the trading state its gate used then (a
  flatten cycle with the strategy's flatten again), on the market it stepped on (journaled
  with the cycle; a journal without one is re-read from the source, a replay): the engine
  is deterministic, so the book is the one the checkpoint held. On live venues every
  re-stepped instruction meets what it did the first time by its client id (the sequence
  starts again at 0, `checkpoint.restore_fresh`): adopted and queried, nothing is sent.

The trading state, marks and counts come from the session row in both cases; alerts raised
while re-stepping are not raised again (they were raised the first time).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from basis_strategy.engine import EventDrivenStrategyEngine
from basis_strategy.live import checkpoint
from basis_strategy.live.heartbeat import HeartbeatRegistry
from basis_strategy.live.session import MarketSource, PaperSession
from basis_strategy.live.session_store import (
    HALTED,
    SKIPPED,
    STEPPED,
    SavedSession,
    SessionRequest,
    SessionStore,
)
from basis_strategy.live.trading_state import StopMode, TradingState

Build = Callable[[SessionRequest], tuple[EventDrivenStrategyEngine, MarketSource]]
Clock = Callable[[], datetime]


def start(
    store: SessionStore,
    session_id: str,
    request: SessionRequest,
    build: Build,
    now: Clock,
    sleep_until: Callable[[datetime], None],
    heartbeats: HeartbeatRegistry,
    stored_options: dict[str, Any] | None = None,
    **options: Any,
) -> PaperSession:
    """A new stored session: the request (and `stored_options`, how the service started it)
    is committed before the first cycle."""
    engine, source = build(request)
    session = PaperSession(
        engine, source, now, sleep_until, heartbeats, store=store, session_id=session_id, **options
    )
    store.create(session_id, request, session.control, stored_options)
    return session


def resume(
    store: SessionStore,
    session_id: str,
    build: Build,
    now: Clock,
    sleep_until: Callable[[datetime], None],
    heartbeats: HeartbeatRegistry,
    cold: bool = False,
    **options: Any,
) -> PaperSession:
    """The stored session, ready to `run` its next cycle (warm or cold, see the module)."""
    saved = store.load(session_id)
    engine, source = build(saved.request)
    session = PaperSession(
        engine,
        source,
        now,
        sleep_until,
        heartbeats,
        store=store,
        session_id=session_id,
        control=saved.control,
        marks=saved.marks,
        cycles=saved.cycles,
        missed=saved.missed,
        **options,
    )
    session._last_cycle_at = saved.last_cycle_at
    for record in saved.journal:
        if record.kind == STEPPED:
            session.stepped.append(record.t)
        elif record.kind == SKIPPED:
            session.skipped.append((record.t, record.note))
        elif record.kind == HALTED:
            session.halted.append(record.t)
    if cold:
        _restep(session, saved)
    else:
        _warm(session, saved)
    return session


def _warm(session: PaperSession, saved: SavedSession) -> None:
    where = f"session {saved.session_id}"
    if saved.checkpoint is not None:
        checkpoint.restore(session.engine, saved.checkpoint, where)
    elif session.stepped:
        raise checkpoint.CheckpointError(f"{where}: stepped cycles but no checkpoint; --cold")
    else:
        checkpoint.restore_fresh(session.engine)
    resume_after = getattr(session.source, "resume_after", None)
    if session.stepped and resume_after is not None:
        resume_after(session.stepped[-1])  # cash flows of hours no cycle read are carried


def _restep(session: PaperSession, saved: SavedSession) -> None:
    """Cold: the journal's stepped cycles again, each with the gate it had (deterministic)."""
    source, engine = session.source, session.engine
    checkpoint.restore_fresh(engine)  # live venues: every instruction meets its stored id
    source.refresh()
    for record in saved.journal:
        if record.kind != STEPPED:
            continue
        if record.market is not None:  # the market the cycle stepped on, as journaled
            market = checkpoint.load_market(record.market, f"session {saved.session_id}")
        else:
            source.set_clock(record.t)
            market = source.get_data(record.t)
        gate = record.gate
        flatten = gate.state is TradingState.HALTED and gate.stop_mode is StopMode.FLATTEN
        decide = engine.parts.strategy.flatten if flatten else None
        engine.step(record.t, market, session._gate(record.t, gate, market), decide)
    session.alerts.clear()
