"""Errors grouped by what the caller should do (conventions 9).

- ConfigError: fix the input (exit code 2).
- DataError: a named file, row or window is missing or wrong (exit code 2).
- TemporaryError: retry with backoff (network, rate limit).
- OperationalError: halt and alert (reconciliation mismatch, look-ahead, liquidation risk).

Messages name the field or file and the bad value.
"""

from __future__ import annotations

from pathlib import Path


class BasisError(Exception):
    """Base of every error the platform raises on purpose."""

    exit_code = 1


class ConfigError(BasisError):
    """Invalid configuration: names the field and the bad value."""

    exit_code = 2

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class DataError(BasisError):
    """Missing, corrupt or insufficient data: names the file (and row or window)."""

    exit_code = 2


class DataFileError(DataError):
    """A problem in one data file, optionally at one row (1-based line number in the file)."""

    def __init__(self, path: Path | str, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        name = str(path)  # as given: a stored file's `sqlite:///x.sqlite#a.csv` keeps its `//`
        where = name if line is None else f"{name}, line {line}"
        super().__init__(f"{where}: {message}")


class EmptyDataFileError(DataFileError):
    """A data file with a header and no rows."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, "no data rows")


class TemporaryError(BasisError):
    """A transient failure (network, rate limit): the caller may retry."""


class OperationalError(BasisError):
    """The run must halt: reconciliation mismatch, look-ahead attempt, broken invariant."""


class LookAheadError(OperationalError):
    """A component asked for data stamped after the engine's current time."""


class ReconciliationHalt(OperationalError):
    """A live venue and the book still differ after every re-read (REC-002): the run halts,
    a person looks (`venues/live/account.py`, `venues/live/chain.py`)."""
