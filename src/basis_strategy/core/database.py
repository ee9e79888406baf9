"""SQLAlchemy engines for the databases `BASIS_DATABASE_URL` names (the run store, the data
source): one way to open them, and URLs shown only with the password masked."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from basis_strategy.core.errors import BasisError, ConfigError

DATABASE_URL_ENV = "BASIS_DATABASE_URL"
CONNECT_TIMEOUT_S = 10
SQLITE_BUSY_TIMEOUT_S = 30


def mask_url(url: str) -> str:
    """The URL with its password replaced by `***` (safe to log or show)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def scrub(text: str, url: str) -> str:
    """`text` with the URL's password (if any) replaced by `***`."""
    try:
        password = make_url(url).password
    except ArgumentError:
        return "<error text withheld: unparseable database URL>"
    return text.replace(str(password), "***") if password else text


def create_engine(url: str) -> Engine:
    """An engine for `url` (SQLite: WAL journal, 30 s busy timeout; others: pre-ping; PostgreSQL
    a 10 s connect timeout unless the URL sets one, so an unreachable server fails fast);
    ConfigError naming BASIS_DATABASE_URL when the URL is unusable."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(DATABASE_URL_ENV, "not a database URL (scheme://...)") from exc
    try:
        if parsed.get_backend_name() != "sqlite":
            postgres = parsed.get_backend_name() == "postgresql"
            timeout = postgres and "connect_timeout" not in parsed.query
            args = {"connect_timeout": CONNECT_TIMEOUT_S} if timeout else {}
            return sa.create_engine(parsed, pool_pre_ping=True, connect_args=args)
        engine = sa.create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(DATABASE_URL_ENV, f"unusable: {mask_url(url)}") from exc
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def create_tables(engine: Engine, metadata: sa.MetaData) -> None:
    """`metadata`'s missing tables, created under the database's write lock: processes that
    open a new store at once (a session and a `status` command) would otherwise both see no
    table and one fail on "already exists" (SQLite `BEGIN IMMEDIATE`, waiting up to the busy
    timeout; PostgreSQL a transaction-scoped advisory lock, its DDL being transactional)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif engine.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
        metadata.create_all(conn)
        conn.commit()


_SCHEMA_LOCK_KEY = 0x62617369  # "basi": one key for every store's schema


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        _to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _to_wal(cursor: Any) -> None:
    """WAL journal (kept by the file once set). Switching a new file needs its exclusive lock,
    and SQLite answers "database is locked" at once, without its busy timeout, while another
    process opens the same new file: retried up to that timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def database_errors(url: str, what: str, doing: str, error: type[BasisError]) -> Iterator[None]:
    """SQLAlchemy failures as `error`: `{what} {masked url}: cannot {doing}: {type}: {reason}`,
    never the password."""
    try:
        yield
    except SQLAlchemyError as exc:
        origin = getattr(exc, "orig", None) or exc
        lines = str(origin).strip().splitlines()
        reason = scrub(lines[0], url) if lines else ""
        message = f"{what} {mask_url(url)}: cannot {doing}: {type(origin).__name__}"
        raise error(f"{message}: {reason}" if reason else message) from None


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes: naive UTC on SQLite, timestamptz elsewhere; aware UTC when read.
    A naive datetime is refused: its zone is unknown (the run index, the live store)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime refused: {value!r}")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
