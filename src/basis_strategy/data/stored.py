"""A file of a data set as the readers see it: in a data folder, or loaded into a database.

Readers take a `FileRef`: a `Path` inside a data folder, or a `StoredFile` naming a file of the
database's active load (`basis_strategy.data.db`). Only the step that fetches a file's raw
cells, rows or text differs (`sources._common.read_table`, `read_json`, and the OKX archive
reader); every check after it is the same code, so both give the same values and errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol


@dataclass(frozen=True)
class StoredTable:
    """One CSV file as loaded: every cell as the text `read_table` would give it.

    `columns`: the names pandas gives the header cells (a repeated name as ``a.1``, a blank one
    as ``Unnamed: 0``); `cells`: one tuple per row after the header, blank lines included;
    `lines`: the physical line of each row in the source file; `fields`: how many fields that
    line had (0 for a blank line; a short row's missing cells are ``""`` in `cells`);
    `comment_lines`: leading lines starting with ``#`` (skipped before the header); `bom`:
    the file began with a UTF-8 byte order mark.
    """

    columns: tuple[str, ...]
    cells: list[tuple[str, ...]]
    lines: list[int]
    fields: list[int]
    comment_lines: int = 0
    bom: bool = False


class StoredBackend(Protocol):
    """Where stored files come from (`basis_strategy.data.db.DatabaseData`)."""

    def where(self, relative: str) -> str:
        """How messages name the file: ``<masked database URL>#<relative path>``."""
        ...

    def table(self, relative: str) -> StoredTable:
        """The CSV file's cells; DataFileError when it was stored with a parse problem."""
        ...

    def text(self, relative: str) -> str:
        """A non-CSV file's text (JSON, README); DataFileError when it is not UTF-8."""
        ...

    def children(self, relative: str, pattern: str) -> list[StoredFile]:
        """The files directly inside folder `relative` whose name matches the glob `pattern`,
        sorted by name."""
        ...


@dataclass(frozen=True)
class StoredFile:
    """A file (or folder) of the data set stored in a database, by its POSIX path relative
    to the data folder it was loaded from."""

    relative: str
    backend: StoredBackend = field(compare=False, repr=False)

    def __str__(self) -> str:
        return self.backend.where(self.relative)

    @property
    def name(self) -> str:
        return PurePosixPath(self.relative).name


FileRef = Path | StoredFile
