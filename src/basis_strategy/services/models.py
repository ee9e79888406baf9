"""Records of the backtest service (issue 5; ADR-005, 006, 021, 043): what a client asks for
and what the service knows about each run. The REST API serialises these as they are.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from basis_strategy.core.errors import BasisError, ConfigError, OperationalError


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED})
# Request shortcuts and the config keys they set.
SHORTCUTS = {"start": "start", "end": "end", "capital": "initial_capital"}
_CONFIG_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")


class RunNotFoundError(LookupError):
    """No run with this id (the API answers 404)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"no run with id {run_id!r}")


class ServiceUnavailableError(OperationalError):
    """The service cannot take this request now: a resource it depends on (the run index, the
    results or data folder, its lock) is missing or failing. The API answers 503 with
    Retry-After; `code` is the machine code it shows."""

    code = "unavailable"


class IndexUnavailableError(ServiceUnavailableError):
    """The run index cannot be read or written (unreachable, read-only, disk full, deleted)."""

    code = "index_unavailable"


class QueueFullError(BasisError):
    """As many runs are queued as the service allows (the API answers 429 with Retry-After)."""


class ServerBusyError(BasisError):
    """Another server holds the results folder or the run index (`basis serve` exits 2)."""

    exit_code = 2


class DamagedRun(BaseModel):
    """A row of the run index that cannot be read as a run (bad JSON, unknown status...)."""

    model_config = ConfigDict(frozen=True)

    id: str
    reason: str = Field(examples=["status: 'paused' is not a run status"])


class DamagedRunError(OperationalError):
    """The run's row in the index is damaged (the API answers 500 `run_damaged`)."""

    def __init__(self, damaged: DamagedRun) -> None:
        self.damaged = damaged
        super().__init__(f"run {damaged.id!r} is damaged in the run index: {damaged.reason}")


def yaml_value(value: Any) -> str:
    """`value` as YAML text that `yaml.safe_load` reads back equal: JSON values (lists, dicts,
    bools, null, floats such as 1e-05 or inf) and datetimes survive a `--set key=value`."""
    # ASCII only: written raw, characters such as U+0085 would read back as line breaks
    text = yaml.safe_dump(
        value, default_flow_style=True, width=2**31 - 1, allow_unicode=False, sort_keys=False
    )
    return text.removesuffix("\n").removesuffix("\n...")


class BacktestRequest(BaseModel):
    """One backtest as a client asks for it. `overrides` are dotted config keys with their
    values, exactly as the CLI's `--set key=value` (e.g. {"hedge.allocation.binance": 0.5,
    "costs.gas": false}); `start`, `end` and `capital` are shortcuts for the same."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: str = Field(min_length=1, max_length=200)
    start: datetime | None = None
    end: datetime | None = None
    capital: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    overrides: dict[str, Any] = Field(default_factory=dict)

    def config_sets(self) -> list[str]:
        """The request as `--set key=value` strings for `load_run_config`: overrides first,
        then the shortcuts. A key given both ways, or not a dotted config key, is refused."""
        sets = []
        for key, value in self.overrides.items():
            if not _CONFIG_KEY.fullmatch(key):
                raise ConfigError(
                    "overrides",
                    f"keys must be dotted config keys (hedge.delta_tolerance), was {key!r}",
                )
            if key == "mode":  # the run's record and folder are named after the request's mode
                raise ConfigError("overrides.mode", "the mode is the request's `mode` field")
            sets.append(f"{key}={yaml_value(value)}")
        for name, key in SHORTCUTS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if key in self.overrides:
                raise ConfigError(f"overrides.{key}", f"given twice: also as {name}")
            sets.append(f"{key}={yaml_value(value)}")
        return sets


class RunRecord(BaseModel):
    """What the service knows about one run. `progress` in [0, 1]; `error` is the reason a
    run failed (never a traceback, never a secret); `result_dir` is set only when done."""

    model_config = ConfigDict(frozen=True)

    id: str
    mode: str
    status: RunStatus
    progress: float = 0.0
    request: BacktestRequest
    submitted_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    result_dir: str | None = None
