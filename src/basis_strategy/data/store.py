"""Where a run's data comes from: a data folder, or a database it was loaded into (ADR-009).

The provider asks a `DataRoot` for files by glob pattern and reads them with the same readers
either way (`FileRef`: a `Path`, or a `StoredFile` of `basis_strategy.data.db.DatabaseData`).
`FolderData` is the folder root; `BASIS_DATA_MODE` picks the root (`services.backtest.prepare`).
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Protocol

from basis_strategy.core.errors import DataError
from basis_strategy.data.sources._common import locate
from basis_strategy.data.stored import FileRef

MANIFEST = "manifest.json"
_ORIGIN_KEYS = ("scenario", "seed", "generated_at")


class DataRoot(Protocol):
    """A data set's files, by POSIX path relative to its data folder."""

    def locate(self, pattern: str) -> FileRef:
        """The one file matching the glob `pattern`; DataFileError naming the pattern when
        none or several match."""
        ...

    def folder(self, relative: str) -> FileRef | None:
        """The folder `relative` (for a reader of a whole folder), None when there is none."""
        ...

    def exists(self, pattern: str) -> bool:
        """Whether some file matches the glob `pattern`."""
        ...

    def relative(self, ref: FileRef) -> str:
        """The file's path relative to the data folder (what summary.json `data_files` shows)."""
        ...

    def where(self, relative: str) -> str:
        """How messages name a path of this root."""
        ...

    def cache_key(self, ref: FileRef) -> tuple[object, ...]:
        """Identifies the file's content: a process cache reuses a reading while it holds."""
        ...

    def origin(self) -> dict[str, object]:
        """What the data set's `manifest.json` says about it (`parse_manifest`)."""
        ...


def parse_manifest(text: str | None, where: str) -> dict[str, object]:
    """`{"synthetic": bool}` plus `scenario`, `seed` and `generated_at` when the manifest has
    them; `{"synthetic": False}` without a manifest (None). DataError naming `where` when the
    text is not a JSON object."""
    if text is None:
        return {"synthetic": False}
    try:
        content = json.loads(text)
    except ValueError as exc:
        raise DataError(f"{where}: not a readable JSON manifest ({exc})") from None
    if not isinstance(content, dict):
        raise DataError(f"{where}: must be a JSON object")
    found = {key: content[key] for key in _ORIGIN_KEYS if key in content}
    return {"synthetic": bool(content.get("synthetic"))} | found


def pattern_parts(pattern: str) -> tuple[str, ...]:
    """The segments of a relative glob pattern (as `Path.glob` splits it); ValueError for the
    forms a stored data set cannot answer like a folder (absolute, `**`, `..`)."""
    parts = PurePosixPath(pattern).parts
    if not parts or pattern.startswith("/") or "**" in parts or ".." in parts:
        raise ValueError(f"unsupported data file pattern {pattern!r}")
    return parts


def glob_match(parts: tuple[str, ...], relative: str) -> bool:
    """Whether the relative POSIX path matches the pattern segments as `Path.glob` matches a
    file: as many segments, each matched case-sensitively by `fnmatch` (`*` and `?` never
    cross a `/`; names starting with a dot are not special)."""
    names = PurePosixPath(relative).parts
    return len(names) == len(parts) and all(map(fnmatchcase, names, parts))


class FolderData:
    """A data folder on disk (`BASIS_DATA_MODE=csv`, the default)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise DataError(f"data folder not found: {self.path}")

    def locate(self, pattern: str) -> FileRef:
        return locate(self.path, pattern)

    def folder(self, relative: str) -> FileRef | None:
        path = self.path / relative
        return path if path.is_dir() else None

    def exists(self, pattern: str) -> bool:
        return any(path.is_file() for path in self.path.glob(pattern))

    def relative(self, ref: FileRef) -> str:
        return str(_path(ref).relative_to(self.path))

    def where(self, relative: str) -> str:
        return str(self.path / relative)

    def cache_key(self, ref: FileRef) -> tuple[object, ...]:
        path = _path(ref)
        stat = path.stat()
        return (str(path), stat.st_mtime_ns, stat.st_size)

    def origin(self) -> dict[str, object]:
        manifest = self.path / MANIFEST
        if not manifest.is_file():
            return parse_manifest(None, str(manifest))
        try:
            text = manifest.read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise DataError(f"{manifest}: not a readable JSON manifest ({exc})") from None
        return parse_manifest(text, str(manifest))


def _path(ref: FileRef) -> Path:
    if not isinstance(ref, Path):
        raise TypeError(f"a data folder holds no stored file: {ref}")
    return ref
