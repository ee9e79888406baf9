"""The index of backtest runs (issue 5): one `runs` table through SQLAlchemy Core.

A SQLite file next to the results by default (`{results_dir}/runs.sqlite`, WAL mode), or any
database `BASIS_DATABASE_URL` names (e.g. `postgresql+psycopg://user:pass@host/db`).

Safe for the threads of one process: every call takes its own pooled connection and its own
transaction; on SQLite, writes are also serialised by a lock so threads never race for the
file's write lock. Timestamps are timezone-aware UTC in and out (naive ones are refused).
A database URL is only ever shown masked (`mask_url`): its password never reaches a log or
an error message.
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect, Engine, RowMapping
from sqlalchemy.exc import SQLAlchemyError

from basis_strategy.core.database import (
    DATABASE_URL_ENV,
    create_engine,
    database_errors,
    mask_url,
)
from basis_strategy.core.errors import OperationalError
from basis_strategy.services.models import BacktestRequest, RunRecord, RunStatus

RESTARTED = "server restarted before the run finished"


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes: stored as UTC (naive on SQLite, timestamptz elsewhere)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
FIELDS = frozenset(runs.c.keys()) - {"id"}
TIMES = ("submitted_at", "started_at", "finished_at")


def _column_value(name: str, value: Any) -> Any:
    """A record field as the table stores it; refuses naive timestamps and unknown fields."""
    if name not in FIELDS:
        raise ValueError(f"runs: unknown field {name!r} (fields: {', '.join(sorted(FIELDS))})")
    naive = not isinstance(value, datetime) or value.tzinfo is None
    if name in TIMES and value is not None and naive:
        raise ValueError(f"runs.{name}: must be a timezone-aware datetime, was {value!r}")
    if name == "status":
        return RunStatus(value).value
    if name == "request":
        request = BacktestRequest.model_validate(value)
        return request.model_dump(mode="json")
    return value


def _record(row: RowMapping) -> RunRecord:
    values = {str(key): value for key, value in row.items()}
    values["request"] = BacktestRequest.model_validate(values["request"])
    return RunRecord.model_validate(values)


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
        with self._errors("create the runs table"):
            metadata.create_all(self.engine)

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

    def _errors(self, doing: str) -> AbstractContextManager[None]:
        """Database failures as OperationalError naming the (masked) URL, never its password."""
        return database_errors(self._url, "run store", doing, OperationalError)

    @contextmanager
    def _write(self, doing: str) -> Iterator[Connection]:
        with self._write_lock, self._errors(doing), self.engine.begin() as conn:
            yield conn

    def add(self, record: RunRecord) -> None:
        """Insert a new run (its id must be new)."""
        values = {name: _column_value(name, getattr(record, name)) for name in FIELDS}
        with self._write(f"add run {record.id}") as conn:
            conn.execute(runs.insert().values(id=record.id, **values))

    def update(self, run_id: str, **fields: Any) -> RunRecord:
        """Set some fields of one run; returns the run as stored. KeyError if unknown."""
        values = {name: _column_value(name, value) for name, value in fields.items()}
        with self._write(f"update run {run_id}") as conn:
            if values:
                conn.execute(runs.update().where(runs.c.id == run_id).values(**values))
            row = conn.execute(runs.select().where(runs.c.id == run_id)).mappings().first()
        if row is None:
            raise KeyError(f"run {run_id!r} not found")
        return _record(row)

    def get(self, run_id: str) -> RunRecord | None:
        with self._errors(f"read run {run_id}"), self.engine.connect() as conn:
            row = conn.execute(runs.select().where(runs.c.id == run_id)).mappings().first()
        return None if row is None else _record(row)

    def list(
        self,
        mode: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[RunRecord]:
        """Runs newest first (by submission time, then id), optionally of one mode/status."""
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must be >= 0, were {limit} and {offset}")
        query = _filtered(runs.select(), mode, status)
        query = query.order_by(runs.c.submitted_at.desc(), runs.c.id.desc())
        with self._errors("list runs"), self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).mappings().all()
        return [_record(row) for row in rows]

    def count(self, mode: str | None = None, status: RunStatus | None = None) -> int:
        query = _filtered(sa.select(sa.func.count()).select_from(runs), mode, status)
        with self._errors("count runs"), self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def recover(self) -> int:
        """Mark runs a previous server left queued or running as failed; returns how many."""
        unfinished = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)
        statement = (
            runs.update()
            .where(runs.c.status.in_(unfinished))
            .values(
                status=RunStatus.FAILED.value,
                error=RESTARTED,
                finished_at=datetime.now(UTC),
            )
        )
        with self._write("recover unfinished runs") as conn:
            return int(conn.execute(statement).rowcount)

    def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        """Close pooled connections (the store reconnects if used again)."""
        self.engine.dispose()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _filtered(query: Select[Any], mode: str | None, status: RunStatus | None) -> Select[Any]:
    if mode is not None:
        query = query.where(runs.c.mode == mode)
    if status is not None:
        query = query.where(runs.c.status == RunStatus(status).value)
    return query
