"""Output folders and files, checked before a run starts: a results folder that is a file, lies
under a file, is read-only, is `/dev/null` or sits on a full disk is refused at once (exit 2,
one line naming the option or variable and the path) instead of failing after the whole run.

The check writes (and removes) a small probe file in the nearest existing folder, so it sees
what the run would see (a read-only mount, a full disk, missing permissions), then asks for
enough free space for the run's files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from basis_strategy.core.errors import ConfigError

MiB = 2**20
# the heaviest run (usdt_market_neutral over the whole history) writes ~22 MiB; a synthetic
# data folder of 20 months ~44 MiB; a report or comparison ~5 MiB (plotly.min.js and pages)
MIN_FREE_FOLDER_BYTES = 64 * MiB
MIN_FREE_REPORT_BYTES = 16 * MiB
MIN_FREE_FILE_BYTES = 1 * MiB
PROBE_BYTES = 64 * 1024


def check_output_folder(
    path: str | Path, field: str, min_free_bytes: int = MIN_FREE_FOLDER_BYTES
) -> Path:
    """`path` is, or can be created as, a folder we can write `min_free_bytes` into."""
    folder = _given(path, field)
    try:
        if folder.exists() and not folder.is_dir():
            raise ConfigError(field, f"not a folder: {folder}")
        _probe(_nearest_existing_folder(folder, field), folder, field, min_free_bytes)
    except OSError as exc:  # e.g. a parent folder we may not enter
        raise ConfigError(field, f"cannot use {folder}: {exc.strerror or exc}") from None
    return folder


def check_output_file(
    path: str | Path, field: str, min_free_bytes: int = MIN_FREE_FILE_BYTES
) -> Path:
    """`path` is a new or regular file in an existing folder we can write into."""
    file = _given(path, field)
    try:
        if file.exists() and not file.is_file():
            raise ConfigError(field, f"not a regular file: {file}")
        if not file.parent.is_dir():
            raise ConfigError(field, f"no folder {file.parent} to write {file.name} into")
        _probe(file.parent, file, field, min_free_bytes)
    except OSError as exc:
        raise ConfigError(field, f"cannot use {file}: {exc.strerror or exc}") from None
    return file


def write_text_atomic(path: Path, text: str) -> None:
    """Write `path` whole or not at all (a temporary file renamed over it)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _given(path: str | Path, field: str) -> Path:
    if not str(path).strip():
        raise ConfigError(field, "empty path")
    return Path(path)


def _nearest_existing_folder(path: Path, field: str) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise ConfigError(field, f"cannot create {path}: {candidate} is not a folder")
            return candidate
    raise ConfigError(field, f"no existing folder above {path}")


def _probe(folder: Path, target: Path, field: str, min_free_bytes: int) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".basis-write-probe-", dir=folder)
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(name)
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise ConfigError(field, f"cannot write into {target}: {exc.strerror or exc}") from None
    if free < min_free_bytes:
        raise ConfigError(
            field,
            f"only {free / MiB:.1f} MiB free for {target}, need at least "
            f"{min_free_bytes / MiB:.0f} MiB",
        )
