"""The worker side of the backtest service: what a run's process gets (data folder and
environment, never a secret), how it starts, what it runs, and why it ended.

Each run is one fresh process (`process_context`) running `run_worker`, which sends the
server ("progress", fraction) messages, then ("done", path) or ("failed", reason, traceback).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from collections.abc import Mapping
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext
from pathlib import Path
from time import monotonic

from basis_strategy.core.errors import BasisError, ConfigError
from basis_strategy.services.backtest import run_backtest

# BASIS_* variables that configure the server or hold secrets, not a run's settings: never
# passed to a run (nor to `load_run_config`, which would read them as config keys).
SERVICE_ENV = frozenset({"BASIS_DATABASE_URL", "BASIS_API_TOKEN", "BASIS_TEST_DATABASE_URL"})
SECRET_WORDS = frozenset({"KEY", "SECRET", "TOKEN", "PASSWORD", "PASSPHRASE", "URL"})
PROGRESS_INTERVAL_S = 0.1  # at most 10 progress messages a second from a worker
WORKER_NICENESS = 10


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
    os.nice(WORKER_NICENESS)  # a batch job: the API's event loop comes first for the CPU
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
