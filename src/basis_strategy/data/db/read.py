"""`DatabaseData`: the active load of a database as a data root (`BASIS_DATA_MODE=db`).

The catalog is read once, when the root is opened; a file's cells or text when a reader asks
for it. Files are found by glob pattern among the catalog's paths with the rules of a data
folder (`store.glob_match`), and named in messages as ``<masked URL>#<relative path>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import PurePosixPath
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from basis_strategy.core.database import mask_url
from basis_strategy.core.errors import DataError, DataFileError
from basis_strategy.data.db.schema import (
    database_errors,
    documents,
    files,
    loads,
    shared_engine,
    sqlite_file,
)
from basis_strategy.data.store import MANIFEST, glob_match, parse_manifest, pattern_parts
from basis_strategy.data.stored import FileRef, StoredFile, StoredTable

NEVER_LOADED = "no data set loaded: load a data folder with `basis data load DIR --db URL`"


@dataclass(frozen=True)
class _Entry:
    """One catalog row."""

    kind: str
    table_name: str | None
    header: tuple[str, ...]
    sql_columns: tuple[str, ...]
    comment_lines: int
    bom: bool
    problem: str | None
    problem_line: int | None


class DatabaseData:
    """The data set of the database at `url` (its active load): a `DataRoot` whose files are
    `StoredFile`s, and the `StoredBackend` the readers fetch them from.

    DataError (URL masked) when the database cannot be reached or was never loaded;
    ConfigError naming BASIS_DATABASE_URL when the URL is unusable.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self.url_masked = mask_url(url)
        database = sqlite_file(url)
        if database is not None and not database.is_file():
            raise DataError(f"data database {self.url_masked}: no such file; {NEVER_LOADED}")
        self.engine: Engine = shared_engine(url)
        with database_errors(url, "read the data catalog"), self.engine.connect() as conn:
            self.load_id, self.loaded_at, self.source = self._active_load(conn)
            rows = conn.execute(sa.select(files).where(files.c.load_id == self.load_id)).all()
        self._entries = {row.path: _entry(row) for row in rows}
        self._paths = sorted(self._entries, key=lambda path: PurePosixPath(path).parts)

    def _active_load(self, conn: Connection) -> tuple[str, str, str]:
        if not sa.inspect(conn).has_table(loads.name):
            raise DataError(f"data database {self.url_masked}: {NEVER_LOADED}")
        query = sa.select(loads.c.load_id, loads.c.finished_at, loads.c.source)
        row = conn.execute(query.where(loads.c.status == "active")).first()
        if row is None:
            raise DataError(f"data database {self.url_masked}: no completed load; {NEVER_LOADED}")
        return str(row.load_id), str(row.finished_at), str(row.source)

    def close(self) -> None:
        """Close the pooled connections to the database (it reconnects if used again)."""
        self.engine.dispose()

    # --- DataRoot ----------------------------------------------------------------------------

    def locate(self, pattern: str) -> FileRef:
        matches = self._matches(pattern)
        if not matches:
            raise DataFileError(self.where(pattern), "file not found")
        if len(matches) > 1:
            names = ", ".join(matches)
            raise DataFileError(
                self.where(pattern), f"pattern matches {len(matches)} files: {names}"
            )
        return StoredFile(matches[0], self)

    def _matches(self, pattern: str) -> list[str]:
        parts = pattern_parts(pattern)
        return [path for path in self._paths if glob_match(parts, path)]

    def folder(self, relative: str) -> FileRef | None:
        folder = PurePosixPath(relative).as_posix()
        inside = any(path.startswith(folder + "/") for path in self._paths)
        return StoredFile(folder, self) if inside else None

    def exists(self, pattern: str) -> bool:
        return bool(self._matches(pattern))

    def relative(self, ref: FileRef) -> str:
        if not isinstance(ref, StoredFile) or ref.backend is not self:
            raise TypeError(f"not a file of {self.url_masked}: {ref}")
        return ref.relative

    def where(self, relative: str) -> str:
        return f"{self.url_masked}#{relative}"

    def cache_key(self, ref: FileRef) -> tuple[object, ...]:
        return (self._url, self.relative(ref), self.load_id)

    def origin(self) -> dict[str, object]:
        text = self.text(MANIFEST) if MANIFEST in self._entries else None
        return parse_manifest(text, self.where(MANIFEST))

    # --- StoredBackend -----------------------------------------------------------------------

    def _entry(self, relative: str) -> _Entry:
        entry = self._entries.get(relative)
        if entry is None:
            raise DataFileError(self.where(relative), "file not found")
        if entry.problem is not None:
            raise DataFileError(self.where(relative), entry.problem, line=entry.problem_line)
        return entry

    def table(self, relative: str) -> StoredTable:
        entry = self._entry(relative)
        if entry.table_name is None:
            raise DataFileError(self.where(relative), f"stored as a {entry.kind} file, not CSV")
        rows = self._fetch(relative, entry.table_name)
        return StoredTable(
            columns=entry.header,
            cells=[tuple(row[2:]) for row in rows],
            lines=[row[0] for row in rows],
            fields=[row[1] for row in rows],
            comment_lines=entry.comment_lines,
            bom=entry.bom,
        )

    def _fetch(self, relative: str, name: str) -> list[tuple[Any, ...]]:
        """Every row of a data table (line, fields, cells...) in line order; a missing table
        (dropped by a newer load) named as such."""
        quoted = self.engine.dialect.identifier_preparer.quote(name)
        query = f"SELECT * FROM {quoted} ORDER BY source_line"  # columns in their table order
        try:
            with self.engine.connect() as conn:
                return [tuple(row) for row in conn.exec_driver_sql(query)]
        except SQLAlchemyError:
            with database_errors(self._url, f"read {relative}"), self.engine.connect() as conn:
                if not sa.inspect(conn).has_table(name):
                    message = f"table {name!r} is missing (dropped by a newer load?)"
                    raise DataFileError(self.where(relative), message) from None
                return [tuple(row) for row in conn.exec_driver_sql(query)]  # fails again: named

    def text(self, relative: str) -> str:
        self._entry(relative)
        query = sa.select(documents.c.text).where(
            documents.c.load_id == self.load_id, documents.c.path == relative
        )
        with database_errors(self._url, f"read {relative}"), self.engine.connect() as conn:
            text = conn.execute(query).scalar_one_or_none()
        if text is None:
            raise DataFileError(self.where(relative), "stored as CSV, not as a text document")
        return str(text)

    def children(self, relative: str, pattern: str) -> list[StoredFile]:
        folder = PurePosixPath(relative)
        inside = [PurePosixPath(path) for path in self._paths]
        names = sorted(
            p.name for p in inside if p.parent == folder and fnmatchcase(p.name, pattern)
        )
        return [StoredFile((folder / name).as_posix(), self) for name in names]


def _entry(row: sa.Row[Any]) -> _Entry:
    return _Entry(
        kind=row.kind,
        table_name=row.table_name,
        header=tuple(json.loads(row.header)),
        sql_columns=tuple(json.loads(row.sql_columns)),
        comment_lines=len(json.loads(row.comments)),
        bom=bool(row.bom),
        problem=row.problem,
        problem_line=row.problem_line,
    )
