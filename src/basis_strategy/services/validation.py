"""Submissions validated as the CLI validates them (`prepare`: config, mode, and the data
covering the run's window), in a process of their own.

Validation reads data files and builds models: CPU work that, in the API's process, would
hold the GIL against the event loop (a burst of submissions would stall `/api/health`). Here
it runs in one long-lived process forked like the run workers (its data cache stays warm);
errors come back as ConfigError or DataError naming what is wrong. A validation process that
dies is replaced, and the submission it was checking is refused (ServiceUnavailableError).
"""

from __future__ import annotations

import asyncio
import os
import re
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import ForkServerContext, SpawnContext
from typing import Any

from basis_strategy.config.loader import RunConfig
from basis_strategy.config.models import MODE_NAMES
from basis_strategy.core.errors import ConfigError, DataError
from basis_strategy.services.backtest import prepare
from basis_strategy.services.models import BacktestRequest, ServiceUnavailableError

Outcome = tuple[str, ...]  # () valid; ("config", field, reason); ("data", message)
COVERAGE = re.compile(r"covers (.+?) -> (.+?); the run needs (.+?) -> (.+?)$")


class RequestDataError(DataError):
    """The data cannot serve this request; `field` is the request field to change: `start`
    or `end` when the run's window reaches outside a file's coverage ("covers A -> B; the run
    needs C -> D"), else `mode` (the data the mode needs is missing or broken)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.field = "mode"
        found = COVERAGE.search(message)
        if found is not None:
            first, last, start, _ = (text.strip() for text in found.groups())
            # one timestamp format ("2024-05-01 00:00 UTC"): the texts compare as times
            self.field = "start" if not first <= start <= last else "end"


def validated_config(
    mode: str, sets: list[str], data_dir: str | None, env: dict[str, str]
) -> RunConfig:
    """The run's config as `prepare` builds it for the CLI (its data read and checked);
    ConfigError or DataError naming what is wrong."""
    if mode not in MODE_NAMES:  # load_run_config would also read a YAML file's path
        raise ConfigError("mode", f"must be one of {', '.join(MODE_NAMES)}, was {mode!r}")
    config, _ = prepare(mode, sets, data_dir, env)
    return config


def check(mode: str, sets: list[str], data_dir: str | None, env: dict[str, str]) -> Outcome:
    """The outcome of `validated_config` for one request, as picklable values."""
    try:
        validated_config(mode, sets, data_dir, env)
    except ConfigError as exc:
        return ("config", exc.field, str(exc).removeprefix(f"{exc.field}: "))
    except DataError as exc:
        return ("data", str(exc))
    return ()


def raise_for(outcome: Outcome) -> None:
    """Raise the error an outcome of `check` stands for (nothing when it is valid)."""
    if outcome and outcome[0] == "config":
        raise ConfigError(outcome[1], outcome[2])
    if outcome:
        raise RequestDataError(outcome[1])


def _clean_environment(env: dict[str, str]) -> None:
    """The validation process's environment: the service's run settings, no secret."""
    for name in [name for name in os.environ if name.startswith("BASIS_")]:
        if name != "BASIS_CONFIG_DIR":
            del os.environ[name]
    os.environ.update(env)


class Validator:
    """Checks requests in one validation process; see the module docstring."""

    def __init__(
        self, context: ForkServerContext | SpawnContext, data_dir: str | None, env: dict[str, str]
    ) -> None:
        self.context = context
        self.data_dir = data_dir
        self.env = env
        self._pool: ProcessPoolExecutor | None = None
        self._pid: Future[int] | None = None

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1, mp_context=self.context, initializer=_clean_environment, initargs=(self.env,)
            )
            self._pid = self._pool.submit(os.getpid)  # starts the process now
        return self._pool

    def start(self) -> None:
        """Start the validation process now (it imports the engine: seconds), not at the
        first submission."""
        self._started()

    def pid(self) -> int | None:
        """The validation process's pid (for tests and operators); None when not running."""
        return None if self._pid is None else self._pid.result(timeout=60)

    async def validate(self, request: BacktestRequest) -> None:
        """ConfigError or DataError when the request cannot run; None when it can."""
        args: tuple[Any, ...] = (request.mode, request.config_sets(), self.data_dir, self.env)
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(
                self._started(), check, *args
            )
        except BrokenProcessPool:
            self.stop()
            raise ServiceUnavailableError("the validation process died; retry") from None
        raise_for(outcome)

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool, self._pid = None, None
