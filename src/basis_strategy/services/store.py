"""The index of backtest runs (issue 5): one `runs` table through SQLAlchemy Core.

A SQLite file next to the results by default (`{results_dir}/runs.sqlite`, WAL mode), or any
database `BASIS_DATABASE_URL` names (e.g. `postgresql+psycopg://user:pass@host/db`).

Safe for the threads of one process: every call takes its own pooled connection and its own
transaction; on SQLite, writes are also serialised by a lock so threads never race for the
file's write lock. Timestamps are timezone-aware UTC in and out (naive ones are refused).
A database URL is only ever shown masked (`mask_url`): its password never reaches a log or
an error message.

Failures never pass silently (issue 12): any database error is an `IndexUnavailableError`;
a SQLite file deleted or replaced under the store is refused before every call (nothing is
written into a deleted file); a row that cannot be read as a run is a `DamagedRun` in `list`
(the other rows are served) and a `DamagedRunError` from `get`.
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Select
from sqlalchemy.engine import Connection, Engine, RowMapping

from basis_strategy.core.database import (
    DATABASE_URL_ENV,
    UTCDateTime,
    create_engine,
    create_tables,
    database_errors,
    mask_url,
)
from basis_strategy.services.models import (
    DamagedRun,
    DamagedRunError,
    IndexUnavailableError,
    RunRecord,
    RunStatus,
)
from basis_strategy.services.rows import FIELDS, column_value, parse_row

RESTARTED = "server restarted before the run finished"


metadata = sa.MetaData()
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("mode", sa.String(200), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("progress", sa.Float, nullable=False),
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("submitted_at", UTCDateTime, nullable=False, index=True),
    sa.Column("started_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("error", sa.Text),
    sa.Column("result_dir", sa.Text),
)
# one row, rewritten by `check_writable`: a write that must reach the disk
heartbeat = sa.Table(
    "runs_heartbeat",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("beat_at", UTCDateTime, nullable=False),
)
# rows as the database holds them (no type conversion), parsed one by one by `parse_row`
RAW_ROW = cast(Select[Any], sa.select(*(sa.type_coerce(c, sa.types.NullType()) for c in runs.c)))


class RunStore:
    """Runs by id: add, update, get, list (newest first), count, recover after a restart."""

    def __init__(self, url: str) -> None:
        self.url_masked = mask_url(url)
        self._url = url
        self.engine = self._connect(url)
        sqlite = self.engine.dialect.name == "sqlite"
        self._write_lock: AbstractContextManager[Any] = (
            threading.Lock() if sqlite else nullcontext()
        )
        database = self.engine.url.database
        self.file = Path(database) if sqlite and database and database != ":memory:" else None
        self._identity: tuple[int, int] | None = None
        with self._errors("create the runs table"):
            create_tables(self.engine, metadata)
        self._identity = _identity(self.file) if self.file else None

    @staticmethod
    def default_url(results_dir: Path) -> str:
        """`BASIS_DATABASE_URL` if set, else the SQLite file `{results_dir}/runs.sqlite`."""
        chosen = os.environ.get(DATABASE_URL_ENV)
        if chosen:
            return chosen
        path = Path(results_dir).resolve() / "runs.sqlite"
        return sa.URL.create("sqlite", database=str(path)).render_as_string()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @staticmethod
    def _connect(url: str) -> Engine:
        engine = create_engine(url)
        database = engine.url.database
        if engine.dialect.name == "sqlite" and database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        return engine

    def lost(self) -> str | None:
        """Why the SQLite file is no longer the one this store opened (deleted or replaced),
        else None (always None for other databases)."""
        if self.file is None or self._identity is None:
            return None
        if _identity(self.file) != self._identity:
            return f"run index {self.file} was deleted or replaced while in use"
        return None

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Database failures as IndexUnavailableError naming the (masked) URL, never its
        password; refused at once when the SQLite file was deleted or replaced."""
        problem = self.lost()
        if problem:
            raise IndexUnavailableError(f"{problem}: cannot {doing} (restore it or restart)")
        with database_errors(self._url, "run store", doing, IndexUnavailableError):
            yield

    @contextmanager
    def _write(self, doing: str) -> Iterator[Connection]:
        with self._write_lock, self._errors(doing), self.engine.begin() as conn:
            yield conn

    def _read(self, doing: str) -> AbstractContextManager[Connection]:
        @contextmanager
        def opened() -> Iterator[Connection]:
            with self._errors(doing), self.engine.connect() as conn:
                yield conn

        return opened()

    def add(self, record: RunRecord) -> None:
        """Insert a new run (its id must be new)."""
        values = {name: column_value(name, getattr(record, name)) for name in FIELDS}
        with self._write(f"add run {record.id}") as conn:
            conn.execute(runs.insert().values(id=record.id, **values))

    def update(self, run_id: str, **fields: Any) -> RunRecord:
        """Set some fields of one run; returns the run as stored. KeyError if unknown."""
        values = {name: column_value(name, value) for name, value in fields.items()}
        with self._write(f"update run {run_id}") as conn:
            if values:
                conn.execute(runs.update().where(runs.c.id == run_id).values(**values))
            row = conn.execute(RAW_ROW.where(runs.c.id == run_id)).mappings().first()
        if row is None:
            raise KeyError(f"run {run_id!r} not found")
        return _record(row)

    def get(self, run_id: str) -> RunRecord | None:
        """The run, None if unknown; DamagedRunError if its row cannot be read."""
        with self._read(f"read run {run_id}") as conn:
            row = conn.execute(RAW_ROW.where(runs.c.id == run_id)).mappings().first()
        return None if row is None else _record(row)

    def list(
        self,
        mode: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[RunRecord | DamagedRun]:
        """Runs newest first (by submission time, then id), optionally of one mode/status; a
        row that cannot be read is listed as a DamagedRun in its place."""
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must be >= 0, were {limit} and {offset}")
        query = _filtered(RAW_ROW, mode, status)
        query = query.order_by(runs.c.submitted_at.desc(), runs.c.id.desc())
        with self._read("list runs") as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).mappings().all()
        return [parse_row(row) for row in rows]

    def count(self, mode: str | None = None, status: RunStatus | None = None) -> int:
        query = _filtered(sa.select(sa.func.count()).select_from(runs), mode, status)
        with self._read("count runs") as conn:
            return int(conn.execute(query).scalar_one())

    def recover(self, finished: Mapping[str, str] | None = None) -> int:
        """Settle the runs a previous server left queued or running: those in `finished`
        (run id -> its complete results folder) are done, the others failed. Returns how many
        runs were settled."""
        now = datetime.now(UTC)
        unfinished = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)
        done = dict(status=RunStatus.DONE.value, progress=1.0, error=None, finished_at=now)
        failed = dict(status=RunStatus.FAILED.value, error=RESTARTED, finished_at=now)
        settled = 0
        with self._write("recover unfinished runs") as conn:
            for run_id, result_dir in (finished or {}).items():
                statement = runs.update().where(
                    runs.c.id == run_id, runs.c.status == RunStatus.RUNNING.value
                )
                settled += conn.execute(statement.values(result_dir=result_dir, **done)).rowcount
            statement = runs.update().where(runs.c.status.in_(unfinished)).values(**failed)
            return settled + int(conn.execute(statement).rowcount)

    def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            with self._read("answer a query") as conn:
                conn.execute(sa.text("SELECT 1"))
        except IndexUnavailableError:
            return False
        return True

    def check_writable(self) -> None:
        """Commit one small write (the heartbeat row); IndexUnavailableError if it fails
        (read-only, disk full, unreachable, deleted)."""
        beat = {"beat_at": datetime.now(UTC)}
        with self._write("write to the index") as conn:
            if not conn.execute(heartbeat.update().values(**beat)).rowcount:
                conn.execute(heartbeat.insert().values(id=1, **beat))

    def close(self) -> None:
        """Close pooled connections (the store reconnects if used again)."""
        self.engine.dispose()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _identity(path: Path) -> tuple[int, int] | None:
    """The file's (device, inode), None when it is missing."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _record(row: RowMapping) -> RunRecord:
    parsed = parse_row(row)
    if isinstance(parsed, DamagedRun):
        raise DamagedRunError(parsed)
    return parsed


def _filtered(query: Select[Any], mode: str | None, status: RunStatus | None) -> Select[Any]:
    if mode is not None:
        query = query.where(runs.c.mode == mode)
    if status is not None:
        query = query.where(runs.c.status == RunStatus(status).value)
    return query
