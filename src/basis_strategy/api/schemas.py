"""Response bodies of the REST API that are not service records (those are in
`basis_strategy.services.models` and are served as they are)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from basis_strategy.config.models import ModeName
from basis_strategy.services.models import BacktestRequest, DamagedRun, RunRecord

Cell = str | int | float | None
# the hours a run can have (pandas' nanosecond timestamps end in 1677 and 2262)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

REQUEST_EXAMPLE = {
    "mode": "btc_basis",
    "start": "2024-06-01T00:00:00Z",
    "end": "2024-06-08T00:00:00Z",
    "capital": 100000,
    "overrides": {"hedge.allocation.binance": 0.5, "hedge.allocation.bybit": 0.2},
}


class BacktestSubmission(BacktestRequest):
    """A BacktestRequest as the API reads it from JSON, exactly as its schema says: `mode` is
    one of the modes, `start` and `end` are ISO 8601 date-time strings (not unix seconds),
    `capital` is a number (not a numeric string or a boolean), and no number is NaN or
    Infinity (JSON has neither)."""

    mode: ModeName  # the service record takes any text

    @field_validator("start", "end", mode="before")
    @classmethod
    def _iso_text(cls, value: object) -> object:
        if value is None or isinstance(value, str | datetime):
            return value
        raise ValueError("must be an ISO 8601 date-time string, e.g. 2024-06-01T00:00:00Z")

    @field_validator("start", "end")
    @classmethod
    def _in_time_range(cls, value: datetime | None) -> datetime | None:
        aware = value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
        if aware is not None and not EARLIEST <= aware <= LATEST:
            raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
        return value

    @field_validator("capital", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> object:
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            return value
        raise ValueError("must be a number")

    @field_validator("overrides")
    @classmethod
    def _finite(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            bad = _non_finite(item, key)
            if bad is not None:
                raise NonFiniteOverride(*bad)
        return value

    def as_request(self) -> BacktestRequest:
        """The plain service record of this submission."""
        return BacktestRequest.model_validate(self.model_dump())


class NonFiniteOverride(ValueError):
    """An override holding NaN or ±Infinity: `path` is its config key path (dotted, with list
    positions), as a config error names its field."""

    def __init__(self, path: str, value: float) -> None:
        super().__init__(
            f"{path}: must be a finite number (JSON has no NaN or Infinity), was {value}"
        )
        self.path = path


def _non_finite(value: Any, path: str) -> tuple[str, float] | None:
    """The path and value of the first NaN or ±inf in `value`, else None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        bad = _non_finite(item, f"{path}.{key}")
        if bad is not None:
            return bad
    return None


class RunList(BaseModel):
    """One page of runs, newest first, and how many match the filters in all. A row of the
    run index that cannot be read is listed in `damaged` (with why) instead of `items`."""

    total: int = Field(ge=0, examples=[42])
    limit: int = Field(examples=[50])
    offset: int = Field(examples=[0])
    items: list[RunRecord]
    damaged: list[DamagedRun] = Field(default_factory=list)


class RowsPage(BaseModel):
    """Rows [offset, offset + len(rows)) of a run's CSV file; `total` rows in the file.
    Empty cells and undefined figures (nan, inf) are null; numbers are numbers; other cells
    (timestamps, names) are text."""

    total: int = Field(ge=0, examples=[16234])
    offset: int = Field(ge=0, examples=[0])
    limit: int = Field(ge=1, examples=[100])
    columns: list[str] = Field(examples=[["seq", "timestamp", "event_type", "amount"]])
    rows: list[list[Cell]] = Field(examples=[[[1, "2024-06-01T00:00:00+00:00", "Deposited", 1e5]]])


class ModeInfo(BaseModel):
    """A strategy mode: its JSON schema (the `ModeConfig` model) and its defaults (the
    resolved `configs/modes/{name}.yaml`, which `overrides` change by dotted key)."""

    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(examples=["btc_basis"])
    share_class: str = Field(examples=["usdt_stable"])
    asset: str = Field(examples=["BTC"])
    summary: str = Field(examples=["Long BTC spot, short BTC perps on several venues."])
    json_schema: dict[str, Any]
    defaults: dict[str, Any]


class Health(BaseModel):
    """The service's state: "ok", or "unhealthy" with the problems (HTTP 503), then data
    folder, database, workers, queue and version. No URL or secret is shown (a database URL's
    password would be masked)."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(examples=["ok", "unhealthy"])
    problems: list[str] = Field(
        default_factory=list,
        examples=[["run index /srv/results/runs.sqlite was deleted or replaced while in use"]],
    )
    version: str = Field(examples=["0.1.0"])
    token_required: bool = Field(description="POST and DELETE need a bearer token")
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="csv: the folder runs read; db: the database BASIS_DATABASE_URL names",
        examples=[{"source": "csv", "path": "/srv/data", "exists": True}, {"source": "db"}],
    )
    database: dict[str, Any] = Field(
        default_factory=dict, examples=[{"dialect": "sqlite", "reachable": True}]
    )
    workers: dict[str, Any] = Field(default_factory=dict, examples=[{"configured": 2, "busy": 1}])
    queued: int | None = Field(default=None, examples=[3])
    max_queued: int | None = Field(default=None, examples=[100])
    unrecorded: int = Field(
        default=0, description="runs ended while the index could not record them", examples=[0]
    )
