"""Response bodies of the REST API that are not service records (those are in
`basis_strategy.services.models` and are served as they are)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

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


# ---------- live sessions (`/api/live`) ----------

LIVE_REQUEST_EXAMPLE = {
    "mode": "btc_basis",
    "execution": "paper",
    "interval": "1h",
    "replay_start": "2025-03-01T00:00:00Z",
    "speed": 72000,
    "max_cycles": 24,
    "overrides": {"hedge.delta_tolerance": 0.02},
}
INTERVAL_UNITS_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
INTERVAL_TEXT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 86400.0
MAX_SPEED = 1e6  # replayed seconds per wall second (a day of hours in under 0.1 s)
MAX_CYCLES = 1_000_000


def interval_seconds(value: str | float) -> float:
    """A cycle interval in seconds, from seconds (a number) or text with a unit: `"1h"`,
    `"15m"`, `"30s"`, `"1d"`. ValueError (a one-line reason) outside [1 s, 1 day]."""
    if isinstance(value, str):
        match = INTERVAL_TEXT.match(value)
        if match is None:
            raise ValueError("must be seconds (a number) or text like '1h', '15m', '30s'")
        seconds = float(match[1]) * INTERVAL_UNITS_S[match[2]]
    else:
        seconds = float(value)
    if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
        raise ValueError(f"must be between 1 s and 1 day, was {seconds:g} s")
    return seconds


class LiveSubmission(BaseModel):
    """A live or paper session as `POST /api/live` reads it (the CLI's `basis live start`).

    `interval`: seconds between cycles, a number or text with a unit (`"1h"`, `"15m"`,
    `"30s"`, `"1d"`), default one hour, between 1 s and 1 day. `replay_start` set: the market
    data is the stored history replayed from that hour at `speed` replayed seconds per wall
    second (paper only, no network); unset: live feeds. `max_cycles` unset: runs until
    stopped. `overrides` are dotted config keys with their values, as for a backtest.
    `execution: live` also needs `enable_live_trading: true`, and passes the pre-flight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: ModeName
    execution: Literal["paper", "live"] = "paper"
    interval: str | float = Field(default="1h", examples=["1h", "15m", 900])
    aligned: StrictBool = Field(default=True, description="cycles on the interval's grid (xx:00)")
    replay_start: datetime | None = Field(default=None, examples=["2025-03-01T00:00:00Z"])
    speed: float = Field(default=1.0, gt=0, le=MAX_SPEED, allow_inf_nan=False)
    max_cycles: StrictInt | None = Field(default=None, ge=1, le=MAX_CYCLES)
    overrides: dict[str, Any] = Field(default_factory=dict)
    risk_limits: dict[str, Any] = Field(
        default_factory=dict,
        examples=[{"max_drawdown": 0.1, "max_position_usd": {"BTC": 150000}}],
        description="the session's risk limits (see `basis live start --limit`); a breach "
        "puts it in REDUCING with an alert",
    )
    enable_live_trading: StrictBool = Field(
        default=False,
        description="live execution only: one of its two keys (the server's environment must "
        "also set BASIS_LIVE_TRADING=enabled, and hold the venues' credentials)",
    )
    venue_urls: dict[str, str] = Field(
        default_factory=dict,
        examples=[{"binance": "https://testnet.binancefuture.com"}],
        description="another host with a venue's REST API (its testnet), by venue",
    )

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("must be seconds (a number) or text like '1h', '15m', '30s'")
        interval_seconds(value)  # refuses it here, naming the field
        return value

    @field_validator("replay_start", mode="before")
    @classmethod
    def _iso_text(cls, value: object) -> object:
        return BacktestSubmission._iso_text(value)

    @field_validator("replay_start")
    @classmethod
    def _in_time_range(cls, value: datetime | None) -> datetime | None:
        checked = BacktestSubmission._in_time_range(value)
        return (
            None if checked is None else checked if checked.tzinfo else checked.replace(tzinfo=UTC)
        )

    @field_validator("speed", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> object:
        return BacktestSubmission._a_number(value)

    @field_validator("overrides", "risk_limits")
    @classmethod
    def _finite(cls, value: dict[str, Any]) -> dict[str, Any]:
        return BacktestSubmission._finite(value)

    @property
    def interval_s(self) -> float:
        return interval_seconds(self.interval)

    def config_sets(self) -> tuple[str, ...]:
        """The overrides as `--set key=value` strings (ConfigError on a key that is not a
        dotted config key, or on `mode`)."""
        checked = BacktestRequest(mode=self.mode, overrides=self.overrides)
        return tuple(checked.config_sets())


class EmergencyStop(BaseModel):
    """How to stop: `freeze` sends nothing more (positions stay as they are); `flatten`
    sends only closing orders until flat, then freezes."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["freeze", "flatten"] = Field(examples=["freeze"])


class Activation(BaseModel):
    """Who returns the session to ACTIVE (named in the LT-008 alert)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    operator: str = Field(min_length=1, max_length=100, pattern=r"^[^\r\n]+$", examples=["alice"])


class ResumeRequest(BaseModel):
    """How to resume: warm from the checkpoint (default), or `cold` by re-stepping the
    journal of completed cycles; live, `adopt_venue_state` books the venues' fills the
    ledger lacks instead of refusing (REC-006)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    cold: bool = Field(default=False, examples=[False])
    adopt_venue_state: bool = Field(default=False, examples=[False])


class LiveSession(BaseModel):
    """One live or paper session as stored. `running`: its process beat within its heartbeat
    limit; `healthy`: running and not silent too long. `state`: active, reducing or halted
    (`stop_mode` freeze or flatten when halted). `equity` and `pnl` are in the share class's
    `currency`, as of the last stepped cycle; `positions` venue -> position key -> quantity;
    `risk` the latest margin ratios, delta, LTV, health factor and level; `venues` venue ->
    reachable (live execution)."""

    model_config = ConfigDict(extra="allow")

    session_id: str = Field(examples=["live-btc_basis-20250301T000000-1a2b3c"])
    mode: str = Field(examples=["btc_basis"])
    execution: str = Field(examples=["paper"])
    feed: str = Field(examples=["replay from 2025-03-01T00:00:00+00:00 at 72000x"])
    running: bool
    healthy: bool
    state: str = Field(examples=["active", "reducing", "halted"])
    stop_mode: str | None = Field(default=None, examples=[None, "freeze"])
    reason: str = ""
    cycles: int = Field(ge=0)
    stepped: int = Field(ge=0)
    skipped: int = Field(ge=0)
    halted: int = Field(ge=0)
    last_cycle_at: datetime | None = None
    heartbeat_age_s: float | None = None
    data_age_s: float | None = None
    equity: float | None = None
    pnl: float | None = None
    nav_per_share: float | None = None
    currency: str = Field(examples=["USDT"])
    positions: dict[str, dict[str, float]] = Field(
        default_factory=dict, examples=[{"binance": {"BTCUSDT-PERP": -1.2}}]
    )
    risk: dict[str, Any] = Field(default_factory=dict)
    venues: dict[str, bool] = Field(default_factory=dict)
    alerts: list[dict[str, Any]] = Field(
        default_factory=list,
        examples=[[{"code": "RISK-001", "level": "WARNING", "message": "...", "at": None}]],
    )
    results_dir: str = ""


class LiveEvents(BaseModel):
    """The latest rows of a session's `event_log.csv` (newest last), at most `limit`."""

    session_id: str
    limit: int = Field(ge=1)
    events: list[dict[str, Any]]


class LiveHealth(BaseModel):
    """One live or paper session in `/api/health`: heartbeat age, last cycle, data age, venue
    reachability and trading state. `problem` says why it is unhealthy: it stopped beating
    without finishing (hung past its heartbeat limit, crashed or killed). None when it is
    not: a session that ended or was stopped is not a problem."""

    model_config = ConfigDict(extra="allow")

    session_id: str
    mode: str
    execution: str
    running: bool
    healthy: bool
    state: str
    stop_mode: str | None = None
    cycles: int
    heartbeat_age_s: float | None = None
    last_cycle_at: datetime | None = None
    data_age_s: float | None = None
    venues: dict[str, bool] = Field(default_factory=dict)
    problem: str | None = None


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
    live: list[LiveHealth] = Field(
        default_factory=list,
        description="every live or paper session the store holds (newest first); one that "
        "stopped beating without finishing makes the service unhealthy",
    )
