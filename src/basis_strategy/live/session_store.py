"""A paper session's state in the live store, so a restart, even after `kill -9`, resumes the
session where its last completed cycle left it (issue 13, ADR-043).

Why: `PaperSession` held its request, trading state, NAV marks and cycle count in memory; a
crash forgot a HALT (a restart would trade again) and the book. Same database as `LiveStore`
(SQLite by default, PostgreSQL by URL), two tables of its own:

- `paper_sessions`, one row per session: the request (mode, config overrides, JSON), the
  trading `Control`, `NavMarks` (JSON), the cycle and missed counts, the last cycle time and
  the engine checkpoint (`checkpoint.py`, a versioned blob) as of that cycle;
- `paper_cycles`, one row per completed cycle: its time, what it did (stepped, skipped,
  halted) and the trading state its gate used: the journal a cold restart re-steps.

`commit_cycle` writes the journal row and the session row in ONE transaction, after the
cycle is complete: a crash leaves the old cycle or the new one, never half; a cycle
interrupted mid-way left nothing and is redone from its start. `save_control` stores an
operator's stop at once (between cycles), so a HALT survives a kill before the next cycle.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from basis_strategy.core.database import create_engine, database_errors, mask_url
from basis_strategy.live.limits import NavMarks
from basis_strategy.live.store import LiveStoreError, UTCDateTime
from basis_strategy.live.trading_state import Control, StopMode, TradingState

metadata = sa.MetaData()
paper_sessions = sa.Table(
    "paper_sessions",
    metadata,
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("stop_mode", sa.String(16)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("since", UTCDateTime),
    sa.Column("breach_codes", sa.Text, nullable=False),
    sa.Column("marks", sa.Text),
    sa.Column("cycles", sa.Integer, nullable=False),
    sa.Column("missed", sa.Integer, nullable=False),
    sa.Column("last_cycle_at", UTCDateTime),
    sa.Column("checkpoint", sa.LargeBinary),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
paper_cycles = sa.Table(
    "paper_cycles",
    metadata,
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("cycle", sa.Integer, primary_key=True),
    sa.Column("t", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("gate_state", sa.String(16), nullable=False),
    sa.Column("gate_stop_mode", sa.String(16)),
    sa.Column("note", sa.Text, nullable=False),
)
STEPPED, SKIPPED, HALTED = "stepped", "skipped", "halted"


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """What a session was started with: enough to build the same engine again."""

    mode: str
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CycleRecord:
    """One completed cycle in the journal; `gate` is the trading state its gate used."""

    cycle: int
    t: datetime
    kind: str
    gate: Control
    note: str = ""


@dataclass(frozen=True, slots=True)
class SavedSession:
    """A session as stored after its last completed cycle."""

    session_id: str
    request: SessionRequest
    control: Control
    marks: NavMarks | None
    cycles: int
    missed: int
    last_cycle_at: datetime | None
    checkpoint: bytes | None
    journal: tuple[CycleRecord, ...]


class SessionStore:
    """Paper sessions in the live store's database (`LiveStoreError` on any failure)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.url_masked = mask_url(url)
        self.engine = create_engine(url)
        with self._errors("create the session tables"):
            metadata.create_all(self.engine)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        with database_errors(self._url, "session store", doing, LiveStoreError):
            yield

    @contextmanager
    def _write(self, doing: str) -> Iterator[Connection]:
        with self._errors(doing), self.engine.begin() as conn:
            yield conn

    def create(self, session_id: str, request: SessionRequest, control: Control) -> None:
        """A new session (no cycle yet); LiveStoreError if the id is taken."""
        row = {
            "session_id": session_id,
            "request": json.dumps({"mode": request.mode, "overrides": list(request.overrides)}),
            **_control_row(control),
            "marks": None,
            "cycles": 0,
            "missed": 0,
            "last_cycle_at": None,
            "checkpoint": None,
            "updated_at": datetime.now(UTC),
        }
        with self._write(f"create session {session_id}") as conn:
            conn.execute(paper_sessions.insert().values(**row))

    def commit_cycle(
        self,
        session_id: str,
        record: CycleRecord,
        control: Control,
        marks: NavMarks | None,
        missed: int,
        checkpoint: bytes | None,
    ) -> None:
        """The cycle's journal row and the session after it, in one transaction. `checkpoint`
        None keeps the stored one (a skipped or halted cycle did not touch the engine)."""
        values: dict[str, Any] = {
            **_control_row(control),
            "marks": None if marks is None else _marks_json(marks),
            "cycles": record.cycle,
            "missed": missed,
            "last_cycle_at": record.t,
            "updated_at": datetime.now(UTC),
        }
        if checkpoint is not None:
            values["checkpoint"] = checkpoint
        journal = {
            "session_id": session_id,
            "cycle": record.cycle,
            "t": record.t,
            "kind": record.kind,
            "gate_state": record.gate.state.value,
            "gate_stop_mode": record.gate.stop_mode.value if record.gate.stop_mode else None,
            "note": record.note,
        }
        key = paper_sessions.c.session_id == session_id
        with self._write(f"commit cycle {record.cycle} of {session_id}") as conn:
            conn.execute(paper_cycles.insert().values(**journal))
            if not conn.execute(paper_sessions.update().where(key).values(**values)).rowcount:
                raise KeyError(f"session {session_id!r} not stored")

    def save_control(self, session_id: str, control: Control) -> None:
        """Store a trading-state change made between cycles (an operator's stop)."""
        key = paper_sessions.c.session_id == session_id
        values = {**_control_row(control), "updated_at": datetime.now(UTC)}
        with self._write(f"save the trading state of {session_id}") as conn:
            conn.execute(paper_sessions.update().where(key).values(**values))

    def load(self, session_id: str) -> SavedSession:
        """The session as of its last completed cycle; KeyError if unknown."""
        session = sa.select(paper_sessions).where(paper_sessions.c.session_id == session_id)
        cycles = sa.select(paper_cycles).where(paper_cycles.c.session_id == session_id)
        with self._errors(f"read session {session_id}"), self.engine.connect() as conn:
            row = conn.execute(session).mappings().first()
            rows = conn.execute(cycles.order_by(paper_cycles.c.cycle)).mappings().all()
        if row is None:
            raise KeyError(f"session {session_id!r} not stored")
        request = json.loads(row["request"])
        return SavedSession(
            session_id,
            SessionRequest(request["mode"], tuple(request["overrides"])),
            _control(row),
            None if row["marks"] is None else _marks(row["marks"]),
            row["cycles"],
            row["missed"],
            row["last_cycle_at"],
            None if row["checkpoint"] is None else bytes(row["checkpoint"]),
            tuple(_record(r) for r in rows),
        )

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _control_row(control: Control) -> dict[str, Any]:
    return {
        "state": control.state.value,
        "stop_mode": control.stop_mode.value if control.stop_mode else None,
        "reason": control.reason,
        "since": control.since,
        "breach_codes": json.dumps(sorted(control.breach_codes)),
    }


def _control(row: Any) -> Control:
    mode = row["stop_mode"]
    return Control(
        TradingState(row["state"]),
        StopMode(mode) if mode else None,
        row["reason"],
        row["since"],
        frozenset(json.loads(row["breach_codes"])),
    )


def _record(row: Any) -> CycleRecord:
    mode = row["gate_stop_mode"]
    gate = Control(TradingState(row["gate_state"]), StopMode(mode) if mode else None)
    return CycleRecord(row["cycle"], row["t"], row["kind"], gate, row["note"])


def _marks_json(marks: NavMarks) -> str:
    # repr-exact floats: json writes the shortest repr, which reads back bit for bit
    return json.dumps(
        {
            "at": marks.at.isoformat(),
            "nav": marks.nav,
            "peak": marks.peak,
            "day": marks.day.isoformat(),
            "day_open": marks.day_open,
        }
    )


def _marks(text: str) -> NavMarks:
    m = json.loads(text)
    at = datetime.fromisoformat(m["at"])
    return NavMarks(at, m["nav"], m["peak"], date.fromisoformat(m["day"]), m["day_open"])
