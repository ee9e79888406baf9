"""The tables of a data set loaded into a database, their names, and how to reach it.

- `basis_data_loads`: one row per load of a folder; exactly one is `active` once a load has
  finished (`loading` -> `active` -> `replaced`, or `failed`).
- `basis_data_files`: the catalog, one row per file of a load: its POSIX path relative to the
  data folder, kind (`csv`, `json` or `text`), data table, header names in order, leading
  comment lines, row count, size, sha256 of the source bytes, load time, and the parse problem
  (with its line) of a file pandas cannot read as CSV.
- `basis_data_documents`: the text of every non-CSV file (JSON documents, README, manifest).
- One table per CSV file (`bd_<load>_<path>`): `source_line` (the row's physical line in the
  source file), `source_fields` (how many fields that line had) and one TEXT column per header
  cell holding the cell's exact source text (numbers keep their decimal text), so that the
  readers run the same validation on it as on the file.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from basis_strategy.core.database import create_engine
from basis_strategy.core.database import database_errors as core_database_errors
from basis_strategy.core.errors import DataError

TABLE_PREFIX = "bd_"
MAX_NAME = 63  # PostgreSQL truncates longer identifiers
RESERVED = ("source_line", "source_fields")
_NOT_WORD = re.compile(r"[^a-z0-9]+")

metadata = sa.MetaData()
loads = sa.Table(
    "basis_data_loads",
    metadata,
    sa.Column("load_id", sa.String(32), primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40)),
    sa.Column("files", sa.Integer),
    sa.Column("tables", sa.Integer),
    sa.Column("rows", sa.BigInteger),
)
files = sa.Table(
    "basis_data_files",
    metadata,
    sa.Column("load_id", sa.String(32), primary_key=True),
    sa.Column("path", sa.String(1000), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("table_name", sa.String(MAX_NAME)),
    sa.Column("header", sa.Text),
    sa.Column("sql_columns", sa.Text),
    sa.Column("comments", sa.Text),
    sa.Column("bom", sa.Boolean, nullable=False),
    sa.Column("row_count", sa.Integer, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("loaded_at", sa.String(40), nullable=False),
    sa.Column("problem", sa.Text),
    sa.Column("problem_line", sa.Integer),
)
documents = sa.Table(
    "basis_data_documents",
    metadata,
    sa.Column("load_id", sa.String(32), primary_key=True),
    sa.Column("path", sa.String(1000), primary_key=True),
    sa.Column("text", sa.Text),
)


def data_table(name: str, sql_columns: Sequence[str]) -> sa.Table:
    """The table of one CSV file: line, field count, then one TEXT column per header cell."""
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("source_line", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("source_fields", sa.Integer, nullable=False),
        *(sa.Column(column, sa.Text, nullable=False) for column in sql_columns),
    )


def _slug(text: str) -> str:
    return _NOT_WORD.sub("_", text.lower()).strip("_")


def table_name(load_id: str, relative: str, taken: set[str]) -> str:
    """`bd_<first 8 of load_id>_<path as a lowercase identifier>`; the path's tail and a hash
    of the whole path when that is longer than 63 characters or already `taken`."""
    head = f"{TABLE_PREFIX}{load_id[:8]}_"
    slug = _slug(str(PurePosixPath(relative).with_suffix(""))) or "file"
    name = head + slug
    if len(name) > MAX_NAME or name in taken:
        digest = hashlib.sha1(relative.encode("utf-8")).hexdigest()[:10]
        keep = MAX_NAME - len(head) - len(digest) - 1
        name = f"{head}{slug[-keep:].strip('_')}_{digest}"
    taken.add(name)
    return name


def column_names(header: Sequence[str]) -> list[str]:
    """A safe, unique (case-insensitively) SQL column name for each header cell, in order."""
    used = set(RESERVED)
    names: list[str] = []
    for cell in header:
        base = _slug(cell)[:40] or "column"
        base = f"c_{base}" if base[0].isdigit() else base
        name, n = base, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        names.append(name)
    return names


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for another database or an in-memory one)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # create_engine names the unusable URL
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


_ENGINES: dict[tuple[int, str], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def shared_engine(url: str) -> Engine:
    """One pooled engine per URL and process, for reading (a forked child makes its own)."""
    key = (os.getpid(), url)
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = create_engine(url)
        return _ENGINES[key]


def database_errors(url: str, doing: str) -> AbstractContextManager[None]:
    """Database failures as DataError naming the masked URL (never its password)."""
    return core_database_errors(url, "data database", doing, DataError)
