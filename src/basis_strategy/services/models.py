"""Records of the backtest service (issue 5; ADR-005, 006, 021, 043): what a client asks for
and what the service knows about each run. The REST API serialises these as they are.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED})


class BacktestRequest(BaseModel):
    """One backtest as a client asks for it. `overrides` are dotted config keys with their
    values, exactly as the CLI's `--set key=value` (e.g. {"hedge.allocation.binance": 0.5,
    "costs.gas": false}); `start`, `end` and `capital` are shortcuts for the same."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: str = Field(min_length=1, max_length=200)
    start: datetime | None = None
    end: datetime | None = None
    capital: float | None = Field(default=None, gt=0)
    overrides: dict[str, Any] = Field(default_factory=dict)


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
