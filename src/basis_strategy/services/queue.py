"""The backtest service (issue 5; ADR-005, 006, 043): an async request queue in front of a
bounded pool of worker processes, with every run's state in a `RunStore`.

    service = BacktestService(data_dir, results_dir, database_url=None, workers=2)
    await service.start()                # recovers runs a previous server left unfinished
    record = await service.submit(BacktestRequest(mode="btc_basis", ...))
    service.get(record.id)               # queued -> running (progress) -> done | failed
    await service.cancel(record.id)      # -> cancelled (a finished run is left as it was)
    await service.stop()                 # running runs -> failed "server stopped"

Isolation: each run gets a fresh process (`process_context`: forked from a clean fork server,
or spawned; nothing of the API server's state is inherited, and a run that crashes or is
killed takes nothing else down). `workers` dispatcher tasks each take the next queued id,
start its process, and hand it to a supervisor thread that relays the worker's messages
(progress, done, failed) into the store and notices the process exiting.

The async methods (start, stop, submit, cancel) must run on one event loop, the one that
called `start()`; get, list, count, health and worker_pid may be called from any thread.
As with any multiprocessing program, the server's main module must be safe to import
(`if __name__ == "__main__":`): worker processes import it.

Only a run that reported `done` keeps a folder: a failed or cancelled run's
`{results_dir}/{id}` and `.{id}.partial` folders are removed.

Stopping leaves queued runs queued in the store; the next `start()` marks them (and any run
still marked running) failed "server restarted before the run finished" (`RunStore.recover`).
One server per database: a second server starting on the same database would do the same to
the first one's runs.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import multiprocessing
import os
import shutil
import signal
import threading
import traceback
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from time import monotonic
from typing import Any

from basis_strategy.config.loader import RunConfig, load_run_config
from basis_strategy.config.models import MODE_NAMES
from basis_strategy.core.errors import BasisError, ConfigError, OperationalError
from basis_strategy.services.backtest import new_request_id, run_backtest
from basis_strategy.services.models import (
    FINISHED,
    BacktestRequest,
    RunNotFoundError,
    RunRecord,
    RunStatus,
)
from basis_strategy.services.store import RunStore
from basis_strategy.strategies.factory import strategy_class

logger = logging.getLogger(__name__)

# BASIS_* variables that configure the server or hold secrets, not a run's settings: never
# passed to a run (nor to `load_run_config`, which would read them as config keys).
SERVICE_ENV = frozenset({"BASIS_DATABASE_URL", "BASIS_API_TOKEN", "BASIS_TEST_DATABASE_URL"})
SECRET_WORDS = frozenset({"KEY", "SECRET", "TOKEN", "PASSWORD", "PASSPHRASE", "URL"})
SERVER_STOPPED = "server stopped"
PROGRESS_INTERVAL_S = 0.1  # at most 10 progress messages a second from a worker


def server_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The `BASIS_*` variables a run sees (config overrides): not the server's own settings,
    and no credential (a name with a word such as KEY, SECRET, TOKEN or URL)."""
    return {
        name: value
        for name, value in environ.items()
        if name.startswith("BASIS_")
        and name not in SERVICE_ENV
        and not SECRET_WORDS.intersection(name.split("_"))
    }


def worker_data(environ: Mapping[str, str], data_dir: Path | None) -> tuple[str, dict[str, str]]:
    """The data folder and environment a run's worker gets. `BASIS_DATA_MODE=db`: no folder
    (neither the service's nor `BASIS_DATA_DIR`: the data set is in the database) and
    `BASIS_DATABASE_URL`, the server setting naming that database; else the service's folder
    and `server_env`."""
    env = server_env(environ)
    if environ.get("BASIS_DATA_MODE") != "db":
        if data_dir is None:
            raise ConfigError("data_dir", "no data folder given and BASIS_DATA_MODE is not db")
        return str(data_dir), env
    env.pop("BASIS_DATA_DIR", None)
    url = environ.get("BASIS_DATABASE_URL")
    return "", env | ({"BASIS_DATABASE_URL": url} if url else {})


def exit_reason(exitcode: int | None) -> str:
    """Why a worker process ended without reporting a result."""
    if exitcode is None:
        return "worker process did not exit"
    if exitcode >= 0:
        return f"worker process exited with code {exitcode} without a result"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    label = {"SIGKILL": "killed", "SIGTERM": "terminated"}.get(name, name)
    return f"worker process exited with code {exitcode} ({label})"


