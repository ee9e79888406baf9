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

from basis_strategy.core.database import (
    UTCDateTime,
    create_engine,
    create_tables,
    database_errors,
    mask_url,
)
from basis_strategy.live.limits import NavMarks
from basis_strategy.live.store import LiveStoreError
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
    # the service's view (service.py): how it was started, what it looked like after its
    # last cycle, its process's last sign of life, and an operator's pending command
    sa.Column("options", sa.Text, nullable=False, server_default="{}"),
    sa.Column("status", sa.Text, nullable=False, server_default="{}"),
    sa.Column("beat_at", UTCDateTime),
    sa.Column("pid", sa.Integer),
    sa.Column("command", sa.String(200)),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime),
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
    # a stepped cycle's market (checkpoint.dump_market): what a cold restart of a session on
    # live feeds re-steps with, its past being nowhere else
    sa.Column("market", sa.LargeBinary),
)
STEPPED, SKIPPED, HALTED = "stepped", "skipped", "halted"
# operator commands a session process picks up between cycles (service.py)
STOP, HALT_FREEZE, HALT_FLATTEN = "stop", "halt:freeze", "halt:flatten"
ACTIVATE = "activate:"  # + the operator's name: back to ACTIVE from REDUCING or HALTED
COMMANDS = frozenset({STOP, HALT_FREEZE, HALT_FLATTEN})


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
    market: bytes | None = None  # a stepped cycle's market (checkpoint.dump_market)


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


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session as the service lists it (no checkpoint, no journal rows)."""

    session_id: str
    request: SessionRequest
    control: Control
    options: dict[str, Any]
    status: dict[str, Any]
    cycles: int
    kinds: dict[str, int]  # stepped / skipped / halted cycles
    last_cycle_at: datetime | None
    beat_at: datetime | None
    pid: int | None
    command: str | None
    created_at: datetime | None
    finished_at: datetime | None


class SessionStore:
    """Paper sessions in the live store's database (`LiveStoreError` on any failure)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.url_masked = mask_url(url)
        self.engine = create_engine(url)
        with self._errors("create the session tables"):
            create_tables(self.engine, metadata)

    @property
    def url(self) -> str:
        """The database URL (with any password: never log it; `url_masked` is for messages)."""
        return self._url

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        with database_errors(self._url, "session store", doing, LiveStoreError):
            yield

    @contextmanager
    def _write(self, doing: str) -> Iterator[Connection]:
        with self._errors(doing), self.engine.begin() as conn:
            yield conn

    def create(
        self,
        session_id: str,
        request: SessionRequest,
        control: Control,
        options: dict[str, Any] | None = None,
    ) -> None:
        """A new session (no cycle yet); LiveStoreError if the id is taken. `options`: how the
        service started it (JSON-ready; `service.LiveStartRequest`)."""
        now = datetime.now(UTC)
        row = {
            "options": json.dumps(options or {}),
            "created_at": now,
            "session_id": session_id,
            "request": json.dumps({"mode": request.mode, "overrides": list(request.overrides)}),
            **_control_row(control),
            "marks": None,
            "cycles": 0,
            "missed": 0,
            "last_cycle_at": None,
            "checkpoint": None,
            "updated_at": now,
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
        status: dict[str, Any] | None = None,
    ) -> None:
        """The cycle's journal row and the session after it, in one transaction. `checkpoint`
        None keeps the stored one (a skipped or halted cycle did not touch the engine);
        `status` (the service's snapshot, JSON-ready) None keeps the stored one."""
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            **_control_row(control),
            "marks": None if marks is None else _marks_json(marks),
            "cycles": record.cycle,
            "missed": missed,
            "last_cycle_at": record.t,
            "updated_at": now,
            "beat_at": now,
        }
        if checkpoint is not None:
            values["checkpoint"] = checkpoint
        if status is not None:
            values["status"] = json.dumps(status, allow_nan=False)
        journal = {
            "session_id": session_id,
            "cycle": record.cycle,
            "t": record.t,
            "kind": record.kind,
            "gate_state": record.gate.state.value,
            "gate_stop_mode": record.gate.stop_mode.value if record.gate.stop_mode else None,
            "note": record.note,
            "market": record.market,
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

    def beat(self, session_id: str, pid: int) -> None:
        """The session's process is alive (written while it waits for its next cycle)."""
        self._update(session_id, "record a heartbeat", beat_at=datetime.now(UTC), pid=pid)

    def finish(self, session_id: str) -> None:
        """The session's loop ended (stopped, or its cycles done): not running any more."""
        self._update(session_id, "finish", finished_at=datetime.now(UTC), pid=None)

    def reopen(self, session_id: str, pid: int) -> None:
        """A resumed session runs again (a restart after a crash or a stop)."""
        now = datetime.now(UTC)
        self._update(session_id, "reopen", finished_at=None, pid=pid, beat_at=now)

    def post_command(self, session_id: str, command: str) -> None:
        """An operator's stop or emergency stop, for the session's process to take; a later
        command replaces a pending one (an emergency stop overrides a stop)."""
        operator = command.removeprefix(ACTIVATE)
        if command not in COMMANDS and not (command.startswith(ACTIVATE) and operator.strip()):
            raise ValueError(
                f"command: one of {sorted(COMMANDS)} or activate:NAME, was {command!r}"
            )
        self._update(session_id, f"post {command}", command=command)

    def take_command(self, session_id: str) -> str | None:
        """The pending command, cleared in the same transaction (taken once)."""
        key = paper_sessions.c.session_id == session_id
        with self._write(f"take the command of {session_id}") as conn:
            command = conn.execute(sa.select(paper_sessions.c.command).where(key)).scalar()
            if command is not None:
                conn.execute(paper_sessions.update().where(key).values(command=None))
        return command

    def _update(self, session_id: str, doing: str, **values: Any) -> None:
        key = paper_sessions.c.session_id == session_id
        with self._write(f"{doing} of {session_id}") as conn:
            if not conn.execute(paper_sessions.update().where(key).values(**values)).rowcount:
                raise KeyError(f"session {session_id!r} not stored")

    def overview(self, session_id: str | None = None) -> list[SessionRow]:
        """Every session (or one), newest first, without checkpoints or journals: what the
        service shows. Cycle counts per kind come from the journal."""
        cols = [c for c in paper_sessions.c if c.name != "checkpoint"]
        query = sa.select(*cols).order_by(paper_sessions.c.created_at.desc())
        counts = sa.select(
            paper_cycles.c.session_id, paper_cycles.c.kind, sa.func.count()
        ).group_by(paper_cycles.c.session_id, paper_cycles.c.kind)
        if session_id is not None:
            query = query.where(paper_sessions.c.session_id == session_id)
            counts = counts.where(paper_cycles.c.session_id == session_id)
        with self._errors("list the sessions"), self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            kinds: dict[str, dict[str, int]] = {}
            for sid, kind, n in conn.execute(counts):
                kinds.setdefault(sid, {})[kind] = n
        return [_session_row(row, kinds.get(row["session_id"], {})) for row in rows]

    def load(self, session_id: str) -> SavedSession:
        """The session as of its last completed cycle; KeyError if unknown."""
        session = sa.select(paper_sessions).where(paper_sessions.c.session_id == session_id)
        cycles = sa.select(paper_cycles).where(paper_cycles.c.session_id == session_id)
        with self._errors(f"read session {session_id}"), self.engine.connect() as conn:
            row = conn.execute(session).mappings().first()
            rows = conn.execute(cycles.order_by(paper_cycles.c.cycle)).mappings().all()
        if row is None:
            raise KeyError(f"session {session_id!r} not stored")
        return SavedSession(
            session_id,
            _request(row["request"]),
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


def _request(text: str) -> SessionRequest:
    request = json.loads(text)
    return SessionRequest(request["mode"], tuple(request["overrides"]))


def _session_row(row: Any, kinds: dict[str, int]) -> SessionRow:
    return SessionRow(
        row["session_id"],
        _request(row["request"]),
        _control(row),
        json.loads(row["options"]),
        json.loads(row["status"]),
        row["cycles"],
        kinds,
        row["last_cycle_at"],
        row["beat_at"],
        row["pid"],
        row["command"],
        row["created_at"],
        row["finished_at"],
    )


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
    return CycleRecord(row["cycle"], row["t"], row["kind"], gate, row["note"], row["market"])


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
