"""The runs one server works on: their worker processes, the supervisor threads that relay
their messages into the run index, and their final statuses.

A final status is written once (`settle`). When the index cannot take it (read-only, disk
full, unreachable, deleted), it is kept here: `with_pending` shows it on the run's record and
`record_pending` writes it once the index works again. A run is never left `running` with
no worker, and a finished run's folder is never removed because the index failed.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from basis_strategy.services.models import (
    DamagedRunError,
    IndexUnavailableError,
    RunRecord,
    RunStatus,
)
from basis_strategy.services.store import RunStore
from basis_strategy.services.worker import exit_reason, run_worker

logger = logging.getLogger(__name__)

SERVER_STOPPED = "server stopped"


@dataclass
class Active:
    """A run a dispatcher has taken: being started, then running, until its end is settled."""

    run_id: str
    settled: asyncio.Event
    process: BaseProcess | None = None
    conn: Connection | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    ended: bool = False  # a final status has been settled
    stop: RunStatus | None = None  # CANCELLED (by a client) or FAILED (server stopping)
    progress_failed: bool = False  # a progress update could not be stored (logged once)


class Runs:
    """Start, supervise, halt and settle runs; see the module docstring."""

    def __init__(
        self, store: RunStore, results_dir: Path, context: ForkServerContext | SpawnContext
    ) -> None:
        self.store = store
        self.results_dir = results_dir
        self.context = context
        self.active: dict[str, Active] = {}
        self._threads: ThreadPoolExecutor | None = None
        self._pending: dict[str, dict[str, Any]] = {}
        self._pending_lock = threading.Lock()

    def start(self, workers: int) -> None:
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="basis-supervisor")

    def stop(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        self._threads = None

    # --- starting and supervising ---

    def launch(self, run: Active, worker_dir: str, env: dict[str, str]) -> bool:
        """Start the worker of a still-queued run (a thread). False when it must not start
        (not queued any more, or halted meanwhile); IndexUnavailableError if the index cannot
        record it as running (nothing started)."""
        record = self.store.get(run.run_id)
        if record is None or record.status is not RunStatus.QUEUED:
            return False
        self.store.update(run.run_id, status=RunStatus.RUNNING, started_at=datetime.now(UTC))
        receive, send = self.context.Pipe(duplex=False)
        args = (send, run.run_id, record.mode, record.request.config_sets())
        process = self.context.Process(
            target=run_worker,
            args=(*args, worker_dir, str(self.results_dir), env),
            name=f"basis-run-{run.run_id}",
            daemon=True,
        )
        with run.lock:
            try:
                if run.stop is not None:  # halted while being recorded: settled by the caller
                    receive.close()
                    return False
                process.start()
                run.process, run.conn = process, receive
            except BaseException:
                receive.close()
                raise
            finally:
                send.close()
        logger.info("run %s started in process %s", run.run_id, process.pid)
        return True

    async def supervised(self, run: Active) -> None:
        await asyncio.get_running_loop().run_in_executor(self._threads, self._supervise, run)

    def _supervise(self, run: Active) -> None:
        """Supervisor thread: relay the worker's messages, then settle the run once it exits."""
        assert run.process is not None and run.conn is not None
        try:
            while self._relay(run, run.conn):
                pass
        except BaseException:  # e.g. the store failed: stop the run rather than orphan it
            with run.lock:
                if run.process.exitcode is None:
                    run.process.kill()
            raise
        finally:
            wait([run.process.sentinel])
            with run.lock:  # reaped under the lock: `halt` never signals a reused pid
                run.process.join()
            run.conn.close()
            self.conclude(run)

    def _relay(self, run: Active, conn: Connection) -> bool:
        """Handle one message from the worker; False once the pipe is closed."""
        wait([conn])
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return False
        with run.lock:
            if run.ended or run.stop is not None:
                return True
            kind = message[0]
            if kind == "progress":
                self._progress(run, float(message[1]))
            elif kind == "done":
                self._finish(run, RunStatus.DONE, result_dir=message[1], progress=1.0)
            else:
                if message[2]:
                    logger.error("run %s failed:\n%s", run.run_id, message[2])
                self._finish(run, RunStatus.FAILED, error=message[1])
        return True

    def _progress(self, run: Active, fraction: float) -> None:
        try:
            self.store.update(run.run_id, progress=fraction)
        except (IndexUnavailableError, DamagedRunError) as exc:  # not worth a failed run
            if not run.progress_failed:
                logger.warning("run %s: progress not stored: %s", run.run_id, exc)
            run.progress_failed = True

    # --- ending ---

    def conclude(self, run: Active) -> None:
        """After the worker exited (or never started): a run without a result is cancelled
        or failed; one that was never started and never halted is left as it is."""
        with run.lock:
            if run.ended:
                return
            if run.stop is RunStatus.CANCELLED:
                self._finish(run, RunStatus.CANCELLED)
            elif run.stop is RunStatus.FAILED:
                self._finish(run, RunStatus.FAILED, error=SERVER_STOPPED)
            elif run.process is not None:
                self._finish(run, RunStatus.FAILED, error=exit_reason(run.process.exitcode))

    def _finish(self, run: Active, status: RunStatus, **fields: Any) -> None:
        """Settle a run's final status (caller holds its lock); only `done` keeps a folder."""
        if status is not RunStatus.DONE:
            self.remove_outputs(run.run_id)
        run.ended = True  # before the store says so: a client seeing it finds the run ended
        reason = fields.pop("error", None)
        self.settle(run.run_id, status=status, error=reason, **fields)
        logger.info("run %s %s%s", run.run_id, status.value, f": {reason}" if reason else "")

    def halt(self, run: Active, stop: RunStatus) -> None:
        """Kill a running worker; its supervisor then settles the run as `stop` says."""
        with run.lock:
            if run.ended or run.stop is not None:
                return
            run.stop = stop
            process = run.process  # None while being started: `launch` will not start it
            if process is not None and process.pid is not None and process.exitcode is None:
                process.kill()

    def settle(self, run_id: str, **fields: Any) -> None:
        """Write a run's final status (with `finished_at`); kept to be written later when the
        index cannot take it now."""
        final = {"finished_at": datetime.now(UTC), **fields}
        if not self._record(run_id, final, quiet=False):
            with self._pending_lock:
                self._pending[run_id] = final

    def _record(self, run_id: str, final: dict[str, Any], quiet: bool = True) -> bool:
        """Write one final status; False when the index cannot take it now."""
        try:
            self.store.update(run_id, **final)
        except IndexUnavailableError as exc:
            if not quiet:  # retries are not logged: health counts the runs left to record
                status = final["status"].value
                logger.warning("run %s %s, not recorded yet (will retry): %s", run_id, status, exc)
            return False
        except (KeyError, DamagedRunError) as exc:  # written, or no row to write it to
            logger.error("run %s %s: %s", run_id, final["status"].value, exc)
        return True

    def record_pending(self) -> None:
        """Write the final statuses not yet recorded; stops at the first index failure."""
        with self._pending_lock:
            pending = dict(self._pending)
        for run_id, final in pending.items():
            if not self._record(run_id, final):
                return
            with self._pending_lock:
                if self._pending.get(run_id) is final:
                    del self._pending[run_id]
            logger.info("run %s %s: recorded", run_id, final["status"].value)

    def pending(self) -> dict[str, dict[str, Any]]:
        with self._pending_lock:
            return dict(self._pending)

    def with_pending(self, record: RunRecord) -> RunRecord:
        """The record as it will be once its pending final status is written."""
        with self._pending_lock:
            final = self._pending.get(record.id)
        return record if final is None else record.model_copy(update=final)

    # --- facts ---

    def busy(self) -> int:
        """Runs being worked on now (a worker whose run has ended may still be exiting)."""
        return sum(not run.ended for run in list(self.active.values()))

    def worker_pid(self, run_id: str) -> int | None:
        """The pid of the run's worker process while the run is running; None once its final
        status is settled (the process may still be exiting)."""
        run = self.active.get(run_id)
        if run is None or run.ended or run.process is None:
            return None
        return run.process.pid

    def remove_outputs(self, run_id: str) -> None:
        for path in (self.results_dir / run_id, self.results_dir / f".{run_id}.partial"):
            shutil.rmtree(path, ignore_errors=True)


def package_version() -> str:
    import basis_strategy

    version = getattr(basis_strategy, "__version__", None)
    return str(version) if version else metadata.version("basis-strategy")
