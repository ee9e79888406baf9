"""One server per results folder and per run index (issue 12): a second `basis serve` must
not recover (fail) the runs of a live one, nor delete its folders.

- The results folder: an exclusive `flock` on `{results_dir}/.basis-serve.lock` (which names
  the holder: pid, host, start time). The kernel drops it when the process dies.
- The run index: on SQLite, a `flock` next to its file when that file is not in the results
  folder; on PostgreSQL, a session advisory lock keyed on the index's schema, held by one
  connection for the server's life. It works across machines and folders sharing that
  database, and the server drops it when the connection or the process dies.

`problem()` says what is wrong when a lock is no longer what was taken: the lock file gone
from its path (the folder was deleted or replaced), the PostgreSQL connection lost (then the
lock is taken again if it is free, as after a database restart). Checking the PostgreSQL lock
asks the database, so it is done on `recheck` (the service does it every second) and its last
answer is given otherwise.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from basis_strategy.core.errors import ConfigError
from basis_strategy.services.models import IndexUnavailableError, ServerBusyError
from basis_strategy.services.store import RunStore

logger = logging.getLogger(__name__)
LOCK_FILE = ".basis-serve.lock"
ADVISORY_KEY = 0x62617369  # "basi": the run index's advisory lock class; its schema is the key
TRY_ADVISORY = "SELECT pg_try_advisory_lock(:key, hashtext(current_schema()))"


class Lock(Protocol):
    def acquire(self) -> None: ...
    def problem(self, recheck: bool = False) -> str | None: ...
    def release(self) -> None: ...


def holder() -> str:
    """Who holds a lock: this process, its host and the time it took the lock."""
    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"pid {os.getpid()} on {socket.gethostname()}, since {since}"


class FileLock:
    """An exclusive `flock` on `path`, refused at once (ServerBusyError) when held."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(str(self.path), f"cannot open the lock: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ServerBusyError(
                f"{self.what} is in use by another basis serve ({self._holder()}): stop that "
                "server first, or serve another results folder"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, (holder() + "\n").encode())
        self._fd = fd

    def _holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip() or "holder unknown"
        except OSError:
            return "holder unknown"

    def held(self) -> bool:
        if self._fd is None:
            return False
        try:
            now, taken = self.path.stat(), os.fstat(self._fd)
        except OSError:
            return False
        return (now.st_dev, now.st_ino) == (taken.st_dev, taken.st_ino)

    def problem(self, recheck: bool = False) -> str | None:
        if self.held():
            return None
        return f"{self.what} was deleted or replaced while in use (restore it or restart)"

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


class AdvisoryLock:
    """A PostgreSQL session advisory lock on the run index's schema, on its own connection."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self._conn: Connection | None = None
        self._guard = threading.Lock()  # one connection, used by one thread at a time
        self._problem: str | None = None  # the last check's answer

    def acquire(self) -> None:
        """Take the lock; ServerBusyError when another session holds it, IndexUnavailableError
        when the database cannot be asked."""
        try:
            conn = self.store.engine.connect()
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from None
        try:
            got = conn.execute(sa.text(TRY_ADVISORY), {"key": ADVISORY_KEY}).scalar_one()
            conn.commit()
        except SQLAlchemyError as exc:
            conn.invalidate()
            conn.close()
            raise self._unavailable(exc) from None
        if not got:
            conn.close()
            raise ServerBusyError(
                f"the run index {self.store.url_masked} is in use by another basis serve "
                "(PostgreSQL advisory lock): stop that server first, or use another database"
            )
        self._conn = conn

    def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(sa.text("SELECT 1"))
            self._conn.commit()
        except SQLAlchemyError:
            return False
        return True

    def problem(self, recheck: bool = False) -> str | None:
        """None while the lock's connection lives; else it is taken again if it is free
        (the database restarted), or the problem is named. Without `recheck`, the last
        answer."""
        if recheck:
            with self._guard:
                self._problem = self._check()
        return self._problem

    def _check(self) -> str | None:
        if self.held():
            return None
        self.release()
        try:
            self.acquire()
        except ServerBusyError:
            return f"lost the lock on the run index {self.store.url_masked} to another server"
        except IndexUnavailableError as exc:
            return str(exc)
        logger.warning("took the lock on the run index %s again", self.store.url_masked)
        return None

    def _unavailable(self, exc: SQLAlchemyError) -> IndexUnavailableError:
        reason = type(getattr(exc, "orig", None) or exc).__name__
        return IndexUnavailableError(f"run index {self.store.url_masked}: no lock: {reason}")

    def release(self) -> None:
        if self._conn is not None:
            self._conn.invalidate()  # the session ends, and its advisory lock with it
            self._conn.close()
            self._conn = None


def server_locks(results_dir: Path, store: RunStore) -> list[Lock]:
    """The locks one server takes: its results folder, and its index when that is elsewhere."""
    locks: list[Lock] = [FileLock(results_dir / LOCK_FILE, f"the results folder {results_dir}")]
    if store.dialect == "postgresql":
        locks.append(AdvisoryLock(store))
    elif store.file is not None and store.file.parent.resolve() != results_dir.resolve():
        index_lock = store.file.with_name(f".{store.file.name}.lock")
        locks.append(FileLock(index_lock, f"the run index {store.file}"))
    return locks