def process_context() -> ForkServerContext | SpawnContext:
    """How worker processes start. "forkserver" where the platform has it: each run is forked
    from a small single-threaded server process that has imported the engine and nothing of
    the API server's state (as isolated as "spawn", about 0.6 s faster per run); else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


def one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


# --- the worker process ---------------------------------------------------------------------


class _ProgressSender:
    """The engine's progress callback in a worker: (hours done, total) -> a throttled message."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.last = float("-inf")

    def __call__(self, done: int, total: int) -> None:
        now = monotonic()
        if done >= total or now - self.last >= PROGRESS_INTERVAL_S:
            self.last = now
            self.conn.send(("progress", done / total if total else 1.0))


def run_worker(
    conn: Connection,
    run_id: str,
    mode: str,
    sets: list[str],
    data_dir: str,
    results_dir: str,
    env: dict[str, str],
) -> None:
    """A worker process's body: one run, then ("done", path) or ("failed", reason, traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when runs stop
    for name in [name for name in os.environ if name.startswith("BASIS_")]:
        del os.environ[name]  # the service's snapshot, not the fork server's, and no secrets
    os.environ.update(env)
    try:
        outcome = run_backtest(
            mode, sets, data_dir, results_dir, env, _ProgressSender(conn), request_id=run_id
        )
    except BasisError as exc:
        conn.send(("failed", one_line(exc), None))
    except Exception as exc:
        conn.send(("failed", f"internal error: {type(exc).__name__}", traceback.format_exc()))
    else:
        conn.send(("done", str(outcome.path)))
    finally:
        conn.close()


# --- the server side ------------------------------------------------------------------------


@dataclass
class _Active:
    """A run whose worker process has been started and not yet settled."""

    run_id: str
    process: BaseProcess
    conn: Connection
    settled: asyncio.Event
    lock: threading.Lock = field(default_factory=threading.Lock)
    ended: bool = False  # a final status has been written
    stop: RunStatus | None = None  # CANCELLED (by a client) or FAILED (server stopping)


class BacktestService:
    """Queue, run, watch and cancel backtests; see the module docstring."""

    def __init__(
        self,
        data_dir: Path | None,
        results_dir: Path,
        database_url: str | None = None,
        workers: int = 2,
    ) -> None:
        """`data_dir` None: runs read the database `BASIS_DATABASE_URL` names
        (`BASIS_DATA_MODE=db`)."""
        if workers < 1:
            raise ConfigError("workers", f"must be at least 1, was {workers}")
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else None
        self.results_dir = Path(results_dir).resolve()
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.workers = workers
        self.env = server_env(os.environ)
        self._worker_dir, self._worker_env = worker_data(os.environ, self.data_dir)
        self.store = RunStore(database_url or RunStore.default_url(self.results_dir))
        self._context = process_context()
        self._queue: asyncio.Queue[str] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._threads: ThreadPoolExecutor | None = None
        self._active: dict[str, _Active] = {}
        self._stopping = False

    # --- lifecycle ---

    async def start(self) -> None:
        """Recover the runs a previous server left unfinished, then start the dispatchers."""
        if self._queue is not None:
            raise RuntimeError("BacktestService.start: already started")
        stale = [r.id for s in (RunStatus.QUEUED, RunStatus.RUNNING) for r in self._all(status=s)]
        recovered = await asyncio.to_thread(self.store.recover)
        for run_id in stale:
            self._remove_outputs(run_id)
        if recovered:
            logger.warning("marked %d unfinished run(s) of a previous server failed", recovered)
        self._stopping = False
        self._queue = asyncio.Queue()
        self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="basis-supervisor")
        self._tasks = [
            asyncio.create_task(self._dispatch(), name=f"basis-dispatcher-{i}")
            for i in range(self.workers)
        ]

    async def stop(self) -> None:
        """Kill running workers (their runs fail with "server stopped"), leave queued runs
        queued in the store, stop the dispatchers and close the store's connections."""
        self._stopping = True
        active = list(self._active.values())
        for run in active:
            self._halt(run, RunStatus.FAILED)
        await asyncio.gather(*(run.settled.wait() for run in active))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        self._tasks, self._threads, self._queue = [], None, None
        self.store.close()

    # --- requests ---

    def validate(self, request: BacktestRequest) -> RunConfig:
        """The run's validated config; ConfigError naming the field if the request is wrong."""
        if request.mode not in MODE_NAMES:
            raise ConfigError(
                "mode", f"must be one of {', '.join(MODE_NAMES)}, was {request.mode!r}"
            )
        config = load_run_config(request.mode, request.config_sets(), env=self.env)
        strategy_class(config.mode.mode)
        return config

    async def submit(self, request: BacktestRequest) -> RunRecord:
        """Validate, store as queued and enqueue; returns at once with the new run's record."""
        if self._queue is None or self._stopping:
            raise RuntimeError("BacktestService.submit: the service is not running")
        self.validate(request)
        record = RunRecord(
            id=new_request_id(request.mode),
            mode=request.mode,
            status=RunStatus.QUEUED,
            request=request,
            submitted_at=datetime.now(UTC),
        )
        await asyncio.to_thread(self.store.add, record)
        self._queue.put_nowait(record.id)
        logger.info("run %s queued", record.id)
        return record

    def get(self, run_id: str) -> RunRecord | None:
        return self.store.get(run_id)

    def list(
        self,
        mode: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[RunRecord]:
        return self.store.list(mode, status, limit, offset)

    def count(self, mode: str | None = None, status: RunStatus | None = None) -> int:
        return self.store.count(mode, status)

    async def cancel(self, run_id: str) -> RunRecord:
        """Queued -> cancelled; running -> worker killed, cancelled, no folder left; a
        finished run is returned unchanged. RunNotFoundError if there is no such run."""
        run = self._active.get(run_id)
        if run is not None:
            self._halt(run, RunStatus.CANCELLED)
            await run.settled.wait()
        record = self.store.get(run_id)
        if record is None:
            raise RunNotFoundError(run_id)
        if record.status is RunStatus.QUEUED and run_id not in self._active:
            record = self.store.update(
                run_id, status=RunStatus.CANCELLED, finished_at=datetime.now(UTC)
            )
            logger.info("run %s cancelled while queued", run_id)
        return record

    def health(self) -> dict[str, Any]:
        """Data folder, database, workers, queued runs and version (no URL, no secret)."""
        reachable = self.store.ping()
        return {
            "data": self._data_health(),
            "database": {"dialect": self.store.dialect, "reachable": reachable},
            "workers": {"configured": self.workers, "busy": self.busy()},
            "queued": self._queued() if reachable else None,
            "version": package_version(),
        }

    def _data_health(self) -> dict[str, Any]:
        if self.data_dir is None:
            return {"source": "db"}
        return {"source": "csv", "path": str(self.data_dir), "exists": self.data_dir.is_dir()}

    def busy(self) -> int:
        """Runs being worked on now (a worker whose run has ended may still be exiting)."""
        return sum(not run.ended for run in list(self._active.values()))

    def _queued(self) -> int | None:
        try:
            return self.store.count(status=RunStatus.QUEUED)
        except OperationalError:
            return None

    def worker_pid(self, run_id: str) -> int | None:
        """The pid of the run's worker process while the run is running (for tests and
        operators); None once its final status is written (the process may still be exiting)."""
        run = self._active.get(run_id)
        return None if run is None or run.ended else run.process.pid

    # --- dispatching and supervising ---

    def _all(self, status: RunStatus) -> builtins.list[RunRecord]:
        return self.store.list(status=status, limit=self.store.count(status=status))

    async def _dispatch(self) -> None:
        assert self._queue is not None
        while True:
            run_id = await self._queue.get()
            try:
                run = self._launch(run_id)
                if run is not None:
                    await self._supervised(run)
            except Exception:
                logger.exception("run %s: the dispatcher failed", run_id)
                self._fail_unsettled(run_id)
            finally:
                self._queue.task_done()

    def _launch(self, run_id: str) -> _Active | None:
        """Start the worker of a still-queued run (synchronous: no cancel can interleave)."""
        record = self.store.get(run_id)
        if self._stopping or record is None or record.status is not RunStatus.QUEUED:
            return None
        receive, send = self._context.Pipe(duplex=False)
        args = (
            send,
            run_id,
            record.mode,
            record.request.config_sets(),
            self._worker_dir,
            str(self.results_dir),
            self._worker_env,
        )
        process = self._context.Process(
            target=run_worker, args=args, name=f"basis-run-{run_id}", daemon=True
        )
        try:
            self.store.update(run_id, status=RunStatus.RUNNING, started_at=datetime.now(UTC))
            process.start()
        except BaseException:
            receive.close()
            raise
        finally:
            send.close()
        run = _Active(run_id, process, receive, asyncio.Event())
        self._active[run_id] = run
        logger.info("run %s started in process %s", run_id, process.pid)
        return run

    async def _supervised(self, run: _Active) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._threads, self._supervise, run)
        finally:
            del self._active[run.run_id]
            run.settled.set()

    def _supervise(self, run: _Active) -> None:
        """Supervisor thread: relay the worker's messages, then settle the run once it exits."""
        try:
            while self._relay(run):
                pass
        except BaseException:  # e.g. the store failed: stop the run rather than orphan it
            with run.lock:
                if run.process.exitcode is None:
                    run.process.kill()
            raise
        finally:
            wait([run.process.sentinel])
            with run.lock:  # reaped under the lock: `_halt` never signals a reused pid
                run.process.join()
            run.conn.close()
            self._settle(run)

    def _relay(self, run: _Active) -> bool:
        """Handle one message from the worker; False once the pipe is closed."""
        wait([run.conn])
        try:
            message = run.conn.recv()
        except (EOFError, OSError):
            return False
        with run.lock:
            if run.ended or run.stop is not None:
                return True
            kind = message[0]
            if kind == "progress":
                self._progress(run.run_id, float(message[1]))
            elif kind == "done":
                self._finish(run, RunStatus.DONE, result_dir=message[1], progress=1.0)
            else:
                if message[2]:
                    logger.error("run %s failed:\n%s", run.run_id, message[2])
                self._finish(run, RunStatus.FAILED, error=message[1])
        return True

    def _progress(self, run_id: str, fraction: float) -> None:
        try:
            self.store.update(run_id, progress=fraction)
        except OperationalError as exc:  # a missed progress update is not worth a failed run
            logger.warning("run %s: progress not stored: %s", run_id, exc)

    def _settle(self, run: _Active) -> None:
        """After the worker exited: a run without a result is cancelled or failed."""
        with run.lock:
            if run.ended:
                return
            if run.stop is RunStatus.CANCELLED:
                self._finish(run, RunStatus.CANCELLED)
            elif run.stop is RunStatus.FAILED:
                self._finish(run, RunStatus.FAILED, error=SERVER_STOPPED)
            else:
                self._finish(run, RunStatus.FAILED, error=exit_reason(run.process.exitcode))

    def _finish(self, run: _Active, status: RunStatus, **fields: Any) -> None:
        """Write a run's final status (caller holds its lock); only `done` keeps a folder."""
        if status is not RunStatus.DONE:
            self._remove_outputs(run.run_id)
        run.ended = True  # before the store says so: a client seeing it finds the run ended
        self.store.update(run.run_id, status=status, finished_at=datetime.now(UTC), **fields)
        reason = fields.get("error")
        logger.info("run %s %s%s", run.run_id, status.value, f": {reason}" if reason else "")

    def _halt(self, run: _Active, stop: RunStatus) -> None:
        """Kill a running worker; its supervisor then settles the run as `stop` says."""
        with run.lock:
            if run.ended or run.stop is not None:
                return
            run.stop = stop
            # a process whose start failed has no pid: nothing to kill
            if run.process.pid is not None and run.process.exitcode is None:
                run.process.kill()

    def _fail_unsettled(self, run_id: str) -> None:
        """After a dispatcher error: fail the run if it has no final status (best effort)."""
        try:
            record = self.store.get(run_id)
            if record is not None and record.status not in FINISHED:
                self._remove_outputs(run_id)
                self.store.update(
                    run_id,
                    status=RunStatus.FAILED,
                    error="internal error: the run could not be supervised",
                    finished_at=datetime.now(UTC),
                )
        except Exception:
            logger.exception("run %s: could not be marked failed", run_id)

    def _remove_outputs(self, run_id: str) -> None:
        for path in (self.results_dir / run_id, self.results_dir / f".{run_id}.partial"):
            shutil.rmtree(path, ignore_errors=True)


def package_version() -> str:
    import basis_strategy

    version = getattr(basis_strategy, "__version__", None)
    return str(version) if version else metadata.version("basis-strategy")
