"""SessionStore on SQLite and PostgreSQL: a session's trading state, marks and counts read back
as written, and a cycle is committed whole or not at all (issue 13, ADR-043)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from basis_strategy.live.limits import NavMarks
from basis_strategy.live.session_store import (
    STEPPED,
    CycleRecord,
    SessionRequest,
    SessionStore,
    paper_cycles,
)
from basis_strategy.live.store import LiveStoreError
from basis_strategy.live.trading_state import Control, StopMode, TradingState

T0 = datetime(2024, 6, 3, tzinfo=UTC)
SID = "paper-1"


@pytest.fixture
def store(database_url: str) -> Iterator[SessionStore]:
    with SessionStore(database_url) as opened:
        opened.create(SID, SessionRequest("eth_basis", ("start=2024-06-03",)), Control())
        yield opened


def test_state_reads_back_as_written(store: SessionStore) -> None:
    marks = NavMarks.start(T0, 1.0).advance(T0 + timedelta(hours=1), 0.1 + 0.2)
    halted = Control(TradingState.HALTED, StopMode.FLATTEN, "operator", T0, frozenset({"R-2"}))
    store.commit_cycle(SID, CycleRecord(1, T0, STEPPED, Control()), halted, marks, 2, b"ck")
    saved = store.load(SID)
    assert saved.request == SessionRequest("eth_basis", ("start=2024-06-03",))
    assert saved.control == halted and saved.marks == marks  # floats bit for bit
    assert (saved.cycles, saved.missed, saved.last_cycle_at) == (1, 2, T0)
    assert saved.checkpoint == b"ck" and saved.journal[0].gate == Control()
    store.save_control(SID, Control(TradingState.REDUCING, reason="limits"))
    assert store.load(SID).control.state is TradingState.REDUCING
    assert store.load(SID).checkpoint == b"ck"  # a control change keeps the checkpoint


def test_a_cycle_is_committed_whole_or_not_at_all(store: SessionStore) -> None:
    first = CycleRecord(1, T0, STEPPED, Control())
    store.commit_cycle(SID, first, Control(), None, 0, b"one")
    with pytest.raises(LiveStoreError):  # cycle 1 again: the journal refuses it ...
        store.commit_cycle(SID, first, Control(TradingState.HALTED), None, 5, b"two")
    saved = store.load(SID)  # ... and the session row was not moved either
    assert (saved.cycles, saved.missed, saved.checkpoint) == (1, 0, b"one")
    assert saved.control.state is TradingState.ACTIVE
    with pytest.raises(KeyError):  # an unknown session: its journal row is rolled back
        store.commit_cycle("nobody", first, Control(), None, 0, b"x")
    with store.engine.connect() as conn:
        owners = conn.execute(sa.select(paper_cycles.c.session_id)).scalars().all()
    assert owners == [SID]
