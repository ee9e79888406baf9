"""`load_folder`: load a data folder into a database (`basis data load DIR --db URL`).

Every file goes in: each CSV into a table of its own (see `schema`), every other file (JSON,
`manifest.json`, README) into `basis_data_documents`, and each file into the catalog. A load
writes new tables under a new load id while the previous load stays active, then switches the
catalog to it in one transaction: readers see the old data set or the new one, never a mix,
and a load that fails part-way leaves the previous one active and drops what it wrote. The
tables of the replaced load are dropped after the switch.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from time import monotonic
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from basis_strategy.core.database import create_engine, create_tables, mask_url
from basis_strategy.core.errors import DataError
from basis_strategy.data.db.parse import ParsedFile, parse_file
from basis_strategy.data.db.schema import (
    TABLE_PREFIX,
    column_names,
    data_table,
    database_errors,
    documents,
    files,
    loads,
    metadata,
    sqlite_file,
    table_name,
)

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
# Tables created or dropped per transaction: fewer commits, while PostgreSQL's lock table (a
# few locks per table until commit) stays far from its default size.
TABLE_BATCH = 50


@dataclass(frozen=True)
class LoadReport:
    """What `load_folder` stored: files, CSV tables, other documents, data rows, seconds."""

    url_masked: str
    folder: str
    load_id: str
    files: int
    tables: int
    documents: int
    rows: int
    seconds: float
    problems: tuple[str, ...]  # "path: problem" of each CSV pandas cannot read


def load_folder(folder: Path, url: str, *, progress: Progress | None = None) -> LoadReport:
    """Load every file of `folder` into the database at `url` and make it the active data set
    (replacing the previous one). `progress(done, total, relative_path)` after each file.

    DataError when the folder does not exist or the database fails (URL masked); ConfigError
    naming BASIS_DATABASE_URL when the URL is unusable.
    """
    started = monotonic()
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data folder not found: {folder}")
    database = sqlite_file(url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    try:
        return _Loader(engine, url, folder, progress).run(started)
    finally:
        engine.dispose()


def folder_files(folder: Path, url: str) -> list[tuple[Path, str]]:
    """Every file under `folder` with its POSIX relative path, sorted; not the SQLite
    database being loaded (nor its journal files) when it lies inside the folder."""
    database = sqlite_file(url)
    own = set()
    if database is not None:
        own = {database.resolve().with_name(database.name + end) for end in ("", "-wal", "-shm")}
        own.add(database.resolve().with_name(database.name + "-journal"))
    found = [p for p in folder.rglob("*") if p.is_file() and p.resolve() not in own]
    return sorted((p, p.relative_to(folder).as_posix()) for p in found)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Loader:
    def __init__(self, engine: Engine, url: str, folder: Path, progress: Progress | None) -> None:
        self.engine, self.url, self.folder, self.progress = engine, url, folder, progress
        self.load_id = uuid.uuid4().hex
        self.created: list[str] = []
        self.taken: set[str] = set()
        self.entries: list[dict[str, Any]] = []
        self.documents: list[dict[str, Any]] = []
        self.rows = 0

    def run(self, started: float) -> LoadReport:
        paths = folder_files(self.folder, self.url)
        with database_errors(self.url, "create the catalog tables"):
            create_tables(self.engine, metadata)
            with self.engine.begin() as conn:
                conn.execute(
                    loads.insert().values(
                        load_id=self.load_id,
                        source=str(self.folder.resolve()),
                        status="loading",
                        started_at=_now(),
                    )
                )
        try:
            self._store_all(paths)
            self._activate()
        except BaseException:
            self._discard()
            raise
        self._drop_replaced()
        return self._report(started)

    def _report(self, started: float) -> LoadReport:
        problems = tuple(f"{e['path']}: {e['problem']}" for e in self.entries if e["problem"])
        return LoadReport(
            url_masked=mask_url(self.url),
            folder=str(self.folder),
            load_id=self.load_id,
            files=len(self.entries),
            tables=len(self.created),
            documents=len(self.documents),
            rows=self.rows,
            seconds=monotonic() - started,
            problems=problems,
        )

    def _store_all(self, paths: list[tuple[Path, str]]) -> None:
        """Parse and store every file, `TABLE_BATCH` files per transaction."""
        with database_errors(self.url, "store the files"), self.engine.connect() as conn:
            for start in range(0, len(paths), TABLE_BATCH):
                with conn.begin():
                    for path, relative in paths[start : start + TABLE_BATCH]:
                        self._store(conn, parse_file(path, relative))
                for done in range(start + 1, min(start + TABLE_BATCH, len(paths)) + 1):
                    if self.progress is not None:
                        self.progress(done, len(paths), paths[done - 1][1])

    def _store(self, conn: Connection, parsed: ParsedFile) -> None:
        name = None
        if parsed.kind == "csv" and parsed.problem is None:
            name = table_name(self.load_id, parsed.relative, self.taken)
            table = data_table(name, column_names(parsed.header))
            self.created.append(name)
            table.create(conn)
            insert_rows(conn, table, parsed.rows)
            self.rows += len(parsed.rows)
        elif parsed.kind != "csv":
            self.documents.append(
                {"load_id": self.load_id, "path": parsed.relative, "text": parsed.text}
            )
        self.entries.append(self._entry(parsed, name))

    def _entry(self, parsed: ParsedFile, name: str | None) -> dict[str, Any]:
        return {
            "load_id": self.load_id,
            "path": parsed.relative,
            "kind": parsed.kind,
            "table_name": name,
            "header": json.dumps(parsed.header),
            "sql_columns": json.dumps(column_names(parsed.header)),
            "comments": json.dumps(parsed.comments),
            "bom": parsed.bom,
            "row_count": len(parsed.rows),
            "size": parsed.size,
            "sha256": parsed.sha256,
            "problem": parsed.problem,
            "problem_line": parsed.problem_line,
        }

    def _activate(self) -> None:
        """The switch: the new catalog rows and documents, and this load active, at once."""
        finished = _now()
        with database_errors(self.url, "activate the load"), self.engine.begin() as conn:
            if self.entries:
                conn.execute(files.insert(), [e | {"loaded_at": finished} for e in self.entries])
            if self.documents:
                conn.execute(documents.insert(), self.documents)
            conn.execute(loads.update().where(loads.c.status == "active").values(status="replaced"))
            conn.execute(
                loads.update()
                .where(loads.c.load_id == self.load_id)
                .values(
                    status="active",
                    finished_at=finished,
                    files=len(self.entries),
                    tables=len(self.created),
                    rows=self.rows,
                )
            )

    def _discard(self) -> None:
        """After a failure: drop this load's tables and mark it failed (best effort)."""
        try:
            drop_tables(self.engine, self.created)
            with self.engine.begin() as conn:
                conn.execute(
                    loads.update()
                    .where(loads.c.load_id == self.load_id)
                    .values(status="failed", finished_at=_now())
                )
        except SQLAlchemyError as exc:
            logger.warning("load %s: could not clean up after a failure: %s", self.load_id, exc)

    def _drop_replaced(self) -> None:
        """Drop the tables and catalog rows of replaced and failed loads (best effort: the new
        load is active either way)."""
        stale_status = loads.c.status.in_(("replaced", "failed"))
        try:
            with self.engine.connect() as conn:
                query = sa.select(loads.c.load_id).where(stale_status)
                stale = [i for i in conn.execute(query).scalars() if i != self.load_id]
            if not stale:
                return
            prefixes = {f"{TABLE_PREFIX}{load_id[:8]}_" for load_id in stale}
            keep = set(self.created)
            names = sa.inspect(self.engine).get_table_names()
            drop_tables(self.engine, [n for n in names if n[:12] in prefixes and n not in keep])
            with self.engine.begin() as conn:
                for table in (files, documents, loads):
                    conn.execute(table.delete().where(table.c.load_id.in_(stale)))
        except SQLAlchemyError as exc:
            logger.warning("load %s: old tables not dropped: %s", self.load_id, exc)


def drop_tables(engine: Engine, names: Sequence[str]) -> None:
    for start in range(0, len(names), TABLE_BATCH):
        with engine.begin() as conn:
            for name in names[start : start + TABLE_BATCH]:
                conn.execute(sa.schema.DropTable(sa.Table(name, sa.MetaData()), if_exists=True))


def insert_rows(conn: Connection, table: sa.Table, rows: Sequence[tuple[object, ...]]) -> None:
    """Bulk insert: COPY on PostgreSQL (psycopg), executemany elsewhere."""
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    keys = table.c.keys()
    columns = ", ".join(quote(name) for name in keys)
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        dbapi: Any = conn.connection.dbapi_connection
        with dbapi.cursor() as cursor:
            sql = f"COPY {quote(table.name)} ({columns}) FROM STDIN"
            with cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
    elif conn.dialect.paramstyle == "qmark":
        marks = ", ".join("?" * len(table.c))
        sql = f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})"
        conn.exec_driver_sql(sql, list(rows))
    else:
        conn.execute(table.insert(), [dict(zip(keys, row, strict=True)) for row in rows])
