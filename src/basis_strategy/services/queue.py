"""The backtest service (issue 5; ADR-005, 006, 043): an async request queue in front of a
bounded pool of worker processes, with every run's state in a `RunStore`.

    service = BacktestService(data_dir, results_dir, database_url=None, workers=2)
    await service.start()                # lock, recover the last server's runs, dispatch
    record = await service.submit(BacktestRequest(mode="btc_basis", ...))
    service.get(record.id)               # queued -> running (progress) -> done | failed
    await service.cancel(record.id)      # -> cancelled (a finished run is left as it was)
    await service.stop()                 # running runs -> failed "server stopped"; unlock

One server per results folder and per run index (`services.lock`): `open()` (called by
`start()`) takes both locks before it touches anything, else raises ServerBusyError. It then
settles the runs a previous server left unfinished: a run whose complete folder exists is
done, any other queued or running run failed "server restarted before the run finished".

Submissions are validated as the CLI validates (`prepare`: config, mode and data coverage)
in a process of their own (`services.validation`): the event loop never waits for them. At
most `max_queued` runs wait (QueueFullError beyond). Each run gets a fresh process
(`services.worker`); a supervisor thread relays its messages into the store. Only a run
that reported `done` keeps a folder.

Nothing is lost when a resource fails (issue 12). `problems()` names what is wrong (the
index or results folder deleted or replaced, the index unwritable, the data folder gone);
while there is a problem, submissions are refused (ServiceUnavailableError) and no run is
started. A run that ends while the index cannot be written keeps its final status in memory
(`get` and `list` show it) and a background task records it once writes work again.

The async methods must run on the event loop that called `start()`; get, list, count,
health and worker_pid may be called from any thread. The server's main module must be safe
to import (`if __name__ == "__main__":`): worker processes import it.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from basis_strategy.config.loader import RunConfig
from basis_strategy.core.errors import ConfigError
from basis_strategy.defaults import DEFAULT_MAX_QUEUED
from basis_strategy.services.backtest import new_request_id
from basis_strategy.services.lock import server_locks
from basis_strategy.services.models import (
    FINISHED,
    BacktestRequest,
    DamagedRun,
    DamagedRunError,
    IndexUnavailableError,
    QueueFullError,
    RunNotFoundError,
    RunRecord,
    RunStatus,
    ServiceUnavailableError,
)
from basis_strategy.services.runs import Active, Runs, package_version
from basis_strategy.services.store import RunStore
from basis_strategy.services.validation import Validator, validated_config
from basis_strategy.services.worker import process_context, worker_data

logger = logging.getLogger(__name__)

RETRY_S = 1.0  # how often a waiting run or an unrecorded final status is retried


class BacktestService:
    """Queue, run, watch and cancel backtests; see the module docstring."""

    def __init__(
        self,
        data_dir: Path | None,
        results_dir: Path,
        database_url: str | None = None,
        workers: int = 2,
        max_queued: int = DEFAULT_MAX_QUEUED,
    ) -> None:
        """`data_dir` None: runs read the database `BASIS_DATABASE_URL` names
        (`BASIS_DATA_MODE=db`); else it must be a folder (ConfigError naming data_dir)."""
        if workers < 1:
            raise ConfigError("workers", f"must be at least 1, was {workers}")
        if max_queued < 1:
            raise ConfigError("max_queued", f"must be at least 1, was {max_queued}")
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else None
        if self.data_dir is not None and not self.data_dir.is_dir():
            raise ConfigError("data_dir", f"not a folder: {self.data_dir}")
        self.workers = workers
        self.max_queued = max_queued
        self._worker_dir, self._worker_env = worker_data(os.environ, self.data_dir)
        self.results_dir = Path(results_dir).resolve()
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.store = RunStore(database_url or RunStore.default_url(self.results_dir))
        context = process_context()
        self._runs = Runs(self.store, self.results_dir, context)
        self._validator = Validator(context, self._worker_dir or None, self._worker_env)
        self._locks = server_locks(self.results_dir, self.store)
        self._opened = False
        self._queue: asyncio.Queue[str] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._waiting: set[str] = set()  # queued here, not yet picked by a dispatcher
        self._validating = 0
        self._stopping = False

    # --- lifecycle ---

    def open(self) -> int:
        """Take the locks (ServerBusyError if another server holds one), then settle the runs
        a previous server left unfinished; returns how many. Done once."""
        if self._opened:
            return 0
        taken = []
        try:
            for lock in self._locks:
                lock.acquire()
                taken.append(lock)
            settled = self._recover()
        except BaseException:
            for lock in reversed(taken):
                lock.release()
            raise
        self._opened = True
        return settled

    def _recover(self) -> int:
        stale = [
            row.id
            for status in (RunStatus.QUEUED, RunStatus.RUNNING)
            for row in self.store.list(status=status, limit=self.store.count(status=status))
        ]
        done = {
            run_id: str(self.results_dir / run_id)
            for run_id in stale
            if (self.results_dir / run_id / "summary.json").is_file()
        }
        settled = self.store.recover(done)
        for run_id in stale:
            if run_id not in done:
                self._runs.remove_outputs(run_id)
        if settled:
            logger.warning(
                "settled %d run(s) a previous server left unfinished (%d done)", settled, len(done)
            )
        return settled

    async def start(self) -> None:
        """`open()`, then start the dispatchers and the task that records final statuses."""
        if self._queue is not None:
            raise RuntimeError("BacktestService.start: already started")
        await asyncio.to_thread(self.open)
        self._stopping = False
        self._queue = asyncio.Queue()
        self._runs.start(self.workers)
        self._validator.start()
        self._tasks = [
            asyncio.create_task(self._dispatch(), name=f"basis-dispatcher-{i}")
            for i in range(self.workers)
        ]
        self._tasks.append(asyncio.create_task(self._record_loop(), name="basis-recorder"))

    async def stop(self) -> None:
        """Kill running workers (their runs fail with "server stopped"), leave queued runs
        queued in the store, stop the tasks, release the locks and close the store."""
        self._stopping = True
        active = list(self._runs.active.values())
        for run in active:
            await asyncio.to_thread(self._runs.halt, run, RunStatus.FAILED)
        await asyncio.gather(*(run.settled.wait() for run in active))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._runs.stop()
        self._validator.stop()
        await asyncio.to_thread(self._runs.record_pending)
        self._tasks, self._queue = [], None
        self.close()

    def close(self) -> None:
        """Release the locks and close the store's connections."""
        for run_id, fields in self._runs.pending().items():
            status = fields["status"].value
            logger.error("run %s ended %s, unrecorded: the next start settles it", run_id, status)
        for lock in reversed(self._locks):
            lock.release()
        self._opened = False
        self.store.close()

    # --- requests ---

    def validate(self, request: BacktestRequest) -> RunConfig:
        """The run's validated config, exactly as the run will build it (config, mode, and
        the data covering its window); ConfigError or DataError naming what is wrong.
        `submit` checks the same in the validation process."""
        sets = request.config_sets()
        return validated_config(request.mode, sets, self._worker_dir or None, self._worker_env)

    async def submit(self, request: BacktestRequest) -> RunRecord:
        """Validate (in the validation process), store as queued and enqueue; returns at once
        with the new run's record. ServiceUnavailableError while the service cannot record runs,
        QueueFullError when `max_queued` runs wait already."""
        self._check_accepting()
        waiting = len(self._waiting) + self._validating
        if waiting >= self.max_queued:
            raise QueueFullError(
                f"{waiting} runs are waiting, the most this server queues ({self.max_queued})"
            )
        self._validating += 1
        try:
            await self._validator.validate(request)
            record = RunRecord(
                id=new_request_id(request.mode),
                mode=request.mode,
                status=RunStatus.QUEUED,
                request=request,
                submitted_at=datetime.now(UTC),
            )
            self._check_accepting()
            await asyncio.to_thread(self.store.add, record)
        finally:
            self._validating -= 1
        assert self._queue is not None
        self._waiting.add(record.id)
        self._queue.put_nowait(record.id)
        logger.info("run %s queued", record.id)
        return record

    def _check_accepting(self) -> None:
        if self._queue is None or self._stopping:
            raise ServiceUnavailableError("the backtest service is not running")
        lost = self.store.lost()
        if lost:
            raise IndexUnavailableError(lost)
        problems = self.problems()
        if problems:
            raise ServiceUnavailableError(problems[0])

    def get(self, run_id: str) -> RunRecord | None:
        """The run (with its final status even while the index cannot record it yet)."""
        record = self.store.get(run_id)
        return None if record is None else self._runs.with_pending(record)

    def list(
        self,
        mode: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[RunRecord | DamagedRun]:
        """Runs newest first; a row that cannot be read is a DamagedRun in its place."""
        rows = self.store.list(mode, status, limit, offset)
        pending = self._runs.with_pending
        return [row if isinstance(row, DamagedRun) else pending(row) for row in rows]

    def count(self, mode: str | None = None, status: RunStatus | None = None) -> int:
        return self.store.count(mode, status)

    async def cancel(self, run_id: str) -> RunRecord:
        """Queued -> cancelled; running -> worker killed, cancelled, no folder left; a
        finished run is returned unchanged. RunNotFoundError if there is no such run."""
        run = self._runs.active.get(run_id)
        if run is not None:
            await asyncio.to_thread(self._runs.halt, run, RunStatus.CANCELLED)
            await run.settled.wait()
        elif run_id in self._waiting:
            self._waiting.discard(run_id)  # no dispatcher starts it now
            await asyncio.to_thread(self._runs.settle, run_id, status=RunStatus.CANCELLED)
            logger.info("run %s cancelled while queued", run_id)
        record = await asyncio.to_thread(self.get, run_id)
        if record is None:
            raise RunNotFoundError(run_id)
        return record

    # --- health ---

    def problems(self, deep: bool = False) -> builtins.list[str]:
        """What keeps the service from recording runs now (empty when healthy). Quick file
        checks; `deep` also asks the database (a write) and re-checks a PostgreSQL lock."""
        found = [lock.problem(recheck=deep) for lock in self._locks if self._opened]
        found.append(self.store.lost())
        if self.data_dir is not None and not self.data_dir.is_dir():
            found.append(f"data folder {self.data_dir} is missing")
        if deep and not any(found):
            found.append(self._write_problem())
        return [problem for problem in found if problem]

    def _write_problem(self) -> str | None:
        try:
            self.store.check_writable()
        except IndexUnavailableError as exc:
            return str(exc)
        return None

    def health(self) -> dict[str, Any]:
        """Status ("ok" or "unhealthy" with the problems), data folder, database, workers,
        queue and version (no URL, no secret)."""
        problems = self.problems(deep=True)
        return {
            "status": "unhealthy" if problems else "ok",
            "problems": problems,
            "data": self._data_health(),
            "database": {"dialect": self.store.dialect, "reachable": self.store.ping()},
            "workers": {"configured": self.workers, "busy": self._runs.busy()},
            "queued": len(self._waiting),
            "max_queued": self.max_queued,
            "unrecorded": len(self._runs.pending()),
            "version": package_version(),
        }

    def _data_health(self) -> dict[str, Any]:
        if self.data_dir is None:
            return {"source": "db"}
        return {"source": "csv", "path": str(self.data_dir), "exists": self.data_dir.is_dir()}

    # --- dispatching ---

    async def _dispatch(self) -> None:
        assert self._queue is not None
        while True:
            run_id = await self._queue.get()
            try:
                await self._run(run_id)
            except Exception:
                logger.exception("run %s: the dispatcher failed", run_id)
                await asyncio.to_thread(self._fail_unsettled, run_id)
            finally:
                self._queue.task_done()

    async def _run(self, run_id: str) -> None:
        """Start a waiting run once the service can record it, and supervise it to its end."""
        attempts = 0
        while run_id in self._waiting and not self._stopping:
            if self.problems():
                await asyncio.sleep(RETRY_S)
                continue
            self._waiting.discard(run_id)
            run = self._runs.active[run_id] = Active(run_id, asyncio.Event())
            try:
                retry = await self._launched(run, attempts)
            finally:
                del self._runs.active[run_id]
                run.settled.set()
            if retry:
                attempts += 1
                self._waiting.add(run_id)
                await asyncio.sleep(RETRY_S)

    async def _launched(self, run: Active, attempts: int) -> bool:
        """Start and supervise one run; True when it could not be recorded as running."""
        launch = self._runs.launch
        try:
            started = await asyncio.to_thread(launch, run, self._worker_dir, self._worker_env)
        except IndexUnavailableError as exc:
            if run.stop is None:
                if not attempts:
                    logger.warning("run %s waits for the run index: %s", run.run_id, exc)
                return True
            started = False
        if started:
            await self._runs.supervised(run)
        else:
            await asyncio.to_thread(self._runs.conclude, run)
        return False

    async def _record_loop(self) -> None:
        """Every second: re-check the locks (a PostgreSQL lock is lost with its connection),
        and record the final statuses the index could not take when their runs ended."""
        while True:
            await asyncio.sleep(RETRY_S)
            await asyncio.to_thread(self._recheck)

    def _recheck(self) -> None:
        for lock in self._locks:
            lock.problem(recheck=True)
        if self._runs.pending():
            self._runs.record_pending()

    def _fail_unsettled(self, run_id: str) -> None:
        """After a dispatcher error: fail the run if it has no final status (best effort)."""
        try:
            record = self.store.get(run_id)
            if record is not None and record.status not in FINISHED:
                self._runs.remove_outputs(run_id)
                self._runs.settle(
                    run_id,
                    status=RunStatus.FAILED,
                    error="internal error: the run could not be supervised",
                )
        except (IndexUnavailableError, DamagedRunError):
            logger.exception("run %s: could not be marked failed", run_id)

    # --- facts for tests and operators ---

    def busy(self) -> int:
        return self._runs.busy()

    def worker_pid(self, run_id: str) -> int | None:
        """The pid of the run's worker process while it runs (None once it has ended)."""
        return self._runs.worker_pid(run_id)

    def validator_pid(self) -> int | None:
        """The pid of the process that validates submissions (None when not started)."""
        return self._validator.pid()

    def pending(self) -> dict[str, dict[str, Any]]:
        """Final statuses of runs that ended while the index could not record them."""
        return self._runs.pending()
